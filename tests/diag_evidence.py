"""A small diag.json of the bundled dual-p40 pair, built here for the report's tests.

Healthy figures: pinned copies near a P40's 11.8 H2D / 12.9 D2H GB/s at Gen3 x16, a full 600 s soak whose
temperature levels off well below slowdown (92 C) minus the margin, power near the 250 W limit, steady
clocks. Sampled every 0.5 s through the copies, then every 5 s: small, and still enough for every verdict.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from tests.conftest import HOSTS

GIB = 2**30
BUS = {0: "0000:02:00.0", 1: "0000:03:00.0"}  # as the tier writes them (normalised)
SOAK = (40.0, 640.0)
# Each GPU's copies alone, then both at once: (start, end) on the samples' clock.
ALONE = {0: {"h2d": (1.0, 2.0), "d2h": (2.0, 3.0)}, 1: {"h2d": (4.0, 5.0), "d2h": (5.0, 6.0)}}
TOGETHER = {"h2d": (7.0, 8.0), "d2h": (8.0, 9.0)}
RATES = {"alone": {"h2d": 11.8, "d2h": 12.9}, "together": {"h2d": 11.1, "d2h": 12.2}}


def _copy(gbps: float, window: tuple[float, float]) -> dict[str, Any]:
    return {"gbps": gbps, "seconds": window[1] - window[0], "copies": 44, "start_t": window[0], "end_t": window[1]}


def _gpu_sample(index: int, t: float) -> dict[str, Any]:
    soaking = SOAK[0] <= t <= SOAK[1]
    copying = t < 10
    warm = 78 - 43 * math.exp(-(t - SOAK[0]) / 60) if soaking else 35 + index
    return {"index": index, "util_pct": 100.0 if soaking else 0.0, "mem_used_mib": 512.0, "processes": [],
            "pcie_gen": 3 if copying or soaking else 1, "pcie_width": 16, "temp_c": round(warm + index, 1),
            "power_w": 238.0 - 3 * index if soaking else 60.0, "throttle": 0,
            "sm_clock_mhz": 1531 if soaking else 1303}


def samples() -> list[dict[str, Any]]:
    times = [n / 2 for n in range(20)] + [10.0 + 5 * n for n in range(128)]
    return [{"t": t, "gpus": [_gpu_sample(i, t) for i in BUS]} for t in times]


def _counters() -> dict[str, Any]:
    return {"gpus": [{"index": i, "bus_id": bus, "pcie_replay": 0, "ecc_corrected": 0, "ecc_uncorrected": 0,
                      "unreported": {}} for i, bus in BUS.items()],
            "error": "", "aer": {"counts": {bus: {bus: {"correctable": 0, "nonfatal": 0, "fatal": 0}} for bus in BUS.values()},
                                 "missing": ""}}


def record() -> dict[str, Any]:
    """diag.json as gpuaccept.diag.run writes it, for both GPUs of fixtures/hosts/dual-p40."""
    free = 22 * GIB
    return {
        "schema": 1, "error": "", "settings": {}, "cuda": {"bindings": "12.9.0", "driver_api": 12020},
        "gpus": [{"index": i, "bus_id": bus, "cuda_ordinal": i, "name": "Tesla P40", "missing": ""} for i, bus in BUS.items()],
        "counters_before": _counters(), "counters_after": _counters(),
        "bandwidth": {"copy_bytes": 256 * 2**20, "error": "",
                      "alone": [{"index": i, **{d: _copy(RATES["alone"][d], w) for d, w in ALONE[i].items()}} for i in BUS],
                      "together": [{"index": i, **{d: _copy(RATES["together"][d], w) for d, w in TOGETHER.items()}}
                                   for i in BUS],
                      "d2d": [{"index": i, "gbps": 280.0, "seconds": 1.0, "copies": 500, "start_t": 9.0, "end_t": 9.5}
                              for i in BUS]},
        "p2p": {"pairs": [{"a": 0, "b": 1, "peer_access": True, "gbps": 10.2},
                          {"a": 1, "b": 0, "peer_access": True, "gbps": 10.1}], "error": ""},
        "memtest": [{"index": i, "free_bytes": free, "total_bytes": 24 * GIB, "tested_bytes": int(free * 0.95),
                     "patterns": ["ones", "zeros", "walking", "random"], "seed": 7, "mismatches": 0, "first": [],
                     "seconds": 25.0, "bytes_moved": 8 * free, "gbps": 290.0, "error": ""} for i in BUS],
        "soak": {"requested_s": 600.0, "start_t": SOAK[0], "end_t": SOAK[1], "error": "",
                 "gpus": [{"index": i, "launches": 90000, "launch_ms": 6.6} for i in BUS]},
        "samples": samples(), "sampler_error": "",
    }


def dual_p40_with_diag(folder: Path, data: dict[str, Any] | None = None) -> Path:
    """A copy of fixtures/hosts/dual-p40 with a diag.json (this one, unless ``data`` is given)."""
    shutil.copytree(HOSTS / "dual-p40", folder)
    (folder / "diag.json").write_text(json.dumps(record() if data is None else data, indent=1))
    return folder
