"""`gpuaccept reason RUN`: one line a scheduler takes as it is (a Slurm drain reason, a node condition)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gpuaccept import manifest
from tests.conftest import HOSTS, ROOT


def reason(folder) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpuaccept", "reason", str(folder)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("evidence", "line", "status"), [
    ("dual-p40", "gpuaccept ACCEPTED", 0),
    ("dual-p40-x8-link", "gpuaccept NOT ACCEPTED: failed PCIE-WIDTH", 1),
])
def test_the_line_names_the_verdict_and_the_requirements_by_id(run_suite, evidence, line, status):
    run = run_suite("--replay", str(HOSTS / evidence), "-m", "quick")
    done = reason(run.run_dir)
    assert (done.stdout, done.returncode) == (line, status), done.stderr


def test_an_incomplete_run_names_what_was_not_evaluated_and_not_run(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "-k", "not gpu1")
    done = reason(run.run_dir)
    assert done.returncode == 6 and done.stdout.startswith("gpuaccept INCOMPLETE") and "not run" in done.stdout


def claimed_accepted(run_suite):
    """A failing run's folder whose summary.json was edited to say ACCEPTED (its manifest left as it was)."""
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick")
    record = json.loads((run.run_dir / "summary.json").read_text())
    record["verdict"] = "ACCEPTED"
    (run.run_dir / "summary.json").write_text(json.dumps(record))
    return run.run_dir


def test_a_folder_not_as_its_run_left_it_says_so_never_its_claimed_verdict(run_suite):
    done = reason(claimed_accepted(run_suite))
    assert done.returncode == 1 and done.stdout.startswith("gpuaccept UNTRUSTED") and "ACCEPTED" not in done.stdout


def test_the_line_is_short_printable_and_holds_ids_only(run_suite):
    """A resealed record full of requirements and messages (what a host said) still gives one line of at most
    200 printable ASCII characters, naming catalogue IDs only."""
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick")
    record = json.loads((run.run_dir / "summary.json").read_text())
    for req in record["requirements"].values():
        req["outcome"] = "not_evaluated"
        req["cases"] = [{"id": "x", "outcome": "not_evaluated", "message": "HF_TOKEN=SECRET9 \u00e9\n"}]
    record["requirements"]["NOT-AN-ID\nrm -rf /"] = {"outcome": "fail"}
    record["verdict"] = "INCOMPLETE"
    (run.run_dir / "summary.json").write_text(json.dumps(record))
    manifest.write(run.run_dir)
    done = reason(run.run_dir)
    assert len(done.stdout) <= 200 and "\n" not in done.stdout and done.stdout.isascii() and done.stdout.isprintable()
    assert "SECRET9" not in done.stdout and "NOT-AN-ID" not in done.stdout and done.stdout.endswith("...")


def test_a_record_nested_past_the_decoders_depth_is_no_record_and_no_traceback(run_suite):
    """A resealed summary.json of 100000 nested lists once made verify and reason end in a RecursionError."""
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    (run.run_dir / "summary.json").write_text("[" * 100_000 + "]" * 100_000)
    manifest.write(run.run_dir)
    done = reason(run.run_dir)
    assert done.returncode == 1 and done.stdout.startswith("gpuaccept UNTRUSTED") and "Traceback" not in done.stderr
    checked = subprocess.run([sys.executable, "-m", "gpuaccept", "verify", str(run.run_dir)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 1 and "summary.json: not a run record" in checked.stdout, checked.stderr[-500:]


def test_a_run_stopped_by_a_usage_error_says_its_own_exit_status(run_suite):
    other = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick")
    stopped = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--baseline", str(other.run_dir))
    assert stopped.ret == 4 and stopped.run_dir is not None and stopped.run_dir != other.run_dir
    done = reason(stopped.run_dir)
    assert done.returncode == 4, (done.stdout, done.stderr)
    record = json.loads((stopped.run_dir / "summary.json").read_text())
    assert "reading the baseline run folder" in record["interruption"]["phase"]  # what the run was doing
