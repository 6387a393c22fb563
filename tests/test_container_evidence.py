"""Container evidence that contradicts itself, or is of another container, never passes."""

from __future__ import annotations

import json

from gpuaccept import profile as profiles
from gpuaccept.checks import container
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

P40 = profiles.load("dual-p40")


def facts_with(change):
    evidence = Evidence.read(HOSTS / "dual-p40")
    items = json.loads(evidence.files["docker-inspect.json"])
    change(items[0])
    evidence.files["docker-inspect.json"] = json.dumps(items)
    return build_facts(evidence, mode="replay", source="test")


def test_the_inspect_of_another_container_judges_no_container_requirement():
    facts = facts_with(lambda c: c.update(Name="/not-ollama"))
    for check in (container.ctr_running, container.ctr_gpu_request, container.ctr_config, container.ctr_exposure):
        verdict = check(facts, P40)
        assert verdict.outcome == "not_evaluated" and "'not-ollama', not of 'ollama'" in verdict.message


def test_a_port_the_engine_published_on_every_interface_counts_whatever_was_asked():
    def published_everywhere(c):
        c.setdefault("NetworkSettings", {})["Ports"] = {"11434/tcp": [{"HostIp": "0.0.0.0", "HostPort": "11434"}]}
        c["HostConfig"]["PortBindings"] = {"11434/tcp": [{"HostIp": "", "HostPort": "11434"}]}

    verdict = container.ctr_exposure(facts_with(published_everywhere), P40)
    assert verdict.outcome == "fail" and "0.0.0.0:11434" in verdict.message


def test_a_port_published_otherwise_than_asked_is_not_judged():
    """Asked on 127.0.0.1, bound on every interface: no Engine does that, so where the API listens is unknown."""
    def published_everywhere(c):
        c.setdefault("NetworkSettings", {})["Ports"] = {"11434/tcp": [{"HostIp": "0.0.0.0", "HostPort": "11434"}]}

    verdict = container.ctr_exposure(facts_with(published_everywhere), P40)
    assert verdict.outcome == "not_evaluated" and "asked on 127.0.0.1:11434, not bound so" in verdict.message


def test_forcing_the_cpu_or_the_cuda_13_runner_on_pascal_fails():
    for library in ("cpu", "cpu_avx2", "cuda_v13"):
        facts = facts_with(lambda c, lib=library: c["Config"]["Env"].append(f"OLLAMA_LLM_LIBRARY={lib}"))
        verdict = container.ctr_config(facts, P40)
        assert verdict.outcome == "fail" and f"OLLAMA_LLM_LIBRARY={library} forces a runner" in verdict.message
    facts = facts_with(lambda c: c["Config"]["Env"].append("OLLAMA_LLM_LIBRARY=cuda_v12"))
    assert container.ctr_config(facts, P40).outcome == "pass"
