"""Carry out planned actions: Docker SDK for the container, NVML for persistence mode.

Every action returns a copy of itself with status ``done`` or ``failed`` and a detail; nothing here
raises for an expected condition. A recreate is reversible until the new container answers: the old
one is stopped and renamed, and is renamed back and restarted if the new one cannot start.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from collections.abc import Callable
from typing import Any

import docker
import httpx
import ollama
from docker.errors import DockerException, ImageNotFound, NotFound

from gpuaccept import ollama_env
from gpuaccept.checks.container import OLLAMA_PORT
from gpuaccept.facts import HostFacts
from gpuaccept.parse.docker import MANAGED_LABEL, parse_inspect
from gpuaccept.profile import ContainerSpec, Profile
from gpuaccept.remedy import persistenced
from gpuaccept.remedy.plan import Action, cdi_devices, expected_uuids
from gpuaccept.sources.bounded_http import get_json
from gpuaccept.sources.docker_engine import connect
from gpuaccept.sources.nvml import enable_persistence
from gpuaccept.sources.ollama_api import client as ollama_client
from gpuaccept.sources.ollama_api import reason as ollama_reason

Progress = Callable[[str], None]
PULL_TOTAL_S = 6 * 3600.0  # a whole model download; each progress line still within api_timeout_s


def apply(actions: list[Action], host: HostFacts, profile: Profile, timeout_s: float,
          progress: Progress = lambda _line: None) -> list[Action]:
    done = []
    for action in actions:
        if action.status != "planned":
            done.append(action)
            continue
        try:
            detail = _RUN[action.kind](action, host, profile, timeout_s, progress)
            done.append(dataclasses.replace(action, status="done", detail=detail or ""))
        except (DockerException, OSError, RemediationError) as err:
            done.append(dataclasses.replace(action, status="failed", detail=_reason(err)))
        except Exception as err:  # noqa: BLE001 - one action's defect is recorded as its failure, never a traceback
            done.append(dataclasses.replace(action, status="failed",
                                            detail=f"internal error ({type(err).__name__}: {err}): please report it"))
        progress(done[-1].describe())
    return done


class RemediationError(Exception):
    pass


def _reason(err: Exception) -> str:
    explanation = getattr(err, "explanation", None)
    return str(explanation or err)


def _persistence(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> str:
    gpu = next(g for g in host.gpus if g.label == action.target)
    error = enable_persistence(gpu.index, timeout_s)
    if error:
        raise RemediationError(error)
    return ("nvmlDeviceSetPersistenceMode(ENABLED): on until the next reboot (nvidia-persistenced is not installed "
            "to keep it)")


def _start(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> str:
    spec = profile.container
    connect(spec).containers.get(spec.name).start()
    return _wait_api(spec)


def _restart_policy(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> str:
    spec = profile.container
    connect(spec).containers.get(spec.name).update(restart_policy={"Name": "unless-stopped"})
    return ""


def _launch(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> str:
    spec = profile.container
    client = connect(spec)
    _ensure_image(client, spec.image, progress)
    _ensure_volume(client, spec.volume)
    kwargs = desired(spec, host, profile, client, old=None)
    new = client.containers.create(**kwargs)
    new.start()
    return _wait_api(spec)


def _recreate(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> str:
    spec = profile.container
    client = connect(spec)
    old = client.containers.get(spec.name)
    kwargs = desired(spec, host, profile, client, old=old.attrs)
    copy_models = not parse_inspect([old.attrs], spec.name).stores(spec.models_path)
    if copy_models:
        _ensure_volume(client, spec.volume)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    was_running = old.status == "running"
    old.stop(timeout=30)
    old.rename(f"{spec.name}-replaced-{stamp}")
    new = None
    try:
        new = client.containers.create(**kwargs)
        if copy_models:
            _copy_models(old, new, spec)
        new.start()
    except (DockerException, OSError) as err:
        if new is not None:
            new.remove(force=True)
        old.rename(spec.name)
        if was_running:
            old.start()
        raise RemediationError(f"{_reason(err)}; the old container was put back") from err
    old.remove(v=False)  # volumes stay: v=False
    kept = "models copied from the container's own layer into volume " + spec.volume if copy_models else \
        "model store kept"
    return f"{kept}; {_wait_api(spec)}"


def _pull(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> str:
    """``ollama pull`` through the API, with a progress line every 10 %."""
    spec = profile.ollama
    shown, status = -10, ""
    try:
        for event in ollama_client(spec, PULL_TOTAL_S, max_bytes=None).pull(spec.model, stream=True):
            status = event.status or status
            if event.total and event.completed is not None:
                percent = int(event.completed * 100 / event.total)
                if percent >= shown + 10:
                    shown = percent - percent % 10
                    bar = "#" * (shown // 5) + "." * (20 - shown // 5)
                    progress(f"pulling {spec.model} [{bar}] {percent:3d}% of {event.total / 1e9:.1f} GB")
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as err:
        raise RemediationError(f"pull of {spec.model} failed: {ollama_reason(err)}") from err
    if status != "success":
        raise RemediationError(f"pull of {spec.model} ended with status {status!r}")
    return f"{spec.model} pulled"


def _persistenced(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> str:
    try:
        return persistenced.enable(timeout_s)
    except persistenced.PersistencedError as err:
        raise RemediationError(str(err)) from err


_RUN = {"persistence": _persistence, "persistenced": _persistenced,
        "pull": _pull, "start": _start, "restart-policy": _restart_policy, "launch": _launch,
        "recreate": _recreate}


def desired(spec: ContainerSpec, host: HostFacts, profile: Profile, client: docker.DockerClient,
            old: dict[str, Any] | None) -> dict[str, Any]:
    """``containers.create`` arguments: the profile's container, keeping what the old one had that is sound."""
    image = (old or {}).get("Config", {}).get("Image") or spec.image
    image_env = set(_image_env(client, image))
    env: dict[str, str] = {}
    version = host.ollama.version or host.ollama.log_version or None
    for item in (old or {}).get("Config", {}).get("Env") or []:
        name, _, value = item.partition("=")
        if (item in image_env or name == "CUDA_VISIBLE_DEVICES" or ollama_env.advice(name, version)
                or (ollama_env.value_problem(name, value, version) or ("",))[0] == "fail"):
            continue  # image defaults come back by themselves; made-up, unread, unparsable and GPU-hiding ones go
        env[name] = value
    env.update(spec.environment)
    if spec.spread:
        env["OLLAMA_SCHED_SPREAD"] = "1"
    volumes: dict[str, dict[str, str]] = {}
    for m in (old or {}).get("Mounts") or []:
        if m.get("Type") in ("volume", "bind"):
            volumes[m.get("Name") or m["Source"]] = {"bind": m["Destination"], "mode": "rw" if m.get("RW", True) else "ro"}
    if old is None or not parse_inspect([old], spec.name).stores(spec.models_path):
        volumes[spec.volume] = {"bind": spec.models_path, "mode": "rw"}
    ports: dict[str, Any] = {}
    for port, bindings in ((old or {}).get("HostConfig", {}).get("PortBindings") or {}).items():
        if port != OLLAMA_PORT and bindings:
            ports[port] = [(b.get("HostIp") or "0.0.0.0", int(b["HostPort"])) for b in bindings if b.get("HostPort")]
    ports[OLLAMA_PORT] = (spec.bind_address, spec.port)
    labels = {**((old or {}).get("Config", {}).get("Labels") or {}), MANAGED_LABEL: "true",
              "io.gpuaccept.profile": profile.name}
    policy = ((old or {}).get("HostConfig", {}).get("RestartPolicy") or {}).get("Name")
    kwargs: dict[str, Any] = {
        "image": image, "name": spec.name, "detach": True, "environment": env,
        "device_requests": gpu_requests(spec, host, profile, old),
        "volumes": volumes, "ports": ports, "labels": labels,
        "restart_policy": {"Name": policy if policy in spec.restart_policies else "unless-stopped"},
    }
    cmd = (old or {}).get("Config", {}).get("Cmd")
    if cmd:
        kwargs["command"] = cmd
    entrypoint = (old or {}).get("Config", {}).get("Entrypoint")
    if entrypoint and entrypoint != _image_config(client, image).get("Entrypoint"):
        kwargs["entrypoint"] = entrypoint  # an entrypoint of the user's own survives the recreate
    return kwargs


def gpu_requests(spec: ContainerSpec, host: HostFacts, profile: Profile,
                 old: dict[str, Any] | None) -> list[docker.types.DeviceRequest]:
    """Every expected GPU, in the old container's style: CDI names for a CDI container, else ``--gpus``."""
    cdi = cdi_devices(host, profile, parse_inspect([old], spec.name) if old else None)
    if cdi:
        # What `docker run --device nvidia.com/gpu=all` sends (docker/cli opts.go): driver cdi, names, no count.
        return [docker.types.DeviceRequest(driver="cdi", device_ids=list(cdi))]
    uuids = expected_uuids(host, profile)
    return [docker.types.DeviceRequest(device_ids=uuids, capabilities=[["gpu"]]) if uuids
            else docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]


def _image_config(client: docker.DockerClient, image: str) -> dict[str, Any]:
    try:
        return client.images.get(image).attrs.get("Config") or {}
    except ImageNotFound:
        return {}


def _image_env(client: docker.DockerClient, image: str) -> list[str]:
    return _image_config(client, image).get("Env") or []


def _ensure_image(client: docker.DockerClient, image: str, progress: Progress) -> None:
    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    progress(f"pulling {image} ...")
    try:
        last = ""
        for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise RemediationError(event["error"])
            line = " ".join(filter(None, [event.get("id"), event.get("status"), event.get("progress")]))
            if line and line != last and "Downloading" not in line:  # one line per layer step, not per chunk
                progress(f"  {line}")
                last = line
    except (DockerException, OSError, RemediationError) as err:
        raise RemediationError(f"image {image} is not on this host and could not be pulled ({_reason(err)}): "
                               f"load it with `docker load -i <file>` or let the engine reach its registry") from err


def _ensure_volume(client: docker.DockerClient, name: str) -> None:
    try:
        client.volumes.get(name)
    except NotFound:
        client.volumes.create(name, labels={MANAGED_LABEL: "true"})


def _copy_models(old, new, spec: ContainerSpec) -> None:
    """Move the model store out of the old container's own layer into the new container's volume."""
    parent = spec.models_path.rstrip("/").rsplit("/", 1)[0] or "/"
    try:
        stream, _ = old.get_archive(spec.models_path)
    except NotFound:
        return  # nothing was ever stored
    new.put_archive(parent, b"".join(stream))


def _wait_api(spec: ContainerSpec) -> str:
    host = spec.bind_address if spec.bind_address not in ("0.0.0.0", "::") else "127.0.0.1"
    url = f"http://{host if ':' not in host else f'[{host}]'}:{spec.port}/api/version"
    deadline = time.monotonic() + spec.api_wait_s
    error = ""
    while time.monotonic() < deadline:
        try:
            answer = get_json(url, min(2.0, max(deadline - time.monotonic(), 0.1)), max_bytes=4096)
            return f"API answered at {url}: {json.dumps(answer)[:200]}"
        except (httpx.HTTPError, ValueError) as err:
            error = str(err)
            time.sleep(0.25)
    raise RemediationError(f"the container runs but {url} did not answer within {spec.api_wait_s:g} s ({error})")
