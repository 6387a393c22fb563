"""The live NVML adapter against a stand-in libnvidia-ml: pynvml's own marshaling and errors run."""

from __future__ import annotations

import json
import threading

import pynvml
import pytest

from gpuaccept.sources import nvml
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
