"""Carry out planned actions: Docker SDK for the container, NVML for persistence mode.

Every action returns a copy of itself with status ``done`` or ``failed`` and a detail; nothing here
raises for an expected condition. A recreate is reversible until the new container answers: the old
one is stopped and renamed, and is renamed back and restarted if the new one cannot be created or
started, does not hold every model file of the old store (model_store: counts, sizes, SHA-256 of
each file), or does not answer.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import posixpath
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import docker
import httpx
import ollama
from docker.errors import DockerException, ImageNotFound, NotFound

from gpuaccept import ollama_env
from gpuaccept.checks.container import OLLAMA_PORT
from gpuaccept.facts import HostFacts
from gpuaccept.parse.docker import MANAGED_LABEL, parse_inspect
from gpuaccept.profile import ContainerSpec, Profile
from gpuaccept.remedy import model_store, persistenced
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
            models = {}
            if isinstance(detail, Outcome):
                detail, models = detail
            done.append(dataclasses.replace(action, status="done", detail=detail or "", models=models))
        except (DockerException, OSError, RemediationError) as err:
            done.append(dataclasses.replace(action, status="failed", detail=_reason(err),
                                            models=getattr(err, "models", None) or {}))
        except Exception as err:  # noqa: BLE001 - one action's defect is recorded as its failure, never a traceback
            done.append(dataclasses.replace(action, status="failed",
                                            detail=f"internal error ({type(err).__name__}: {err}): please report it"))
        progress(done[-1].describe())
    return done


class RemediationError(Exception):
    def __init__(self, message: str, models: dict | None = None):
        super().__init__(message)
        self.models = models or {}


class Outcome(NamedTuple):
    """A done action's detail, and for a recreate what was verified of the model store."""

    detail: str
    models: dict


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


def _recreate(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> Outcome:
    """Replace the container; the old one goes only once the new one holds every model file and answers."""
    spec = profile.container
    client = connect(spec)
    old = client.containers.get(spec.name)
    kwargs = desired(spec, host, profile, client, old=old.attrs)
    home_kept = bool(parse_inspect([old.attrs], spec.name).stores(spec.models_path))
    if not home_kept:
        _ensure_volume(client, spec.volume)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    was_running = old.status == "running"
    replaced = f"{spec.name}-replaced-{stamp}"
    old.stop(timeout=30)
    new = None
    try:
        old.rename(replaced)
        new = client.containers.create(**kwargs)
        record = _carry_models(old, new, spec, home_kept, progress)
        new.start()
        answered = _wait_api(spec)
    except BaseException as err:  # a broken stream or Ctrl-C during a long copy too: the old one comes back
        back = _put_back(old, new, spec.name, replaced, was_running)
        if not isinstance(err, Exception):
            raise
        raise RemediationError(f"{_reason(err) or type(err).__name__}; {back}", getattr(err, "models", None)) from err
    old.remove(v=False)  # volumes stay: v=False
    return Outcome(f"{record['text']}; {answered}", record)


def _put_back(old, new, name: str, replaced: str, was_running: bool) -> str:
    """Undo a recreate step by step; each step is tried even when one before it failed."""
    problems = []
    for step, call in (("remove the new container", lambda: new is not None and new.remove(force=True)),
                       (f"rename {replaced} back to {name}", lambda: _rename_back(old, name)),
                       ("start the old container", lambda: was_running and old.start())):
        try:
            call()
        except DockerException as err:
            problems.append(f"could not {step} ({_reason(err)})")
    if not problems:
        return "the old container was put back"
    return ("the old container was kept, untouched, but " + "; ".join(problems) +
            f": finish by hand (`docker rm -f {name}; docker rename {replaced} {name}; docker start {name}`)")


def _rename_back(old, name: str) -> None:
    old.reload()
    if old.name != name:  # the rename away may not have happened
        old.rename(name)


def _carry_models(old, new, spec: ContainerSpec, home_kept: bool, progress: Progress) -> dict:
    """Copy what only the old container's layer holds, then prove the new container has every model file.

    Ollama's home (``models_path``: its key, and the default store) goes into the new volume when no
    mount kept it, as it always did; the store OLLAMA_MODELS names is then found in the new container
    where its own OLLAMA_MODELS says. A copied store is compared file by file (size and SHA-256) with
    the old one; a kept store must be the same mount at the same path, and is listed and hashed once.
    The manifests' blob references (sizes, digests) are checked in both cases. Any difference raises:
    the caller puts the old container back.
    """
    store = model_store.locate(parse_inspect([old.attrs], spec.name), spec.models_path)
    target = model_store.locate(parse_inspect([new.attrs], spec.name), spec.models_path)
    home = spec.models_path.rstrip("/") or "/"
    source = copy = None
    carried = ""
    if not home_kept:
        progress(f"copying {home} of the old container into volume {spec.volume} ...")
        home_source = model_store.copy_tree(old, home, new, home)
        home_copy = model_store.read_tree(new, home)
        home_missing = model_store.differences(home_source, home_copy)
        if home_missing:
            raise RemediationError(f"the copy of {home} in the new container differs: {'; '.join(home_missing[:5])}")
        if not store.persistent and target.path == store.path and model_store.under(store.path, home):
            rel = posixpath.relpath(store.path, home)
            source, copy = (home_source, home_copy) if rel == "." else (home_source.under(rel), home_copy.under(rel))
            carried = f"copied with {home} to {target.where()}"
    missing: list[str] = []
    verified = ["file count", "total size", "each file's size and sha256 equal to the old store's"]
    if source is None and store.persistent:
        # Nothing is copied: the new container must read the same mount at the same path. The files are
        # then the old container's own, so one pass through the new container lists and hashes them
        # (a second pass through the old one would read the same bytes again: minutes for a large store).
        if (target.path, target.holder) != (store.path, store.holder):
            missing.append(f"the new container reads {target.path} on the {target.where()}, not {store.path} "
                           f"on the {store.where()}")
        progress(f"checking model store {store.path} on {store.where()} ...")
        source = copy = model_store.read_tree(new, target.path)
        carried = f"kept on {store.where()} (the same mount at the same path)"
        verified = ["the same mount at the same path", "file count", "total size", "each file's size",
                    "each blob's sha256 against its name"]
    elif source is None:
        progress(f"copying model store {store.path} into {target.where()} at {target.path} ...")
        source = model_store.copy_tree(old, store.path, new, target.path)
        copy = model_store.read_tree(new, target.path)
        carried = f"copied to {target.where()} at {target.path}"
    if store.from_env and not target.from_env:
        carried += " (OLLAMA_MODELS dropped: the new container reads Ollama's default path)"
    count, broken = model_store.references(copy)
    missing += model_store.differences(source, copy)
    if not target.persistent:
        missing.insert(0, f"{target.path} is on the {target.where()} of the new container, not on a volume")
    record = {"store": store.path, "was_on": store.where(), "path": target.path, "is_on": target.where(),
              "files": len(source.files), "bytes": source.total, "manifests": len(source.manifest_files),
              "blobs": len(source.blobs), "references": count,
              "verified": [*verified, "manifest blob references (size and digest)"],
              "sha256": {rel: digest for rel, (_, digest) in sorted(source.files.items())},
              "differences": missing, "store_problems": broken}
    where = f"model store {store.path} ({store.where()}; {model_store.summary(source)})"
    if missing:
        record["verified"] = []
        raise RemediationError(f"{where}: the new container's store {target.path} differs: "
                               f"{'; '.join(missing[:5])}" + (f" (and {len(missing) - 5} more)" if len(missing) > 5
                                                              else ""), record)
    text = (f"{where} {carried}; verified in the new container before the old one was removed: "
            f"{len(source.files)} files, {source.total} bytes, {', '.join(verified[2:])}, "
            f"{count} blob references of {len(source.manifest_files)} manifests")
    if broken:
        text += f"; faults the store already had (not made by the recreate): {'; '.join(broken[:3])}"
    record["text"] = text
    return record


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
    home_kept = old is not None and bool(parse_inspect([old], spec.name).stores(spec.models_path))
    if not home_kept:
        volumes[spec.volume] = {"bind": spec.models_path, "mode": "rw"}
    if old is not None:  # keep OLLAMA_MODELS naming where the models will be (see model_store.new_path)
        store = model_store.locate(parse_inspect([old], spec.name), spec.models_path)
        if model_store.new_path(store, spec.models_path, home_kept) != store.path:
            env.pop("OLLAMA_MODELS", None)
            if any(item.startswith("OLLAMA_MODELS=") for item in image_env):
                env["OLLAMA_MODELS"] = model_store.default_path(spec.models_path)
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
