"""CTR-RUNNING on the container's own State: a State that contradicts itself (as no Engine writes it)
judges nothing, and a running container its restart policy keeps restarting is a crash loop. A table of
(docker inspect edit -> outcome, message words) over the bundled dual-p40 set, judged in-process."""

from __future__ import annotations

import json

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import container
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

P40 = profiles.load("dual-p40")


def judged(state: dict, restarts: int | None = None, drop: tuple[str, ...] = ()):
    evidence = Evidence.read(HOSTS / "dual-p40")
    items = json.loads(evidence.files["docker-inspect.json"])
    items[0]["State"].update(state)
    for key in drop:
        items[0]["State"].pop(key)
    if restarts is not None:
        items[0]["RestartCount"] = restarts
    evidence.files["docker-inspect.json"] = json.dumps(items)
    facts = build_facts(evidence, mode="replay", source="test")
    return facts, container.running(facts, P40)


CASES = {
    "the bundled running container": ({}, None, "pass", "container ollama runs ("),
    "running with Running false": ({"Running": False}, None, "unevaluated", "Status: running with Running: false"),
    "running, dead, OOM-killed, exit 137": ({"Dead": True, "OOMKilled": True, "ExitCode": 137}, None, "unevaluated",
                                            "Dead: true, OOMKilled: true, ExitCode: 137"),
    "running while restarting": ({"Restarting": True}, None, "unevaluated", "Restarting: true"),
    "running with no process": ({"Pid": 0}, None, "unevaluated", "Pid: 0"),
    "exited but Running": ({"Status": "exited", "Running": True}, None, "unevaluated", "Status: exited with Running: true"),
    "an honest exit": ({"Status": "exited", "Running": False, "Pid": 0, "ExitCode": 137, "OOMKilled": True}, None,
                       "fail", "is exited"),
    "restarting, 40 restarts": ({"Status": "restarting", "Restarting": True}, 40, "fail", "is restarting"),
    "running after 40 restarts": ({}, 40, "fail", "restarted it 40 times"),
    "running after 2 restarts": ({}, 2, "pass", "runs"),
}


@pytest.mark.parametrize("state, restarts, outcome, words", CASES.values(), ids=CASES.keys())
def test_ctr_running_reads_a_state_that_holds_together(state, restarts, outcome, words):
    facts, verdict = judged(state, restarts)
    assert (verdict.outcome, words in verdict.message) == (outcome, True), verdict.message
    if outcome == "unevaluated":  # what reads the container's state is not judged on it either
        assert not facts.docker.container.running


def test_a_running_state_without_the_fields_an_engine_writes_judges_nothing():
    facts, verdict = judged({}, None, drop=("Running", "Pid"))
    assert verdict.outcome == "unevaluated" and "no Running, no Pid" in verdict.message, verdict.message


def test_a_negative_restart_count_is_damaged_evidence():
    evidence = Evidence.read(HOSTS / "dual-p40")
    items = json.loads(evidence.files["docker-inspect.json"])
    items[0]["RestartCount"] = -100
    evidence.files["docker-inspect.json"] = json.dumps(items)
    facts = build_facts(evidence, mode="replay", source="test")
    assert any(name == "docker-inspect.json" for name, _ in facts.unreadable), facts.unreadable
