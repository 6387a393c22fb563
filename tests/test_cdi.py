"""CDI GPU requests (`docker run --device nvidia.com/gpu=all|N|GPU-<uuid>`): judged, probed and remediated.

The request shapes are real: what the docker CLI stores for ``--device`` with a CDI name, captured from a
real engine (tests/data/captures/docker, sources in its SOURCES.md). Whole evidence sets are the bundled
dual-p40 sets with only that request changed, copied into tmp_path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import container
from gpuaccept.evidence import Evidence
from gpuaccept.parse.docker import parse_inspect, parse_probe
from gpuaccept.remedy.apply import gpu_requests
from gpuaccept.remedy.plan import cdi_devices, plan
from gpuaccept.sources.build import build_facts
from tests.conftest import CAPTURES, HOSTS

DUAL = profiles.load("dual-p40")
UUID0, UUID1 = (g["uuid"] for g in json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())["gpus"])
GPU_ERROR = 'could not select device driver "" with capabilities: [[gpu]]'


def capture(name: str) -> list[dict]:
    return json.loads((CAPTURES / "docker" / name).read_text())


def cdi(*names: str) -> dict:
    """One CDI request as the engine stores it (the shape of the captured `--device nvidia.com/gpu=all`)."""
    request = capture("devicerequests-cdi-gpu-all.json")[0]
    return {**request, "DeviceIDs": list(names)}


def evidence(base: str = "dual-p40", requests: list[dict] | None = None, managed: bool = True, runtime: str = "",
             env: list[str] | None = None, probe: dict | None = None) -> Evidence:
    ev = Evidence.read(HOSTS / base)
    inspect = json.loads(ev.files["docker-inspect.json"])
    if requests is not None:
        inspect[0]["HostConfig"]["DeviceRequests"] = requests
    if runtime:
        inspect[0]["HostConfig"]["Runtime"] = runtime
    if env is not None:
        inspect[0]["Config"]["Env"] = [*inspect[0]["Config"]["Env"], *env]
    inspect[0]["Config"].setdefault("Labels", {})["io.gpuaccept.managed"] = "true" if managed else "false"
    ev.files["docker-inspect.json"] = json.dumps(inspect)
    if probe is not None:
        ev.files["docker-gpu-probe.json"] = json.dumps(probe)
    return ev


def facts(**kwargs):
    return build_facts(evidence(**kwargs), mode="live", source="live")


def replay_set(tmp_path, base: str, requests: list[dict]):
    folder = tmp_path / base
    shutil.copytree(HOSTS / base, folder)
    path = folder / "docker-inspect.json"
    inspect = json.loads(path.read_text())
    inspect[0]["HostConfig"]["DeviceRequests"] = requests
    path.write_text(json.dumps(inspect, indent=2))
    return folder


# --- what the engine stores --------------------------------------------------------------------------------

def test_the_engines_cdi_request_is_read_as_a_gpu_request():
    inspect = [{"Name": "/ollama", "HostConfig": {"DeviceRequests": capture("devicerequests-cdi-index-and-uuid.json")}}]
    (request,) = parse_inspect(inspect, "ollama").device_requests
    assert (request.driver, request.count, request.capabilities) == ("cdi", 0, ())
    assert request.wants_gpu and request.is_cdi
    assert request.cdi_gpu_names == ("0", UUID1)


def test_the_cli_puts_the_cdi_request_after_the_gpus_one():
    inspect = [{"Name": "/ollama", "HostConfig": {"DeviceRequests": capture("devicerequests-gpus-1-plus-cdi-gpu-1.json")}}]
    gpus, cdi_request = parse_inspect(inspect, "ollama").device_requests
    assert (gpus.is_cdi, gpus.count, gpus.cdi_gpu_names) == (False, 1, ())
    assert (cdi_request.is_cdi, cdi_request.cdi_gpu_names) == (True, ("1",))


def test_a_cdi_request_for_another_vendors_device_is_no_gpu_request():
    inspect = [{"Name": "/ollama", "HostConfig": {"DeviceRequests": [cdi("vendor1.com/device=foo")]}}]
    (request,) = parse_inspect(inspect, "ollama").device_requests
    assert not request.wants_gpu and request.cdi_other_names == ("vendor1.com/device=foo",)


# --- CTR-GPU-REQUEST ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("requests", "outcome", "words"), [
    ([cdi("nvidia.com/gpu=all")], "pass", ["covers 2 of 2 GPUs (--device nvidia.com/gpu=all: GPU0, GPU1)"]),
    ([cdi("nvidia.com/gpu=0", "nvidia.com/gpu=1")], "pass",
     ["--device nvidia.com/gpu=0 --device nvidia.com/gpu=1: GPU0, GPU1"]),
    ([cdi(f"nvidia.com/gpu={UUID0}", f"nvidia.com/gpu={UUID1}")], "pass", ["covers 2 of 2"]),
    ([cdi("nvidia.com/gpu=gpu0", "nvidia.com/gpu=gpu1")], "pass", ["covers 2 of 2"]),  # type-index naming
    # Compose's `driver: cdi` reservation may carry capabilities [gpu]: still CDI names, not UUIDs.
    ([{**cdi("nvidia.com/gpu=all"), "Capabilities": [["gpu"]]}], "pass", ["covers 2 of 2"]),
    # Mixed: the CLI sends the --gpus request and the CDI one; together they cover both GPUs.
    ([*capture("devicerequests-gpus-1-plus-cdi-gpu-1.json")], "pass",
     ["--gpus count=1 + --device nvidia.com/gpu=1: GPU0, GPU1"]),
    ([cdi("nvidia.com/gpu=0")], "fail",
     ["covers 1 of 2 GPUs (--device nvidia.com/gpu=0: GPU0)", f"missing GPU1 ({UUID1})",
      "the CDI `--device` names too few GPUs", "`--device nvidia.com/gpu=all`",
      f"--device nvidia.com/gpu={UUID0} --device nvidia.com/gpu={UUID1}"]),
    ([cdi(f"nvidia.com/gpu={UUID1}")], "fail", [f"GPU1); missing GPU0 ({UUID0})", "`--device nvidia.com/gpu=all`"]),
    ([cdi("nvidia.com/gpu=1:0")], "fail", ["covers 0 of 2", "nvidia.com/gpu=1:0 names no whole GPU of this host"]),
    ([cdi("nvidia.com/gpu=GPU-00000000-0000-0000-0000-000000000000")], "fail",
     ["names no whole GPU of this host", "missing GPU0"]),
    ([capture("devicerequests-gpus-1-plus-cdi-gpu-1.json")[0], cdi("nvidia.com/gpu=0")], "fail",
     ["--gpus count=1 + --device nvidia.com/gpu=0: GPU0", f"missing GPU1 ({UUID1})", "nvidia.com/gpu=all"]),
], ids=["all", "indexes", "uuids", "type-index", "compose", "mixed", "index-0", "uuid-1", "mig", "foreign-uuid",
        "mixed-short"])
def test_gpu_request(requests, outcome, words):
    verdict = container.ctr_gpu_request(facts(requests=requests), DUAL)
    assert verdict.outcome == outcome, verdict.message
    for word in words:
        assert word in verdict.message, (word, verdict.message)


@pytest.mark.parametrize(("env", "outcome"), [
    (["NVIDIA_VISIBLE_DEVICES=all"], "pass"),
    ([f"NVIDIA_VISIBLE_DEVICES={UUID0},{UUID1}"], "pass"),
    (["NVIDIA_VISIBLE_DEVICES=0,1"], "pass"),
    (["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=all"], "pass"),  # the nvidia runtime's CDI mode reads these
    (["NVIDIA_VISIBLE_DEVICES=0"], "fail"),
    (["NVIDIA_VISIBLE_DEVICES=void"], "fail"),
], ids=["all", "uuids", "indexes", "cdi-name", "one", "void"])
def test_nvidia_runtime_environment_still_judged(env, outcome):
    verdict = container.ctr_gpu_request(facts(requests=[], runtime="nvidia", env=env), DUAL)
    assert verdict.outcome == outcome, verdict.message
    if outcome == "fail":
        assert "missing GPU" in verdict.message and f"GPU1 ({UUID1})" in verdict.message
        assert "--gpus all" in verdict.message


def test_gpus_style_failure_keeps_its_gpus_fix():
    verdict = container.ctr_gpu_request(facts(base="dual-p40-container-one-gpu"), DUAL)
    assert "covers 1 of 2 GPUs (--gpus count=1: GPU0); missing GPU1" in verdict.message
    assert "--gpus all" in verdict.message and "nvidia.com/gpu" not in verdict.message.split("Fix:")[1]


# --- the real suite over whole evidence sets ---------------------------------------------------------------

def test_healthy_cdi_container_passes_everything(run_suite, tmp_path):
    run = run_suite("--replay", str(replay_set(tmp_path, "dual-p40", capture("devicerequests-cdi-gpu-all.json"))))
    assert run.failing() == set(), run.stdout[-3000:]
    assert {rid: run.outcomes()[rid] for rid in ("CTR-TOOLKIT", "CTR-GPU-REQUEST", "CTR-SEES-GPUS")} == {
        "CTR-TOOLKIT": {"passed"}, "CTR-GPU-REQUEST": {"passed"}, "CTR-SEES-GPUS": {"passed"}}
    assert run.ret == 0


def test_cdi_container_with_one_of_two_gpus_fails_naming_it(run_suite, tmp_path):
    # The one-GPU set (container lists GPU0, Ollama discovers one device) with the CDI request for GPU0.
    folder = replay_set(tmp_path, "dual-p40-container-one-gpu", [cdi("nvidia.com/gpu=0")])
    run = run_suite("--replay", str(folder))
    assert run.failing() == {"CTR-GPU-REQUEST", "CTR-SEES-GPUS", "OLL-GPUS-DETECTED"}, run.stdout[-3000:]
    request, sees = run.messages("CTR-GPU-REQUEST"), run.messages("CTR-SEES-GPUS")
    assert f"--device nvidia.com/gpu=0: GPU0); missing GPU1 ({UUID1})" in request
    assert "`--device nvidia.com/gpu=all`" in request and "one `--device` per GPU" in request
    assert "`--device nvidia.com/gpu=all`" in sees and "nvidia-ctk cdi generate" in sees
    assert "daemon-reload" not in sees  # CDI puts the devices in the container's spec: a reload keeps them
    assert run.ret == 1


# --- CTR-TOOLKIT: the probe ---------------------------------------------------------------------------------

PROBE_OK = json.loads((HOSTS / "dual-p40" / "docker-gpu-probe.json").read_text())


def test_old_probe_records_read_as_gpus_all():
    probe = parse_probe(PROBE_OK)
    assert (probe.request, probe.cdi, probe.gpus_error) == ("--gpus all", False, "")


def test_cdi_only_engine_is_gpu_capable():
    record = {**PROBE_OK, "request": "--device nvidia.com/gpu=all", "gpus_error": GPU_ERROR}
    verdict = container.ctr_toolkit(facts(probe=record), DUAL)
    assert verdict.outcome == "pass", verdict.message
    assert "started with --device nvidia.com/gpu=all and listed 2 GPU(s)" in verdict.message
    assert "through CDI only" in verdict.message and GPU_ERROR in verdict.message


def test_engine_refusing_both_requests_fails_with_both_fixes():
    cdi_error = 'could not select device driver "cdi" with capabilities: []'
    assert cdi_error in (CAPTURES / "docker" / "devicerequests-cdi-gpu-all-start-error.txt").read_text()
    record = {"image": "ollama/ollama", "ok": False, "output": "", "request": "--device nvidia.com/gpu=all",
              "error": cdi_error, "gpus_error": GPU_ERROR}
    verdict = container.ctr_toolkit(facts(probe=record), DUAL)
    assert verdict.outcome == "fail"
    for word in (GPU_ERROR, cdi_error, "nvidia-ctk runtime configure --runtime=docker", "nvidia-ctk cdi generate"):
        assert word in verdict.message, (word, verdict.message)


def test_hook_that_fails_on_an_engine_without_a_cdi_spec_blames_the_hook():
    record = {"image": "ollama/ollama", "ok": False, "output": "", "request": "--device nvidia.com/gpu=all",
              "error": "CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all",
              "gpus_error": "nvidia-container-cli: initialization error: nvml error: driver not loaded"}
    verdict = container.ctr_toolkit(facts(probe=record), DUAL)
    assert verdict.outcome == "fail" and "driver not loaded" in verdict.message
    assert "cannot set up the GPUs" in verdict.message and "neither" not in verdict.message


def test_cdi_probe_that_fails_after_the_devices_were_found_blames_the_spec():
    record = {"image": "ollama/ollama", "ok": False, "output": "", "request": "--device nvidia.com/gpu=all",
              "error": "nvidia-smi -L exited with 9 in the probe container", "gpus_error": GPU_ERROR}
    verdict = container.ctr_toolkit(facts(probe=record), DUAL)
    assert verdict.outcome == "fail" and "regenerate the CDI spec" in verdict.message


# --- remediation keeps the container's style ----------------------------------------------------------------

def _inspect(ev: Evidence) -> dict:
    return json.loads(ev.files["docker-inspect.json"])[0]


def _as_dicts(requests) -> list[dict]:
    return [dict(r) for r in requests]


def test_recreate_of_a_cdi_container_asks_for_every_gpu_through_cdi():
    ev = evidence(base="dual-p40-container-one-gpu", requests=[cdi("nvidia.com/gpu=0")])
    host = build_facts(ev, mode="live", source="live")
    (action,) = plan(host, DUAL)
    assert (action.kind, action.status) == ("recreate", "planned")
    assert action.before.startswith("--device nvidia.com/gpu=0;") and action.after.startswith(
        "--device nvidia.com/gpu=all;"), action.describe()
    requests = _as_dicts(gpu_requests(DUAL.container, host, DUAL, _inspect(ev)))
    assert requests == [{"Driver": "cdi", "Count": 0, "DeviceIDs": ["nvidia.com/gpu=all"], "Capabilities": [],
                         "Options": {}}]


def test_recreate_of_a_gpus_container_keeps_gpus():
    ev = evidence(base="dual-p40-container-one-gpu")
    host = build_facts(ev, mode="live", source="live")
    assert plan(host, DUAL)[0].after.startswith(f"--gpus device={UUID0},{UUID1};")
    (request,) = _as_dicts(gpu_requests(DUAL.container, host, DUAL, _inspect(ev)))
    assert (request["Driver"], request["DeviceIDs"], request["Capabilities"]) == ("", [UUID0, UUID1], [["gpu"]])


def test_mixed_request_is_recreated_as_cdi_alone():
    ev = evidence(requests=[capture("devicerequests-gpus-1-plus-cdi-gpu-1.json")[0], cdi("nvidia.com/gpu=0")])
    host = build_facts(ev, mode="live", source="live")
    assert _as_dicts(gpu_requests(DUAL.container, host, DUAL, _inspect(ev)))[0]["DeviceIDs"] == ["nvidia.com/gpu=all"]
    assert len(gpu_requests(DUAL.container, host, DUAL, _inspect(ev))) == 1


@pytest.mark.parametrize(("names", "expected"), [
    (["nvidia.com/gpu=1"], ["nvidia.com/gpu=0"]),
    (["nvidia.com/gpu=gpu1"], ["nvidia.com/gpu=gpu0"]),
    ([f"nvidia.com/gpu={UUID1}"], [f"nvidia.com/gpu={UUID0}"]),
    (["nvidia.com/gpu=all"], [f"nvidia.com/gpu={UUID0}"]),  # no naming to follow: by UUID, as --gpus does
    (["nvidia.com/gpu=1", "nvidia.com/gds=all"], ["nvidia.com/gpu=0", "nvidia.com/gds=all"]),
], ids=["index", "type-index", "uuid", "all", "other-cdi-device-kept"])
def test_fewer_expected_gpus_are_named_as_the_old_request_named_them(names, expected):
    # A profile expecting one GPU on this two-GPU host: the first GPU, named in the old request's naming,
    # because a CDI spec holds only the naming strategies it was generated with.
    one = dataclasses.replace(DUAL, gpus=dataclasses.replace(DUAL.gpus, count=1))
    ev = evidence(requests=[cdi(*names)])
    host = build_facts(ev, mode="live", source="live")
    old = parse_inspect([_inspect(ev)], "ollama")
    assert list(cdi_devices(host, one, old)) == expected


def test_launch_uses_cdi_only_where_the_engine_gives_gpus_through_cdi_alone():
    cdi_only = {**PROBE_OK, "request": "--device nvidia.com/gpu=all", "gpus_error": GPU_ERROR}
    host = facts(probe=cdi_only)
    assert _as_dicts(gpu_requests(DUAL.container, host, DUAL, None))[0]["DeviceIDs"] == ["nvidia.com/gpu=all"]
    host = facts()
    (request,) = _as_dicts(gpu_requests(DUAL.container, host, DUAL, None))
    assert (request["Driver"], request["DeviceIDs"]) == ("", [UUID0, UUID1])


# --- a real engine ------------------------------------------------------------------------------------------

@pytest.mark.docker
def test_real_engine_stores_the_recreate_request_as_the_cli_does(engines):
    """The create arguments built for a CDI container, given to a real engine, are stored exactly as
    `docker create --device nvidia.com/gpu=all` is (the captured request); the probe falls back to CDI and
    records the engine's own refusal (this engine has no CDI driver)."""
    from gpuaccept.sources import docker_engine

    client = engines["bare"].client()
    ev = evidence(requests=capture("devicerequests-cdi-gpu-all.json"))
    host = build_facts(ev, mode="live", source="live")
    name = f"gpuat-cdi-test-{os.getpid()}"
    created = client.containers.create("localhost/ollama-standin:0.32.1", name=name,
                                       device_requests=gpu_requests(DUAL.container, host, DUAL, _inspect(ev)))
    try:
        stored = client.api.inspect_container(created.id)["HostConfig"]["DeviceRequests"]
    finally:
        created.remove(force=True)
    wanted = capture("devicerequests-cdi-gpu-all.json")
    assert [(r["Driver"], r["Count"], r["DeviceIDs"]) for r in stored] == [
        (r["Driver"], r["Count"], r["DeviceIDs"]) for r in wanted]

    files, absent = {}, {}
    spec = dataclasses.replace(DUAL.container, image="localhost/ollama-standin:0.32.1")
    docker_engine._probe(client, spec.image, spec, files, absent, cdi=True)
    record = json.loads(files["docker-gpu-probe.json"])
    assert (record["ok"], record["request"], record["gpus_error"]) == (False, "--device nvidia.com/gpu=all", GPU_ERROR)
    assert 'could not select device driver "cdi" with capabilities: []' in record["error"]
    verdict = container.ctr_toolkit(build_facts(evidence(probe=record), mode="live", source="live"), DUAL)
    assert verdict.outcome == "fail" and "nvidia-ctk cdi generate" in verdict.message
