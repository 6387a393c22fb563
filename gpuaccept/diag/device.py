"""The GPUs as CUDA sees them, matched to NVML's indexes by PCI bus id (CUDA orders them its own way)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from gpuaccept.diag import kernels
from gpuaccept.diag.cuda import Cuda, CudaError
from gpuaccept.parse.pci_ids import normalise_bus_id

THREADS = 256  # per block; the grid-stride kernels take any grid
BLOCKS_PER_SM = 8


@dataclass
class Gpu:
    index: int  # NVML's index: the one every requirement and report uses
    ordinal: int  # CUDA's
    bus_id: str
    name: str
    device: Any
    context: Any
    sms: int
    functions: dict[str, Any] = field(default_factory=dict)
    load: str = "FP32 FMA"  # what the soak's compute load is on this card (with tensor cores where it has them)

    @property
    def blocks(self) -> int:
        return max(1, self.sms * BLOCKS_PER_SM)

    def use(self, cuda: Cuda) -> None:
        cuda("cuCtxSetCurrent", self.context)


def open_gpus(cuda: Cuda, nvml_bus_ids: dict[int, str]) -> tuple[list[Gpu], dict[int, str]]:
    """Every CUDA device NVML also lists, with the kernels loaded; and, by NVML index, why a GPU is missing."""
    found: dict[str, tuple[int, Any]] = {}
    for ordinal in range(int(cuda("cuDeviceGetCount"))):
        device = cuda("cuDeviceGet", ordinal)
        bus = cuda("cuDeviceGetPCIBusId", 32, device)
        bus = bus.decode(errors="replace").rstrip("\0") if isinstance(bus, bytes) else str(bus)
        found[normalise_bus_id(bus)] = (ordinal, device)
    ptx = kernels.ptx()
    gpus: list[Gpu] = []
    missing: dict[int, str] = {}
    for index, bus_id in sorted(nvml_bus_ids.items()):
        if bus_id not in found:
            missing[index] = (f"NVML lists it but CUDA does not (CUDA sees {len(found)} device(s)); "
                              "CUDA_VISIBLE_DEVICES in this shell may hide it")
            continue
        ordinal, device = found[bus_id]
        name = cuda("cuDeviceGetName", 256, device)
        name = name.split(b"\0", 1)[0].decode(errors="replace") if isinstance(name, bytes) else str(name)
        context = cuda("cuDevicePrimaryCtxRetain", device)
        gpu = Gpu(index, ordinal, bus_id, name, device, context,
                  cuda.attribute(device, "CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT"))
        gpu.use(cuda)
        try:
            module = cuda("cuModuleLoadData", ptx)
        except CudaError as err:  # the driver could not compile the PTX for this card (too old a driver)
            missing[index] = f"the driver could not load the suite's kernels ({err})"
            with contextlib.suppress(CudaError):
                cuda("cuDevicePrimaryCtxRelease", device)
            continue
        gpu.functions = {n: cuda("cuModuleGetFunction", module, n.encode()) for n in kernels.NAMES}
        gpu.load = _tensor_load(cuda, gpu)
        gpus.append(gpu)
    return gpus, missing


def _tensor_load(cuda: Cuda, gpu: Gpu) -> str:
    """Cards with tensor cores reach their power limit only with them busy: load kernels_tc there too.

    Where the driver will not load it, the soak runs the FP32 load alone and the record says why."""
    if cuda.attribute(gpu.device, "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR") < kernels.TENSOR_MIN_CC:
        return "FP32 FMA"
    try:
        module = cuda("cuModuleLoadData", kernels.ptx("kernels_tc"))
        gpu.functions.update({n: cuda("cuModuleGetFunction", module, n.encode()) for n in kernels.TENSOR_NAMES})
    except (CudaError, kernels.StalePtx) as err:
        return f"FP32 FMA (the tensor-core load did not load: {err})"
    return "FP32 FMA + tensor-core MMA"


def close_gpus(cuda: Cuda, gpus: list[Gpu]) -> None:
    for gpu in gpus:
        with contextlib.suppress(CudaError):
            cuda("cuDevicePrimaryCtxRelease", gpu.device)
