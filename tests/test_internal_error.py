"""A crash of any part of the suite leaves a sealed run folder whose verdict is INTERNAL ERROR, naming what
failed and in which phase, never INCOMPLETE blamed on -k and never a folder with report.html alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import HOSTS, ROOT


@pytest.mark.parametrize("where, phase", [("sessionstart", "at session start"), ("collection", "collecting"),
                                          ("logreport", "running the tests"), ("sessionfinish", "writing the report")])
def test_a_defect_anywhere_leaves_a_sealed_internal_error_record(run_suite, monkeypatch, where, phase):
    monkeypatch.setenv("GPUACCEPT_DEFECT_AT", where)
    run = run_suite("-p", "tests.fakes.defect_plugin", "--replay", str(HOSTS / "dual-p40"))
    assert run.run_dir is not None, run.stdout[-2000:]
    record = json.loads((run.run_dir / "summary.json").read_text())
    assert record["verdict"] == "INTERNAL ERROR" and record["run"]["exit_status"] == 3, record
    assert record["internal_error"]["error"] == f"Defect: a defect in {where}"
    assert record["internal_error"]["phase"].startswith(phase), record["internal_error"]
    assert "-k, test ids or --deselect" not in run.stdout
    assert (run.run_dir / "report.html").is_file() and (run.run_dir / "MANIFEST.sha256").is_file()
    verify = subprocess.run([sys.executable, "-m", "gpuaccept", "verify", str(run.run_dir)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout
    if where != "sessionstart":  # before the session began, pytest's INTERNALERROR block is what is shown
        assert "INTERNAL ERROR" in run.stdout.strip().splitlines()[-1], run.stdout[-500:]  # the verdict line
    if where in ("logreport", "sessionfinish"):  # what was judged before the defect is kept
        assert record["counts"]["pass"] > 0 and record["requirements"], record["counts"]
    if where != "sessionfinish":  # an error at the very end is pytest's own traceback (exit 1)
        assert run.ret == 3
