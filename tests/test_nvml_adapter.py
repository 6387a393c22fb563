"""The live NVML adapter against a stand-in libnvidia-ml: pynvml's own marshaling and errors run."""

from __future__ import annotations

import json
import threading
import time

import pynvml
import pytest

from gpuaccept.sources import nvml
from gpuaccept.sources.nvml_sampler import Sampler
from tests.conftest import HOSTS
from tests.fakes.nvml_lib import FakeNvmlLib

SNAPSHOT = json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())


@pytest.fixture(autouse=True)
def _restore_pynvml():
    yield
    FakeNvmlLib.uninstall()


def test_snapshot_reproduces_the_captured_values():
    FakeNvmlLib(SNAPSHOT).install()
    assert nvml.snapshot() == SNAPSHOT


def test_not_supported_leaves_the_field_unreported_with_the_reason():
    fake = FakeNvmlLib(SNAPSHOT, errors={(1, "nvmlDeviceGetSerial"): pynvml.NVML_ERROR_NOT_SUPPORTED,
                                         (0, "nvmlDeviceGetRetiredPages"): pynvml.NVML_ERROR_NO_PERMISSION})
    fake.install()
    snap = nvml.snapshot()
    assert snap["ok"] and "serial" not in snap["gpus"][1]
    assert "NOT_SUPPORTED" in snap["gpus"][1]["unreported"]["serial"]
    assert "root" in snap["gpus"][0]["unreported"]["retired_pages_sbe"]
    assert snap["gpus"][0]["serial"] == "0320317060550"


def test_gpu_lost_mid_snapshot_ends_it_with_one_error():
    FakeNvmlLib(SNAPSHOT, errors={(1, "nvmlDeviceGetMemoryInfo"): pynvml.NVML_ERROR_GPU_IS_LOST}).install()
    assert nvml.snapshot() == {"schema": 1, "ok": False, "error": "GPU_IS_LOST", "detail": "GPU is lost"}


@pytest.mark.parametrize(("code", "name"), [
    (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "LIB_RM_VERSION_MISMATCH"),
    (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "DRIVER_NOT_LOADED"),
])
def test_init_errors(code, name):
    FakeNvmlLib(SNAPSHOT, init_error=code).install()
    snap = nvml.snapshot()
    assert (snap["ok"], snap["error"]) == (False, name)


def test_library_not_found(monkeypatch):
    FakeNvmlLib.uninstall()
    monkeypatch.setattr(pynvml, "CDLL", lambda name: (_ for _ in ()).throw(OSError(f"{name}: not found")))
    assert nvml.snapshot()["error"] == "LIBRARY_NOT_FOUND"


def test_a_hung_driver_times_out(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(nvml, "snapshot", lambda: (release.wait(5), {})[1])
    try:
        result = nvml.snapshot_with_timeout(0.2)
    finally:
        release.set()
    assert result["error"] == "TIMEOUT" and "0.2 s" in result["detail"]


def test_missing_function_in_an_old_driver_is_unreported():
    fake = FakeNvmlLib(SNAPSHOT)
    del fake.nvmlDeviceGetCudaComputeCapability  # an old libnvidia-ml lacks the symbol
    fake.install()
    snap = nvml.snapshot()
    assert "FUNCTION_NOT_FOUND" in snap["gpus"][0]["unreported"]["compute_capability"]


def _sampled(errors: dict, seconds: float = 0.3):
    FakeNvmlLib(SNAPSHOT, errors=errors).install()
    sampler = Sampler(50).start()
    time.sleep(seconds)
    return sampler.stop(), sampler.error


def test_the_sampler_leaves_out_a_field_nvml_does_not_give_and_goes_on():
    samples, error = _sampled({(1, "nvmlDeviceGetCurrPcieLinkWidth"): pynvml.NVML_ERROR_NOT_SUPPORTED})
    assert error == "" and len(samples) > 3
    assert {s["gpus"][1]["pcie_width"] for s in samples} == {None} and {s["gpus"][0]["pcie_width"] for s in samples} == {16}


@pytest.mark.parametrize("code, name", [(pynvml.NVML_ERROR_GPU_IS_LOST, "GPU_IS_LOST"),
                                        (pynvml.NVML_ERROR_RESET_REQUIRED, "RESET_REQUIRED")])
def test_a_gpu_lost_while_sampled_stops_the_sampling_and_is_named(code, name):
    """By the adapter's one error policy: never a run of samples with the lost card's fields as None."""
    samples, error = _sampled({(1, "nvmlDeviceGetPowerUsage"): code})
    assert samples == [] and f"NVML failed while sampling ({name}" in error, error


def test_a_benchmark_whose_sampling_stopped_ends_at_once_naming_it(monkeypatch):
    from gpuaccept.sources import ollama_bench

    class Stopped:
        error = "NVML failed while sampling (GPU_IS_LOST: GPU is lost) at 1.2 s"

    with pytest.raises(ollama_bench.SamplingStopped, match="GPU_IS_LOST"):
        ollama_bench._sampling(Stopped())
