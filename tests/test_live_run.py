"""Live runs of the real suite on this machine: with a simulated libnvidia-ml, and with none at all."""

from __future__ import annotations

import json
import time

from tests.conftest import HOSTS

NVML_ONLY = {"GPU-COUNT", "GPU-MODEL", "GPU-IDENTICAL", "GPU-MEMORY", "GPU-PERSISTENCE", "GPU-ECC", "GPU-RETIRED",
             "DRV-VERSION", "PCIE-WIDTH", "PCIE-GEN", "PCIE-BAR1", "PCIE-TOPO", "PWR-LIMIT"}


def test_live_run_with_simulated_nvml_matches_the_replay(run_suite, monkeypatch):
    snapshot = HOSTS / "dual-p40" / "nvml.json"
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(snapshot))
    live = run_suite("-p", "tests.fakes.nvml_plugin")
    assert "LIVE run on" in live.stdout and "REPLAY" not in live.stdout
    outcomes = live.outcomes()
    assert all(outcomes[rid] == {"passed"} for rid in NVML_ONLY), outcomes
    saved = json.loads((live.run_dir / "evidence" / "nvml.json").read_text())
    assert saved == json.loads(snapshot.read_text())
    # The saved evidence replays to the same verdicts as the live run.
    replay = run_suite("--replay", str(live.run_dir))
    assert [(c.name, c.outcome) for c in live.cases] == [(c.name, c.outcome) for c in replay.cases]


def test_live_run_with_mismatched_driver(run_suite, monkeypatch):
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML_INIT_ERROR", "18")
    run = run_suite("-p", "tests.fakes.nvml_plugin")
    assert "GPU-COUNT" in run.failing()
    assert "Driver/library version mismatch" in run.messages("GPU-COUNT")
    assert "reboot" in run.messages("DRV-KMOD-MATCH")


def test_live_run_without_nvidia_driver_fails_clearly_and_quickly(run_suite):
    start = time.monotonic()
    run = run_suite()
    assert time.monotonic() - start < 60
    assert run.ret == 1
    assert "no NVIDIA driver on this host" in run.messages("GPU-COUNT")
    assert all(c.outcome in ("passed", "failed", "skipped") for c in run.cases)
    assert "Traceback" not in run.stdout and "INTERNALERROR" not in run.stdout
    assert (run.run_dir / "report.html").exists() and (run.run_dir / "evidence" / "host.json").exists()
