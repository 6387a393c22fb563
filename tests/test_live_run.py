"""Live runs of the real suite on this machine: with a simulated libnvidia-ml, and with none at all."""

from __future__ import annotations

import json
import os
import time

from tests.conftest import CAPTURES, HOSTS

# GPU-PERSISTENCE also needs nvidia-persistenced's unit state (systemd), which this machine does not have.
NVML_ONLY = {"GPU-COUNT", "GPU-MODEL", "GPU-IDENTICAL", "GPU-MEMORY", "GPU-ECC", "GPU-RETIRED",
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
    # One root cause, one message: the mismatch fails DRV-KMOD-MATCH (fixed by a reboot); every GPU
    # requirement is not evaluated and points there instead of repeating the paragraph per GPU.
    assert run.failing() >= {"DRV-KMOD-MATCH"} and "GPU-COUNT" not in run.failing()
    assert "Driver/library version mismatch" in run.messages("DRV-KMOD-MATCH")
    assert "reboot" in run.messages("DRV-KMOD-MATCH")
    assert "see DRV-KMOD-MATCH" in run.messages("GPU-COUNT") and "see DRV-KMOD-MATCH" in run.messages("PCIE-WIDTH")
    assert run.messages("GPU-MEMORY").count("Likely cause") == 0


def test_live_run_without_nvidia_driver_fails_clearly_and_quickly(run_suite):
    start = time.monotonic()
    run = run_suite()
    assert time.monotonic() - start < 60
    assert run.ret == 1
    assert "no NVIDIA driver on this host" in run.messages("DRV-VERSION")
    assert "see DRV-VERSION" in run.messages("GPU-COUNT")
    assert all(c.outcome in ("passed", "failed", "skipped") for c in run.cases)
    assert "Traceback" not in run.stdout and "INTERNALERROR" not in run.stdout
    assert (run.run_dir / "report.html").exists() and (run.run_dir / "evidence" / "host.json").exists()


def test_ollama_as_a_systemd_service_is_read_from_the_journal(run_suite, monkeypatch, tmp_path):
    # No container here; `journalctl -u ollama` answers with a real journal capture (Ollama 0.5.1).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    capture = CAPTURES / "ollama-logs" / "mixed-5gpu-incl-p40-inference-compute-ollama-0.5.1.log"
    fake = bin_dir / "journalctl"
    fake.write_text(f'#!/bin/sh\ncase "$*" in *"-u ollama"*) cat {capture} ;; *) exit 1 ;; esac\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))
    run = run_suite("-p", "tests.fakes.nvml_plugin", "-m", "quick", "--docker-host", f"unix://{tmp_path}/none.sock")
    saved = json.loads((run.run_dir / "evidence" / "host.json").read_text())
    assert saved["commands"]["ollama-server.log"] == "journalctl -u ollama -b --no-pager -q"
    assert (run.run_dir / "evidence" / "ollama-server.log").read_text() == capture.read_text()
    # Judged from the journal even though the API is down: four CUDA devices of another machine.
    assert "discovered 4 CUDA device(s)" in run.messages("OLL-GPUS-DETECTED")
