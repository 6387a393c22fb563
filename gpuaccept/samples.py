"""NVML samples taken while a workload runs (the load tier's benchmark, the diag tier): typed like every fact."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSample:
    index: int
    util_pct: float | None = None
    mem_used_mib: float | None = None
    processes: tuple[tuple[int, float | None], ...] = ()  # (host PID, MiB; None: NVML cannot tell) of compute processes
    pcie_gen: int | None = None
    pcie_width: int | None = None
    temp_c: float | None = None
    power_w: float | None = None
    throttle: int | None = None  # NVML clocks event reasons bitmask
    sm_clock_mhz: int | None = None  # NVML_CLOCK_SM (absent in captures made before it was sampled)


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the benchmark started
    gpus: tuple[GpuSample, ...] = ()
