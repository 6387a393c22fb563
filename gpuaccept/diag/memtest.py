"""Memory pattern tests over most of a GPU's free memory (the kernels ``fill`` and ``check`` in kernels.cu).

The memory is taken in chunks up to ``share`` of what the driver reports free; every chunk gets each
pattern, and a mismatch is counted with its device address, the word expected and the word read.
Patterns, after memtest86 and DCGM's memtest: walking ones and walking zeros (one bit per word, moved
through all 32 positions), inversions of two words (each word written, read back while its complement is
written, read back again), and a seeded random pattern (the seed is recorded, so a failure can be
repeated). GPU threads visit the words in grid order, not memtest86's ascending-then-descending address
order, so faults that need that order (some coupling faults) are not targeted.
"""

from __future__ import annotations

import contextlib
import ctypes
import random
import threading
from collections.abc import Callable
from typing import Any

from gpuaccept.diag.cuda import Cuda, CudaError, Stopped
from gpuaccept.diag.device import THREADS, Gpu

SOLID, WALK_ONES, WALK_ZEROS, RANDOM = 0, 1, 2, 3  # kernels.cu's pattern kinds
SLOTS = 16  # mismatches recorded with their address; all are counted
MIB = 2**20
_MIN_CHUNK = 64 * MIB
_PAGE = 2 * MIB  # the driver's allocation granularity
_MAX_CHUNK = 2048 * MIB

# (label, steps): a step is (kernel, kind, word, invert). A fill writes the pattern; a check reads it back
# and, with invert, writes its complement (so the next check looks for ~word).
_U32 = 0xFFFFFFFF


def patterns(seed: int) -> list[tuple[str, list[tuple[str, int, int, int]]]]:
    walk = [("walking ones", [s for b in range(32) for s in (("fill", WALK_ONES, b, 0), ("check", WALK_ONES, b, 0))]),
            ("walking zeros", [s for b in range(32) for s in (("fill", WALK_ZEROS, b, 0), ("check", WALK_ZEROS, b, 0))])]
    inversions = [(f"moving inversions 0x{w:08x}", [("fill", SOLID, w, 0), ("check", SOLID, w, 1),
                                                    ("check", SOLID, w ^ _U32, 1), ("check", SOLID, w, 0)])
                  for w in (0x00000000, 0x55555555)]
    return [*walk, *inversions, (f"random (seed {seed})", [("fill", RANDOM, seed, 0), ("check", RANDOM, seed, 0)])]


def _take(cuda: Cuda, want: int) -> list[tuple[Any, int]]:
    """Chunks adding up to at least ``want`` bytes (rounded up to the driver's 2 MiB pages, so the share asked
    for is covered), smaller ones when the driver refuses a large one."""
    chunks: list[tuple[Any, int]] = []
    taken, size = 0, _MAX_CHUNK
    while taken < want:
        size = min(size, -(-(want - taken) // _PAGE) * _PAGE)
        try:
            chunks.append((cuda("cuMemAlloc", size), size))
            taken += size
        except CudaError as err:
            if err.name != "CUDA_ERROR_OUT_OF_MEMORY":
                raise
            if size <= _MIN_CHUNK:
                break
            size = max(_MIN_CHUNK, size // 2 // _PAGE * _PAGE)
    return chunks


def run(cuda: Cuda, gpu: Gpu, share: float, seed: int, progress: Callable[[str], None] = lambda _l: None,
        stop: threading.Event | None = None) -> dict[str, Any]:
    gpu.use(cuda)
    free, total = (int(v) for v in cuda("cuMemGetInfo"))
    chunks = _take(cuda, int(free * share))
    tested = sum(size for _, size in chunks)
    result_buffer = cuda("cuMemAlloc", 8 * (2 + 2 * SLOTS))
    stream = cuda.stream()
    start, end = cuda.event(), cuda.event()
    fill, check = gpu.functions["fill"], gpu.functions["check"]
    mismatches, first, moved = 0, [], 0
    labels = []
    try:
        cuda("cuEventRecord", start, stream)
        for label, steps in patterns(seed):
            if stop is not None and stop.is_set():
                raise Stopped(f"GPU{gpu.index}'s memory test was stopped before {label} (the run was interrupted "
                              "or the tier's deadline passed)")
            labels.append(label)
            progress(f"GPU{gpu.index} memtest: {label} over {tested / MIB:.0f} MiB")
            for pointer, size in chunks:
                words = size // 4
                for kernel, kind, word, invert in steps:
                    if kernel == "fill":
                        cuda.launch(fill, gpu.blocks, THREADS, stream, ((pointer, None), (words, ctypes.c_uint64),
                                                                        (kind, ctypes.c_uint32), (word, ctypes.c_uint32)))
                        moved += size
                        continue
                    cuda("cuMemsetD8Async", result_buffer, 0, 8 * (2 + 2 * SLOTS), stream)
                    cuda.launch(check, gpu.blocks, THREADS, stream, (
                        (pointer, None), (words, ctypes.c_uint64), (kind, ctypes.c_uint32), (word, ctypes.c_uint32),
                        (invert, ctypes.c_uint32), (result_buffer, None), (SLOTS, ctypes.c_uint32)))
                    moved += size * (2 if invert else 1)
                    cuda("cuStreamSynchronize", stream)
                    found = cuda.read_u64(result_buffer, 2 + 2 * SLOTS)
                    if found[0]:
                        mismatches += found[0]
                        for slot in range(min(found[1], SLOTS)):
                            if len(first) < SLOTS:
                                offset, pair = found[2 + 2 * slot], found[3 + 2 * slot]
                                first.append({"address": f"0x{int(pointer) + 4 * offset:x}", "pattern": label,
                                              "expected": f"0x{pair >> 32:08x}", "read": f"0x{pair & _U32:08x}"})
        cuda("cuEventRecord", end, stream)
        seconds = cuda.elapsed_s(start, end)
    finally:
        for pointer, _ in chunks:
            with contextlib.suppress(CudaError):
                cuda("cuMemFree", pointer)
        with contextlib.suppress(CudaError):
            cuda("cuMemFree", result_buffer)
        with contextlib.suppress(CudaError):  # apart: a failed free must not leak the stream
            cuda("cuStreamDestroy", stream)
    return {"index": gpu.index, "free_bytes": free, "total_bytes": total, "tested_bytes": tested,
            "patterns": labels, "seed": seed, "mismatches": mismatches, "first": first,
            "seconds": round(seconds, 3), "bytes_moved": moved,
            "gbps": round(moved / seconds / 1e9, 3) if seconds > 0 else 0.0}


def new_seed() -> int:
    return random.SystemRandom().randrange(1, 2**32)
