"""--remediate never loses a model: the store OLLAMA_MODELS names survives a recreate, proven file by file.

The docker tests run the real suite against the real ``toolkit`` engine (tests/engine) on a managed
container given one GPU (so it must be recreated) whose Ollama store sits at a custom OLLAMA_MODELS
path, on its own layer, a bind mount or a named volume, holding a small store shaped like Ollama's
(a manifest naming a config and a layer blob, each blob named by its SHA-256). Containers and volumes
are named ``gpuat-remedy-<random>`` with a port of their own, so other tests on the engine are not
disturbed; they are removed afterwards.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import tarfile

import docker
import pytest

from gpuaccept.facts import ContainerFacts, Mount
from gpuaccept.remedy import model_store
from tests.conftest import HOSTS, ROOT, free_port, standin_profile_text

IMAGE = "localhost/ollama-standin:0.32.1"
ONE_GPU = [docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])]
MARKER = b"WEIGHTS-OF-THE-LAYER"
MANIFEST = "manifests/registry.ollama.ai/library/tinymodel/latest"


def fake_store() -> dict[str, bytes]:
    """Relative path -> content of a small Ollama store: one manifest, its config and layer blobs."""
    config = json.dumps({"model_format": "gguf", "model_family": "qwen3"}).encode()
    layer = MARKER + secrets.token_bytes(300_000)
    blobs = {f"blobs/sha256-{hashlib.sha256(b).hexdigest()}": b for b in (config, layer)}
    refs = [{"mediaType": "application/vnd.ollama.image." + kind, "digest": "sha256:" + hashlib.sha256(b).hexdigest(),
             "size": len(b)} for kind, b in (("config", config), ("model", layer))]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": refs[0], "layers": refs[1:]}
    return {MANIFEST: json.dumps(manifest).encode(), **blobs}


def tar_of(files: dict[str, bytes], top: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def files_in(container, path: str) -> dict[str, str]:
    """Relative path -> sha256 of every regular file under ``path`` in the container, read independently."""
    stream, _ = container.get_archive(path.rstrip("/") + "/.")  # "/.": through a symlink to the directory
    found = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar:
            if member.isfile():
                rel = member.name.split("/", 1)[1]
                found[rel] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
    return found


def store_path(container) -> str:
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    return env.get("OLLAMA_MODELS") or "/root/.ollama/models"


# --- the store's rules, without an engine --------------------------------------------------------------

def facts(env: dict[str, str], *mounts: Mount) -> ContainerFacts:
    return ContainerFacts(name="ollama", exists=True, env=tuple(env.items()), mounts=mounts)


@pytest.mark.parametrize(("env", "mounts", "path", "where", "persistent"), [
    ({}, (), "/root/.ollama/models", "container layer", False),
    ({"OLLAMA_MODELS": "/data/models"}, (Mount("volume", "ollama", "/root/.ollama"),), "/data/models",
     "container layer", False),
    ({"OLLAMA_MODELS": "/data/models/"}, (Mount("bind", "/srv/d", "/data"),), "/data/models", "bind mount /srv/d",
     True),
    ({"OLLAMA_MODELS": "/data/models"}, (Mount("volume", "v", "/data"), Mount("tmpfs", "", "/data/models")),
     "/data/models", "tmpfs at /data/models", False),
    ({"OLLAMA_MODELS": "/data/models"}, (Mount("volume", "v", "/data"), Mount("volume", "w", "/datamodels")),
     "/data/models", "volume v", True),
    ({"OLLAMA_MODELS": "models"}, (), "/models", "container layer", False),
], ids=["default", "custom-on-layer-beside-home-volume", "bind", "deeper-tmpfs-wins", "prefix-is-not-a-parent",
        "relative"])
def test_the_store_is_where_ollama_reads_it(env, mounts, path, where, persistent):
    found = model_store.locate(facts(env, *mounts), "/root/.ollama")
    assert (found.path, found.where(), found.persistent) == (path, where, persistent)


def test_a_store_on_the_layer_outside_the_home_moves_to_the_default_path():
    layer = model_store.locate(facts({"OLLAMA_MODELS": "/data/models"}), "/root/.ollama")
    assert model_store.new_path(layer, "/root/.ollama", home_kept=True) == "/root/.ollama/models"
    inside = model_store.locate(facts({"OLLAMA_MODELS": "/root/.ollama/m2"}), "/root/.ollama")
    assert model_store.new_path(inside, "/root/.ollama", home_kept=False) == "/root/.ollama/m2"
    kept = model_store.locate(facts({"OLLAMA_MODELS": "/data/models"}, Mount("bind", "/srv", "/data")), "/root/.ollama")
    assert model_store.new_path(kept, "/root/.ollama", home_kept=False) == "/data/models"


def test_the_plan_says_where_the_models_go():
    assert model_store.plan_text(facts({"OLLAMA_MODELS": "/data/models"}), "/root/.ollama", "ollama") == (
        "models /data/models on the container layer",
        "models copied to /root/.ollama/models on volume ollama (OLLAMA_MODELS dropped) and verified before the "
        "old container goes")
    bind = facts({"OLLAMA_MODELS": "/data/models"}, Mount("bind", "/srv/d", "/data"))
    assert model_store.plan_text(bind, "/root/.ollama", "ollama") == (
        "models /data/models on bind mount /srv/d", "models kept at /data/models on bind mount /srv/d")


def test_a_failed_step_of_the_put_back_does_not_stop_the_others_and_the_fix_by_hand_fits_the_state():
    from docker.errors import APIError

    from gpuaccept.remedy.apply import _put_back

    calls = []

    class Old:
        id, name, status = "old-id", "ollama-replaced-X", "exited"

        def reload(self):
            pass

        def rename(self, name):
            calls.append(("rename", name))
            raise APIError("name ollama is in use")

        def start(self):
            calls.append(("start",))

    class New:
        id, name = "new-id", "ollama"

        def remove(self, force):
            raise APIError("removal of container abc is already in progress")

    class Engine:
        def __init__(self, *named):
            self.containers = self
            self.named = named

        def list(self, all, filters):
            return [c for c in self.named if c.name == filters["name"]]

    text = _put_back(Old(), New(), "ollama", "ollama-replaced-X", was_running=True, client=Engine(New()))
    assert calls == [("rename", "ollama"), ("start",)]
    assert "could not remove the new container (removal of container abc is already in progress)" in text
    # The name is held by the new container (it holds no data): only then is a removal by name advised.
    assert "`docker rm -f ollama; docker rename ollama-replaced-X ollama; docker start ollama`" in text
    stranger = type("Stranger", (), {"id": "other-id", "name": "ollama"})()
    text = _put_back(Old(), New(), "ollama", "ollama-replaced-X", was_running=True, client=Engine(stranger))
    assert "docker rm" not in text and "that this run did not make holds the name" in text
    assert _put_back(Old(), None, "ollama", "ollama-replaced-X", was_running=False) != "the old container was put back"


class Archived:
    """A container as the Engine's archive API shows it: inspect attributes and a file system of tars."""

    def __init__(self, env: list[str], mounts: list[dict], trees: dict[str, bytes]):
        self.attrs = {"Name": "/ollama", "Config": {"Env": env}, "Mounts": mounts}
        self.trees = trees

    def get_archive(self, path, chunk_size=None):
        from docker.errors import NotFound

        if path.removesuffix("/.") not in self.trees:
            raise NotFound("no such path")
        return iter([self.trees[path.removesuffix("/.")]]), {}


def test_a_kept_store_the_new_container_reads_elsewhere_is_a_difference():
    from gpuaccept.profile import ContainerSpec
    from gpuaccept.remedy.apply import RemediationError, _carry_models

    store = tar_of(fake_store(), ".")
    bind = {"Type": "bind", "Source": "/srv/models", "Destination": "/data", "RW": True}
    other = {"Type": "volume", "Name": "scratch", "Source": "/var/lib/docker/volumes/scratch", "Destination": "/data"}
    old = Archived(["OLLAMA_MODELS=/data/models"], [bind], {"/data/models": store})
    same = Archived(["OLLAMA_MODELS=/data/models"], [bind], {"/data/models": store})
    record = _carry_models(old, same, ContainerSpec(), home_kept=True, progress=lambda _: None)
    assert (record["files"], record["references"], record["differences"]) == (3, 2, [])
    elsewhere = Archived(["OLLAMA_MODELS=/data/models"], [other], {"/data/models": store})
    with pytest.raises(RemediationError) as caught:
        _carry_models(old, elsewhere, ContainerSpec(), home_kept=True, progress=lambda _: None)
    assert caught.value.models["differences"] == [
        "the new container reads /data/models on the volume scratch, not /data/models on the bind mount /srv/models"]
    assert caught.value.models["verified"] == []


def read(data: bytes) -> model_store.Tree:
    tree = model_store.Tree()
    chunks = (data[i:i + 777] for i in range(0, len(data), 777))  # odd chunk sizes: members span chunks
    for _member, body in model_store._members(chunks, tree):
        for _ in body:
            pass
    return tree


def test_a_renamed_stream_is_byte_identical_and_every_file_is_hashed():
    store = fake_store()
    tree = model_store.Tree()
    source = tar_of(store, "models")
    out = b"".join(model_store._renamed(model_store._members([source], tree), "elsewhere"))
    want = {rel: (len(b), hashlib.sha256(b).hexdigest()) for rel, b in store.items()}
    assert tree.files == want
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        copied = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    assert copied == {f"elsewhere/{rel}": b for rel, b in store.items()}
    assert read(out).files == want
    assert model_store.references(tree) == (2, [])
    home = read(tar_of({f"models/{rel}": b for rel, b in store.items()}, ".ollama"))  # a store inside a copy
    assert model_store.references(home.under("models")) == (2, []) and home.under("models").files == want
    assert model_store.summary(tree).startswith("3 files, 30") and model_store.summary(tree).endswith(
        "1 manifest, 2 blobs")


def test_differences_and_broken_references_are_named():
    store = fake_store()
    source = read(tar_of(store, "models"))
    blob = next(rel for rel, b in store.items() if b.startswith(MARKER))
    damaged = {**store, blob: store[blob][:-1] + b"!"}
    truncated = {**store, blob: store[blob][:1000]}
    assert model_store.differences(source, read(tar_of(damaged, "m"))) == [
        f"{blob} has sha256 {hashlib.sha256(damaged[blob]).hexdigest()[:12]}…, expected "
        f"{blob.removeprefix('blobs/sha256-')[:12]}…"]
    assert model_store.differences(source, read(tar_of(truncated, "m"))) == [
        f"{blob} is 1000 bytes, expected {len(store[blob])}"]
    gone = {k: v for k, v in store.items() if k != blob}
    assert model_store.differences(source, read(tar_of(gone, "m"))) == [f"{blob} missing"]
    count, broken = model_store.references(read(tar_of(gone, "m")))
    assert count == 2 and broken == [f"{MANIFEST} names {blob}, which is missing"]
    assert model_store.references(read(tar_of(damaged, "m")))[1] == [f"{blob} does not hash to its name"]
    assert "not a readable manifest" in model_store.references(read(tar_of({MANIFEST: b"{"}, "m")))[1][0]


# --- the real suite against the real engine -------------------------------------------------------------

@pytest.fixture
def box(engines, tmp_path, run_suite, monkeypatch):
    """A private container name, volume, port and profile on the toolkit engine; all removed afterwards."""
    client = engines["toolkit"].client()
    prefix = f"gpuat-remedy-{secrets.token_hex(3)}"
    port = free_port()
    profile = tmp_path / "profile.toml"
    text = standin_profile_text(port)
    profile.write_text(text.replace(f"port = {port}", f'port = {port}\nname = "{prefix}"\nvolume = "{prefix}-home"', 1))
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))

    class Box:
        name, engine = prefix, client

        def start(self, env, volumes):
            options = {"environment": {"OLLAMA_SCHED_SPREAD": "1", **env}, "volumes": volumes,
                       "labels": {"io.gpuaccept.managed": "true"}, "device_requests": ONE_GPU,
                       "ports": {"11434/tcp": ("127.0.0.1", port)}, "restart_policy": {"Name": "unless-stopped"}}
            return client.containers.run(IMAGE, name=prefix, detach=True, **options)

        def suite(self, *args):
            return run_suite("-p", "tests.fakes.nvml_plugin", "-m", "quick", "--profile", str(profile),
                             "--docker-host", engines["toolkit"].base_url, *args)

        def containers(self):
            return [c for c in client.containers.list(all=True) if c.name.startswith(prefix)]

    def clean():
        for c in Box().containers():
            c.remove(force=True)
        for v in client.volumes.list():
            if v.name.startswith(prefix):
                v.remove(force=True)

    yield Box()
    clean()


# Where the old container keeps the store: its OLLAMA_MODELS (None: unset), its mounts, the real directory
# holding the store and how the record names it; then where the new container reads it and on what.
PLACES = {
    "layer-beside-home-volume": ("/data/models", {"{name}-home": "/root/.ollama"}, "/data/models", "container layer",
                                 "/root/.ollama/models", "volume {name}-home"),
    "layer-no-volume": ("/data/models", {}, "/data/models", "container layer", "/root/.ollama/models",
                        "volume {name}-home"),
    "layer-default-path": (None, {}, "/root/.ollama/models", "container layer", "/root/.ollama/models",
                           "volume {name}-home"),
    "layer-through-a-symlink": ("/models", {}, "/data/models", "container layer", "/root/.ollama/models",
                                "volume {name}-home"),
    "bind": ("/data/models", {"{tmp}": "/data"}, "/data/models", "bind mount {tmp}", "/data/models",
             "bind mount {tmp}"),
    "volume": ("/data/models", {"{name}-data": "/data"}, "/data/models", "volume {name}-data", "/data/models",
               "volume {name}-data"),
}


@pytest.mark.docker
@pytest.mark.parametrize("place", sorted(PLACES))
def test_recreate_keeps_every_model_file_and_records_what_it_verified(box, tmp_path, place):
    env_path, mounts, real, was_on, new_path, is_on = PLACES[place]
    data = tmp_path / "data"
    data.mkdir()
    names = {"name": box.name, "tmp": str(data)}
    old = box.start({"OLLAMA_MODELS": env_path} if env_path else {},
                    {k.format(**names): {"bind": v, "mode": "rw"} for k, v in mounts.items()})
    store = fake_store()
    old.put_archive("/", tar_of(store, real.lstrip("/")))
    if env_path and env_path != real:
        assert old.exec_run(["ln", "-s", real, env_path]).exit_code == 0
    want = {rel: hashlib.sha256(b).hexdigest() for rel, b in store.items()}
    assert files_in(old, real) == want

    fixed = box.suite("--remediate")
    record = json.loads((fixed.run_dir / "remediation.json").read_text())
    recreate = [a for a in record["actions"] if a["kind"] == "recreate"]
    assert [a["status"] for a in recreate] == ["done"], fixed.stdout[-3000:]
    new = box.engine.containers.get(box.name)
    assert [c.id for c in box.containers()] == [new.id]  # the old one is gone only now
    # Reality: every model file is where the new container's OLLAMA_MODELS says, byte-identical.
    assert store_path(new) == new_path
    assert files_in(new, new_path) == want
    # The record states exactly that.
    models = recreate[0]["models"]
    store_seen = env_path or "/root/.ollama/models"
    assert (models["store"], models["was_on"]) == (store_seen, was_on.format(**names))
    assert (models["path"], models["is_on"]) == (new_path, is_on.format(**names))
    assert (models["files"], models["bytes"], models["manifests"], models["blobs"], models["references"]) == (
        3, sum(map(len, store.values())), 1, 2, 2)
    assert models["sha256"] == want and models["differences"] == [] and models["store_problems"] == []
    kept = place in ("bind", "volume")
    assert models["verified"] == ([
        "the same mount at the same path", "file count", "total size", "each file's size",
        "each blob's sha256 against its name"] if kept else [
        "file count", "total size", "each file's size and sha256 equal to the old store's"]) + [
        "manifest blob references (size and digest)"]
    assert ("(the same mount at the same path)" in recreate[0]["detail"]) == kept
    detail = recreate[0]["detail"]
    assert detail.startswith(f"model store {store_seen} ({models['was_on']}; 3 files, ")
    assert "verified in the new container before the old one was removed: 3 files" in detail
    assert ("OLLAMA_MODELS dropped" in detail) == (env_path is not None and new_path != env_path)
    assert f"model store {store_seen}" in fixed.stdout  # the terminal line says the same
    # A second run finds nothing to recreate: it changes nothing.
    again = box.suite("--remediate")
    actions = json.loads((again.run_dir / "remediation.json").read_text())["actions"]
    assert [a for a in actions if a["kind"] in ("recreate", "launch")] == [], again.stdout[-3000:]
    assert [c.id for c in box.containers()] == [new.id]
    assert files_in(new, new_path) == want


FAULTY_COPY = """
import docker.models.containers as containers

_put = containers.Container.put_archive


def corrupted(chunks):
    # A copy that changes bytes on the way (same length): only the verification can notice.
    for chunk in chunks:
        yield chunk.replace({marker!r}, {damaged!r})


def broken(chunks):
    # The stream stops with an error that is not the Engine's, after its first chunk.
    yield next(iter(chunks))
    raise RuntimeError("the copy stream broke")


def put_archive(self, path, data):
    if not isinstance(data, bytes):
        data = {fault}(data)
    return _put(self, path, data)


containers.Container.put_archive = put_archive
"""


@pytest.mark.docker
@pytest.mark.parametrize("fault", ["corrupted-copy", "broken-stream", "target-full"])
def test_a_copy_that_differs_or_fails_puts_the_old_container_back(box, tmp_path, monkeypatch, fault):
    volumes = {}
    args = []
    if fault == "target-full":  # Ollama's home on a 64 kB volume: the 300 kB store cannot fit
        box.engine.volumes.create(f"{box.name}-home", driver="local",
                                  driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=64k"})
        volumes = {f"{box.name}-home": {"bind": "/root/.ollama", "mode": "rw"}}
    else:
        plugin = FAULTY_COPY.format(marker=MARKER, damaged=MARKER.lower(), fault=fault.split("-")[0])
        (tmp_path / "faulty_copy.py").write_text(plugin)
        monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{tmp_path}")
        args = ["-p", "faulty_copy"]
    old = box.start({"OLLAMA_MODELS": "/data/models"}, volumes)
    store = fake_store()
    old.put_archive("/", tar_of(store, "data/models"))
    want = {rel: hashlib.sha256(b).hexdigest() for rel, b in store.items()}

    run = box.suite("--remediate", *args)
    record = json.loads((run.run_dir / "remediation.json").read_text())
    recreate = [a for a in record["actions"] if a["kind"] == "recreate"]
    assert [a["status"] for a in recreate] == ["failed"], run.stdout[-3000:]
    assert "the old container was put back" in recreate[0]["detail"]
    # The old container is in place, under its name, running, with its models.
    assert [c.id for c in box.containers()] == [old.id]
    old.reload()
    assert (old.name, old.status) == (box.name, "running")
    assert files_in(old, "/data/models") == want
    # The record proves it, read again after the failure: every source file, each the bytes the copy had read.
    after = recreate[0]["models"]["after_failure"]
    assert (after["store"], after["read"], after["sha256"], after["changed_or_missing"]) == (
        "/data/models", True, want, [])
    created = [v.name for v in box.engine.volumes.list() if v.name == f"{box.name}-home"]
    if fault == "target-full":  # the user's own volume: kept
        assert created == [f"{box.name}-home"]
    else:  # made by this run, holding only what the copy wrote: gone with the new container
        assert created == [] and "which this run had created, was removed" in recreate[0]["detail"]
    assert "failed to recreate container " + box.name in run.messages("CTR-GPU-REQUEST")
    if fault == "corrupted-copy":
        blob = next(rel for rel, b in store.items() if b.startswith(MARKER))
        assert f"{blob} has sha256" in recreate[0]["detail"]
        assert recreate[0]["models"]["differences"] == [
            f"{blob} has sha256 {hashlib.sha256(store[blob].replace(MARKER, MARKER.lower())).hexdigest()[:12]}…, "
            f"expected {want[blob][:12]}…"]
        assert recreate[0]["models"]["verified"] == []
    elif fault == "broken-stream":
        assert "the copy stream broke" in recreate[0]["detail"]
    else:
        assert "no space left on device" in recreate[0]["detail"]
    assert "Traceback" not in run.stdout


# --- stores the recreate must not write, links it cannot carry, stores it must not overwrite, one at a time ---

def recreate_of(run) -> dict:
    record = json.loads((run.run_dir / "remediation.json").read_text())
    (action,) = [a for a in record["actions"] if a["kind"] == "recreate"]
    return action


def identities(folder) -> dict[str, tuple[int, int, int, str]]:
    """rel path -> (device, inode, size, sha256) of every regular file under a host folder."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        st = path.stat()
        found[str(path.relative_to(folder))] = (st.st_dev, st.st_ino, st.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


@pytest.mark.docker
def test_a_bind_mount_below_the_home_is_never_written_through(box, tmp_path):
    # The user's own store: a read-write bind at /root/.ollama/models, nothing mounted at /root/.ollama.
    models = tmp_path / "models"
    models.mkdir()
    store = fake_store()
    for rel, data in store.items():
        (models / rel).parent.mkdir(parents=True, exist_ok=True)
        (models / rel).write_bytes(data)
    old = box.start({}, {str(models): {"bind": "/root/.ollama/models", "mode": "rw"}})
    old.exec_run(["sh", "-c", "echo id-key > /root/.ollama/id_ed25519"])  # Ollama's key, on the layer
    before = identities(models)

    run = box.suite("--remediate")
    action = recreate_of(run)
    assert action["status"] == "done", run.stdout[-3000:]
    # Reality: every file of the bind is the same file (device, inode), the same bytes, and nothing was added.
    assert identities(models) == before
    new = box.engine.containers.get(box.name)
    assert files_in(new, "/root/.ollama/models") == {rel: hashlib.sha256(b).hexdigest() for rel, b in store.items()}
    assert new.exec_run(["cat", "/root/.ollama/id_ed25519"]).output == b"id-key\n"  # the home was carried
    # The record says so: the bind was not copied, and was verified unchanged by content and identity.
    models_record = action["models"]
    assert models_record["home"]["not_copied"] == ["/root/.ollama/models"]
    (kept,) = models_record["kept"]
    assert (kept["path"], kept["mount"], kept["identity_checked"], kept["differences"]) == (
        "/root/.ollama/models", f"bind {models}", True, [])
    assert kept["files"] == 3 and "never written" in action["detail"]


@pytest.mark.docker
def test_a_blob_that_links_outside_the_store_stops_the_recreate_naming_it(box):
    old = box.start({}, {})
    store = fake_store()
    blob = next(rel for rel, b in store.items() if b.startswith(MARKER))
    old.put_archive("/", tar_of({rel: b for rel, b in store.items() if rel != blob}, "root/.ollama/models"))
    old.put_archive("/", tar_of({"blob-elsewhere": store[blob]}, "data"))
    assert old.exec_run(["ln", "-s", "/data/blob-elsewhere", f"/root/.ollama/models/{blob}"]).exit_code == 0

    run = box.suite("--remediate")
    action = recreate_of(run)
    assert action["status"] == "failed", run.stdout[-3000:]
    assert f"/root/.ollama/models/{blob} is a symbolic link to /data/blob-elsewhere" in action["detail"]
    assert "the old container was put back" in action["detail"]
    assert "refused" in action["models"]
    # Nothing was lost: the old container is back, its link and the file it points to are there.
    assert [c.id for c in box.containers()] == [old.id]
    assert old.exec_run(["cat", f"/root/.ollama/models/{blob}"]).output == store[blob]


@pytest.mark.docker
def test_a_store_copied_into_a_home_volume_never_overwrites_its_models(box):
    home = f"{box.name}-home"
    theirs = {rel: (b if not rel.startswith("manifests/") else b.replace(b'"schemaVersion": 2', b'"schemaVersion":2'))
              for rel, b in fake_store().items()}
    old = box.start({"OLLAMA_MODELS": "/data/models"}, {home: {"bind": "/root/.ollama", "mode": "rw"}})
    old.put_archive("/", tar_of(theirs, "root/.ollama/models"))  # the home volume's own models
    mine = fake_store()  # the same model name, other content, on the layer
    old.put_archive("/", tar_of(mine, "data/models"))
    volume_before = files_in(old, "/root/.ollama/models")

    run = box.suite("--remediate")
    action = recreate_of(run)
    assert action["status"] == "failed", run.stdout[-3000:]
    assert "the destination /root/.ollama/models already holds other content under the same name: " \
           f"/data/models/{MANIFEST} (416 bytes" in action["detail"], action["detail"]
    assert f"and the destination's {MANIFEST} (415 bytes" in action["detail"]
    assert "the old container was put back" in action["detail"]
    assert [c.id for c in box.containers()] == [old.id]
    assert files_in(old, "/root/.ollama/models") == volume_before  # the volume's manifest is untouched
    assert files_in(old, "/data/models") == {rel: hashlib.sha256(b).hexdigest() for rel, b in mine.items()}


@pytest.mark.docker
def test_a_second_remediation_of_the_same_container_refuses_in_one_line(box):
    old = box.start({}, {})
    lock = box.engine.containers.create(IMAGE, name=f"{box.name}-gpuaccept-remediating", command=["true"],
                                        labels={"io.gpuaccept.remediating": "2026-12-07T10:00:00+00:00"})
    try:
        run = box.suite("--remediate")
    finally:
        lock.remove(force=True)
    action = recreate_of(run)
    assert action["status"] == "failed"
    assert action["detail"].startswith(f"another --remediate is changing container {box.name} (its lock, container "
                                       f"{box.name}-gpuaccept-remediating, was created 2026-12-07T10:00:00+00:00)")
    assert "docker rm -f" not in action["detail"]
    old.reload()
    assert (old.name, old.status) == (box.name, "running") and [c.id for c in box.containers()] == [old.id]


def test_a_copy_that_cannot_fit_is_refused_before_the_first_byte(tmp_path):
    from gpuaccept.remedy.apply import _room_for_the_copy

    class Api:
        def inspect_container(self, cid, size):
            return {"SizeRw": 10**15}  # a petabyte on the old container's layer

    class Volumes:
        def get(self, name):
            return type("V", (), {"attrs": {"Driver": "local", "Options": None, "Mountpoint": str(tmp_path)}})()

    client = type("C", (), {"api": Api(), "volumes": Volumes()})()
    old = type("Old", (), {"client": client, "id": "old"})()
    new = type("New", (), {"client": client})()
    home = facts({}, Mount("volume", "ollama", "/root/.ollama"))
    with pytest.raises(model_store.Refused, match=r"volume ollama has .* free; the copy may write up to 1000000.0 GB"):
        _room_for_the_copy(old, new, home, "/root/.ollama", local=True)
    assert _room_for_the_copy(old, new, home, "/root/.ollama", local=False)["checked"] is False
    Api.inspect_container = lambda self, cid, size: {"SizeRw": 1000}
    room = _room_for_the_copy(old, new, home, "/root/.ollama", local=True)
    assert room["checked"] and room["needed_at_most"] == 1000 and room["free"] > room["with_margin"]


def test_links_are_recorded_a_hard_link_is_a_file_and_a_link_outside_is_named():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("models/blobs/a")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"bytes"))
        for name, kind, to in (("models/blobs/b", tarfile.LNKTYPE, "models/blobs/a"),
                               ("models/blobs/c", tarfile.SYMTYPE, "a"),
                               ("models/blobs/d", tarfile.SYMTYPE, "/data/elsewhere"),
                               ("models/blobs/e", tarfile.SYMTYPE, "../../up")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = kind, to
            tar.addfile(link)
    tree = read(buffer.getvalue())
    digest = hashlib.sha256(b"bytes").hexdigest()
    assert tree.files == {"blobs/a": (5, digest), "blobs/b": (5, digest)}  # the hard link is a file of the store
    assert tree.hardlinks == {"blobs/b": "blobs/a"}
    assert tree.symlinks == {"blobs/c": "a", "blobs/d": "/data/elsewhere", "blobs/e": "../../up"}
    assert [rel for rel, to in tree.symlinks.items() if model_store.outside(rel, to)] == ["blobs/d", "blobs/e"]


@pytest.mark.docker
def test_a_chain_of_links_out_of_the_store_is_followed_link_by_link(box):
    # Each link looks inside on its own; together they lead to /root, on the layer that goes with the container.
    old = box.start({}, {})
    store = fake_store()
    blob = next(rel for rel, b in store.items() if b.startswith(MARKER))
    old.put_archive("/", tar_of({rel: b for rel, b in store.items() if rel != blob}, "root/.ollama/models"))
    old.put_archive("/", tar_of({"blob-elsewhere": store[blob]}, "root"))
    chain = "cd /root/.ollama/models && ln -s . s && ln -s s/.. t && ln -s t/.. w && ln -s ../w/blob-elsewhere " + blob
    assert old.exec_run(["sh", "-c", chain]).exit_code == 0

    action = recreate_of(box.suite("--remediate"))
    assert action["status"] == "failed"
    assert f"{blob} -> ../w/blob-elsewhere leads outside the store" in action["detail"]
    assert [c.id for c in box.containers()] == [old.id]
    assert old.exec_run(["cat", f"/root/.ollama/models/{blob}"]).output == store[blob]


def test_links_inside_the_store_resolve_and_chains_out_of_it_do_not():
    links = {"s": ".", "t": "s/..", "w": "t/..", "blobs/x": "../w/blob", "blobs/y": "../other/z", "loop": "loop"}
    assert [model_store.resolve(rel, links) for rel in ("s", "t", "blobs/x", "blobs/y", "loop")] == [
        "", None, None, "other/z", None]
    tree = model_store.Tree(symlinks=links)
    assert model_store.escaping_links(tree) == ["blobs/x -> ../w/blob", "loop -> loop", "t -> s/..", "w -> t/.."]


@pytest.mark.docker
def test_the_profiles_home_volume_already_mounted_below_the_home_is_refused_before_anything(box):
    old = box.start({}, {f"{box.name}-home": {"bind": "/root/.ollama/models", "mode": "rw"}})
    old.put_archive("/", tar_of(fake_store(), "root/.ollama/models"))
    before = files_in(old, "/root/.ollama/models")
    action = recreate_of(box.suite("--remediate"))
    assert action["status"] == "failed"
    assert f"volume {box.name}-home, the profile's volume for /root/.ollama, is mounted at /root/.ollama/models" \
        in action["detail"]
    assert [c.id for c in box.containers()] == [old.id] and files_in(old, "/root/.ollama/models") == before


@pytest.mark.docker
def test_a_copy_refused_midway_removes_what_it_wrote_into_the_users_volume(box):
    # The home volume holds a good blob over 1 MiB; the layer store has one of the same name and size but other
    # bytes, after blobs that sort before it: the copy writes those, then meets the clash and stops.
    home = f"{box.name}-home"
    good = MARKER + secrets.token_bytes(2 << 20)
    name = f"blobs/sha256-{hashlib.sha256(good).hexdigest()}"
    old = box.start({"OLLAMA_MODELS": "/data/models"}, {home: {"bind": "/root/.ollama", "mode": "rw"}})
    old.put_archive("/", tar_of({name: good}, "root/.ollama/models"))
    before = files_in(old, "/root/.ollama")
    bad = good[:-1] + b"!"
    old.put_archive("/", tar_of({"blobs/aaa-first": b"first" * 1000, name: bad}, "data/models"))

    action = recreate_of(box.suite("--remediate"))
    assert action["status"] == "failed"
    assert "already holds other content" in action["detail"] and "were removed again" in action["detail"]
    assert action["models"]["after_failure"]["written_then_removed"] == ["/root/.ollama/models/blobs/aaa-first"]
    assert [c.id for c in box.containers()] == [old.id]
    assert files_in(old, "/root/.ollama") == before  # the user's volume holds what it held, nothing more


@pytest.mark.docker
def test_a_home_that_fills_midway_keeps_no_cut_blob(box, tmp_path):
    import subprocess

    home = tmp_path / "home"
    home.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(home)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        (home / "id_ed25519").write_text("id-key\n")
        old = box.start({"OLLAMA_MODELS": "/data/models"}, {str(home): {"bind": "/root/.ollama", "mode": "rw"}})
        store = fake_store()  # 300 kB: more than the home has room for
        old.put_archive("/", tar_of(store, "data/models"))
        action = recreate_of(box.suite("--remediate"))
        assert action["status"] == "failed" and "no space left on device" in action["detail"]
        left = action["models"]["after_failure"]
        assert left["changed_or_missing"] == [] and left["written_then_removed"]
        # Nothing the copy began is left on the user's bind: not a cut blob under a content name, not a manifest.
        assert sorted(p.name for p in home.rglob("*") if p.is_file()) == ["id_ed25519"]
        assert [c.id for c in box.containers()] == [old.id]
        assert files_in(old, "/data/models") == {rel: hashlib.sha256(b).hexdigest() for rel, b in store.items()}
    finally:
        for c in box.containers():
            c.remove(force=True)
        subprocess.run(["umount", "-l", str(home)], capture_output=True)
