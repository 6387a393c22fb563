"""OLL-GPUS-DETECTED over real server logs of every era, judged against the dual-p40 host."""

from __future__ import annotations

import dataclasses

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
    verdict = ollama.gpus_detected(host_with_log("mixed-5gpu-incl-p40-inference-compute-ollama-0.5.1.log"), PROFILE)
    assert verdict.outcome == "fail"
    assert "discovered 4 CUDA device(s)" in verdict.measured
    # Its ids are GPU UUIDs of another machine: that is said first.
    assert "is not a GPU of this host" in verdict.measured


def test_no_devices_in_docker_names_the_container():
    verdict = ollama.gpus_detected(host_with_log("docker-no-nvidia-devices-detected-ollama-0.3.10.log"), PROFILE)
    assert verdict.outcome == "fail" and "no nvidia devices detected" in verdict.message
    assert "--gpus all" in verdict.message


def test_the_bundled_era_e_log_passes_and_a_cuda_v13_runner_does_not():
    facts = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="replay", source="test")
    assert ollama.gpus_detected(facts, PROFILE).outcome == "pass"
    v13 = tuple(dataclasses.replace(d, runner="cuda_v13") for d in facts.ollama.devices)
    verdict = ollama.gpus_detected(dataclasses.replace(facts, ollama=dataclasses.replace(facts.ollama, devices=v13)),
                                   PROFILE)
    assert verdict.outcome == "fail" and "OLLAMA_LLM_LIBRARY=cuda_v12" in verdict.message
