"""Live Docker evidence through the Docker SDK (never the docker CLI): engine, container, GPU probe.

Files are shaped like the output of the commands they are named after, so hand-made captures replay
the same way: ``docker info --format '{{json .}}'`` (an unreachable engine gives ``ServerErrors``, as
the CLI does), ``docker inspect NAME`` (``[]`` when there is no such container), ``docker exec NAME
nvidia-smi -L`` and ``docker logs NAME``. Every API call has the client's timeout, and the whole
collection a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from gpuaccept import evidence as ev
from gpuaccept.parse.docker import MANAGED_LABEL
from gpuaccept.profile import ContainerSpec
from gpuaccept.redact import env_list
from gpuaccept.sources.deadline import DeadlineExceeded, within

LOG_LIMIT = 2 * 1024 * 1024  # keep the head (startup: config, GPU discovery) and the tail of longer logs


def base_url(spec: ContainerSpec) -> str:
    return spec.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(spec: ContainerSpec) -> docker.DockerClient:
    return docker.DockerClient(base_url=base_url(spec), timeout=spec.docker_timeout_s)


def collect_docker(spec: ContainerSpec) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(files, absent, commands) for the Docker evidence; never raises for an expected condition."""
    files: dict[str, str] = {}
    absent: dict[str, str] = {}
    commands = {
        ev.DOCKER_INFO: f"docker info (SDK, {base_url(spec)})",
        ev.DOCKER_INSPECT: f"docker inspect {spec.name}",
        ev.DOCKER_PROBE: "docker run --rm --gpus all <image> nvidia-smi -L (then --device nvidia.com/gpu=all "
                         "where --gpus fails and the engine has CDI)",
        ev.CONTAINER_SMI: f"docker exec {spec.name} nvidia-smi -L",
        ev.OLLAMA_LOG: f"docker logs {spec.name}",
    }
    deadline = spec.docker_timeout_s * 5 + 5  # a handful of calls (two probes on a CDI engine), each time-bounded
    try:
        within(deadline, "Docker Engine", lambda: _collect(spec, files, absent))
    except DeadlineExceeded as err:
        files.setdefault(ev.DOCKER_INFO, _dump({"ServerErrors": [f"{err} at {base_url(spec)}"]}))
    except (DockerException, OSError) as err:
        files.setdefault(ev.DOCKER_INFO, _dump({"ServerErrors": [_reason(err)]}))
    for name in commands:
        if name not in files and name not in absent:
            absent[name] = "the Docker Engine did not answer (see CTR-ENGINE)"
    return files, absent, commands


def _collect(spec: ContainerSpec, files: dict[str, str], absent: dict[str, str]) -> None:
    try:
        client = connect(spec)
        info = client.info()
        info["ApiVersion"] = client.version().get("ApiVersion", "")
    except (DockerException, OSError) as err:
        files[ev.DOCKER_INFO] = _dump({"ServerErrors": [f"cannot reach the Docker Engine at {base_url(spec)}: "
                                                        f"{_reason(err)}"]})
        return
    files[ev.DOCKER_INFO] = _dump(info)
    try:
        attrs = client.api.inspect_container(spec.name)
    except NotFound:
        attrs = None
    if attrs is not None:
        attrs.setdefault("Config", {})["Env"] = env_list(attrs.get("Config", {}).get("Env") or [])
    files[ev.DOCKER_INSPECT] = _dump([attrs] if attrs else [])
    _probe(client, attrs["Config"].get("Image") if attrs else spec.image, spec, files, absent,
           cdi=bool(info.get("CDISpecDirs")))
    if attrs is None:
        absent[ev.CONTAINER_SMI] = absent[ev.OLLAMA_LOG] = f"there is no container named {spec.name}"
        return
    files[ev.OLLAMA_LOG] = _logs(client, attrs["Id"])
    status = attrs.get("State", {}).get("Status", "")
    if status != "running":
        absent[ev.CONTAINER_SMI] = f"container {spec.name} is not running (status {status})"
        return
    files[ev.CONTAINER_SMI] = exec_text(client, attrs["Id"], ["nvidia-smi", "-L"])


def exec_text(client: docker.DockerClient, container_id: str, cmd: list[str]) -> str:
    """What ``docker exec`` prints, errors included (they are the evidence when a command is missing)."""
    try:
        exec_id = client.api.exec_create(container_id, cmd)["Id"]
        output = client.api.exec_start(exec_id)
    except APIError as err:
        return f"{_reason(err)}\n"
    return output.decode("utf-8", "replace")


def _logs(client: docker.DockerClient, container_id: str) -> str:
    text = client.api.logs(container_id, stdout=True, stderr=True).decode("utf-8", "replace")
    if len(text) > LOG_LIMIT:
        half = LOG_LIMIT // 2
        text = f"{text[:half]}\n[... {len(text) - LOG_LIMIT} characters left out by gpuaccept ...]\n{text[-half:]}"
    return text


GPUS_ALL = ("--gpus all", docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]]))
# What `docker run --device nvidia.com/gpu=all` sends (docker/cli opts.go): the CDI driver, the name, no count.
CDI_ALL = ("--device nvidia.com/gpu=all", docker.types.DeviceRequest(driver="cdi", device_ids=["nvidia.com/gpu=all"]))


def _probe(client: docker.DockerClient, image: str, spec: ContainerSpec, files: dict[str, str],
           absent: dict[str, str], cdi: bool = False) -> None:
    """Start a throw-away container asking for every GPU: the toolkit's own smoke test.

    An engine set up for CDI only (no NVIDIA runtime hook; Docker 28.2 and later enable CDI by default)
    refuses ``--gpus all`` yet gives GPUs to ``--device nvidia.com/gpu=all``: there the CDI request is tried too.
    """
    try:
        client.images.get(image)
    except ImageNotFound:
        # Any local image shows whether the engine hands out GPUs: the refusal comes before the image runs.
        others = [tag for img in client.images.list() for tag in img.tags]
        if not others:
            absent[ev.DOCKER_PROBE] = f"no image on this host (not even {image}) to start a GPU probe container"
            return
        image = others[0]
    record = _run_probe(client, image, spec, *GPUS_ALL)
    if not record["ok"] and cdi:
        gpus_error = record["error"]
        record = _run_probe(client, image, spec, *CDI_ALL)
        record["gpus_error"] = gpus_error
    files[ev.DOCKER_PROBE] = _dump(record)


def _run_probe(client: docker.DockerClient, image: str, spec: ContainerSpec, how: str,
               request: docker.types.DeviceRequest) -> dict[str, Any]:
    record: dict[str, Any] = {"image": image, "ok": False, "error": "", "output": "", "request": how}
    container = None
    try:
        container = client.containers.create(
            image, entrypoint=["nvidia-smi"], command=["-L"], network_disabled=True,
            labels={MANAGED_LABEL: "probe"}, device_requests=[request])
        container.start()
        status = container.wait(timeout=spec.docker_timeout_s)
        record["output"] = container.logs().decode("utf-8", "replace")
        record["ok"] = status.get("StatusCode") == 0
        if not record["ok"]:
            record["error"] = f"nvidia-smi -L exited with {status.get('StatusCode')} in the probe container"
    except (DockerException, OSError) as err:
        record["error"] = _reason(err)
    finally:
        if container is not None:
            # The record says what happened; a leftover probe is labelled as ours.
            with contextlib.suppress(DockerException, OSError):
                container.remove(force=True)
    return record


def _reason(err: Exception) -> str:
    if isinstance(err, APIError) and err.explanation:
        return str(err.explanation)
    return f"{type(err).__name__}: {err}"


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"
