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
    return facts, container.ctr_running(facts, P40)


CASES = {
    "the bundled running container": ({}, None, "pass", "container ollama runs ("),
    "running with Running false": ({"Running": False}, None, "not_evaluated", "Status: running with Running: false"),
    "running, dead, OOM-killed, exit 137": ({"Dead": True, "OOMKilled": True, "ExitCode": 137}, None, "not_evaluated",
                                            "Dead: true, OOMKilled: true, ExitCode: 137"),
    "running while restarting": ({"Restarting": True}, None, "not_evaluated", "Restarting: true"),
    "running with no process": ({"Pid": 0}, None, "not_evaluated", "Pid: 0"),
    "exited but Running": ({"Status": "exited", "Running": True}, None, "not_evaluated", "Status: exited with Running: true"),
    "an honest exit": ({"Status": "exited", "Running": False, "Pid": 0, "ExitCode": 137, "OOMKilled": True}, None,
                       "fail", "is exited"),
    "restarting, 40 restarts": ({"Status": "restarting", "Restarting": True}, 40, "fail", "is restarting"),
    "running after 40 restarts": ({}, 40, "fail", "restarted it 40 times"),
    "running after 2 restarts": ({}, 2, "pass", "runs"),
    "running with a negative process id": ({"Pid": -1}, None, "not_evaluated", "Pid: -1"),
    "running with a process id that is text": ({"Pid": "29232"}, None, "not_evaluated", "Pid is a string"),
    "running, never started": ({"StartedAt": "0001-01-01T00:00:00Z"}, None, "not_evaluated",
                               'StartedAt: "0001-01-01T00:00:00Z"'),
    "running with a start time that is no time": ({"StartedAt": "yesterday"}, None, "not_evaluated", 'StartedAt: "yesterday"'),
    "running, stopped after it started": ({"FinishedAt": "2026-11-25T20:00:00.123456789Z"}, None, "not_evaluated",
                                          "FinishedAt 2026-11-25T20:00:00.123456789Z after StartedAt"),
    "running, stopped before it started": ({"FinishedAt": "2026-11-24T20:00:00.5Z"}, None, "pass", "runs"),
    "running with an error": ({"Error": "OCI runtime create failed"}, None, "not_evaluated",
                              'Error: "OCI runtime create failed"'),
}


@pytest.mark.parametrize("state, restarts, outcome, words", CASES.values(), ids=CASES.keys())
def test_ctr_running_reads_a_state_that_holds_together(state, restarts, outcome, words):
    facts, verdict = judged(state, restarts)
    assert (verdict.outcome, words in verdict.message) == (outcome, True), verdict.message
    if outcome == "not_evaluated":  # what reads the container's state is not judged on it either
        assert facts.docker.container is None or not facts.docker.container.running


def test_a_running_state_without_the_fields_an_engine_writes_judges_nothing():
    facts, verdict = judged({}, None, drop=("Running", "Pid"))
    assert verdict.outcome == "not_evaluated" and "no Running, no Pid" in verdict.message, verdict.message


def test_a_negative_restart_count_is_damaged_evidence():
    evidence = Evidence.read(HOSTS / "dual-p40")
    items = json.loads(evidence.files["docker-inspect.json"])
    items[0]["RestartCount"] = -100
    evidence.files["docker-inspect.json"] = json.dumps(items)
    facts = build_facts(evidence, mode="replay", source="test")
    assert any(name == "docker-inspect.json" for name, _ in facts.unreadable), facts.unreadable


def ported(asked: dict, bound: dict | None, publish_all: bool = False, status: str = "running"):
    evidence = Evidence.read(HOSTS / "dual-p40")
    items = json.loads(evidence.files["docker-inspect.json"])
    items[0]["HostConfig"]["PortBindings"] = asked
    items[0]["HostConfig"]["PublishAllPorts"] = publish_all
    items[0]["NetworkSettings"]["Ports"] = bound
    items[0]["State"]["Status"] = status
    evidence.files["docker-inspect.json"] = json.dumps(items)
    return build_facts(evidence, mode="replay", source="test")


LOCAL = {"11434/tcp": [{"HostIp": "127.0.0.1", "HostPort": "11434"}]}
PORT_CASES = {
    "as bundled": (LOCAL, LOCAL, False, None),
    "asked on every interface, bound on both families": (
        {"11434/tcp": [{"HostIp": "", "HostPort": "11434"}]},
        {"11434/tcp": [{"HostIp": "0.0.0.0", "HostPort": "11434"}, {"HostIp": "::", "HostPort": "11434"}]}, False, None),
    "asked any port, the Engine picked one": ({"11434/tcp": [{"HostIp": "", "HostPort": ""}]},
                                              {"11434/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}]}, False, None),
    "bound on another host port": (LOCAL, {"11434/tcp": [{"HostIp": "127.0.0.1", "HostPort": "11435"}]}, False,
                                   "11434/tcp asked on 127.0.0.1:11434, not bound so"),
    "bound on another address": (LOCAL, {"11434/tcp": [{"HostIp": "0.0.0.0", "HostPort": "11434"}]}, False,
                                 "11434/tcp asked on 127.0.0.1:11434, not bound so"),
    "running, nothing bound": (LOCAL, None, False, "not bound so"),
    "bound but never asked": ({}, LOCAL, False, "11434/tcp bound on 11434 but never asked"),
    "bound by PublishAllPorts": ({}, LOCAL, True, None),
    "asked a range, bound in it": ({"11434/tcp": [{"HostIp": "", "HostPort": "18000-18010"}]},
                                   {"11434/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18003"}]}, False, None),
    "asked a range, bound outside it": ({"11434/tcp": [{"HostIp": "", "HostPort": "18000-18010"}]},
                                        {"11434/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18011"}]}, False, "not bound so"),
    "IPv6 loopback in another spelling": ({"11434/tcp": [{"HostIp": "0:0:0:0:0:0:0:1", "HostPort": "11434"}]},
                                          {"11434/tcp": [{"HostIp": "::1", "HostPort": "11434"}]}, False, None),
    "IPv4 loopback mapped to IPv6": ({"11434/tcp": [{"HostIp": "::ffff:127.0.0.1", "HostPort": "11434"}]},
                                     {"11434/tcp": [{"HostIp": "127.0.0.1", "HostPort": "11434"}]}, False, None),
    "every interface asked, the daemon's default address bound": (
        {"11434/tcp": [{"HostIp": "", "HostPort": "11434"}]}, LOCAL, False, None),
    "a second host port bound on the asked one": (
        LOCAL, {"11434/tcp": [{"HostIp": "127.0.0.1", "HostPort": "11434"}, {"HostIp": "127.0.0.1", "HostPort": "9999"}]},
        False, "11434/tcp also bound on 127.0.0.1:9999, never asked"),
}


@pytest.mark.parametrize("asked, bound, publish_all, problem", PORT_CASES.values(), ids=PORT_CASES.keys())
def test_published_ports_that_disagree_with_the_asked_ones_judge_no_port(asked, bound, publish_all, problem):
    """What the Engine bound (NetworkSettings.Ports) and what was asked (PortBindings) are never merged into a
    port neither shows: where they disagree, CTR-EXPOSURE, CTR-CONFIG and OLL-API are not evaluated."""
    facts = ported(asked, bound, publish_all)
    c = facts.docker.container
    if problem is None:
        assert c.ports_problem is None
        return
    assert problem in c.ports_problem, c.ports_problem
    assert container.ctr_exposure(facts, P40).outcome == "not_evaluated"
    assert container.ctr_config(facts, P40).outcome in ("not_evaluated", "fail")
    from gpuaccept.checks import ollama

    verdict = ollama.oll_api(facts, P40)
    assert verdict.outcome == "not_evaluated" and "contradicts itself" in verdict.message, verdict.message


def test_a_stopped_containers_ports_are_what_was_asked():
    assert ported(LOCAL, None, status="exited").docker.container.ports_problem is None


def test_an_api_asked_on_every_interface_but_bound_by_the_daemon_on_loopback_is_not_exposed():
    """daemon.json's "ip": "127.0.0.1" makes `-p 11434:11434` bind 127.0.0.1 only: what the Engine bound counts."""
    facts = ported({"11434/tcp": [{"HostIp": "", "HostPort": "11434"}]}, LOCAL)
    verdict = container.ctr_exposure(facts, P40)
    assert verdict.outcome == "pass" and "127.0.0.1:11434" in verdict.message, verdict.message
