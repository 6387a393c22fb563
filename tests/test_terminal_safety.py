"""Evidence never drives the technician's terminal: control sequences in it are printed as escapes."""

from __future__ import annotations

import json
import shutil

from tests.conftest import HOSTS


def test_escape_sequences_in_evidence_reach_the_terminal_as_text(run_suite, tmp_path):
    folder = tmp_path / "evidence"
    shutil.copytree(HOSTS / "dual-p40", folder)
    snap = json.loads((folder / "nvml.json").read_text())
    snap["gpus"][1]["name"] = "Tesla P40\x1b[2J\x1b]0;pwned\x07"
    (folder / "nvml.json").write_text(json.dumps(snap))
    run = run_suite("--replay", str(folder))
    assert run.ret == 1 and "GPU-MODEL" in run.failing()
    assert "\x1b[2J" not in run.stdout and "\x07" not in run.stdout
    assert "Tesla P40\\x1b[2J" in run.stdout
    assert "GPU-MODEL FAIL" in run.stdout  # the attention list escapes it too


def test_the_terminal_names_each_requirement_that_needs_attention_by_its_id(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick")
    assert "gpuaccept: requirements that need attention" in run.stdout
    assert "PCIE-WIDTH FAIL (test_pcie_width[gpu1]): GPU1 (0000:03:00.0) links at x8" in run.stdout
    assert "PCIE-WIDTH FAIL (test_pcie_width[gpu0])" not in run.stdout  # the passing card is not listed
    healthy = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    assert healthy.ret == 0 and "need attention" not in healthy.stdout
