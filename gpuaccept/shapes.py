"""The shapes of the JSON evidence files, as type hints ``validate.conform`` checks before any parser reads
them. Only the keys the parsers read are named; every other key is dropped unread, so a parser that
reads a new key needs it declared here (tests/test_untrusted_evidence.py compares both for every
bundled set).

Field names are the ones the producers spell: the suite's NVML snapshot, the Docker Engine API, the
Ollama API. ``total=False``: a key may be absent (the parsers have defaults), but a key that is present
has the declared type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from gpuaccept.facts import GpuFacts, GpuLink


@dataclass(frozen=True)
class NvmlSnapshot:
    """``nvml.json`` (gpuaccept.sources.nvml.snapshot)."""

    ok: bool
    error: str = "UNKNOWN"
    detail: str = ""
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    gpus: tuple[GpuFacts, ...] = ()
    topology: tuple[GpuLink, ...] = ()
    unreported: dict[str, str] = field(default_factory=dict)  # system fields and GPU pairs NVML did not answer


class DockerInfo(TypedDict, total=False):
    """``docker info --format '{{json .}}'`` (ApiVersion is added by the suite)."""

    ServerErrors: list[str] | None
    ServerVersion: str
    ApiVersion: str
    Runtimes: dict[str, Any] | None
    DefaultRuntime: str
    CDISpecDirs: list[str] | None


class GpuProbeRecord(TypedDict, total=False):
    """``docker-gpu-probe.json``: the suite's record of a throw-away ``--gpus all`` container."""

    ok: bool
    image: str
    error: str
    output: str
    request: str | None  # how the probe asked for the GPUs: "--gpus all" or "--device nvidia.com/gpu=all" (CDI)
    gpus_error: str  # the --gpus attempt's error when the CDI retry answered


class _DeviceRequest(TypedDict, total=False):
    Driver: str | None
    Count: int | None
    DeviceIDs: list[str] | None
    Capabilities: list[list[str]] | None


class _PortBinding(TypedDict, total=False):
    HostIp: str
    HostPort: str


class _RestartPolicy(TypedDict, total=False):
    Name: str


class _NetworkSettings(TypedDict, total=False):
    Ports: dict[str, list[_PortBinding] | None] | None  # what the engine published (a running container)


class _HostConfig(TypedDict, total=False):
    DeviceRequests: list[_DeviceRequest] | None
    PortBindings: dict[str, list[_PortBinding] | None] | None
    RestartPolicy: _RestartPolicy | None
    Runtime: str
    NetworkMode: str
    PublishAllPorts: bool


class _Config(TypedDict, total=False):
    Env: list[str] | None
    Image: str
    Labels: dict[str, str] | None


class _State(TypedDict, total=False):
    Status: str
    Running: bool
    Paused: bool
    Restarting: bool
    Dead: bool
    OOMKilled: bool
    Pid: int
    ExitCode: int
    Error: str
    StartedAt: str  # RFC 3339, nanoseconds; 0001-01-01T00:00:00Z: never
    FinishedAt: str


class _Mount(TypedDict, total=False):
    Type: str
    Name: str
    Source: str
    Destination: str


class Container(TypedDict, total=False):
    """One item of ``docker inspect NAME`` (a list of one container, or empty)."""

    Name: str
    Id: str
    HostConfig: _HostConfig | None
    NetworkSettings: _NetworkSettings | None
    Config: _Config | None
    State: _State | None
    RestartCount: int
    Mounts: list[_Mount] | None


DockerInspect = list[Container]


class OllamaVersion(TypedDict, total=False):
    """``GET /api/version``, or the suite's record of why it did not answer."""

    version: str
    error: str


class _ModelDetails(TypedDict, total=False):
    family: str | None
    parameter_size: str | None
    quantization_level: str | None


class ApiModel(TypedDict, total=False):
    """A model of ``/api/tags`` or ``/api/ps``."""

    model: str
    name: str
    size: int
    size_vram: int | None
    digest: str | None
    details: _ModelDetails | None
    context_length: int | None


class ModelList(TypedDict, total=False):
    """``GET /api/tags`` and ``GET /api/ps``."""

    models: list[ApiModel] | None
