"""The diag tier, live, on simulated GPUs: the real suite (-m diag) over the fake NVML and the fake CUDA driver.

The simulated driver (tests/fakes/cuda_driver.py) answers the diag modules' driver calls for two Tesla
P40s as in fixtures/hosts/dual-p40, times copies and kernels at the cards' published rates and writes
the NVML state the sampler reads while it works; each fault is injected into one card and must fail
exactly its own requirement, with what was measured, the likely cause and the fix.
"""

from __future__ import annotations

import ctypes
import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import HOSTS, ROOT, free_port
from tests.extras import require

require("diag")  # the simulated driver is built on cuda-bindings' own enums and types

from tests.fakes.cuda_driver import dual_p40  # noqa: E402 - after the extra is known to be there

PROFILE = str(ROOT / "tests" / "data" / "profiles" / "dual-p40-diag.toml")  # a 5-second soak is its full soak
DIAG = {"PCIE-BANDWIDTH", "PCIE-REPLAY", "GPU-MEMTEST", "GPU-SOAK", "GPU-P2P"}
FAULT_AT = 2**30 + 12  # a faulty word 1 GiB into the card: inside the memory test's first chunk


@pytest.fixture
def diag(run_suite, monkeypatch, tmp_path):
    """Run ``-m diag`` live with GPU1 given ``faults`` (or other figures); return the run with its diag.json."""
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML_LIVE", str(tmp_path / "gpu-state.json"))
    monkeypatch.setenv("GPUACCEPT_FAKE_SYSFS", str(tmp_path / "sys"))

    def run(*args: str, faults: dict | None = None, gpu_overrides: dict | None = None, profile: str = PROFILE,
            real_driver: bool = False):
        gpus = dual_p40()
        gpus[1].update(faults=faults or {}, **(gpu_overrides or {}))
        path = tmp_path / "cuda.json"
        path.write_text(json.dumps({"gpus": gpus, "time_scale": 0.05}))
        monkeypatch.setenv("GPUACCEPT_FAKE_CUDA", "" if real_driver else str(path))
        result = run_suite("-p", "tests.fakes.nvml_plugin", "-p", "tests.fakes.cuda_plugin", "--profile", profile,
                           "-m", "diag", "--docker-host", f"unix://{tmp_path}/no-docker.sock",
                           "--ollama-url", f"http://127.0.0.1:{free_port()}", *args)  # never this machine's Ollama
        result.diag = json.loads((result.run_dir / "evidence" / "diag.json").read_text()) if result.run_dir else {}
        return result

    return run


def verdicts(run) -> dict[tuple[str, str], str]:
    """(requirement, case id) -> the judged verdict (pass, warn, fail, skip, not_evaluated)."""
    return {(c.requirement, c.name.partition("[")[2].rstrip("]")): c.properties.get("verdict", c.outcome)
            for c in run.cases}


def not_passed(run) -> dict[tuple[str, str], str]:
    return {key: v for key, v in verdicts(run).items() if v != "pass"}


def said(run, rid: str, case: str = "") -> str:
    """The verdict's message for ``rid`` (on case ``gpu1``, ...), whatever its outcome."""
    return "\n".join(c.properties.get("message", "") or c.message for c in run.cases
                     if c.requirement == rid and c.name.endswith(f"[{case}]" if case else ""))


def test_healthy_pair_passes_every_diag_requirement(diag):
    run = diag()
    assert {rid for rid, _ in verdicts(run)} == DIAG and not not_passed(run), run.stdout[-4000:]
    # Every diag requirement passed, but -m diag left out the quick tier the profile requires: no acceptance.
    assert run.ret == 6 and "-m left out the quick tier the profile requires" in run.stdout, run.stdout[-3000:]
    bw = run.diag["bandwidth"]
    assert [round(r["h2d"]["gbps"], 1) for r in bw["alone"]] == [11.8, 11.8]
    assert [round(r["d2h"]["gbps"], 1) for r in bw["alone"]] == [12.9, 12.9]
    assert [round(r["gbps"]) for r in bw["d2d"]] == [240, 240]
    assert [m["mismatches"] for m in run.diag["memtest"]] == [0, 0]
    assert run.diag["counters_after"]["aer"]["missing"] == "" and run.diag["cuda"]["bindings"] == "simulated"
    soak = said(run, "GPU-SOAK", "gpu0")
    assert "power 240 W of 250 W (96%)" in soak and "peak 71 C" in soak and "SM clock median 1531 MHz" in soak, soak
    assert "GPU0->GPU1 11.8 GB/s (peer)" in said(run, "GPU-P2P")


def test_shortened_soak_is_reported_not_accepted(diag):
    run = diag("--soak-seconds", "5", profile="dual-p40")  # the bundled profile soaks for 600 s
    # nothing failed in 5 s, but no plateau is shown: not evaluated, so the run is INCOMPLETE, never accepted
    assert not_passed(run) == {("GPU-SOAK", "gpu0"): "not_evaluated", ("GPU-SOAK", "gpu1"): "not_evaluated"}, run.stdout[-4000:]
    assert run.ret == 6
    assert run.diag["soak"]["requested_s"] == 5 and run.diag["settings"]["soak_s"] == 5
    assert "the soak ran 5 s of the profile's 600 s (--soak-seconds)" in said(run, "GPU-SOAK", "gpu1")


def test_stuck_bit_fails_the_memory_test_with_its_address(diag):
    run = diag(faults={"stuck": [{"offset": FAULT_AT, "mask": 0x10, "value": 0}]})  # bit 4 stuck at 0
    assert not_passed(run) == {("GPU-MEMTEST", "gpu1"): "fail"}, run.stdout[-4000:]
    assert run.ret != 0
    message = said(run, "GPU-MEMTEST", "gpu1")
    address = f"0x{0x7F1000000000 + FAULT_AT:x}"  # the simulated card's memory starts at 0x7f1000000000
    assert f"first at {address} in walking ones: expected 0x00000010, read 0x00000000" in message, message
    assert "failing GPU memory: cells that do not hold what was written" in message and "replace the card (RMA)" in message
    # bit 4 of that word: once in walking ones, 31 times in walking zeros, 3 times in the moving inversions
    assert run.diag["memtest"][1]["mismatches"] in (35, 36)  # and maybe once in the random pattern


def test_link_trained_low_fails_bandwidth_naming_the_link(diag):
    run = diag(faults={"link": {"gen": 1, "width": 16}})
    assert not_passed(run) == {("PCIE-BANDWIDTH", "gpu1"): "fail"}, run.stdout[-4000:]
    message = said(run, "PCIE-BANDWIDTH", "gpu1")
    assert "GPU1 (0000:03:00.0) alone 3.0 H2D / 3.3 D2H GB/s" in message, message
    assert "the link ran at Gen1 x16 during the copies, below its Gen3 x16" in message
    assert "set the slot to Gen3 (or Auto) and x16 in the BIOS" in message


def test_slow_link_at_full_width_points_at_signal_errors(diag):
    gpus_slow = {"h2d_gbps": 6.1, "d2h_gbps": 6.6}  # trained Gen3 x16, moves half: replays on a bad riser
    run = diag(gpu_overrides=gpus_slow)
    assert not_passed(run) == {("PCIE-BANDWIDTH", "gpu1"): "fail"}, run.stdout[-4000:]
    message = said(run, "PCIE-BANDWIDTH", "gpu1")
    assert "alone 6.1 H2D / 6.6 D2H GB/s" in message and "signal errors and replays" in message, message


def test_replays_during_the_tier_fail_pcie_replay(diag):
    run = diag(faults={"replays_per_copy": 1})
    assert not_passed(run) == {("PCIE-REPLAY", "gpu1"): "fail"}, run.stdout[-4000:]
    message = said(run, "PCIE-REPLAY", "gpu1")
    grown = run.diag["counters_after"]["gpus"][1]["pcie_replay"]
    assert grown > 0 and f"PCIe replay counter 0 -> {grown} (+{grown})" in message, message
    assert "signal integrity" in message and "reseat the card" in message


def test_aer_errors_at_the_upstream_port_fail_pcie_replay(diag):
    run = diag(faults={"aer_per_copy": {"at": "port", "kind": "correctable", "count": 1}})
    assert not_passed(run) == {("PCIE-REPLAY", "gpu1"): "fail"}, run.stdout[-4000:]
    message = said(run, "PCIE-REPLAY", "gpu1")
    assert "AER correctable errors at the port above it (0000:00:03.0) 0 -> " in message, message


def test_throttling_soak_fails_gpu_soak(diag):
    run = diag(faults={"throttle": {"bits": 0x80, "after_s": 1.0}})  # the PSU's power brake
    assert not_passed(run) == {("GPU-SOAK", "gpu1"): "fail"}, run.stdout[-4000:]
    message = said(run, "GPU-SOAK", "gpu1")
    assert "throttled: HW power brake slowdown" in message and "check the PSU" in message, message


def test_cuda_error_mid_memtest_is_recorded_and_judged(diag):
    run = diag(faults={"error": {"kernel": "check", "after": 5, "result": "CUDA_ERROR_ECC_UNCORRECTABLE"}})
    memtest = run.diag["memtest"][1]
    assert memtest == {"index": 1, "error": "cuStreamSynchronize: CUDA_ERROR_ECC_UNCORRECTABLE"}, memtest
    assert run.diag["memtest"][0]["mismatches"] == 0 and not run.diag["memtest"][0]["error"]
    # The error is sticky on GPU1's context: GPU1 is left out of the soak, GPU0 soaks and passes.
    assert not_passed(run) == {("GPU-MEMTEST", "gpu1"): "fail", ("GPU-SOAK", "gpu1"): "not_evaluated"}, run.stdout[-4000:]
    message = said(run, "GPU-MEMTEST", "gpu1")
    assert "the memory test stopped: cuStreamSynchronize: CUDA_ERROR_ECC_UNCORRECTABLE; ECC uncorrected 0 -> 1;" in message
    assert "see GPU-MEMTEST" in said(run, "GPU-SOAK", "gpu1") and [g["index"] for g in run.diag["soak"]["gpus"]] == [0]
    assert "Traceback" not in run.stdout and "internal error" not in json.dumps(run.diag)
    assert run.ret != 0


def test_without_a_driver_the_tier_ends_at_once_and_one_requirement_says_why(diag, monkeypatch):
    # The real cuda-bindings: cuInit cannot find libcuda.so.1 on this machine (on a GPU host it would test the GPUs).
    try:
        ctypes.CDLL("libcuda.so.1")
        pytest.skip("this machine has a CUDA driver: the run would test its GPUs")
    except OSError:
        pass
    started = time.monotonic()
    run = diag(real_driver=True)
    assert time.monotonic() - started < 60
    assert run.ret != 0 and "no CUDA driver library on this host" in run.diag["error"], run.diag
    assert not_passed(run)[("PCIE-BANDWIDTH", "gpu0")] == "fail"
    assert "install the NVIDIA driver the profile names" in said(run, "PCIE-BANDWIDTH", "gpu0")
    others = {key: v for key, v in not_passed(run).items() if key[0] != "PCIE-BANDWIDTH"}
    assert set(others.values()) == {"not_evaluated"} and {rid for rid, _ in others} == DIAG - {"PCIE-BANDWIDTH"}
    assert all("see PCIE-BANDWIDTH" in said(run, rid) for rid in DIAG - {"PCIE-BANDWIDTH"})


def test_a_gpu_another_process_holds_is_refused_before_anything_is_allocated(diag, tmp_path):
    """The diag tier on a serving host: NVML lists a compute process on GPU1 (this test's own process stands
    for it), so the tier stops before CUDA opens a GPU, naming it; --diag-force runs it anyway."""
    holder = os.getpid()
    state = tmp_path / "gpu-state.json"
    state.write_text(json.dumps({"gpus": [{"index": 1, "processes": [[holder, 20480]], "mem_used_mib": 20480}]}))
    run = diag()
    assert run.diag["busy"] == [f"GPU1 (00000000:03:00.0): pid {holder} ({Path(f'/proc/{holder}/comm').read_text().strip()}) "
                                "holds 20480 MiB"], run.diag["busy"]
    assert run.diag["gpus"] == [] and run.diag["memtest"] == [] and not run.diag["bandwidth"]  # nothing allocated
    assert set(verdicts(run).values()) == {"not_evaluated"}, verdicts(run)
    assert f"pid {holder}" in said(run, "PCIE-BANDWIDTH") and "--diag-force" in said(run, "GPU-SOAK")
    assert run.ret == 6
    state.write_text(json.dumps({"gpus": [{"index": 1, "processes": [[holder, 20480]], "mem_used_mib": 20480}]}))
    forced = diag("--diag-force")
    assert forced.diag["forced"] is True and forced.diag["memtest"], forced.stdout[-2000:]
