"""The container requirements and --remediate against real Docker Engines (tests/engine).

The ``toolkit`` engine has the stand-in NVIDIA runtime hook on its PATH, so ``--gpus`` runs through
dockerd's own device-driver code; the ``bare`` engine has none and gives the real refusal. NVML is the
simulated library serving the dual-p40 capture, whose GPU UUIDs the stand-in hook hands to containers.
"""

from __future__ import annotations

import json

import docker
import pytest

from tests.conftest import HOSTS, free_port, standin_profile_text

IMAGE = "localhost/ollama-standin:0.32.1"
PORT = free_port()  # where the containers publish the API: this process's own, not a fixed one
CTR = {"CTR-ENGINE", "CTR-TOOLKIT", "CTR-RUNNING", "CTR-GPU-REQUEST", "CTR-SEES-GPUS", "CTR-CONFIG", "CTR-EXPOSURE"}
UUIDS = [g["uuid"] for g in json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())["gpus"]]
ALL = docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])
HEALTHY = {"device_requests": [ALL], "environment": {"OLLAMA_SCHED_SPREAD": "1"},
           "volumes": {"ollama": {"bind": "/root/.ollama", "mode": "rw"}},
           "ports": {"11434/tcp": ("127.0.0.1", PORT)}, "restart_policy": {"Name": "unless-stopped"}}

pytestmark = pytest.mark.docker


@pytest.fixture
def engine(engines):
    """The toolkit engine, emptied of containers and volumes before and after each test."""
    client = engines["toolkit"].client()

    def clean():
        for c in client.containers.list(all=True):
            c.remove(force=True)
        for v in client.volumes.list():
            v.remove(force=True)

    clean()
    yield client
    clean()


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> str:
    """The stand-in profile on this process's port."""
    path = tmp_path_factory.mktemp("profile") / "dual-p40-standin.toml"
    path.write_text(standin_profile_text(PORT))
    return str(path)


@pytest.fixture
def suite(run_suite, monkeypatch, engines, profile):
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))

    def run(*args, engine="toolkit"):
        return run_suite("-p", "tests.fakes.nvml_plugin", "--profile", profile,
                         "--docker-host", engines[engine].base_url, *args)

    return run


def start(client, **changes):
    options = {**HEALTHY, **changes}
    return client.containers.run(IMAGE, name="ollama", detach=True, **{k: v for k, v in options.items() if v is not None})


def ctr_failing(run) -> set[str]:
    return run.failing() & CTR


def test_healthy_container_passes_every_container_requirement(engine, suite):
    start(engine)
    run = suite()
    assert {rid: run.outcomes()[rid] for rid in CTR} == {rid: {"passed"} for rid in CTR}, run.stdout[-3000:]
    assert "GPU-bcb96e0b" in run.messages("CTR-SEES-GPUS") or run.outcomes()["CTR-SEES-GPUS"] == {"passed"}
    evidence = run.run_dir / "evidence"
    inspect = json.loads((evidence / "docker-inspect.json").read_text())
    assert inspect[0]["HostConfig"]["DeviceRequests"][0]["Count"] == -1
    assert "UUID: " + UUIDS[1] in (evidence / "container-nvidia-smi-L.txt").read_text()
    assert 'msg="server config"' in (evidence / "ollama-server.log").read_text()
    # The quick Ollama checks ran end to end: API through the published port, discovery from docker logs.
    assert {rid: run.outcomes()[rid] for rid in ("OLL-API", "OLL-GPUS-DETECTED", "OLL-MODEL")} == {
        "OLL-API": {"passed"}, "OLL-GPUS-DETECTED": {"passed"}, "OLL-MODEL": {"passed"}}, run.stdout[-3000:]
    replay = suite("--replay", str(run.run_dir))  # the saved evidence judges the same
    assert {rid: replay.outcomes()[rid] for rid in CTR} == {rid: run.outcomes()[rid] for rid in CTR}


def test_engine_without_toolkit_fails_with_the_real_error(engines, suite):
    bare = engines["bare"].client()
    for c in bare.containers.list(all=True):
        c.remove(force=True)
    run = suite(engine="bare")
    assert run.outcomes()["CTR-ENGINE"] == {"passed"}
    assert ctr_failing(run) == {"CTR-TOOLKIT", "CTR-RUNNING"}
    message = run.messages("CTR-TOOLKIT")
    assert 'could not select device driver "" with capabilities: [[gpu]]' in message
    assert "nvidia-ctk runtime configure --runtime=docker" in message


def test_unreachable_engine_fails_engine_and_skips_the_rest(suite, tmp_path):
    run = suite("--docker-host", f"unix://{tmp_path}/no.sock")
    assert ctr_failing(run) == {"CTR-ENGINE"}
    assert {rid for rid in CTR - {"CTR-ENGINE"} if run.outcomes()[rid] != {"skipped"}} == set()
    assert "Traceback" not in run.stdout


@pytest.mark.parametrize(("changes", "failing", "words"), [
    ({"device_requests": [docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])]},
     {"CTR-GPU-REQUEST", "CTR-SEES-GPUS"}, ["covers 1 of 2 GPUs", "count=1", UUIDS[1]]),
    ({"device_requests": None}, {"CTR-GPU-REQUEST", "CTR-SEES-GPUS"},
     ["started without --gpus", "nvidia-smi", "executable file not found"]),
    ({"environment": {"OLLAMA_SCHED_SPREAD": "1", "OLLAMA_GPU_LAYERS": "99", "OLLAMA_NUM_GPU": "2"}},
     {"CTR-CONFIG"}, ["OLLAMA_GPU_LAYERS", "num_gpu", "OLLAMA_NUM_GPU", "--gpus"]),
    ({"volumes": None}, {"CTR-CONFIG"}, ["not on a volume", "-v ollama:/root/.ollama"]),
    ({"ports": {"11434/tcp": PORT}}, {"CTR-EXPOSURE"}, [f"0.0.0.0:{PORT}", "no authentication", "127.0.0.1"]),
    ({"restart_policy": None}, {"CTR-RUNNING"}, ["restart policy no", "docker update --restart"]),
], ids=["one-gpu", "no-gpus", "made-up-variables", "no-volume", "exposed", "no-restart-policy"])
def test_each_misconfiguration_fails_exactly_its_requirements(engine, suite, changes, failing, words):
    start(engine, **changes)
    run = suite()
    assert ctr_failing(run) == failing, run.stdout[-3000:]
    messages = "\n".join(run.messages(rid) for rid in failing)
    for word in words:
        assert word in messages, (word, messages)
    # Without --remediate nothing changes, and the plan is shown.
    assert "--remediate" in messages


def test_container_without_gpus_makes_ollama_run_on_the_cpu(engine, suite):
    start(engine, device_requests=None)
    run = suite("-m", "quick")
    assert "OLL-GPUS-DETECTED" in run.failing()
    assert "runs on the CPU" in run.messages("OLL-GPUS-DETECTED")


def test_stopped_container(engine, suite):
    start(engine).stop(timeout=1)
    run = suite()
    assert ctr_failing(run) == {"CTR-RUNNING"}
    assert "is exited" in run.messages("CTR-RUNNING")
    assert run.outcomes()["CTR-SEES-GPUS"] == {"skipped"}


def test_missing_container_is_launched_and_a_second_remediate_does_nothing(engine, suite):
    plan = suite()
    assert "there is no container named ollama" in plan.messages("CTR-RUNNING")
    assert "would launch container ollama" in plan.stdout
    assert engine.containers.list(all=True) == []  # a plan changes nothing
    assert "Remediation plan (not carried out" in (plan.run_dir / "report.html").read_text()
    fixed = suite("--remediate")
    assert ctr_failing(fixed) == set(), fixed.stdout[-3000:]
    assert "[done] did launch container ollama" in (fixed.run_dir / "report.html").read_text()
    record = json.loads((fixed.run_dir / "remediation.json").read_text())
    assert [(a["kind"], a["status"]) for a in record["actions"]] == [("launch", "done")]
    c = engine.containers.get("ollama")
    assert c.labels["io.gpuaccept.managed"] == "true"
    assert c.attrs["HostConfig"]["DeviceRequests"][0]["DeviceIDs"] == UUIDS
    assert c.attrs["HostConfig"]["PortBindings"]["11434/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]
    again = suite("--remediate")
    assert json.loads((again.run_dir / "remediation.json").read_text())["actions"] == []
    assert engine.containers.get("ollama").id == c.id


SCENARIOS = {
    "one-gpu": {"device_requests": [docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])]},
    "no-gpus": {"device_requests": None},
    "made-up-variables": {"environment": {"OLLAMA_GPU_LAYERS": "99", "OLLAMA_KEEP_ALIVE": "24h"}},
    "no-volume": {"volumes": None},
    "exposed": {"ports": {"11434/tcp": PORT}},
    "stopped": {},
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_remediation_repairs_a_managed_container_and_keeps_its_models(engine, suite, name):
    c = start(engine, labels={"io.gpuaccept.managed": "true"}, **SCENARIOS[name])
    c.exec_run(["sh", "-c", "mkdir -p /root/.ollama/models && echo weights > /root/.ollama/models/blob-1"])
    if name == "stopped":
        c.stop(timeout=1)
    fixed = suite("--remediate")
    assert ctr_failing(fixed) == set(), fixed.stdout[-3000:]
    record = json.loads((fixed.run_dir / "remediation.json").read_text())
    assert record["actions"] and all(a["status"] == "done" for a in record["actions"]), record
    assert (fixed.run_dir / "evidence-before-remediation" / "docker-inspect.json").is_file()
    assert "gpuaccept remediation" in fixed.stdout and "did " in fixed.stdout
    new = engine.containers.get("ollama")
    assert new.exec_run(["cat", "/root/.ollama/models/blob-1"]).output == b"weights\n"
    assert [v.name for v in engine.volumes.list() if v.name == "ollama"] == ["ollama"]
    if name == "made-up-variables":  # a sound setting of the user's survives the recreate
        assert "OLLAMA_KEEP_ALIVE=24h" in new.attrs["Config"]["Env"]
        assert not any(e.startswith("OLLAMA_GPU_LAYERS") for e in new.attrs["Config"]["Env"])
    assert len(engine.containers.list(all=True)) == 1  # the replaced container is gone, its data is not


def test_remediation_under_xdist_runs_once_on_the_controller(engine, suite):
    start(engine, labels={"io.gpuaccept.managed": "true"}, **SCENARIOS["one-gpu"])
    run = suite("--remediate", "-n", "2")
    assert ctr_failing(run) == set(), run.stdout[-3000:]
    assert run.stdout.count("gpuaccept remediation: did recreate container ollama") == 1
    assert len(engine.containers.list(all=True)) == 1


def test_a_container_the_suite_did_not_launch_is_left_alone(engine, suite):
    before = start(engine, **SCENARIOS["one-gpu"])
    run = suite("--remediate")
    assert ctr_failing(run) == {"CTR-GPU-REQUEST", "CTR-SEES-GPUS"}
    assert "will not recreate container ollama" in run.messages("CTR-GPU-REQUEST")
    assert "--remediate-force" in run.messages("CTR-GPU-REQUEST")
    assert engine.containers.get("ollama").id == before.id
    forced = suite("--remediate", "--remediate-force")
    assert ctr_failing(forced) == set(), forced.stdout[-3000:]


def test_launch_without_the_image_fails_clearly(engine, suite, tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text(standin_profile_text(PORT).replace(
        'image = "localhost/ollama-standin:0.32.1"', 'image = "localhost/not-here:1"'))
    run = suite("--remediate", "--profile", str(profile))
    assert "failed to launch container ollama" in run.messages("CTR-RUNNING")
    assert "could not be pulled" in run.messages("CTR-RUNNING") and "docker load" in run.messages("CTR-RUNNING")
    assert "Traceback" not in run.stdout


# --- the load tier end to end: the Ollama stand-in runs as the container's server -----------------------

@pytest.fixture
def ollama_container(engine, tmp_path, monkeypatch):
    """Start the container with the Python Ollama stand-in as its server; NVML follows what it loads."""
    from tests.engine.python_in_container import standin_options

    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML_LIVE", str(state / "gpu-state.json"))
    gpus = [(g["uuid"], g["memory_total_mib"]) for g in json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())["gpus"]]

    def start_server(**changes):
        options = standin_options(state, gpus)
        env = {**options.pop("environment"), **changes.pop("environment", {"OLLAMA_SCHED_SPREAD": "1"})}
        return start(engine, environment=env, labels={"io.gpuaccept.managed": "true"},
                     volumes={**options.pop("volumes"), "ollama": {"bind": "/root/.ollama", "mode": "rw"}},
                     **options, **changes)

    return start_server


LOAD_TIER = {"OLL-API", "OLL-GPUS-DETECTED", "OLL-MODEL", "OLL-OFFLOAD", "OLL-SPREAD", "OLL-BALANCE", "OLL-THROUGHPUT"}


def test_load_tier_end_to_end_through_the_container(ollama_container, suite):
    ollama_container()
    run = suite()
    assert {rid: run.outcomes()[rid] for rid in LOAD_TIER | CTR} == {rid: {"passed"} for rid in LOAD_TIER | CTR}, \
        run.stdout[-3000:]
    assert "10.2 GiB on GPU0, 10.2 GiB on GPU1" in json.dumps(json.loads((run.run_dir / "summary.json").read_text()))


def test_a_one_gpu_container_keeps_the_model_on_one_card_until_remediated(ollama_container, suite):
    ollama_container(device_requests=[docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])])
    broken = suite()
    assert {"CTR-GPU-REQUEST", "CTR-SEES-GPUS", "OLL-GPUS-DETECTED", "OLL-SPREAD"} <= broken.failing(), \
        broken.stdout[-3000:]
    assert "20.3 GiB on GPU0, 0.0 GiB on GPU1" in broken.messages("OLL-SPREAD")
    fixed = suite("--remediate")
    assert fixed.failing() & (LOAD_TIER | CTR) == set(), fixed.stdout[-3000:]
    assert "10.2 GiB on GPU0, 10.2 GiB on GPU1" in json.dumps(json.loads((fixed.run_dir / "summary.json").read_text()))
