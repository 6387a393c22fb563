"""OLL-GPUS-DETECTED over real server logs of every era, judged against the dual-p40 host."""

from __future__ import annotations

import dataclasses
import json
import shutil

from gpuaccept import profile as profiles
from gpuaccept.checks import ollama
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import CAPTURES, HOSTS

PROFILE = profiles.load("dual-p40")


def host_with_log(name: str):
    evidence = Evidence.read(HOSTS / "dual-p40")
    evidence.files["ollama-server.log"] = (CAPTURES / "ollama-logs" / name).read_text()
    return build_facts(evidence, mode="replay", source="test")


def test_a_mixed_host_of_the_0_5_era_is_judged_by_uuid_and_compute():
    verdict = ollama.oll_gpus_detected(host_with_log("mixed-5gpu-incl-p40-inference-compute-ollama-0.5.1.log"), PROFILE)
    assert verdict.outcome == "fail"
    assert "discovered 4 CUDA device(s)" in verdict.measured
    # Its ids are GPU UUIDs of another machine: that is said first.
    assert "is not a GPU of this host" in verdict.measured


def test_no_devices_in_docker_names_the_container():
    verdict = ollama.oll_gpus_detected(host_with_log("docker-no-nvidia-devices-detected-ollama-0.3.10.log"), PROFILE)
    assert verdict.outcome == "fail" and "no nvidia devices detected" in verdict.message
    assert "--gpus all" in verdict.message


def test_the_bundled_era_e_log_passes_and_a_cuda_v13_runner_does_not():
    facts = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="replay", source="test")
    assert ollama.oll_gpus_detected(facts, PROFILE).outcome == "pass"
    v13 = tuple(dataclasses.replace(d, runner="cuda_v13") for d in facts.ollama.devices)
    verdict = ollama.oll_gpus_detected(dataclasses.replace(facts, ollama=dataclasses.replace(facts.ollama, devices=v13)),
                                   PROFILE)
    assert verdict.outcome == "fail" and "OLLAMA_LLM_LIBRARY=cuda_v12" in verdict.message


BUNDLED_LOG = (HOSTS / "dual-p40" / "ollama-server.log").read_text()
# The real cuda_v13 line of a 0.32 Pascal host (ollama/ollama#17766): tried before cuda_v12 at every start.
SKIP_LINE = next(line.split("]: ", 1)[1] for line in
                 (CAPTURES / "ollama-logs" / "pascal-5gpu-two-starts-cuda_v13-skip-ollama-0.32.x.log").read_text().splitlines()
                 if "not in compiled architectures" in line)


def host_with_text(text: str, **container_env: str):
    evidence = Evidence.read(HOSTS / "dual-p40")
    evidence.files["ollama-server.log"] = text
    facts = build_facts(evidence, mode="replay", source="test")
    if container_env:
        c = facts.docker.container
        c = dataclasses.replace(c, env=c.env + tuple(container_env.items()))
        facts = dataclasses.replace(facts, docker=dataclasses.replace(facts.docker, container=c))
    return facts


def with_skip_lines(log: str) -> str:
    """The bundled log with the real cuda_v13 skip line where 0.30+ logs it: after Listening, before discovery."""
    head, sep, tail = log.partition('msg="inference compute"')
    cut = head.rfind("\n") + 1
    return head[:cut] + SKIP_LINE + "\n" + SKIP_LINE + "\n" + head[cut:] + sep + tail


def test_cuda_v13_skip_lines_on_a_healthy_pascal_pair_pass():
    verdict = ollama.oll_gpus_detected(host_with_text(with_skip_lines(BUNDLED_LOG)), PROFILE)
    assert verdict.outcome == "pass", verdict.message
    assert "`skipping CUDA device` line(s) of cuda_v13 before it are normal" in verdict.message


def test_skip_lines_with_no_cuda_v12_runner_name_the_build():
    lines = [line for line in with_skip_lines(BUNDLED_LOG).splitlines() if 'msg="inference compute"' not in line]
    lines.append('time=2026-11-25T19:01:07.000Z level=INFO source=types.go:60 msg="inference compute" id=cpu '
                 'library=cpu compute="" name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" '
                 'total="62.7 GiB" available="60.1 GiB"')
    verdict = ollama.oll_gpus_detected(host_with_text("\n".join(lines)), PROFILE)
    assert verdict.outcome == "fail" and "no cuda_v12 runner appears in the log" in verdict.message
    # The same start with cuda_v12 present but refused by the driver: the driver is named, not the build.
    driver = "\n".join(lines) + '\ntime=2026-11-25T19:01:07.000Z level=WARN source=cuda_compat.go:65 msg="NVIDIA ' \
        'driver too old" device=GPU-x compute=6.1 driver=12.2 required_driver="570 or newer" libdirs=cuda_v12\n'
    verdict = ollama.oll_gpus_detected(host_with_text(driver), PROFILE)
    assert verdict.outcome == "fail" and "install the R580 driver" in verdict.message
    assert "no cuda_v12 runner" not in verdict.message


def test_an_older_broken_start_is_not_judged():
    broken = (CAPTURES / "ollama-logs" / "docker-no-nvidia-devices-detected-ollama-0.3.10.log").read_text()
    verdict = ollama.oll_gpus_detected(host_with_text(broken + BUNDLED_LOG), PROFILE)
    assert verdict.outcome == "pass", verdict.message
    assert "judged by the last of the 2 server starts" in verdict.message
    verdict = ollama.oll_gpus_detected(host_with_text(BUNDLED_LOG + broken), PROFILE)
    assert verdict.outcome == "fail" and "no nvidia devices detected" in verdict.message


def test_a_current_start_cut_before_discovery_is_not_evaluated():
    # The real two-start journal: only the first start logged its discovery.
    verdict = ollama.oll_gpus_detected(host_with_log("pascal-5gpu-two-starts-cuda_v13-skip-ollama-0.32.x.log"), PROFILE)
    assert verdict.outcome == "not_evaluated", verdict.message
    assert "no `inference compute` line for the server's current start (start 2" in verdict.message


def one_gpu_by_cuda_visible_devices(value: str):
    lines = BUNDLED_LOG.replace("CUDA_VISIBLE_DEVICES:", f"CUDA_VISIBLE_DEVICES:{value}").splitlines()
    return "\n".join(line for line in lines if "name=CUDA1" not in line) + "\n"


def test_a_narrowing_cuda_visible_devices_is_named_with_the_hidden_gpu():
    facts = host_with_text(one_gpu_by_cuda_visible_devices("0"))
    gpu1 = facts.gpu(1).uuid
    verdict = ollama.oll_gpus_detected(facts, PROFILE)
    assert verdict.outcome == "fail", verdict.message
    assert f"CUDA_VISIBLE_DEVICES=0 (the server config line of the log) hides GPU1 ({gpu1})" in verdict.message
    assert "cuda_v13" not in verdict.message and "remove CUDA_VISIBLE_DEVICES" in verdict.message
    # By UUID prefix, as CUDA allows; an invalid entry hides everything after it.
    uuid0 = facts.gpu(0).uuid
    verdict = ollama.oll_gpus_detected(host_with_text(one_gpu_by_cuda_visible_devices(f"{uuid0[:12]},-1,1")), PROFILE)
    assert f"hides GPU1 ({gpu1})" in verdict.message and "'-1' names no GPU" in verdict.message


def replay_copy(tmp_path, log: str, *env: str):
    folder = tmp_path / "evidence"
    shutil.copytree(HOSTS / "dual-p40", folder)
    (folder / "ollama-server.log").write_text(log)
    inspect = json.loads((folder / "docker-inspect.json").read_text())
    inspect[0]["Config"]["Env"] += list(env)
    (folder / "docker-inspect.json").write_text(json.dumps(inspect))
    return folder


def test_the_suite_names_the_gpu_a_container_cuda_visible_devices_hides(run_suite, tmp_path):
    folder = replay_copy(tmp_path, one_gpu_by_cuda_visible_devices("0"), "CUDA_VISIBLE_DEVICES=0")
    run = run_suite("--replay", str(folder), "-m", "quick")
    assert run.failing() == {"CTR-CONFIG", "OLL-GPUS-DETECTED"}, run.stdout[-3000:]
    uuid = build_facts(Evidence.read(folder), mode="replay", source="test").gpu(1).uuid
    for rid in ("CTR-CONFIG", "OLL-GPUS-DETECTED"):
        assert "hides GPU1" in run.messages(rid) and uuid in run.messages(rid), run.messages(rid)


def test_the_suite_accepts_a_pascal_pair_whose_log_has_the_cuda_v13_skip_lines(run_suite, tmp_path):
    folder = replay_copy(tmp_path, with_skip_lines(BUNDLED_LOG))
    run = run_suite("--replay", str(folder), "-m", "quick")
    assert run.failing() == set() and run.ret == 0, run.stdout[-3000:]
    case = next(c for c in run.cases if c.requirement == "OLL-GPUS-DETECTED")
    assert "before it are normal" in case.properties.get("measured", ""), case.properties


def test_a_card_ollama_took_through_vulkan_is_named():
    # The first start of the real two-start journal: a Pascal card found by Vulkan, not CUDA.
    first = (CAPTURES / "ollama-logs" / "pascal-5gpu-two-starts-cuda_v13-skip-ollama-0.32.x.log").read_text()
    verdict = ollama.oll_gpus_detected(host_with_text("\n".join(first.splitlines()[:2]) + "\n"), PROFILE)
    assert verdict.outcome == "fail" and "(Quadro P4000 on Vulkan)" in verdict.message
    assert "fell back to Vulkan" in verdict.message and "runs on the CPU" not in verdict.message


def test_the_suites_own_cut_through_the_discovery_lines_blames_no_card():
    """A long container log is kept as head and tail (gpuaccept.sources.docker_engine): when the cut falls
    right after GPU0's discovery line, GPU1's may be in what was left out, so nothing is judged of it."""
    from gpuaccept.checks import ollama as ollama_checks
    from gpuaccept.evidence import Evidence
    from gpuaccept.sources.build import build_facts

    evidence = Evidence.read(HOSTS / "dual-p40")
    lines = evidence.files["ollama-server.log"].splitlines()
    at = next(i for i, line in enumerate(lines) if 'msg="inference compute"' in line)
    evidence.files["ollama-server.log"] = "\n".join(
        lines[:at + 1] + ["", "[... 73400320 bytes left out by gpuaccept ...]", ""] + lines[at + 2:]) + "\n"
    verdict = ollama_checks.oll_gpus_detected(build_facts(evidence, mode="replay", source="test"), PROFILE)
    assert verdict.outcome == "not_evaluated", verdict.message
    assert "its cut ([... 73400320 bytes left out by gpuaccept ...]) borders the GPU discovery lines" in verdict.message
