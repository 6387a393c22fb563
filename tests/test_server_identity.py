"""One server, one identity: the Ollama the run asked must be the managed container's, or nothing is
judged of it. A table of (evidence edit -> OLL-API and OLL-MODEL outcome, message words) over the
bundled dual-p40 set, whose URL is http://127.0.0.1:11434 and whose container publishes 11434."""

from __future__ import annotations

import json

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import container, ollama
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

P40 = profiles.load("dual-p40")


def judged(url: str | None = None, container_edit=None):
    evidence = Evidence.read(HOSTS / "dual-p40")
    if url is not None:
        evidence.meta = {**evidence.meta, "commands": {**evidence.meta["commands"],
                                                       "ollama-version.json": f"GET {url}/api/version"}}
    if container_edit is not None:
        items = json.loads(evidence.files["docker-inspect.json"])
        container_edit(items[0])
        evidence.files["docker-inspect.json"] = json.dumps(items)
    return build_facts(evidence, mode="replay", source="test")


def _published_on(port: str):
    def edit(c: dict) -> None:
        for source in (c["HostConfig"].get("PortBindings") or {}, c["NetworkSettings"].get("Ports") or {}):
            for bindings in source.values():
                for b in bindings or ():
                    b["HostPort"] = port
    return edit


def _host_network(ollama_host: str):
    def edit(c: dict) -> None:
        c["HostConfig"]["NetworkMode"] = "host"
        c["HostConfig"]["PortBindings"], c["NetworkSettings"]["Ports"] = {}, {}
        c["Config"]["Env"] = [e for e in c["Config"]["Env"] if not e.startswith("OLLAMA_HOST=")] + [f"OLLAMA_HOST={ollama_host}"]
    return edit


def _stopped(c: dict) -> None:
    c["State"].update(Status="exited", Running=False, Pid=0)


CASES = {
    "the container's own port": (None, None, "pass", ""),
    "another port than the container publishes": (
        "http://127.0.0.1:11500", None, "not_evaluated",
        "the API asked at http://127.0.0.1:11500 (port 11500) is not the managed container's: container ollama "
        "publishes Ollama's 11434/tcp on host port 11434"),
    "the container published elsewhere": (None, _published_on("21434"), "not_evaluated", "on host port 21434"),
    "host network, same port": (None, _host_network("0.0.0.0:11434"), "pass", ""),
    "host network, Ollama moved to 8080": (None, _host_network("0.0.0.0:8080"), "not_evaluated",
                                           "on the host network at port 8080"),
    "a URL of another host": ("http://10.0.0.7:11500", None, "pass", ""),
    "localhost by name": ("http://localhost:11500", None, "not_evaluated", "port 11500"),
    "loopback spelled otherwise": ("http://127.1:11500", None, "not_evaluated", "port 11500"),
    "IPv4-mapped loopback": ("http://[::ffff:127.0.0.1]:11500", None, "not_evaluated", "port 11500"),
    "the host's own name": ("http://DUAL-P40.local:11500", None, "not_evaluated", "port 11500"),
    "a port out of range": ("http://127.0.0.1:99999", None, "not_evaluated", "has no valid port"),
    "OLLAMA_HOST with a scheme and no port listens on 80": (
        None, _host_network("http://0.0.0.0"), "not_evaluated", "on the host network at port 80"),
    "a quoted OLLAMA_HOST": (None, _host_network("'0.0.0.0:11434'"), "pass", ""),
    # The container's port, but another loopback address than the one it is published on.
    "127.0.0.2 where only 127.0.0.1 is published": ("http://127.0.0.2:11434", None, "not_evaluated",
                                                     "publishes port 11434 on 127.0.0.1 only"),
    "::1 where only 127.0.0.1 is published": ("http://[::1]:11434", None, "not_evaluated", "127.0.0.1 only"),
    "127.0.0.1 itself": ("http://127.0.0.1:11434", None, "pass", ""),
}


@pytest.mark.parametrize("url, edit, outcome, words", CASES.values(), ids=CASES.keys())
def test_the_api_judged_is_the_managed_containers(url, edit, outcome, words):
    facts = judged(url, edit)
    api = ollama.oll_api(facts, P40)
    assert (api.outcome, words in api.message) == (outcome, True), api.message
    model = ollama.oll_model(facts, P40)
    if outcome == "not_evaluated":
        assert model.outcome == "not_evaluated" and "see OLL-API" in model.message
    else:
        assert model.outcome == "pass", model.message


def test_a_stopped_container_is_ctr_runnings_not_a_second_server():
    facts = judged("http://127.0.0.1:11500", _stopped)
    assert container.ctr_running(facts, P40).outcome == "fail"
    assert "not the managed container" not in ollama.oll_api(facts, P40).message


def test_a_url_the_record_does_not_name_leaves_the_api_not_evaluated():
    """With the managed container running, an API answer whose URL host.json does not record cannot be tied
    to that container: not evaluated, never a pass on whatever answered."""
    evidence = Evidence.read(HOSTS / "dual-p40")
    commands = {k: v for k, v in evidence.meta["commands"].items() if k != "ollama-version.json"}
    evidence.meta = {**evidence.meta, "commands": commands}
    api = ollama.oll_api(build_facts(evidence, mode="replay", source="test"), P40)
    assert api.outcome == "not_evaluated" and "is not recorded" in api.message, api.message
