"""A stand-in for libnvidia-ml.so at the boundary pynvml calls.

pynvml looks every NVML function up on its module global ``nvmlLib``. This object's attributes are
ctypes callbacks with the C signatures (pointer arguments as ``c_void_p``, cast inside) that return
NVML status codes, so pynvml's own marshaling, structs and error classes run unchanged. It serves the
values of an ``nvml.json`` snapshot, i.e. of a real capture, and can be told to fail.
"""

from __future__ import annotations

import ctypes
import json
from ctypes import CFUNCTYPE, POINTER, c_int, c_uint, c_ulonglong, c_void_p, cast
from typing import Any

import pynvml

SUCCESS = 0
MIB = 1024 * 1024
_ARCH = {v: k for k, v in {2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere",
                           8: "Ada Lovelace", 9: "Hopper", 10: "Blackwell"}.items()}
_TOPO = {"PIX": 10, "PXB": 20, "PHB": 30, "NODE": 40, "SYS": 50}


def _put(ptr: int, ctype: Any, value: Any) -> None:
    cast(ptr, POINTER(ctype))[0] = value


def _put_str(ptr: int, size: int, text: str) -> int:
    data = text.encode() + b"\0"
    if len(data) > size:
        return pynvml.NVML_ERROR_INSUFFICIENT_SIZE
    ctypes.memmove(ptr, data, len(data))
    return SUCCESS


class FakeNvmlLib:
    def __init__(self, snapshot: dict[str, Any], *, init_error: int | None = None,
                 errors: dict[tuple[int, str], int] | None = None, live: str | None = None) -> None:
        """``errors`` maps (GPU index, NVML function name) to the status code that call returns.

        ``live``: a JSON file with the GPUs' changing state (utilization, memory, processes, link,
        temperature, power, throttle reasons), re-read on every call: the Ollama stand-in writes it as
        it loads and runs a model, so sampled values follow the simulated placement.
        """
        self.snapshot = snapshot
        self.live = live
        self.gpus = snapshot.get("gpus", [])
        self.init_error = init_error
        self.errors = errors or {}
        self.calls: list[str] = []
        self.deny_settings = False  # True: setters answer NO_PERMISSION, as for a non-root user
        self._keep: list[Any] = []
        for name, argtypes in _SIGNATURES.items():
            impl = getattr(self, f"_{name}")
            callback = CFUNCTYPE(c_int, *argtypes)(self._traced(name, impl))
            self._keep.append(callback)
            setattr(self, name, callback)

    def _traced(self, name: str, impl):
        def call(*args):
            self.calls.append(name)
            if name.startswith("nvmlDevice") and name != "nvmlDeviceGetCount_v2" and \
                    name != "nvmlDeviceGetHandleByIndex_v2":
                code = self.errors.get((args[0] - 1, name))
                if code is not None:
                    return code
            return impl(*args)
        return call

    def install(self) -> None:
        """Make pynvml use this object as its loaded library."""
        pynvml._nvmlGetFunctionPointer_cache.clear()
        pynvml.nvmlLib = self

    @staticmethod
    def uninstall() -> None:
        pynvml._nvmlGetFunctionPointer_cache.clear()
        pynvml.nvmlLib = None

    def _gpu(self, handle: int) -> dict[str, Any]:
        return self.gpus[handle - 1]

    def _value(self, handle: int, key: str) -> Any:
        gpu = self._gpu(handle)
        return gpu.get(key)

    # --- system -----------------------------------------------------------------------------
    def _nvmlInitWithFlags(self, flags):
        return self.init_error or SUCCESS

    def _nvmlShutdown(self):
        return SUCCESS

    def _nvmlSystemGetDriverVersion(self, buf, size):
        return _put_str(buf, size, self.snapshot["driver_version"])

    def _nvmlSystemGetNVMLVersion(self, buf, size):
        return _put_str(buf, size, self.snapshot.get("nvml_version", "13." + self.snapshot["driver_version"]))

    def _nvmlSystemGetCudaDriverVersion(self, ptr):
        major, minor = self.snapshot.get("cuda_driver_version", "13.0").split(".")
        _put(ptr, c_int, int(major) * 1000 + int(minor) * 10)
        return SUCCESS

    def _nvmlDeviceGetCount_v2(self, ptr):
        _put(ptr, c_uint, len(self.gpus))
        return SUCCESS

    def _nvmlDeviceGetHandleByIndex_v2(self, index, ptr):
        if index >= len(self.gpus):
            return pynvml.NVML_ERROR_INVALID_ARGUMENT
        _put(ptr, c_void_p, index + 1)  # handles are opaque pointers; 0 would be NULL
        return SUCCESS

    # --- per device -------------------------------------------------------------------------
    def _string(self, key):
        def impl(h, buf, size):
            value = self._value(h, key)
            return pynvml.NVML_ERROR_NOT_SUPPORTED if value is None else _put_str(buf, size, value)
        return impl

    def _nvmlDeviceGetName(self, h, buf, size):
        return self._string("name")(h, buf, size)

    def _nvmlDeviceGetUUID(self, h, buf, size):
        return self._string("uuid")(h, buf, size)

    def _nvmlDeviceGetSerial(self, h, buf, size):
        return self._string("serial")(h, buf, size)

    def _nvmlDeviceGetVbiosVersion(self, h, buf, size):
        return self._string("vbios_version")(h, buf, size)

    def _nvmlDeviceGetPciInfo_v3(self, h, ptr):
        gpu = self._gpu(h)
        info = cast(ptr, POINTER(pynvml.nvmlPciInfo_t))[0]
        bus = gpu["bus_id"]
        info.busId = bus.encode()
        info.busIdLegacy = bus.encode()[:15]
        info.domain, info.bus, info.device = int(bus.split(":")[0], 16), int(bus.split(":")[1], 16), 0
        info.pciDeviceId = (gpu["pci_device_id"] << 16) | 0x10DE
        info.pciSubSystemId = gpu.get("pci_subsystem_id") or 0
        return SUCCESS

    def _scalar(self, h, ptr, key, ctype=c_uint, convert=lambda v: v):
        value = self._value(h, key)
        if value is None:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        _put(ptr, ctype, convert(value))
        return SUCCESS

    def _nvmlDeviceGetArchitecture(self, h, ptr):
        return self._scalar(h, ptr, "architecture", convert=lambda a: _ARCH.get(a, 0xFFFFFFFF))

    def _nvmlDeviceGetCudaComputeCapability(self, h, major, minor):
        cc = self._value(h, "compute_capability")
        if cc is None:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        _put(major, c_int, int(cc.split(".")[0]))
        _put(minor, c_int, int(cc.split(".")[1]))
        return SUCCESS

    def _state(self, h) -> dict[str, Any]:
        if not self.live:
            return {}
        try:
            with open(self.live) as handle:
                gpus = json.load(handle).get("gpus", [])
        except (OSError, ValueError):
            return {}
        return next((g for g in gpus if g.get("index") == h - 1), {})

    def _nvmlDeviceGetMemoryInfo(self, h, ptr):
        mem = cast(ptr, POINTER(pynvml.c_nvmlMemory_t))[0]
        mem.total = self._value(h, "memory_total_mib") * MIB
        mem.used = int(self._state(h).get("mem_used_mib", 0) * MIB)
        mem.free = mem.total - mem.used
        return SUCCESS

    def _nvmlDeviceGetUtilizationRates(self, h, ptr):
        util = cast(ptr, POINTER(pynvml.c_nvmlUtilization_t))[0]
        util.gpu = int(self._state(h).get("util_pct", 0))
        util.memory = util.gpu // 2
        return SUCCESS

    def _nvmlDeviceGetComputeRunningProcesses_v3(self, h, count_ptr, infos_ptr):
        procs = self._state(h).get("processes", [])
        count = cast(count_ptr, POINTER(c_uint))
        if not procs:
            count[0] = 0
            return SUCCESS
        if not infos_ptr or count[0] < len(procs):
            count[0] = len(procs)
            return pynvml.NVML_ERROR_INSUFFICIENT_SIZE
        infos = cast(infos_ptr, POINTER(pynvml.c_nvmlProcessInfo_v3_t))
        for i, (pid, mib) in enumerate(procs):
            # None: the driver cannot tell (NVML_VALUE_NOT_AVAILABLE), as pynvml then reports it
            infos[i].pid, infos[i].usedGpuMemory = pid, (2**64 - 1) if mib is None else int(mib * MIB)
            infos[i].gpuInstanceId = infos[i].computeInstanceId = 0xFFFFFFFF
        count[0] = len(procs)
        return SUCCESS

    def _live_scalar(self, h, ptr, key, ctype=c_uint, convert=lambda v: v):
        value = self._state(h).get(key)
        if value is None:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        _put(ptr, ctype, convert(value))
        return SUCCESS

    def _nvmlDeviceGetTemperature(self, h, sensor, ptr):
        return self._live_scalar(h, ptr, "temp_c", convert=int)

    def _nvmlDeviceGetPowerUsage(self, h, ptr):
        return self._live_scalar(h, ptr, "power_w", convert=lambda w: int(w * 1000))

    def _nvmlDeviceGetCurrentClocksEventReasons(self, h, ptr):
        return self._live_scalar(h, ptr, "throttle", ctype=c_ulonglong, convert=int)

    def _nvmlDeviceGetBAR1MemoryInfo(self, h, ptr):
        bar1 = cast(ptr, POINTER(pynvml.c_nvmlBAR1Memory_t))[0]
        bar1.bar1Total = self._value(h, "bar1_total_mib") * MIB
        bar1.bar1Used, bar1.bar1Free = 0, bar1.bar1Total
        return SUCCESS

    def _nvmlDeviceGetEccMode(self, h, current, pending):
        if self._value(h, "ecc_enabled") is None:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        _put(current, c_uint, int(self._value(h, "ecc_enabled")))
        _put(pending, c_uint, int(bool(self._value(h, "ecc_pending_enabled"))))
        return SUCCESS

    def _nvmlDeviceGetTotalEccErrors(self, h, error_type, counter_type, ptr):
        key = "ecc_uncorrected_volatile" if counter_type == pynvml.NVML_VOLATILE_ECC else "ecc_uncorrected_aggregate"
        live = "ecc_corrected_volatile" if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED else key
        if live in self._state(h):  # errors the simulated CUDA driver raised during the run
            return self._live_scalar(h, ptr, live, c_ulonglong)
        return self._scalar(h, ptr, key, c_ulonglong)

    def _nvmlDeviceGetPersistenceMode(self, h, ptr):
        return self._scalar(h, ptr, "persistence_mode", convert=int)

    def _nvmlDeviceSetPersistenceMode(self, h, mode):
        # As the real library: root only, and the new mode is what later reads return.
        if self.deny_settings:
            return pynvml.NVML_ERROR_NO_PERMISSION
        self._gpu(h)["persistence_mode"] = bool(mode)
        return SUCCESS

    def _nvmlDeviceGetPowerManagementDefaultLimit(self, h, ptr):
        return self._scalar(h, ptr, "power_default_limit_w", convert=lambda w: int(w * 1000))

    def _nvmlDeviceGetEnforcedPowerLimit(self, h, ptr):
        return self._scalar(h, ptr, "power_enforced_limit_w", convert=lambda w: int(w * 1000))

    def _nvmlDeviceGetPowerManagementLimitConstraints(self, h, low, high):
        _put(low, c_uint, int(self._value(h, "power_max_limit_w") * 500))
        _put(high, c_uint, int(self._value(h, "power_max_limit_w") * 1000))
        return SUCCESS

    def _nvmlDeviceGetCurrPcieLinkGeneration(self, h, ptr):
        if "pcie_gen" in self._state(h):  # under load the link trains up (or, when faulty, does not)
            return self._live_scalar(h, ptr, "pcie_gen")
        return self._scalar(h, ptr, "pcie_gen_current")

    def _nvmlDeviceGetMaxPcieLinkGeneration(self, h, ptr):
        return self._scalar(h, ptr, "pcie_gen_max")

    def _nvmlDeviceGetCurrPcieLinkWidth(self, h, ptr):
        if "pcie_width" in self._state(h):  # a link that trains narrower under load
            return self._live_scalar(h, ptr, "pcie_width")
        return self._scalar(h, ptr, "pcie_width_current")

    def _nvmlDeviceGetPcieReplayCounter(self, h, ptr):
        if "pcie_replay" in self._state(h):  # replays counted while the simulated driver copies
            return self._live_scalar(h, ptr, "pcie_replay")
        return self._scalar(h, ptr, "pcie_replay")

    def _nvmlDeviceGetClockInfo(self, h, clock_type, ptr):
        if clock_type != pynvml.NVML_CLOCK_SM:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        return self._live_scalar(h, ptr, "sm_clock_mhz")

    def _nvmlDeviceGetMaxPcieLinkWidth(self, h, ptr):
        return self._scalar(h, ptr, "pcie_width_max")

    def _nvmlDeviceGetRetiredPages(self, h, cause, count_ptr, pages_ptr):
        key = "retired_pages_dbe" if cause == pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR \
            else "retired_pages_sbe"
        count = self._value(h, key)
        if count is None:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        _put(count_ptr, c_uint, count)
        if pages_ptr:
            for i in range(count):
                cast(pages_ptr, POINTER(c_ulonglong))[i] = 0x1000 * (i + 1)
        return SUCCESS

    def _nvmlDeviceGetRetiredPagesPendingStatus(self, h, ptr):
        return self._scalar(h, ptr, "retired_pages_pending", convert=int)

    def _nvmlDeviceGetRemappedRows(self, h, corr, unc, pending, failure):
        # Ampere and later only: a snapshot without the values is a card that answers NOT_SUPPORTED.
        if self._value(h, "remapped_rows_pending") is None:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        for ptr, key in ((corr, "remapped_rows_correctable"), (unc, "remapped_rows_uncorrectable"),
                         (pending, "remapped_rows_pending"), (failure, "remapped_rows_failure")):
            _put(ptr, c_uint, int(self._value(h, key)))
        return SUCCESS

    def _nvmlDeviceGetTemperatureThreshold(self, h, which, ptr):
        key = "temp_slowdown_c" if which == pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN else "temp_shutdown_c"
        return self._scalar(h, ptr, key)

    def _nvmlDeviceGetNvLinkState(self, h, link, ptr):
        # A card without NVLink (every capture here: P40, T4) answers NOT_SUPPORTED for link 0; a snapshot
        # with nvlink_active N has links 0..N-1 up and answers INVALID_ARGUMENT past them.
        active = self._value(h, "nvlink_active")
        if not active:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        if link >= active:
            return pynvml.NVML_ERROR_INVALID_ARGUMENT
        _put(ptr, c_uint, pynvml.NVML_FEATURE_ENABLED)
        return SUCCESS

    def _nvmlDeviceGetTopologyCommonAncestor(self, h1, h2, ptr):
        a, b = sorted((h1 - 1, h2 - 1))
        for link in self.snapshot.get("topology", []):
            if (link["a"], link["b"]) == (a, b):
                _put(ptr, c_uint, _TOPO[link["relation"]])
                return SUCCESS
        return pynvml.NVML_ERROR_NOT_SUPPORTED


_P = c_void_p
_SIGNATURES: dict[str, tuple] = {
    "nvmlInitWithFlags": (c_uint,),
    "nvmlShutdown": (),
    "nvmlSystemGetDriverVersion": (_P, c_uint),
    "nvmlSystemGetNVMLVersion": (_P, c_uint),
    "nvmlSystemGetCudaDriverVersion": (_P,),
    "nvmlDeviceGetCount_v2": (_P,),
    "nvmlDeviceGetHandleByIndex_v2": (c_uint, _P),
    "nvmlDeviceGetName": (_P, _P, c_uint),
    "nvmlDeviceGetUUID": (_P, _P, c_uint),
    "nvmlDeviceGetSerial": (_P, _P, c_uint),
    "nvmlDeviceGetVbiosVersion": (_P, _P, c_uint),
    "nvmlDeviceGetPciInfo_v3": (_P, _P),
    "nvmlDeviceGetArchitecture": (_P, _P),
    "nvmlDeviceGetCudaComputeCapability": (_P, _P, _P),
    "nvmlDeviceGetMemoryInfo": (_P, _P),
    "nvmlDeviceGetBAR1MemoryInfo": (_P, _P),
    "nvmlDeviceGetEccMode": (_P, _P, _P),
    "nvmlDeviceGetTotalEccErrors": (_P, c_uint, c_uint, _P),
    "nvmlDeviceGetPersistenceMode": (_P, _P),
    "nvmlDeviceSetPersistenceMode": (_P, c_uint),
    "nvmlDeviceGetPowerManagementDefaultLimit": (_P, _P),
    "nvmlDeviceGetEnforcedPowerLimit": (_P, _P),
    "nvmlDeviceGetPowerManagementLimitConstraints": (_P, _P, _P),
    "nvmlDeviceGetCurrPcieLinkGeneration": (_P, _P),
    "nvmlDeviceGetMaxPcieLinkGeneration": (_P, _P),
    "nvmlDeviceGetCurrPcieLinkWidth": (_P, _P),
    "nvmlDeviceGetMaxPcieLinkWidth": (_P, _P),
    "nvmlDeviceGetRetiredPages": (_P, c_uint, _P, _P),
    "nvmlDeviceGetRetiredPagesPendingStatus": (_P, _P),
    "nvmlDeviceGetRemappedRows": (_P, _P, _P, _P, _P),
    "nvmlDeviceGetTemperatureThreshold": (_P, c_uint, _P),
    "nvmlDeviceGetTopologyCommonAncestor": (_P, _P, _P),
    "nvmlDeviceGetNvLinkState": (_P, c_uint, _P),
    "nvmlDeviceGetUtilizationRates": (_P, _P),
    "nvmlDeviceGetComputeRunningProcesses_v3": (_P, _P, _P),
    "nvmlDeviceGetTemperature": (_P, c_uint, _P),
    "nvmlDeviceGetPowerUsage": (_P, _P),
    "nvmlDeviceGetCurrentClocksEventReasons": (_P, _P),
    "nvmlDeviceGetPcieReplayCounter": (_P, _P),
    "nvmlDeviceGetClockInfo": (_P, c_uint, _P),
}
