"""The diag tier from start to end: its ``diag.json`` evidence, whatever happens on the way.

Order: link counters, then the PCIe copies (each GPU alone, then all at once, then device-to-device),
peer copies, the memory test, the soak, and the link counters again; the NVML sampler runs throughout.
A phase that fails records its CUDA error and the next one still runs; nothing here raises for an
expected condition (no bindings, no driver, a card that faults): the reason is written instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from gpuaccept.diag import kernels
from gpuaccept.diag.cuda import Cuda, CudaError, Stopped, Unavailable, bindings_version
from gpuaccept.parse.pci_ids import normalise_bus_id
from gpuaccept.profile import DiagSpec
from gpuaccept.sources import aer
from gpuaccept.sources.nvml import compute_processes, link_counters

SCHEMA = 1
MIB = 2**20


def _process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read(64).strip() or "?"
    except OSError:
        return "?"  # another PID namespace, or it ended


def busy_gpus(timeout_s: float) -> tuple[list[str], str]:
    """One line per GPU another compute process holds (NVML's list, which shows a loaded Ollama runner as
    well as anything else), and NVML's error where it could not tell."""
    found = compute_processes(timeout_s)
    lines = []
    for gpu in found["gpus"]:
        for proc in gpu["processes"]:
            held = f"{proc['used_mib']} MiB" if proc["used_mib"] is not None else "memory the driver does not report"
            lines.append(f"GPU{gpu['index']} ({gpu['bus_id']}): pid {proc['pid']} ({_process_name(proc['pid'])}) "
                         f"holds {held}")
    return lines, found["error"]


def run_diag(spec: DiagSpec, host=None, timeout_s: float = 20.0, progress: Callable[[str], None] = lambda _l: None,
             seed: int | None = None, stop: threading.Event | None = None, force: bool = False,
             holders: Callable[[], tuple[list[str], str]] | None = None) -> dict[str, Any]:
    """``stop``: set by the run when it is interrupted or out of time; every phase checks it, so the cards go
    idle within a soak round instead of burning on after the run has ended. ``force``: run even though
    another process holds a GPU (--diag-force); without it the tier allocates nothing on a serving host.
    ``holders``: what else holds the GPUs by its own account (Ollama's /api/ps): (lines, why it cannot tell)."""
    stop = stop or threading.Event()
    from gpuaccept.diag import memtest
    from gpuaccept.sources.nvml_sampler import Sampler

    out: dict[str, Any] = {"schema": SCHEMA, "error": "", "settings": spec.evidence(), "cuda": {}, "gpus": [],
                           "counters_before": {}, "counters_after": {}, "bandwidth": {}, "p2p": {}, "memtest": [],
                           "soak": {}, "samples": [], "sampler_error": "", "busy": [], "forced": force,
                           "busy_unknown": ""}
    out["busy"], unknown = busy_gpus(timeout_s)
    if holders is not None:
        lines, out["busy_unknown"] = holders()  # Ollama down serves nothing: recorded, not a refusal
        out["busy"] += lines
    if unknown and not force:  # no proof the cards are idle: burning them could take down a workload
        out["error"] = (f"the diag tier did not start: NVML could not list the GPUs' compute processes ({unknown}), "
                        "so nothing shows the cards are idle; nothing was allocated (--diag-force runs it anyway)")
        return out
    if out["busy"] and not force:  # it would allocate 90 % of their memory and burn them beside a workload
        progress(f"refused: {'; '.join(out['busy'])} (pass --diag-force to run anyway)")
        return out
    try:
        # CUDA_VISIBLE_DEVICES decides which GPUs CUDA shows: kept, so a missing GPU can be explained
        out["cuda"] = {"bindings": bindings_version(), **kernels.describe(),
                       "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
        cuda = Cuda.open()
        out["cuda"]["driver_api"] = int(cuda("cuDriverGetVersion"))
    except (Unavailable, kernels.StalePtx, CudaError) as err:
        out["error"] = str(err)
        return out
    except Exception as err:  # the bindings themselves failed in an unforeseen way
        out["error"] = f"the CUDA driver could not be opened ({type(err).__name__}: {err})"
        return out
    before = link_counters(timeout_s)
    if before["error"]:
        out["error"] = f"NVML could not list the GPUs: {before['error']}"
        return out
    bus_ids = {g["index"]: normalise_bus_id(g["bus_id"]) for g in before["gpus"] if g["bus_id"]}
    out["counters_before"] = {**before, "aer": _aer(host, bus_ids, timeout_s)}
    from gpuaccept.diag.device import close_gpus, open_gpus

    try:
        gpus, missing = open_gpus(cuda, bus_ids)
    except Exception as err:  # CudaError, StalePtx, or the bindings' own surprise: the tier cannot go on
        out["error"] = f"the GPUs could not be opened through CUDA: {err}"
        return out
    out["gpus"] = [{"index": i, "bus_id": bus_ids.get(i, ""), "cuda_ordinal": None, "name": "", "missing": why}
                   for i, why in missing.items()]
    out["gpus"] += [{"index": g.index, "bus_id": g.bus_id, "cuda_ordinal": g.ordinal, "name": g.name, "missing": ""}
                    for g in gpus]
    out["gpus"].sort(key=lambda g: g["index"])
    sampler = Sampler(spec.sample_hz).start()
    try:
        out["bandwidth"] = _phase(progress, "bandwidth", lambda: _bandwidth(cuda, gpus, spec, sampler.now, progress),
                                  stop=stop)
        out["p2p"] = _phase(progress, "p2p", lambda: _p2p(cuda, gpus, spec), stop=stop)
        seed = seed if seed is not None else memtest.new_seed()
        for gpu in gpus:
            out["memtest"].append(_phase(progress, f"GPU{gpu.index} memtest", lambda g=gpu: {
                "index": g.index, **memtest.run(cuda, g, max(spec.memtest_share, 0.95), seed, progress, stop)},
                index=gpu.index, stop=stop))
        # A card whose memory test ended in a CUDA error has a dead context (the error is sticky): soaking it
        # would only stop the soak of the others, and GPU-SOAK would blame every card for one card's fault.
        faulted = {m["index"] for m in out["memtest"] if m.get("error")}
        soaked = [g for g in gpus if g.index not in faulted]
        if soaked:
            out["soak"] = _phase(progress, "soak", lambda: _soak(cuda, soaked, spec, sampler.now, progress, stop),
                                 stop=stop)
    finally:
        out["samples"] = sampler.stop()
        out["sampler_error"] = sampler.error
        close_gpus(cuda, gpus)
    after = link_counters(timeout_s)
    out["counters_after"] = {**after, "aer": _aer(host, bus_ids, timeout_s)}
    return out


def _phase(progress: Callable[[str], None], name: str, work: Callable[[], dict[str, Any]], index: int | None = None,
           stop: threading.Event | None = None) -> dict[str, Any]:
    """One phase's record; a CUDA error ends the phase (recorded) and not the tier."""
    try:
        if stop is not None and stop.is_set():
            raise Stopped(f"{name} did not run: the run was interrupted or the tier's deadline passed")
        return {"error": "", **work()}
    except (CudaError, Stopped) as err:
        why = str(err)
    except Exception as err:  # a defect of the suite's own: recorded as such, and the report is still written
        why = f"internal error of the suite ({type(err).__name__}: {err})"
    progress(f"{name} stopped: {why}")
    return {**({"index": index} if index is not None else {}), "error": why}


def _aer(host, bus_ids: dict[int, str], timeout_s: float) -> dict[str, Any]:
    counts, why = aer.read(host, list(bus_ids.values()), timeout_s)
    return {"counts": counts, "missing": why}


def _bandwidth(cuda: Cuda, gpus, spec: DiagSpec, now, progress) -> dict[str, Any]:
    from gpuaccept.diag import bandwidth

    size = spec.copy_mib * MIB
    with bandwidth.held(cuda, gpus, size) as buffers:
        result: dict[str, Any] = {"copy_bytes": size, "alone": [], "together": [], "d2d": []}
        for gpu in gpus:
            progress(f"GPU{gpu.index} pinned copies, alone")
            row = {"index": gpu.index}
            for direction in ("h2d", "d2h"):
                row[direction] = bandwidth.copies(cuda, [gpu], buffers, direction, size, spec.copy_seconds, now)[gpu.index]
            result["alone"].append(row)
            result["d2d"].append({"index": gpu.index,
                                  **bandwidth.copies(cuda, [gpu], buffers, "d2d", size, spec.copy_seconds, now)[gpu.index]})
        if len(gpus) > 1:
            progress(f"pinned copies on all {len(gpus)} GPUs at once")
            together = {d: bandwidth.copies(cuda, gpus, buffers, d, size, spec.copy_seconds, now) for d in ("h2d", "d2h")}
            result["together"] = [{"index": g.index, "h2d": together["h2d"][g.index], "d2h": together["d2h"][g.index]}
                                  for g in gpus]
        return result


def _p2p(cuda: Cuda, gpus, spec: DiagSpec) -> dict[str, Any]:
    from gpuaccept.diag import bandwidth

    if len(gpus) < 2:
        return {"pairs": []}
    size = spec.copy_mib * MIB
    with bandwidth.held(cuda, gpus, size) as buffers:
        return {"pairs": [bandwidth.peer(cuda, a, b, buffers, size, spec.copy_seconds / 2)
                          for a in gpus for b in gpus if a.index != b.index]}


def _soak(cuda: Cuda, gpus, spec: DiagSpec, now, progress, stop: threading.Event) -> dict[str, Any]:
    from gpuaccept.diag import soak

    began = now()
    try:
        return soak.run(cuda, gpus, spec.soak_s, spec.soak_buffer_mib, now, progress, stop)
    except (CudaError, Stopped) as err:  # the load itself failed: when it stopped is part of the evidence
        return {"requested_s": spec.soak_s, "start_t": round(began, 3), "end_t": round(now(), 3), "gpus": [],
                "error": str(err)}
