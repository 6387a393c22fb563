"""The run folder as an auditor gets it: the HTML report's embedded data, summary.json, the manifest
and the verify command, reports/latest, -n 2, and secrets kept out."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys

from gpuaccept.catalogue import CATALOGUE
from tests.conftest import HOSTS, ROOT


def report_data(run) -> dict:
    """pytest-html 4 keeps every row, its extras and the environment table in one JSON blob."""
    text = (run.run_dir / "report.html").read_text()
    return json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', text).group(1)))


def extra_content(extra: dict) -> str:
    """A row extra as written into a self-contained report: a base64 data URI for text and JSON."""
    content = extra["content"]
    if content.startswith("data:"):
        return base64.b64decode(content.split(",", 1)[1]).decode()
    return content


def verify(folder) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpuaccept", "verify", str(folder)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_report_rows_carry_requirement_verdict_and_evidence(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "--technician", "Li Wei", "--ticket", "WO-1234")
    data = report_data(run)
    env = data["environment"]
    assert (env["Technician"], env["Ticket"]) == ("Li Wei", "WO-1234") and len(env["Run id"]) == 12
    assert env["Mode"].startswith("REPLAY of saved evidence")
    row = data["tests"]["acceptance/test_pcie.py::test_pcie_width[gpu1]"][0]
    assert row["result"] == "Failed" and "<td>PCIE-WIDTH</td>" in row["resultsTableRow"]
    extras = {x["name"]: x for x in row["extras"]}
    assert set(extras) == {"verdict", "nvml.json", "lspci-vvv.txt"}
    verdict = json.loads(extra_content(extras["verdict"]))
    assert verdict["outcome"] == "fail" and verdict["expected"] == "x16 (profile pcie.width)"
    assert "dual-p40.toml" in verdict["profile"]
    assert "Width x8 (downgraded)" in extra_content(extras["lspci-vvv.txt"])  # the evidence it was judged on
    text = (run.run_dir / "report.html").read_text()
    # The first screen: the requirement table, coloured by outcome, and who ran it for which ticket.
    assert "technician: Li Wei" in text and "ticket: WO-1234" in text
    assert re.search(r'background:#f6c9c9"><td>PCIE-WIDTH</td><td><strong>FAIL</strong>', text)


def test_summary_json_schema(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40-too-slow"), "--ticket", "WO-9")
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["schema"] == "gpuaccept.summary/2"
    # a run without -m leaves the opt-in diag tier out: every other requirement is in the record
    assert set(summary["requirements"]) == {rid for rid, r in CATALOGUE.items() if r.tier != "diag"}
    assert summary["run"]["mode"] == "replay" and summary["run"]["ticket"] == "WO-9"
    assert summary["run"]["exit_status"] == 1 and summary["counts"]["fail"] == 1
    slow = summary["requirements"]["OLL-THROUGHPUT"]
    assert slow["outcome"] == "fail" and slow["tier"] == "load"
    assert slow["evidence"] == ["evidence/benchmark.json", "evidence/ollama-tags.json", "evidence/ollama-server.log",
                                "evidence/nvml.json"]
    assert "4.2 tokens/s" in slow["cases"][0]["measured"] and "Fix:" in slow["cases"][0]["message"]
    assert summary["requirements"]["PWR-BUDGET"]["outcome"] == "skip"
    per_gpu = summary["requirements"]["GPU-THERMAL"]
    assert [c["id"] for c in per_gpu["cases"]] == ["test_gpu_thermal[gpu0]", "test_gpu_thermal[gpu1]"]


def test_manifest_verifies_and_catches_one_changed_byte(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"))
    names = {line.split("  ", 1)[1] for line in (run.run_dir / "MANIFEST.sha256").read_text().splitlines()}
    assert {"report.html", "junit.xml", "summary.json", "evidence/nvml.json"} <= names
    ok = verify(run.run_dir)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    # sha256sum itself reads the same file.
    assert subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=run.run_dir).returncode == 0
    report = run.run_dir / "report.html"
    data = bytearray(report.read_bytes())
    data[len(data) // 2] ^= 0x01
    report.write_bytes(bytes(data))
    bad = verify(run.run_dir)
    assert bad.returncode == 1 and "report.html: changed since the run" in bad.stdout


def test_latest_points_at_the_newest_run_and_folders_are_never_reused(run_suite):
    first = run_suite("--replay", str(HOSTS / "dual-p40"))
    second = run_suite("--replay", str(HOSTS / "dual-p40"))
    assert first.run_dir != second.run_dir and (first.run_dir / "report.html").is_file()
    latest = second.run_dir.parent / "latest"
    assert latest.is_symlink() and latest.resolve() == second.run_dir.resolve()


def test_xdist_gives_the_same_verdicts_and_one_complete_record(run_suite):
    serial = run_suite("--replay", str(HOSTS / "dual-p40-xid-79"))
    parallel = run_suite("--replay", str(HOSTS / "dual-p40-xid-79"), "-n", "2")
    assert sorted((c.name, c.outcome) for c in parallel.cases) == sorted((c.name, c.outcome) for c in serial.cases)
    one = json.loads((serial.run_dir / "summary.json").read_text())
    two = json.loads((parallel.run_dir / "summary.json").read_text())
    assert {r: v["outcome"] for r, v in one["requirements"].items()} == \
        {r: v["outcome"] for r, v in two["requirements"].items()}
    assert len(report_data(parallel)["tests"]) == len(serial.cases)
    assert verify(parallel.run_dir).returncode == 0
    assert sorted(p.name for p in parallel.run_dir.parent.iterdir() if p.name != "latest") == \
        sorted([serial.run_dir.name, parallel.run_dir.name])  # workers wrote no folders of their own


def test_secrets_never_reach_the_evidence_or_the_report(run_suite, monkeypatch, tmp_path):
    # A live run whose environment and container carry secrets: the evidence and the report redact them.
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-should-not-leak")
    run = run_suite("-p", "tests.fakes.nvml_plugin", "-m", "quick", "--docker-host", f"unix://{tmp_path}/none.sock",
                    "--metadata", "API_SECRET", "sec-should-not-leak")
    text = (run.run_dir / "report.html").read_text()
    assert "sec-should-not-leak" not in text and "API_SECRET" in text
    everything = "".join(p.read_text(errors="replace") for p in run.run_dir.rglob("*") if p.is_file())
    assert "tok-should-not-leak" not in everything and "sec-should-not-leak" not in everything


def test_redaction_rules():
    from gpuaccept import redact

    assert redact.env_list(["HF_TOKEN=abc", "PATH=/bin", "OLLAMA_API_KEY=k"]) == [
        "HF_TOKEN=<redacted>", "PATH=/bin", "OLLAMA_API_KEY=<redacted>"]
    line = 'env="map[OLLAMA_API_KEY:abc OLLAMA_SCHED_SPREAD:true]" Authorization: Bearer sk-1 password=p'
    assert redact.text(line) == ('env="map[OLLAMA_API_KEY:<redacted> OLLAMA_SCHED_SPREAD:true]" '
                                 "Authorization: Bearer <redacted> password=<redacted>")
    assert json.loads(redact.text(json.dumps(["HF_TOKEN=abc", "LANG=C"]))) == ["HF_TOKEN=<redacted>", "LANG=C"]


def test_the_run_folder_keeps_its_junit_xml_when_the_user_sends_one_elsewhere(run_suite, tmp_path):
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "--junitxml", str(tmp_path / "mine.xml"))
    assert (tmp_path / "mine.xml").is_file() and (run.run_dir / "junit.xml").is_file()
    assert "requirement" in (run.run_dir / "junit.xml").read_text()
    assert verify(run.run_dir).returncode == 0


def test_a_failure_reported_by_an_xdist_worker_is_recorded_in_its_own_words(run_suite):
    """xdist puts "[gw0] linux -- Python 3.11.7 ..." first in a failure it sends: the record keeps the
    verdict's words alone, the same as a run in one process gives."""
    serial = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick")
    spread = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick", "-n", "2")

    def messages(run):
        record = json.loads((run.run_dir / "summary.json").read_text())
        return {c["id"]: c["message"] for r in record["requirements"].values() for c in r["cases"] if c["outcome"] == "fail"}

    assert messages(spread) == messages(serial) and messages(serial)
    assert not [m for m in messages(spread).values() if m.startswith("[gw")]
