"""The one door to the CUDA driver: ``cuda.bindings.driver`` from NVIDIA's cuda-bindings, no ctypes of ours.

Every diag module calls the driver through ``Cuda``, so the simulated driver of the self-tests stands in
at exactly this seam (``install``): the same calls, the same ``(CUresult, value...)`` answers.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from gpuaccept.errors import SourceError

#: The driver module in use: cuda.bindings.driver, or a simulation the self-tests install.
_DRIVER: Any = None

INSTALL_HINT = "pip install -e '.[diag]' (cuda-bindings, CUDA 12 line)"


class Unavailable(SourceError):
    """The tier cannot run here: no bindings, no driver library, or the driver refused to start."""


class Stopped(SourceError):
    """The run asked the tier to stop (Ctrl-C, a signal, or the tier's deadline): the cards must not keep working."""


class CudaError(SourceError):
    def __init__(self, call: str, name: str, text: str = "") -> None:
        self.call, self.name = call, name
        super().__init__(f"{call}: {name}" + (f" ({text})" if text else ""))


def install(driver: Any) -> None:
    """Serve the driver API from ``driver`` (a simulation); None restores cuda.bindings."""
    global _DRIVER
    _DRIVER = driver


def driver_module() -> Any:
    if _DRIVER is not None:
        return _DRIVER
    try:
        from cuda.bindings import driver
    except ImportError as err:
        raise Unavailable(f"the CUDA Python bindings are not installed ({err}): {INSTALL_HINT}") from None
    return driver


def bindings_version() -> str:
    if _DRIVER is not None:
        return getattr(_DRIVER, "__version__", "simulated")
    try:
        from importlib.metadata import version

        return version("cuda-bindings")
    except Exception:  # metadata missing in an odd install: the version is only shown
        return "unknown"


class Cuda:
    """Calls ``driver.<name>(*args)`` and unwraps its ``(CUresult, values...)`` answer, raising CudaError."""

    def __init__(self, driver: Any) -> None:
        self.d = driver

    @classmethod
    def open(cls) -> Cuda:
        """The driver, initialised; Unavailable (with the reason a technician can act on) when it cannot be."""
        d = driver_module()
        try:
            result = d.cuInit(0)
        except Exception as err:  # cuda-pathfinder raises when libcuda.so.1 is not on the host
            raise Unavailable(f"no CUDA driver library on this host ({type(err).__name__}: {err}); "
                              "install the NVIDIA driver (its libcuda.so.1)") from None
        cuda = cls(d)
        err = result[0] if isinstance(result, tuple) else result
        if int(err) != 0:
            raise Unavailable(f"the CUDA driver did not start: cuInit returned {cuda.error_name(err)}")
        return cuda

    def error_name(self, err: Any) -> str:
        try:
            code, name = self.d.cuGetErrorName(err)
            if int(code) == 0:
                return name.decode() if isinstance(name, bytes) else str(name)
        except Exception:  # an unknown code: its number is the name
            pass
        return f"CUresult {int(err)}"

    def __call__(self, name: str, *args: Any) -> Any:
        result = getattr(self.d, name)(*args)
        err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if int(err) != 0:
            raise CudaError(name, self.error_name(err))
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    # Named helpers for what every module does; each is one driver call or a short fixed sequence.

    def attribute(self, device: Any, name: str) -> int:
        return int(self("cuDeviceGetAttribute", getattr(self.d.CUdevice_attribute, name), device))

    def pinned(self, size: int) -> int:
        """Page-locked host memory (the kind the DMA engines copy at full link speed)."""
        return int(self("cuMemHostAlloc", size, 0))

    def event(self) -> Any:
        return self("cuEventCreate", 0)

    def stream(self) -> Any:
        return self("cuStreamCreate", 1)  # CU_STREAM_NON_BLOCKING: never serialised with another stream

    def record(self, stream: Any, work: Callable[[], None]) -> tuple[Any, Any]:
        """Two new events on ``stream`` around what ``work()`` queues there (read them with ``elapsed_s``)."""
        start, end = self.event(), self.event()
        self("cuEventRecord", start, stream)
        work()
        self("cuEventRecord", end, stream)
        return start, end

    def elapsed_s(self, start: Any, end: Any) -> float:
        self("cuEventSynchronize", end)
        return float(self("cuEventElapsedTime", start, end)) / 1000.0

    def launch(self, function: Any, blocks: int, threads: int, stream: Any, args: tuple[tuple[Any, Any], ...]) -> None:
        """``args``: (value, ctypes type) pairs; a device pointer goes as (CUdeviceptr, None)."""
        values = tuple(v for v, _ in args)
        types = tuple(t for _, t in args)
        self("cuLaunchKernel", function, blocks, 1, 1, threads, 1, 1, 0, stream, (values, types), 0)

    def read_u64(self, pointer: Any, count: int) -> list[int]:
        """``count`` 64-bit words from device memory (results of the check kernel)."""
        host = (ctypes.c_uint64 * count)()
        self("cuMemcpyDtoH", ctypes.addressof(host), pointer, 8 * count)
        return list(host)
