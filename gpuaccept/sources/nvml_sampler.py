"""NVML sampled in a background thread while the benchmark runs (with nvml.py, the only pynvml users).

Each sample reads, for every GPU: utilization, memory used, the compute processes with their memory
(host PIDs: the model runner among them; memory None when NVML cannot tell), current PCIe generation and width, temperature, power, the
clocks event (throttle) reasons and the SM clock. By nvml.py's error policy: a field NVML will not give
(NOT_SUPPORTED, NO_PERMISSION, ...) is left out of that sample (None); an error after which nothing NVML
says can be trusted (GPU_IS_LOST, RESET_REQUIRED, ...) stops the sampling and is named in ``error``, and
the benchmark stops at its next step; a hung driver stops the sampling, not the run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pynvml

from gpuaccept.sources.nvml import FATAL, MIB, error_name


def _read(fn, *args) -> Any:
    try:
        return fn(*args)
    except pynvml.NVMLError as err:
        if error_name(err) in FATAL:
            raise  # the GPU or the driver is gone: no later sample means anything
        return None


def _mib(used: int | None) -> float | None:
    """A process's memory in MiB; None when NVML cannot tell (pynvml maps NVML_VALUE_NOT_AVAILABLE to None,
    as on some drivers and without the rights to see other processes): unknown, never 0."""
    if used is None or used == pynvml.NVML_VALUE_NOT_AVAILABLE_ulonglong.value:
        return None
    return round(used / MIB, 1)


def read_gpu(index: int, handle: Any) -> dict[str, Any]:
    util = _read(pynvml.nvmlDeviceGetUtilizationRates, handle)
    memory = _read(pynvml.nvmlDeviceGetMemoryInfo, handle)
    procs = _read(pynvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
    power = _read(pynvml.nvmlDeviceGetPowerUsage, handle)
    return {
        "index": index,
        "util_pct": None if util is None else float(util.gpu),
        "mem_used_mib": None if memory is None else round(memory.used / MIB, 1),
        "processes": [[p.pid, _mib(p.usedGpuMemory)] for p in procs],
        "pcie_gen": _read(pynvml.nvmlDeviceGetCurrPcieLinkGeneration, handle),
        "pcie_width": _read(pynvml.nvmlDeviceGetCurrPcieLinkWidth, handle),
        "temp_c": _read(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU),
        "power_w": None if power is None else power / 1000.0,
        "throttle": _read(pynvml.nvmlDeviceGetCurrentClocksEventReasons, handle),
        "sm_clock_mhz": _read(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
    }


class Sampler:
    """``start()``, run the workload, ``stop()`` -> the samples (plain dicts, saved in benchmark.json)."""

    def __init__(self, hz: float) -> None:
        self.period = 1.0 / hz
        self.samples: list[dict[str, Any]] = []
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)
        self.t0 = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def start(self) -> Sampler:
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.error = f"NVML stopped answering while sampling (no answer within {timeout_s:g} s)"
        return list(self.samples)

    def _loop(self) -> None:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as err:
            self.error = f"NVML could not start: {err}"
            return
        try:
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            tick = time.monotonic()
            while not self._stop.is_set():
                t = self.now()
                self.samples.append({"t": round(t, 4), "gpus": [read_gpu(i, h) for i, h in enumerate(handles)]})
                tick += self.period
                self._stop.wait(max(0.0, tick - time.monotonic()))
        except pynvml.NVMLError as err:
            self.error = f"NVML failed while sampling ({error_name(err)}: {err}) at {self.now():.1f} s"
        finally:
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()
