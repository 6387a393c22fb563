"""A host folder is the same folder whoever wrote it: a host judged alone, or one host of a fleet.

The fleet's controller writes each host's folder with gpuaccept.host_folder from that host's cases; here
the cases and evidence of a single-host replay are handed to it, and the folder it writes must hold the
same files, the same first screen (verdict banner, what needs attention with its fix, the tiers), the
same environment rows, evidence on each row, JUnit cases with the same requirements and outcomes, and
verify and replay to the same verdicts.
"""

from __future__ import annotations

import json
import shutil

from defusedxml.ElementTree import parse as parse_xml

from gpuaccept import manifest, profile, suite_identity
from gpuaccept.evidence import Evidence
from gpuaccept.host_folder import write_host
from gpuaccept.report.environment import run_rows
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS, read_junit


def _as_fleet_host(single, tmp_path, name="docker-gpu07"):
    """The single-host run's cases and evidence, written as a fleet's controller writes a host folder."""
    record = json.loads((single / "summary.json").read_text())
    cases = [{**c, "requirement": rid} for rid, req in record["requirements"].items() for c in req["cases"]]
    folder = tmp_path / "fleet-x" / name
    shutil.copytree(single / "evidence", folder / "evidence")
    judged_by = profile.load("dual-p40")
    run = {"id": "f00d-" + name, "folder": name, "mode": "live", "host": record["run"]["host"],
           "source": "docker://gpu07", "profile": suite_identity.profile(judged_by), "suite": suite_identity.suite(),
           "technician": "Ana",
           "ticket": "T-1", "started_at": "2026-12-08T00:00:00+00:00", "finished_at": "2026-12-08T00:01:00+00:00",
           "fleet": {"run": "fleet-x", "host": "docker://gpu07"}}
    written = write_host(folder, cases, run, False, profile=judged_by)
    return record, written, folder


def test_a_fleet_hosts_folder_has_the_files_first_screen_and_cases_of_a_single_host_run(run_suite, tmp_path):
    single = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    assert single.ret == 1
    record, written, folder = _as_fleet_host(single.run_dir, tmp_path)
    assert {p.name for p in folder.iterdir()} == {p.name for p in single.run_dir.iterdir()} == {
        "evidence", "summary.json", "report.html", "junit.xml", "metrics.prom", manifest.NAME}
    assert written["verdict"] == record["verdict"] == "NOT ACCEPTED" and written["run"]["exit_status"] == 1
    assert {rid: r["outcome"] for rid, r in written["requirements"].items()} == \
        {rid: r["outcome"] for rid, r in record["requirements"].items()}
    assert manifest.verify(folder) == []

    page = (folder / "report.html").read_text()
    # The first screen: the banner, the failure with its cause and fix, the tiers with the load tier's charts.
    assert 'class="gpuaccept-verdict"' in page and ">NOT ACCEPTED<" in page
    assert "LIVE run on dual-p40-x8-link (reached as docker://gpu07); not signed (no --sign-key)<" in page
    assert "Needs attention: failed or not evaluated" in page and "Fix: power off, reseat the card" in page
    assert 'data-tier="quick"' in page and 'data-tier="load"' in page and "<svg" in page
    # The environment table has the single-host run's rows, for this host.
    facts = build_facts(Evidence.read(folder / "evidence"), mode="live", source="docker://gpu07")
    for key in run_rows(facts, run_id="", technician="", ticket="", mode="", profile=""):
        assert f"<th>{key}</th>" in page, key
    assert "Tesla P40, serial" in page and "<th>Reached as</th><td>docker://gpu07</td>" in page
    # Every row carries its evidence; a requirement's first row is the fleet page's anchor.
    assert page.count('id="PCIE-WIDTH"') == 1 and 'href="evidence/nvml.json"' in page

    theirs = {(c.name, c.requirement, c.outcome) for c in read_junit(folder / "junit.xml")}
    ours = {(c.name, c.requirement, c.outcome) for c in single.cases}
    assert theirs == ours and len(theirs) == len(single.cases)
    suite = parse_xml(folder / "junit.xml").getroot().find("testsuite")
    said = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert said["source"] == "docker://gpu07" and said["technician"] == "Ana" and said["profile"] == "dual-p40"
    assert int(suite.get("failures")) == sum(c.outcome == "failed" for c in single.cases)

    replay = run_suite("--replay", str(folder))
    assert {(c.name, c.outcome) for c in replay.cases} == {(c.name, c.outcome) for c in single.cases}
    assert replay.ret == single.ret


def test_a_host_whose_evidence_cannot_be_read_back_still_gets_its_page_saying_why(tmp_path):
    folder = tmp_path / "h"
    (folder / "evidence").mkdir(parents=True)
    (folder / "evidence" / "nvml.json").write_text("{")
    cases = [{"id": "test_gpu_count", "requirement": "GPU-COUNT", "outcome": "fail", "message": "host unreachable: x"}]
    record = write_host(folder, cases, {"host": "h", "fleet": {"host": "ssh://h"}, "unreachable": "x"}, False)
    assert record["verdict"] == "NOT ACCEPTED"
    page = (folder / "report.html").read_text()
    assert "host unreachable: x" in page and 'id="GPU-COUNT"' in page
    (case,) = read_junit(folder / "junit.xml")
    assert (case.name, case.requirement, case.outcome) == ("test_gpu_count", "GPU-COUNT", "failed")
    assert manifest.verify(folder) == []


def test_junit_of_a_host_holds_only_characters_xml_allows(tmp_path):
    folder = tmp_path / "h"
    (folder / "evidence").mkdir(parents=True)
    cases = [{"id": "test_gpu_count", "requirement": "GPU-COUNT", "outcome": "not_evaluated",
              "message": "a host said \x00\x1b[31m\ud800 and <b>"}]
    write_host(folder, cases, {"host": "h\x07"}, False)
    page = (folder / "report.html").read_text()
    assert "\x00" not in page and "\x1b" not in page and "\\x1b[31m" in page  # shown as escapes, as in the terminal
    (case,) = read_junit(folder / "junit.xml")
    assert case.outcome == "skipped" and "\ufffd[31m\ufffd and <b>" in case.message
