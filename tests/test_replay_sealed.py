"""A replayed run folder is judged as its run sealed it: evidence edited afterwards is never trusted."""

from __future__ import annotations

import json

from tests.conftest import HOSTS


def test_an_edited_run_folder_replays_incomplete_naming_the_changed_files(run_suite):
    failing = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    assert failing.ret == 1
    evidence = failing.run_dir / "evidence"
    snap = json.loads((evidence / "nvml.json").read_text())
    snap["gpus"][1]["pcie_width_current"] = 16  # "fixed" afterwards, in both sources, consistently
    (evidence / "nvml.json").write_text(json.dumps(snap))
    lspci = evidence / "lspci-vvv.txt"
    lspci.write_text(lspci.read_text().replace("Width x8", "Width x16"))
    edited = run_suite("--replay", str(failing.run_dir))
    assert edited.ret == 6, edited.stdout[-2000:]
    assert "nvml.json changed since the run" in edited.messages("PCIE-WIDTH")
    assert "PCIE-WIDTH" not in {c.requirement for c in edited.cases if c.outcome == "passed"}


def test_an_untouched_run_folder_replays_to_the_same_verdicts(run_suite):
    first = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    again = run_suite("--replay", str(first.run_dir))
    assert again.ret == first.ret == 1
    assert sorted((c.name, c.outcome) for c in again.cases) == sorted((c.name, c.outcome) for c in first.cases)
