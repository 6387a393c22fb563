"""PCIe copy bandwidth: pinned host<->device per GPU, alone and all at once, device-to-device, and peer copies.

Each figure is bytes over the time between two CUDA events on the GPU's own stream (the copies alone,
no Python in between), as NVIDIA's bandwidthTest and nvbandwidth time them. A copy is repeated until
the timed span lasts ``min_seconds``, so the NVML sampler sees the link while it works.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from gpuaccept.diag.cuda import Cuda, CudaError
from gpuaccept.diag.device import Gpu

GB = 1e9  # bandwidth in GB/s (10^9 bytes), as bandwidthTest and the PCIe figures count


@dataclass
class Buffers:
    host: int  # pinned
    device: Any
    device2: Any  # a second device buffer, for device-to-device copies


def allocate(cuda: Cuda, gpu: Gpu, size: int) -> Buffers:
    gpu.use(cuda)
    return Buffers(cuda.pinned(size), cuda("cuMemAlloc", size), cuda("cuMemAlloc", size))


def release(cuda: Cuda, gpu: Gpu, buffers: Buffers) -> None:
    gpu.use(cuda)
    for call, pointer in (("cuMemFreeHost", buffers.host), ("cuMemFree", buffers.device), ("cuMemFree", buffers.device2)):
        with contextlib.suppress(CudaError):
            cuda(call, pointer)


@contextlib.contextmanager
def held(cuda: Cuda, gpus: list[Gpu], size: int) -> Iterator[dict[int, Buffers]]:
    """Each GPU's copy buffers for the time of a phase, released whatever ends it (a CUDA error included)."""
    buffers: dict[int, Buffers] = {}
    try:
        for gpu in gpus:
            buffers[gpu.index] = allocate(cuda, gpu, size)
        yield buffers
    finally:
        for gpu in gpus:
            if gpu.index in buffers:
                with contextlib.suppress(CudaError):  # a dead context cannot even be made current
                    release(cuda, gpu, buffers[gpu.index])


def _enqueue(cuda: Cuda, direction: str, b: Buffers, size: int, stream: Any, times: int = 1) -> None:
    for _ in range(times):
        if direction == "h2d":
            cuda("cuMemcpyHtoDAsync", b.device, b.host, size, stream)
        elif direction == "d2h":
            cuda("cuMemcpyDtoHAsync", b.host, b.device, size, stream)
        else:
            cuda("cuMemcpyDtoDAsync", b.device2, b.device, size, stream)


def copies(cuda: Cuda, gpus: list[Gpu], buffers: dict[int, Buffers], direction: str, size: int, min_seconds: float,
           now: Callable[[], float]) -> dict[int, dict[str, float]]:
    """Time ``direction`` copies on every GPU of ``gpus`` at once; per GPU: GB/s and the window on ``now``'s clock.

    Device-to-device figures count the bytes read and written (2 x size), as bandwidthTest does.
    """
    streams, repeats, events = {}, {}, {}
    for gpu in gpus:
        gpu.use(cuda)
        stream = streams[gpu.index] = cuda.stream()
        repeats[gpu.index] = _repeats(cuda, stream, partial(_enqueue, cuda, direction, buffers[gpu.index], size, stream),
                                      min_seconds)
    began = now()
    for gpu in gpus:  # every GPU's copies queued before any is waited for: they run at once
        gpu.use(cuda)
        events[gpu.index] = cuda.record(streams[gpu.index], partial(_enqueue, cuda, direction, buffers[gpu.index], size,
                                                                    streams[gpu.index], repeats[gpu.index]))
    result = {}
    for gpu in gpus:
        gpu.use(cuda)
        seconds = cuda.elapsed_s(*events[gpu.index])
        moved = size * repeats[gpu.index] * (2 if direction == "d2d" else 1)
        result[gpu.index] = {"gbps": round(moved / seconds / GB, 3), "seconds": round(seconds, 4),
                             "copies": repeats[gpu.index]}
    ended = now()
    for gpu in gpus:
        result[gpu.index].update(start_t=round(began, 3), end_t=round(ended, 3))
        gpu.use(cuda)
        with contextlib.suppress(CudaError):
            cuda("cuStreamDestroy", streams[gpu.index])
    return result


def peer(cuda: Cuda, a: Gpu, b: Gpu, buffers: dict[int, Buffers], size: int, min_seconds: float) -> dict[str, Any]:
    """GPU a -> GPU b: whether the driver allows direct peer access, and the copy rate either way it goes
    (without peer access the driver stages the copy through host memory)."""
    can = bool(cuda("cuDeviceCanAccessPeer", a.device, b.device))
    if can:
        a.use(cuda)
        try:
            cuda("cuCtxEnablePeerAccess", b.context, 0)
        except CudaError as err:
            if err.name != "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED":
                raise
    a.use(cuda)
    stream = cuda.stream()
    src, dst = buffers[a.index].device, buffers[b.index].device2

    def copy(times: int = 1) -> None:
        for _ in range(times):
            cuda("cuMemcpyPeerAsync", dst, b.context, src, a.context, size, stream)

    repeats = _repeats(cuda, stream, copy, min_seconds)
    seconds = cuda.elapsed_s(*cuda.record(stream, partial(copy, repeats)))
    with contextlib.suppress(CudaError):
        cuda("cuStreamDestroy", stream)
    return {"a": a.index, "b": b.index, "peer_access": can, "gbps": round(size * repeats / seconds / GB, 3)}


def _repeats(cuda: Cuda, stream: Any, copy: Callable[[], None], min_seconds: float) -> int:
    """One untimed copy warms the engines and sizes the timed run: enough copies to last ``min_seconds``."""
    once = max(cuda.elapsed_s(*cuda.record(stream, copy)), 1e-6)
    return min(1000, max(3, math.ceil(min_seconds / once)))
