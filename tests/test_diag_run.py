"""gpuaccept.diag.run.run_diag called directly on the simulated driver and NVML: it returns a record, never raises."""

from __future__ import annotations

import json

import pytest

from gpuaccept.diag import cuda, kernels
from gpuaccept.diag.run import run_diag
from gpuaccept.profile import DiagSpec
from tests.conftest import HOSTS
from tests.extras import require
from tests.fakes.nvml_lib import FakeNvmlLib

require("diag")  # the simulated driver is built on cuda-bindings' own enums and types

from tests.fakes.cuda_driver import FakeDriver, dual_p40  # noqa: E402 - after the extra is known to be there

SPEC = DiagSpec(soak_s=0.3, copy_seconds=0.5, sample_hz=20)  # built directly: the profile's 5 s minimum is not applied


@pytest.fixture
def driver(tmp_path):
    """A fake NVML of dual-p40 and a simulated driver of ``gpus`` (dual_p40 by default), both removed after."""
    live = str(tmp_path / "gpu-state.json")
    FakeNvmlLib(json.loads((HOSTS / "dual-p40" / "nvml.json").read_text()), live=live).install()

    def make(gpus=None, **spec) -> FakeDriver:
        fake = FakeDriver({"gpus": gpus or dual_p40(), "time_scale": 0.01, "nvml_live": live, **spec})
        cuda.install(fake)
        return fake

    yield make
    cuda.install(None)
    FakeNvmlLib.uninstall()


def test_cuda_order_is_matched_to_nvml_by_bus_id(driver):
    driver(list(reversed(dual_p40())))  # CUDA lists GPU1 first
    out = run_diag(SPEC, seed=1)
    assert out["error"] == "" and [(g["index"], g["cuda_ordinal"]) for g in out["gpus"]] == [(0, 1), (1, 0)]
    assert [m["index"] for m in out["memtest"]] == [0, 1] and all(m["mismatches"] == 0 for m in out["memtest"])
    assert out["counters_after"]["aer"]["missing"] == "no host connection to read sysfs through"


def test_a_driver_too_old_for_the_ptx_leaves_the_cards_untested_with_the_reason(driver):
    driver(ptx_isa_max=(8, 0))  # a CUDA 12.0 driver (R525) loads PTX ISA up to 8.0
    out = run_diag(SPEC, seed=1)
    assert [g["missing"] for g in out["gpus"]] == [
        "the driver could not load the suite's kernels (cuModuleLoadData: CUDA_ERROR_UNSUPPORTED_PTX_VERSION)"] * 2


def test_cuinit_refusing_is_the_tiers_error(driver):
    driver(init_error="CUDA_ERROR_NO_DEVICE")
    assert run_diag(SPEC)["error"] == "the CUDA driver did not start: cuInit returned CUDA_ERROR_NO_DEVICE"


def test_stale_kernels_are_the_tiers_error(driver, monkeypatch):
    driver()

    def stale():
        raise kernels.StalePtx("kernels.ptx was not built from this kernels.cu")

    monkeypatch.setattr(kernels, "ptx", stale)
    assert run_diag(SPEC)["error"] == "the GPUs could not be opened through CUDA: kernels.ptx was not built from this kernels.cu"


@pytest.mark.parametrize("call", ["cuDeviceGetCount", "cuMemAlloc", "cuLaunchKernel", "cuEventElapsedTime",
                                  "cuMemcpyDtoH", "cuDeviceCanAccessPeer"])
def test_bindings_that_raise_are_recorded_never_raised(driver, call):
    fake = driver()

    def broken(*args):
        raise RuntimeError(f"{call} broke")

    setattr(fake, call, broken)
    out = run_diag(SPEC, seed=1)  # must return
    text = json.dumps(out)
    assert f"{call} broke" in text, text[:2000]
    assert ("internal error of the suite (RuntimeError" in text  # one phase stopped, the others ran
            or out["error"] == f"the GPUs could not be opened through CUDA: {call} broke")


def test_nvml_that_cannot_start_is_the_tiers_error(driver, monkeypatch):
    driver()
    import pynvml

    monkeypatch.setattr(pynvml.nvmlLib, "init_error", pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    out = run_diag(SPEC)  # before CUDA opens a card: nothing shows the cards are idle, so nothing is allocated
    assert out["error"].startswith("the diag tier did not start: NVML could not list the GPUs' compute processes "
                                   "(NVML"), out["error"]
    assert "nothing was allocated" in out["error"] and out["cuda"] == {} and out["gpus"] == []


def test_described_memory_checks_as_the_kernel_would():
    """The simulation's check against kernels.cu's loop run word by word, on a small buffer with stuck bits."""
    from gpuaccept.diag.memtest import patterns
    from tests.fakes.cuda_memory import Allocation, describe, pattern

    n, stuck = 1000, {7: (0x10, 0), 500: (0x80000001, 0x80000000), 999: (0xFFFFFFFF, 0x12345678)}
    model, words = Allocation(0, 4 * n, stuck=dict(stuck)), [0] * n

    def store(i, word):  # a cell keeps what was written, except its stuck bits
        mask, bits = stuck.get(i, (0, 0))
        words[i] = (word & ~mask) | (bits & mask)

    for _, steps in patterns(seed=99):
        for kernel, kind, arg, invert in steps:
            if kernel == "fill":
                model.write_all(describe(kind, arg))
                for i in range(n):
                    store(i, pattern(i, kind, arg))
                continue
            found = [(i, pattern(i, kind, arg), words[i]) for i in range(n) if words[i] != pattern(i, kind, arg)]
            assert model.check(n, kind, arg, 16) == (len(found), found[:16])
            if invert:
                model.write_all(describe(kind, arg, True))
                for i in range(n):
                    store(i, pattern(i, kind, arg) ^ 0xFFFFFFFF)
    # Memory holding another period-32 pattern than the one checked: counted per residue class, still exact.
    fresh = Allocation(0, 4 * n, stuck=dict(stuck))  # reads as zeros
    zeros = [fresh.stored(i) for i in range(n)]
    found = [(i, pattern(i, 1, 3), zeros[i]) for i in range(n) if zeros[i] != pattern(i, 1, 3)]
    assert fresh.check(n, 1, 3, 16) == (len(found), found[:16])


@pytest.mark.parametrize("share", [0.9, 0.95, 0.99])
def test_the_memory_test_takes_at_least_the_share_asked_for(share):
    from gpuaccept.diag import memtest

    class Driver:
        def __call__(self, name, *args):
            assert name == "cuMemAlloc"
            return 1

    for free in (22784 * 2**20 - 12345 * 4096, 80549 * 2**20 - 777 * 4096):
        want = int(free * share)
        taken = sum(size for _, size in memtest._take(Driver(), want))
        assert want <= taken < want + 2 * 2**20, (share, free, taken)


def test_a_stop_ends_the_soak_within_a_round_and_is_recorded(driver):
    # Ctrl-C or the tier's deadline sets the stop: the cards must go idle, not burn on for the soak's time.
    import dataclasses
    import threading
    import time

    driver()
    stop = threading.Event()
    threading.Timer(3.0, stop.set).start()
    began = time.monotonic()
    out = run_diag(dataclasses.replace(SPEC, soak_s=120), seed=1, stop=stop)
    assert time.monotonic() - began < 30
    assert "the soak was stopped after" in out["soak"]["error"] or "did not run" in out["soak"]["error"]


def test_the_diag_deadline_tells_the_tier_to_stop():
    import threading

    from gpuaccept.sources import live

    seen = threading.Event()

    def tier(stop: threading.Event) -> dict:
        if stop.wait(10):
            seen.set()
        return {}

    record = live._bounded_diag(tier, 0.2)
    assert "did not finish within 0.2 s" in record["error"]
    assert seen.wait(5)  # the abandoned tier was told to stop, and did


def test_a_model_ollama_holds_is_a_refusal_even_where_nvml_lists_no_process(driver, tmp_path):
    """NVML inside a container may list no process of another one: Ollama's own /api/ps still says the cards
    serve, and the tier stops before CUDA opens a card; Ollama not answering is recorded, not a refusal."""
    import dataclasses

    from gpuaccept.profile import OllamaSpec
    from gpuaccept.sources.ollama_api import loaded_on_gpu
    from tests.fakes.ollama_server import OllamaStandIn, Scenario

    fake, inits = driver(), []
    real_init = fake.cuInit
    fake.cuInit = lambda flags: (inits.append(flags), real_init(flags))[1]  # counts CUDA's start
    with OllamaStandIn([24576.0, 24576.0], tmp_path / "standin-state.json", Scenario()) as standin:
        standin.load(4096)  # its NVML state goes to a file this NVML does not read: no process listed
        spec = dataclasses.replace(OllamaSpec(), url=standin.url)
        out = run_diag(SPEC, holders=lambda: loaded_on_gpu(spec))
    assert out["busy"] == [f"Ollama at {standin.url} has qwen3:32b loaded (20.3 GiB on GPUs; `ollama stop qwen3:32b` "
                           "unloads it)"], out["busy"]
    assert out["cuda"] == {} and out["gpus"] == [] and inits == [], out  # CUDA never started
    down = dataclasses.replace(OllamaSpec(), url=standin.url)  # the server has stopped since
    idle = run_diag(SPEC, seed=1, holders=lambda: loaded_on_gpu(down))
    assert idle["busy"] == [] and idle["busy_unknown"].startswith(f"{standin.url}/api/ps: ") and idle["memtest"]
    assert inits, "the idle cards were tested"
