"""The diag tier's facts, shaped as ``diag.json`` is written (gpuaccept.diag.run), so one strict
``from_dict`` both validates the evidence and builds the facts.

Times (``*_t``) are seconds on the sampler's clock, so a measurement and the NVML samples taken
during it line up. Bandwidths are GB/s (10^9 bytes a second).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuaccept.samples import Sample


@dataclass(frozen=True)
class CopyRate:
    gbps: float
    seconds: float = 0.0
    copies: int = 0
    start_t: float = 0.0
    end_t: float = 0.0


@dataclass(frozen=True)
class LinkCopies:
    """One GPU's pinned copies over its PCIe link, each way."""

    index: int
    h2d: CopyRate
    d2h: CopyRate


@dataclass(frozen=True)
class DeviceCopy(CopyRate):
    """Device-to-device copies inside one GPU: its memory's practical bandwidth (bytes read and written)."""

    index: int = field(kw_only=True)


@dataclass(frozen=True)
class Bandwidth:
    copy_bytes: int = 0
    alone: tuple[LinkCopies, ...] = ()  # each GPU by itself
    together: tuple[LinkCopies, ...] = ()  # every GPU at once (empty with one GPU)
    d2d: tuple[DeviceCopy, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class PeerCopy:
    a: int
    b: int
    peer_access: bool  # the driver allows direct access; without it copies are staged through host memory
    gbps: float


@dataclass(frozen=True)
class PeerAccess:
    pairs: tuple[PeerCopy, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class Mismatch:
    address: str  # device address of the word
    pattern: str
    expected: str
    read: str


@dataclass(frozen=True)
class MemtestResult:
    index: int
    free_bytes: int = 0  # what the driver reported free when the test began
    total_bytes: int = 0
    tested_bytes: int = 0
    patterns: tuple[str, ...] = ()
    seed: int = 0
    mismatches: int = 0
    first: tuple[Mismatch, ...] = ()
    seconds: float = 0.0
    bytes_moved: int = 0  # read and written by the pattern kernels
    gbps: float = 0.0
    error: str = ""

    @property
    def coverage(self) -> float:
        return self.tested_bytes / self.free_bytes if self.free_bytes else 0.0


@dataclass(frozen=True)
class SoakGpu:
    index: int
    launches: int = 0
    launch_ms: float = 0.0
    load: str = ""  # "FP32 FMA", or "FP32 FMA + tensor-core MMA" on cards that have tensor cores


@dataclass(frozen=True)
class Soak:
    requested_s: float = 0.0
    start_t: float = 0.0
    end_t: float = 0.0
    gpus: tuple[SoakGpu, ...] = ()
    error: str = ""

    @property
    def ran_s(self) -> float:
        return max(0.0, self.end_t - self.start_t)


@dataclass(frozen=True)
class GpuCounters:
    """NVML's link and memory error counters of one GPU at one moment (None: NVML cannot tell, see unreported)."""

    index: int
    bus_id: str | None = None
    pcie_replay: int | None = None
    ecc_corrected: int | None = None  # volatile: since the driver loaded
    ecc_uncorrected: int | None = None
    unreported: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AerCounts:
    #: GPU bus id -> device (the GPU itself, or the port above it) -> correctable / nonfatal / fatal -> total
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    missing: str = ""


@dataclass(frozen=True)
class Counters:
    gpus: tuple[GpuCounters, ...] = ()
    error: str = ""
    aer: AerCounts = AerCounts()

    def of(self, index: int) -> GpuCounters | None:
        return next((g for g in self.gpus if g.index == index), None)


@dataclass(frozen=True)
class DiagGpu:
    index: int  # NVML's
    bus_id: str = ""
    cuda_ordinal: int | None = None
    name: str = ""
    missing: str = ""  # why the tier could not test it (CUDA does not see it, the kernels would not load)


@dataclass(frozen=True)
class DiagFacts:
    schema: int = 1
    error: str = ""  # why the tier did not run at all (no CUDA driver, no bindings)
    settings: dict[str, Any] = field(default_factory=dict)  # the DiagSpec it ran with
    cuda: dict[str, Any] = field(default_factory=dict)  # bindings and driver API versions, the kernels' PTX
    gpus: tuple[DiagGpu, ...] = ()
    counters_before: Counters = Counters()
    counters_after: Counters = Counters()
    bandwidth: Bandwidth = Bandwidth()
    p2p: PeerAccess = PeerAccess()
    memtest: tuple[MemtestResult, ...] = ()
    soak: Soak = Soak()
    samples: tuple[Sample, ...] = ()
    sampler_error: str = ""
    busy: tuple[str, ...] = ()  # compute processes on the GPUs before the tier began, one line each
    forced: bool = False  # --diag-force: the tier ran although they were there
    busy_unknown: str = ""  # why Ollama could not say what it holds (it was not answering): recorded only

    def gpu(self, index: int) -> DiagGpu | None:
        return next((g for g in self.gpus if g.index == index), None)

    def samples_of(self, index: int, start: float, end: float) -> list:
        """This GPU's samples taken between ``start`` and ``end``."""
        return [g for s in self.samples if start <= s.t <= end for g in s.gpus if g.index == index]

    def copy_samples(self, index: int) -> list:
        """This GPU's samples taken while its own pinned copies ran (alone, each way)."""
        alone = next((r for r in self.bandwidth.alone if r.index == index), None)
        if alone is None:
            return []
        return [g for r in (alone.h2d, alone.d2h) for g in self.samples_of(index, r.start_t, r.end_t)]
