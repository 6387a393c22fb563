"""The soak: every GPU at once under FP32 FMA chains (kernel ``burn``) with device-to-device copies beside
them on a second stream, so the SMs and the memory both draw power, for the requested time. Cards with
tensor cores (compute capability 8.0+) also run tensor-core MMAs (``burn_tc``) on a third stream: they reach
their power limit only with the matrix units busy.

Work is queued in rounds of about ``ROUND_S`` seconds per GPU and waited for, so a stop (time up, a
CUDA error) is noticed within a round; the NVML sampler watches in its own thread meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from gpuaccept.diag.cuda import Cuda, CudaError, Stopped
from gpuaccept.diag.device import THREADS, Gpu

ROUND_S = 0.25
BURN_ROUNDS = 256  # FMA rounds per word: 8 chains x 256 = 2048 FMAs per 4-byte word read and written
TC_ROUNDS = 4096  # MMA rounds per warp in one burn_tc launch (about a millisecond on a Hopper card)
MIB = 2**20


def run(cuda: Cuda, gpus: list[Gpu], seconds: float, buffer_mib: int, now: Callable[[], float],
        progress: Callable[[str], None] = lambda _l: None, stop: threading.Event | None = None) -> dict[str, Any]:
    size = buffer_mib * MIB
    words = size // 4
    state: dict[int, dict[str, Any]] = {}
    try:
        for gpu in gpus:
            gpu.use(cuda)
            s = state[gpu.index] = {"burn": cuda.stream(), "copy": cuda.stream(), "a": cuda("cuMemAlloc", size),
                                    "b": cuda("cuMemAlloc", size), "c": cuda("cuMemAlloc", size)}
            cuda("cuMemsetD32Async", s["a"], 0x3F800000, words, s["burn"])  # 1.0f: finite values throughout
            s["per_launch"] = max(cuda.elapsed_s(*cuda.record(s["burn"], partial(_burn, cuda, gpu, s, words))), 1e-5)
            s["launches"] = max(1, math.ceil(ROUND_S / s["per_launch"]))
            s["done"] = 0
            if "burn_tc" in gpu.functions:
                s["tensor"] = cuda.stream()
                once = cuda.elapsed_s(*cuda.record(s["tensor"], partial(_burn_tc, cuda, gpu, s)))
                s["tc_launches"] = max(1, math.ceil(ROUND_S / max(once, 1e-5)))
        began = now()
        progress(f"soak: {len(gpus)} GPU(s) under load for {seconds:g} s")
        last_note = began
        while now() - began < seconds:
            if stop is not None and stop.is_set():  # checked every round: the cards go idle within ROUND_S
                raise Stopped(f"the soak was stopped after {now() - began:.0f} s (the run was interrupted or the "
                              "tier's deadline passed)")
            for gpu in gpus:
                gpu.use(cuda)
                s = state[gpu.index]
                for _ in range(s["launches"]):
                    _burn(cuda, gpu, s, words)
                    cuda("cuMemcpyDtoDAsync", s["c"], s["b"], size, s["copy"])
                for _ in range(s.get("tc_launches", 0)):
                    _burn_tc(cuda, gpu, s)
            for gpu in gpus:
                gpu.use(cuda)
                cuda("cuStreamSynchronize", state[gpu.index]["burn"])
                cuda("cuStreamSynchronize", state[gpu.index]["copy"])
                if "tensor" in state[gpu.index]:
                    cuda("cuStreamSynchronize", state[gpu.index]["tensor"])
                state[gpu.index]["done"] += state[gpu.index]["launches"]
            if now() - last_note >= 60:
                last_note = now()
                progress(f"soak: {last_note - began:.0f} of {seconds:g} s")
        ended = now()
    finally:
        for gpu in gpus:
            if gpu.index not in state:
                continue
            gpu.use(cuda)
            for key in ("a", "b", "c"):
                with contextlib.suppress(CudaError, KeyError):
                    cuda("cuMemFree", state[gpu.index][key])
    return {"requested_s": seconds, "start_t": round(began, 3), "end_t": round(ended, 3),
            "gpus": [{"index": g.index, "launches": state[g.index]["done"], "load": g.load,
                      "launch_ms": round(state[g.index]["per_launch"] * 1000, 3)} for g in gpus]}


def _burn(cuda: Cuda, gpu: Gpu, s: dict[str, Any], words: int) -> None:
    cuda.launch(gpu.functions["burn"], gpu.blocks, THREADS, s["burn"],
                ((s["a"], None), (words, ctypes.c_uint64), (BURN_ROUNDS, ctypes.c_uint32)))


def _burn_tc(cuda: Cuda, gpu: Gpu, s: dict[str, Any]) -> None:
    cuda.launch(gpu.functions["burn_tc"], gpu.blocks, THREADS, s["tensor"],
                ((s["a"], None), (TC_ROUNDS, ctypes.c_uint32)))
