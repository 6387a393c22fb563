"""Live Docker evidence through the Docker SDK (never the docker CLI): engine, container, GPU probe.

Files are shaped like the output of the commands they are named after, so hand-made captures replay
the same way: ``docker info --format '{{json .}}'`` (an unreachable engine gives ``ServerErrors``, as
the CLI does), ``docker inspect NAME`` (``[]`` when there is no such container), ``docker exec NAME
nvidia-smi -L`` and ``docker logs NAME``.

The SDK's timeout is per socket operation (and its log and exec streams turn it off), so every call
runs under a total deadline of ``docker_timeout_s`` (``deadline.within``; a stream is closed when its
deadline passes, which ends a read blocked on it), and what a call returns is capped: the server log
keeps its head and tail, ``nvidia-smi -L`` and the probe's output are cut at EXEC_MAX_BYTES. The probe
container has a name of its own and is removed afterwards, also when a call about it timed out.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from gpuaccept import evidence as ev
from gpuaccept.parse.docker import MANAGED_LABEL
from gpuaccept.profile import ContainerSpec
from gpuaccept.redact import env_list
from gpuaccept.sources.deadline import DeadlineExceeded, within

T = TypeVar("T")
MIB = 1024 * 1024
LOG_HEAD_BYTES = MIB  # the server's start-up: config, GPU discovery
LOG_TAIL_BYTES = MIB  # its latest lines
EXEC_MAX_BYTES = MIB  # nvidia-smi -L prints one short line per GPU
# The most Engine calls one collection makes, each within docker_timeout_s: the whole collection's bound.
MAX_CALLS = 19  # 14, and 5 more for the CDI probe on an engine that refuses --gpus
FAILURES = (DockerException, OSError, DeadlineExceeded)
_STARTED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")


def base_url(spec: ContainerSpec) -> str:
    return spec.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(spec: ContainerSpec) -> docker.DockerClient:
    return docker.DockerClient(base_url=base_url(spec), timeout=spec.docker_timeout_s)


def call(spec: ContainerSpec, what: str, fn: Callable[[], T]) -> T:
    """One Engine call within ``docker_timeout_s`` in all, however the Engine trickles its answer."""
    return within(spec.docker_timeout_s, what, fn)


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
        ev.OLLAMA_LOG: f"docker logs --since <State.StartedAt> {spec.name}",
    }
    # A backstop only: each call already has its own deadline.
    deadline = spec.docker_timeout_s * MAX_CALLS + 5
    try:
        within(deadline, "the Docker Engine collection", lambda: _collect(spec, files, absent))
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
        client = call(spec, "connecting to the Docker Engine", lambda: connect(spec))
        info = call(spec, "docker info", client.info)
        info["ApiVersion"] = call(spec, "docker version", client.version).get("ApiVersion", "")
    except FAILURES as err:
        files[ev.DOCKER_INFO] = _dump({"ServerErrors": [f"cannot reach the Docker Engine at {base_url(spec)}: "
                                                        f"{_reason(err)}"]})
        return
    files[ev.DOCKER_INFO] = _dump(info)
    try:
        attrs = call(spec, f"docker inspect {spec.name}", lambda: client.api.inspect_container(spec.name))
    except NotFound:
        attrs = None
    except FAILURES as err:
        absent[ev.DOCKER_INSPECT] = absent[ev.CONTAINER_SMI] = absent[ev.OLLAMA_LOG] = absent[ev.DOCKER_PROBE] = \
            f"docker inspect {spec.name} failed: {_reason(err)}"
        return
    if attrs is not None:
        attrs.setdefault("Config", {})["Env"] = env_list(attrs.get("Config", {}).get("Env") or [])
    files[ev.DOCKER_INSPECT] = _dump([attrs] if attrs else [])
    _probe(client, attrs["Config"].get("Image") if attrs else spec.image, spec, files, absent,
           cdi=bool(info.get("CDISpecDirs")))
    if attrs is None:
        absent[ev.CONTAINER_SMI] = absent[ev.OLLAMA_LOG] = f"there is no container named {spec.name}"
        return
    try:
        files[ev.OLLAMA_LOG] = _logs(client, attrs, spec)
    except FAILURES as err:
        absent[ev.OLLAMA_LOG] = f"docker logs {spec.name} failed: {_reason(err)}"
    status = attrs.get("State", {}).get("Status", "")
    if status != "running":
        absent[ev.CONTAINER_SMI] = f"container {spec.name} is not running (status {status})"
        return
    try:
        files[ev.CONTAINER_SMI] = exec_text(client, attrs["Id"], ["nvidia-smi", "-L"], spec.docker_timeout_s)
    except FAILURES as err:
        absent[ev.CONTAINER_SMI] = f"docker exec {spec.name} nvidia-smi -L failed: {_reason(err)}"


def read_stream(timeout_s: float, what: str, open_stream: Callable[[], Any], keep: Callable[[bytes], bool]) -> bool:
    """Feed ``keep`` the chunks of an Engine stream (logs, exec output) until it ends (True), ``keep``
    says stop, or ``timeout_s`` passes (False). The stream is closed in every case: when a read blocks
    past the deadline, closing it from here shuts its socket down, which ends the read."""
    opened: list[Any] = []
    lock = threading.Lock()
    given_up = threading.Event()
    end = time.monotonic() + timeout_s

    def work() -> bool:
        stream = open_stream()
        opened.append(stream)
        try:
            for chunk in stream:
                with lock:  # once given up, the caller owns what ``keep`` filled
                    if given_up.is_set() or not keep(chunk):
                        return True
                if time.monotonic() > end:
                    return False
            return True
        finally:
            with contextlib.suppress(*FAILURES):
                stream.close()

    try:
        return within(timeout_s + 1, what, work)
    except DeadlineExceeded:
        with lock:
            given_up.set()
        for stream in opened:
            with contextlib.suppress(*FAILURES):
                stream.close()
        if not opened:
            raise  # not even the stream's start answered
        return False


def exec_text(client: docker.DockerClient, container_id: str, cmd: list[str], timeout_s: float) -> str:
    """What ``docker exec`` prints (errors included: they are the evidence when a command is missing),
    cut at EXEC_MAX_BYTES and after ``timeout_s`` (both said in the text)."""
    try:
        exec_id = within(timeout_s, "docker exec", lambda: client.api.exec_create(container_id, cmd)["Id"])
    except APIError as err:
        return f"{_reason(err)}\n"
    output = bytearray()

    def keep(chunk: bytes) -> bool:
        output.extend(chunk[: EXEC_MAX_BYTES + 1 - len(output)])
        return len(output) <= EXEC_MAX_BYTES

    try:
        ended = read_stream(timeout_s, f"docker exec {' '.join(cmd)}", lambda: client.api.exec_start(exec_id, stream=True),
                            keep)
    except APIError as err:
        return f"{_reason(err)}\n"
    text = bytes(output[:EXEC_MAX_BYTES]).decode("utf-8", "replace")
    if len(output) > EXEC_MAX_BYTES:
        text += f"\n[... gpuaccept cut this output at {EXEC_MAX_BYTES // MIB} MiB ...]\n"
    elif not ended:
        text += f"\n[... gpuaccept stopped reading after {timeout_s:g} s: the output is incomplete ...]\n"
    return text


def started_at(value: str) -> int | None:
    """State.StartedAt (RFC 3339, nanoseconds) as whole Unix seconds, rounded down; None when never started.

    Whole seconds: every engine version parses them; a line from the end of the previous run within that
    second is told apart by the log parser, which judges only the last server start.
    """
    match = _STARTED.fullmatch(value or "")
    if match is None or match.group(1).startswith("0001-"):
        return None
    stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    zone = (datetime.timezone.utc if match.group(3) == "Z"
            else datetime.datetime.strptime(match.group(3).replace(":", ""), "%z").tzinfo)
    return int(stamp.replace(tzinfo=zone).timestamp())


def _started(attrs: dict[str, Any]) -> int | None:
    """The container's last start: its log since then is the running server's (`docker logs` keeps earlier
    runs of the container, whose discovery is stale)."""
    return started_at(str(attrs.get("State", {}).get("StartedAt") or ""))


def _logs(client: docker.DockerClient, attrs: dict[str, Any], spec: ContainerSpec) -> str:
    """The log since the container's last start: its first LOG_HEAD_BYTES and its last LOG_TAIL_BYTES;
    what lies between is left out and counted, and a log still unread at the deadline says so."""
    head = bytearray()
    tail = bytearray()
    left_out = 0

    def keep(chunk: bytes) -> bool:
        nonlocal left_out
        room = LOG_HEAD_BYTES - len(head)
        if room > 0:
            head.extend(chunk[:room])
            chunk = chunk[room:]
        tail.extend(chunk)
        if len(tail) > LOG_TAIL_BYTES:
            left_out += len(tail) - LOG_TAIL_BYTES
            del tail[: len(tail) - LOG_TAIL_BYTES]
        return True

    since = _started(attrs)
    ended = read_stream(spec.docker_timeout_s, f"docker logs {spec.name}",
                        lambda: client.api.logs(attrs["Id"], stdout=True, stderr=True, stream=True, follow=False,
                                                since=since), keep)
    text = bytes(head).decode("utf-8", "replace")
    if left_out:
        text += f"\n[... {left_out} bytes left out by gpuaccept ...]\n"
    text += bytes(tail).decode("utf-8", "replace")
    if not ended:
        text += (f"\n[... gpuaccept stopped reading this log after {spec.docker_timeout_s:g} s: "
                 "its end is missing ...]\n")
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
        call(spec, f"docker image inspect {image}", lambda: client.images.get(image))
    except ImageNotFound:
        # Any local image shows whether the engine hands out GPUs: the refusal comes before the image runs.
        try:
            others = [tag for img in call(spec, "docker images", client.images.list) for tag in img.tags]
        except FAILURES as err:
            absent[ev.DOCKER_PROBE] = f"listing the images for a GPU probe failed: {_reason(err)}"
            return
        if not others:
            absent[ev.DOCKER_PROBE] = f"no image on this host (not even {image}) to start a GPU probe container"
            return
        image = others[0]
    except FAILURES as err:
        absent[ev.DOCKER_PROBE] = f"docker image inspect {image} failed: {_reason(err)}"
        return
    record = _run_probe(client, image, spec, *GPUS_ALL)
    if not record["ok"] and cdi:
        gpus_error = record["error"]
        record = _run_probe(client, image, spec, *CDI_ALL)
        record["gpus_error"] = gpus_error
    files[ev.DOCKER_PROBE] = _dump(record)


def _run_probe(client: docker.DockerClient, image: str, spec: ContainerSpec, how: str,
               request: docker.types.DeviceRequest) -> dict[str, Any]:
    record: dict[str, Any] = {"image": image, "ok": False, "error": "", "output": "", "request": how}
    name = f"gpuaccept-probe-{uuid.uuid4().hex[:12]}"  # known before create: removable whatever happens
    try:
        container = call(spec, "docker create (GPU probe)", lambda: client.containers.create(
            image, name=name, entrypoint=["nvidia-smi"], command=["-L"], network_disabled=True,
            labels={MANAGED_LABEL: "probe"}, device_requests=[request]))
        call(spec, "docker start (GPU probe)", container.start)
        status = call(spec, "waiting for the GPU probe container", lambda: container.wait(timeout=spec.docker_timeout_s))
        output = bytearray()

        def keep(chunk: bytes) -> bool:
            output.extend(chunk[: EXEC_MAX_BYTES - len(output)])
            return len(output) < EXEC_MAX_BYTES

        read_stream(spec.docker_timeout_s, "docker logs (GPU probe)",
                    lambda: client.api.logs(container.id, stdout=True, stderr=True, stream=True, follow=False), keep)
        record["output"] = bytes(output).decode("utf-8", "replace")
        record["ok"] = status.get("StatusCode") == 0
        if not record["ok"]:
            record["error"] = f"nvidia-smi -L exited with {status.get('StatusCode')} in the probe container"
    except FAILURES as err:
        record["error"] = _reason(err)
    finally:
        # The record says what happened; a probe left behind (the Engine did not answer) is labelled as ours.
        with contextlib.suppress(*FAILURES):
            call(spec, "docker rm -f (GPU probe)", lambda: client.api.remove_container(name, force=True))
    return record


def _reason(err: Exception) -> str:
    if isinstance(err, DeadlineExceeded):
        return str(err)
    if isinstance(err, APIError) and err.explanation:
        return str(err.explanation)
    return f"{type(err).__name__}: {err}"


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"
