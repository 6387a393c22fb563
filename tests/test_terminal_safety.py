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
