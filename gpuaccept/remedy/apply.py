"""Carry out planned actions: Docker SDK for the container, NVML for persistence mode.

Every action returns a copy of itself with status ``done`` or ``failed`` and a detail; nothing here
raises for an expected condition. A recreate is reversible until the new container answers: the old
one is stopped and renamed, and is renamed back and restarted if the new one cannot be created or
started, does not hold every model file of the old store (model_store: counts, sizes, SHA-256 of
each file), or does not answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import posixpath
import stat
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import docker
import httpx
import ollama
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from gpuaccept import ollama_env
from gpuaccept.checks.container import OLLAMA_PORT
from gpuaccept.errors import RemedyError
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


class RemediationError(RemedyError):
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


LOCK_LABEL = "io.gpuaccept.remediating"


@contextlib.contextmanager
def _one_at_a_time(client: docker.DockerClient, spec: ContainerSpec, image: str):
    """The Engine's own lock on the container: a created, never started container named after it. Creating
    a name is atomic in the Engine, so a second --remediate on the same container, from this machine or
    another, refuses at once instead of renaming and removing under the first one's feet."""
    name = f"{spec.name}-gpuaccept-remediating"
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        lock = client.containers.create(image, name=name, command=["true"], labels={LOCK_LABEL: stamp},
                                        network_disabled=True)
    except APIError as err:
        if getattr(err, "status_code", None) != 409:
            raise
        since = ""
        with contextlib.suppress(DockerException):
            since = client.containers.get(name).labels.get(LOCK_LABEL, "")
        raise RemediationError(f"another --remediate is changing container {spec.name} (its lock, container {name}, "
                               f"was created {since or 'at an unknown time'}): nothing was done; run again when it "
                               f"has finished, or `docker rm {name}` if no run is active") from None
    try:
        yield
    finally:
        with contextlib.suppress(DockerException):
            lock.remove(force=True)


def _launch(action: Action, host: HostFacts, profile: Profile, timeout_s: float, progress: Progress) -> str:
    spec = profile.container
    client = connect(spec)
    _ensure_image(client, spec.image, progress)
    with _one_at_a_time(client, spec, spec.image):
        if any(c.name == spec.name for c in client.containers.list(all=True, filters={"name": spec.name})):
            raise RemediationError(f"container {spec.name} exists now (another run launched it): nothing was done")
        return _launch_locked(spec, host, profile, client)


def _launch_locked(spec: ContainerSpec, host: HostFacts, profile: Profile, client: docker.DockerClient) -> str:
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
    with _one_at_a_time(client, spec, old.attrs.get("Image") or spec.image):
        old.reload()  # as it is now, under the lock
        return _recreate_locked(old, spec, host, profile, client, progress)


def _recreate_locked(old, spec: ContainerSpec, host: HostFacts, profile: Profile, client: docker.DockerClient,
                     progress: Progress) -> Outcome:
    if old.name != spec.name:
        raise RemediationError(f"container {spec.name} changed while the run looked at it: nothing was done")
    kwargs = desired(spec, host, profile, client, old=old.attrs)
    home_kept = bool(parse_inspect([old.attrs], spec.name).stores(spec.models_path))
    created = not home_kept and _ensure_volume(client, spec.volume)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    was_running = old.status == "running"
    replaced = f"{spec.name}-replaced-{stamp}"
    old.stop(timeout=30)
    new = record = None
    try:
        old.rename(replaced)
        new = client.containers.create(**kwargs)
        record = _carry_models(old, new, spec, home_kept, progress, local=_local_engine(spec))
        new.start()
        answered = _wait_api(spec)
    except BaseException as err:  # a broken stream or Ctrl-C during a long copy too: the old one comes back
        wrote = [] if created else list(getattr(err, "written", None) or (record or {}).get("written") or [])
        cleaned = _remove_written(client, new, old.attrs.get("Image") or spec.image, wrote)  # a created volume goes whole
        back = _put_back(old, new, spec.name, replaced, was_running, client)
        if cleaned is not None:
            back += (f"; the {len(cleaned['paths'])} files the copy had begun to write were removed again"
                     if cleaned["removed"] else f"; the files the copy had begun to write could not be removed "
                     f"({cleaned['why']}): {', '.join(cleaned['paths'][:5])}")
        if created:  # it holds only what the copy wrote: removed with the new container, never a source
            back += "; " + _drop_volume(client, spec.volume)
        if not isinstance(err, Exception):
            raise
        models = dict(getattr(err, "models", None) or {})
        models["after_failure"] = _sources_after(old, spec, err, models)
        if cleaned is not None:
            models["after_failure"]["written_then_removed" if cleaned["removed"] else "written_and_left"] = cleaned["paths"]
        raise RemediationError(f"{_reason(err) or type(err).__name__}; {back}", models) from err
    old.remove(v=False)  # volumes stay: v=False
    return Outcome(f"{record['text']}; {answered}", record)


def _drop_volume(client: docker.DockerClient, name: str) -> str:
    try:
        client.volumes.get(name).remove()
        return f"volume {name}, which this run had created, was removed with what the copy had written into it"
    except DockerException as err:
        return f"volume {name}, which this run had created, could not be removed ({_reason(err)}): `docker volume rm {name}`"


def _sources_after(old, spec: ContainerSpec, err: BaseException, models: dict) -> dict[str, Any]:
    """The old container's store read again after the failure, against what the copy had read of it: the
    record's proof that no source was touched (sizes and SHA-256 of every file, as the Engine shows them now)."""
    store = model_store.locate(parse_inspect([old.attrs], spec.name), spec.models_path)
    try:
        now = model_store.read_tree(old, store.path)
    except (DockerException, OSError) as read_err:
        return {"store": store.path, "read": False, "why": _reason(read_err)}
    before = dict(models.get("sha256") or {})
    read_path, partial = getattr(err, "read_before_failure", (None, None))
    if partial is not None:
        prefix = posixpath.relpath(store.path, read_path) if model_store.under(store.path, read_path) else None
        tree = partial if prefix in (None, ".") else partial.under(prefix)
        before.update({rel: digest for rel, (_, digest) in tree.files.items()})
    changed = sorted(rel for rel, digest in before.items() if now.files.get(rel, (0, None))[1] != digest)
    return {"store": store.path, "read": True, "files": len(now.files), "bytes": now.total,
            "sha256": {rel: digest for rel, (_, digest) in sorted(now.files.items())},
            "compared_with_before": len(before), "changed_or_missing": changed}


def _put_back(old, new, name: str, replaced: str, was_running: bool, client=None) -> str:
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
    return "the old container was kept, untouched, but " + "; ".join(problems) + ": " + _by_hand(
        old, new, name, replaced, client)


def _by_hand(old, new, name: str, replaced: str, client) -> str:
    """The commands that finish the put-back, for the state the Engine shows now (never a removal of a
    container that is not the new one)."""
    if client is None:
        return f"check `docker ps -a` for {name} and {replaced} before you change anything"
    try:
        old.reload()
        named = next((c for c in client.containers.list(all=True, filters={"name": name}) if c.name == name), None)
    except DockerException as err:
        return f"the Engine's state could not be read again ({_reason(err)}): check `docker ps -a` before you change anything"
    steps = []
    if named is not None and new is not None and named.id == new.id:
        steps.append(f"docker rm -f {name}")  # the new container, which holds no data of its own
    elif named is not None and named.id != old.id:
        return (f"a container {name} ({named.id[:12]}) that this run did not make holds the name: the old one is "
                f"{old.name}; check `docker ps -a` before you change anything")
    if old.name != name:
        steps.append(f"docker rename {old.name} {name}")
    if old.status != "running":
        steps.append(f"docker start {name}")
    return f"finish by hand (`{'; '.join(steps)}`)" if steps else "the old container is in place"


def _rename_back(old, name: str) -> None:
    old.reload()
    if old.name != name:  # the rename away may not have happened
        old.rename(name)


def _local_engine(spec: ContainerSpec) -> bool:
    """Whether the Engine's host paths are this machine's (a unix socket): then bind mounts are also checked
    by device and inode, not only by content."""
    url = spec.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return url.startswith("unix://")


def _kept_mounts(old_facts, new_facts, home: str) -> list:
    """Volumes and bind mounts below Ollama's home that the new container mounts again at the same place: the
    home's copy skips them (they are never written through), and they are verified as kept."""
    again = {(m.type, m.source, m.destination.rstrip("/")) for m in new_facts.mounts}
    return [m for m in old_facts.mounts if m.type in model_store.PERSISTENT
            and model_store.under(m.destination, home) and m.destination.rstrip("/") != home.rstrip("/")
            and (m.type, m.source, m.destination.rstrip("/")) in again]


def _identity(mount, local: bool) -> dict[str, list[int]] | None:
    """rel path -> [device, inode, size] of each regular file of a bind mount's host directory, when this
    machine is the Engine's host; None when it cannot be seen from here."""
    if not local or mount.type != "bind" or not os.path.isdir(mount.source):
        return None
    found = {}
    for folder, dirs, files in os.walk(mount.source):
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                found[os.path.relpath(path, mount.source)] = [st.st_dev, st.st_ino, st.st_size]
        dirs.sort()
    return found


def _carry_models(old, new, spec: ContainerSpec, home_kept: bool, progress: Progress, local: bool = False) -> dict:
    """Copy what only the old container's layer holds, then prove the new container has every model file.

    Ollama's home (``models_path``: its key, and the default store) goes into the new volume when no
    mount kept it, as it always did, but never through a volume or bind mount below it that the new
    container mounts again (those are read, before and after, and must be unchanged: content, and on a
    local Engine each file's device and inode). Nothing is written over a file the destination already
    holds (the same file stays; another one stops the copy, naming both), and a symbolic link that points
    outside the copied tree stops it too. A copied store is compared file by file (size and SHA-256) with
    the old one; a kept store must be the same mount at the same path. The manifests' blob references are
    checked in both cases. Any difference raises: the caller puts the old container back.
    """
    old_facts, new_facts = parse_inspect([old.attrs], spec.name), parse_inspect([new.attrs], spec.name)
    store = model_store.locate(old_facts, spec.models_path)
    target = model_store.locate(new_facts, spec.models_path)
    home = spec.models_path.rstrip("/") or "/"
    source = copy = None
    carried = ""
    record: dict[str, Any] = {"store": store.path, "was_on": store.where(), "path": target.path, "is_on": target.where()}
    kept = [] if home_kept else _kept_mounts(old_facts, new_facts, home)
    kept_before = {m.destination: (model_store.read_tree(old, m.destination), _identity(m, local)) for m in kept}
    written_home: list[str] = []
    try:
        if not (store.persistent and home_kept):
            record["space"] = _room_for_the_copy(old, new, new_facts, home if not home_kept else target.path, local)
        if not home_kept:
            skip = tuple(posixpath.relpath(m.destination, home) for m in kept)
            progress(f"copying {home} of the old container into volume {spec.volume}"
                     + (f" (not {', '.join(m.destination for m in kept)}: kept)" if kept else "") + " ...")
            existing = model_store.read_tree(new, home)
            home_source = model_store.copy_tree(old, home, new, home, skip=skip, existing=existing)
            home_copy = model_store.read_tree(new, home)
            written_home = home_source.written
            home_missing = model_store.differences(home_source, home_copy)
            record["home"] = {"path": home, "files": len(home_source.files), "bytes": home_source.total,
                              "merged_into": len(existing.files) - sum(1 for rel in existing.files
                                                                       if model_store.skipped(rel, skip)),
                              "not_copied": sorted(m.destination for m in kept), "differences": home_missing}
            if home_missing:
                failed = RemediationError(f"the copy of {home} in the new container differs: "
                                          f"{'; '.join(home_missing[:5])}", record)
                failed.written = home_source.written
                raise failed
            if not store.persistent and target.path == store.path and model_store.under(store.path, home):
                rel = posixpath.relpath(store.path, home)
                source, copy = (home_source, home_copy) if rel == "." else (home_source.under(rel), home_copy.under(rel))
                carried = f"copied with {home} to {target.where()}"
        record["kept"] = _verify_kept(kept_before, new, new_facts, local)
    except model_store.Refused as err:
        raise _refusal(err, record) from None
    missing: list[str] = [f"{k['path']} ({k['mount']}): {d}" for k in record["kept"] for d in k["differences"]]
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
        carried = f"kept on {store.where()} (the same mount at the same path), never written"
        verified = ["the same mount at the same path", "file count", "total size", "each file's size",
                    "each blob's sha256 against its name"]
        for entry in record["kept"]:
            if entry["path"] == (store.holder.destination if store.holder else ""):
                verified.insert(1, "unchanged by the recreate (each file's size and sha256 before and after"
                                + (", device and inode)" if entry["identity_checked"] else ")"))
    elif source is None:
        progress(f"copying model store {store.path} into {target.where()} at {target.path} ...")
        existing = model_store.read_tree(new, target.path)
        try:
            source = model_store.copy_tree(old, store.path, new, target.path, existing=existing)
        except model_store.Refused as err:
            raise _refusal(err, record) from None
        copy = model_store.read_tree(new, target.path)
        carried = f"copied to {target.where()} at {target.path}"
        if existing.files:
            carried += f" (merged with the {len(existing.files)} files it held: none of them overwritten)"
            record["merged_with"] = len(existing.files)
    if store.from_env and not target.from_env:
        carried += " (OLLAMA_MODELS dropped: the new container reads Ollama's default path)"
    count, broken = model_store.references(copy)
    missing += model_store.differences(source, copy)
    missing += [f"{link} leads outside the store (followed link by link): what it names is not in the new container"
                for link in model_store.escaping_links(source)]
    if not target.persistent:
        missing.insert(0, f"{target.path} is on the {target.where()} of the new container, not on a volume")
    record.update({"files": len(source.files), "bytes": source.total, "manifests": len(source.manifest_files),
                   "blobs": len(source.blobs), "references": count,
                   "verified": [*verified, "manifest blob references (size and digest)"],
                   "sha256": {rel: digest for rel, (_, digest) in sorted(source.files.items())},
                   "symlinks": dict(sorted(source.symlinks.items())),
                   "hardlinks": dict(sorted(source.hardlinks.items())),
                   "differences": missing, "store_problems": broken})
    where = f"model store {store.path} ({store.where()}; {model_store.summary(source)})"
    if missing:
        record["verified"] = []
        failed = RemediationError(f"{where}: the new container's store {target.path} differs: "
                                  f"{'; '.join(missing[:5])}" + (f" (and {len(missing) - 5} more)" if len(missing) > 5
                                                                 else ""), record)
        failed.written = [*written_home, *source.written]
        raise failed
    record["written"] = [*written_home, *source.written]
    text = (f"{where} {carried}; verified in the new container before the old one was removed: "
            f"{len(source.files)} files, {source.total} bytes, {', '.join(verified[2:])}, "
            f"{count} blob references of {len(source.manifest_files)} manifests")
    if broken:
        text += f"; faults the store already had (not made by the recreate): {'; '.join(broken[:3])}"
    record["text"] = text
    return record


SPACE_MARGIN = 1.1, 64 << 20  # what a copy needs beyond the bytes it writes: a tenth, and 64 MiB


def _room_for_the_copy(old, new, new_facts, path: str, local: bool) -> dict[str, Any]:
    """Before the first byte: the old container's writable layer (all a copy from it can write, at most)
    against the free space of the volume the new container mounts at ``path``. Refuses when it cannot fit;
    records why it could not be checked otherwise (an Engine on another machine, a volume driver of its own)."""
    try:
        layer = int(old.client.api.inspect_container(old.id, size=True).get("SizeRw") or 0)
    except (AttributeError, DockerException, TypeError, ValueError):
        return {"checked": False, "why": "the size of the old container's layer is not known"}
    holder = model_store.holder(new_facts, path)
    if holder is None or holder.type != "volume" or not local:
        return {"checked": False, "needed_at_most": layer,
                "why": "free space is read on the Engine's host only for a local volume"}
    try:
        volume = new.client.volumes.get(holder.source)
        if (volume.attrs.get("Driver") or "local") != "local" or (volume.attrs.get("Options") or {}):
            return {"checked": False, "needed_at_most": layer, "why": f"volume {holder.source} has a driver or options "
                    "of its own (mounted only when a container starts): its free space is not the host's"}
        st = os.statvfs(volume.attrs["Mountpoint"])
    except (AttributeError, DockerException, OSError, KeyError) as err:
        return {"checked": False, "needed_at_most": layer, "why": f"the volume's free space is not readable ({err})"}
    free = st.f_bavail * st.f_frsize
    need = int(layer * SPACE_MARGIN[0]) + SPACE_MARGIN[1]
    if need > free:
        raise model_store.Refused(f"volume {holder.source} has {model_store.size_text(free)} free; the copy may write "
                                  f"up to {model_store.size_text(layer)} (the old container's layer) and needs "
                                  f"{model_store.size_text(need)} with its margin: free space first")
    return {"checked": True, "free": free, "needed_at_most": layer, "with_margin": need}


def _refusal(err: model_store.Refused, record: dict) -> RemediationError:
    """The copy refused: the record says why, and the caller learns what it had begun to write (to remove)."""
    record["refused"] = str(err)
    wrote = getattr(err, "written", [])
    refused = RemediationError(f"refused: {err}" + ("" if wrote else "; nothing had been written"), record)
    for name in ("written", "read_before_failure"):
        if hasattr(err, name):
            setattr(refused, name, getattr(err, name))
    return refused


def _remove_written(client: docker.DockerClient, new, image: str, paths: list[str]) -> dict[str, Any] | None:
    """What a failed recreate's copy wrote into the new container's mounts, removed again by a throw-away
    container that mounts the same (``volumes_from``): a destination that held the user's models keeps only
    those (what it already held was never written, see model_store.copy_tree)."""
    if not paths or new is None:
        return None
    try:
        for at in range(0, len(paths), 500):
            client.containers.run(image, entrypoint=["rm", "-f", "--"], command=paths[at:at + 500],
                                  volumes_from=[new.id], network_disabled=True, remove=True)
    except DockerException as cleanup_err:
        return {"removed": False, "paths": paths, "why": _reason(cleanup_err)}
    return {"removed": True, "paths": paths}


def _verify_kept(before: dict, new, new_facts, local: bool) -> list[dict[str, Any]]:
    """Each kept mount as the new container reads it, against what the old one showed before the copy."""
    entries = []
    for path, (tree, identity) in sorted(before.items()):
        after = model_store.read_tree(new, path)
        differences = model_store.differences(tree, after) + [f"{rel} appeared" for rel in sorted(set(after.files) - set(tree.files))]
        holder = model_store.holder(new_facts, path)
        now = _identity(holder, local) if holder is not None else None
        if identity is not None and now is not None:
            differences += [f"{rel} is another file now (device and inode {identity[rel][:2]} -> {now.get(rel, ['gone'])[:2]})"
                            for rel in sorted(identity) if now.get(rel) != identity[rel]]
        entries.append({"path": path, "mount": f"{holder.type} {holder.source}" if holder else "?",
                        "files": len(tree.files), "bytes": tree.total,
                        "sha256": {rel: digest for rel, (_, digest) in sorted(tree.files.items())},
                        "identity_checked": identity is not None and now is not None, "differences": differences})
    return entries


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
        if spec.volume in volumes and volumes[spec.volume]["bind"].rstrip("/") != spec.models_path.rstrip("/"):
            raise RemediationError(f"volume {spec.volume}, the profile's volume for {spec.models_path}, is mounted at "
                                   f"{volumes[spec.volume]['bind']} in the old container: the new one would mount it "
                                   f"twice and copy the home into it; nothing was done (set container.volume to "
                                   "another name)")
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


def _ensure_volume(client: docker.DockerClient, name: str) -> bool:
    """Whether the volume had to be created (it then holds nothing but what this run writes)."""
    try:
        client.volumes.get(name)
        return False
    except NotFound:
        client.volumes.create(name, labels={MANAGED_LABEL: "true"})
        return True


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
