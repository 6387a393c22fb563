"""Live NVML snapshot: the only module that imports pynvml.

One error policy, here and nowhere else:
- an error while initialising, counting or opening a GPU, or any error that means the driver is gone
  (library missing, driver not loaded, driver/library mismatch, GPU lost, reset required), ends the
  snapshot with ``ok: false`` and the error's name: the GPU requirements fail with one message;
- an error reading one field (NOT_SUPPORTED, NO_PERMISSION, FUNCTION_NOT_FOUND, ...) leaves that field
  "not reported" with the reason, and its requirement skips saying so.

The snapshot is a plain dict: saved as ``nvml.json`` evidence, it replays to the same facts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pynvml

from gpuaccept.errors import SourceError
from gpuaccept.sources.deadline import DeadlineExceeded, within

SCHEMA = 1
MIB = 1024 * 1024

_ERROR_NAMES = {
    getattr(pynvml, name): name[len("NVML_ERROR_"):]
    for name in dir(pynvml)
    if name.startswith("NVML_ERROR_") and isinstance(getattr(pynvml, name), int)
}
# Errors after which nothing NVML says about the GPUs can be trusted (the sampler reads by this too).
FATAL = {"UNINITIALIZED", "LIBRARY_NOT_FOUND", "DRIVER_NOT_LOADED", "LIB_RM_VERSION_MISMATCH",
          "GPU_IS_LOST", "RESET_REQUIRED", "OPERATING_SYSTEM", "TIMEOUT"}
_FIELD_REASONS = {
    "NOT_SUPPORTED": "not supported by this GPU or driver (NVML NOT_SUPPORTED)",
    "NO_PERMISSION": "NVML needs root to read it (NO_PERMISSION)",
    "FUNCTION_NOT_FOUND": "this driver's NVML lacks the function (FUNCTION_NOT_FOUND)",
    "NO_DATA": "NVML has no data for it (NO_DATA)",
}
_ARCHITECTURES = {2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere",
                  8: "Ada Lovelace", 9: "Hopper", 10: "Blackwell", 13: "Rubin"}
_TOPOLOGY = {0: "INTERNAL", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}


class _Fatal(SourceError):
    def __init__(self, name: str, detail: str):
        super().__init__(name)
        self.name, self.detail = name, detail


def error_name(err: pynvml.NVMLError) -> str:
    return _ERROR_NAMES.get(err.value, f"ERROR_{err.value}")


def snapshot_with_timeout(timeout_s: float) -> dict[str, Any]:
    """Take a snapshot with a deadline: a hung driver cannot hang the run."""
    try:
        return within(timeout_s, "NVML", snapshot)
    except DeadlineExceeded:
        return _failure("TIMEOUT", f"NVML did not answer within {timeout_s:g} s")
    except Exception as err:  # a defect in pynvml or here must still leave a readable verdict
        return _failure("UNKNOWN", f"{type(err).__name__}: {err}")


def snapshot() -> dict[str, Any]:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        return _failure(error_name(err), str(err))
    try:
        return _snapshot()
    except _Fatal as fatal:
        return _failure(fatal.name, fatal.detail)
    finally:
        # Shutting down a library that lost its GPU can fail too; the snapshot is what counts.
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def _failure(name: str, detail: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "ok": False, "error": name, "detail": detail}


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except pynvml.NVMLError as err:
        raise _Fatal(error_name(err), str(err)) from err


def _snapshot() -> dict[str, Any]:
    system: dict[str, Any] = {}
    unreported: dict[str, str] = {}
    _read(system, unreported, "driver_version", pynvml.nvmlSystemGetDriverVersion)
    _read(system, unreported, "nvml_version", pynvml.nvmlSystemGetNVMLVersion)
    _read(system, unreported, "cuda_driver_version", pynvml.nvmlSystemGetCudaDriverVersion,
          convert=lambda v: f"{v // 1000}.{v % 1000 // 10}")
    count = _call(pynvml.nvmlDeviceGetCount)
    handles = [_call(pynvml.nvmlDeviceGetHandleByIndex, i) for i in range(count)]
    gpus = [_gpu(i, h) for i, h in enumerate(handles)]
    topology = []
    for a in range(count):
        for b in range(a + 1, count):
            values: dict[str, Any] = {}
            _read(values, unreported, f"topology {a}-{b}", pynvml.nvmlDeviceGetTopologyCommonAncestor,
                  handles[a], handles[b], convert=lambda v: _TOPOLOGY.get(v, str(v)))
            if f"topology {a}-{b}" in values:
                topology.append({"a": a, "b": b, "relation": values[f"topology {a}-{b}"]})
    return {"schema": SCHEMA, "ok": True, **system, "unreported": unreported, "gpus": gpus,
            "topology": topology}


def _read(into: dict[str, Any], unreported: dict[str, str], key: str, fn: Callable[..., Any], *args: Any,
          convert: Callable[[Any], Any] = lambda v: v) -> None:
    """Read one field under the error policy above."""
    try:
        into[key] = convert(fn(*args))
    except pynvml.NVMLError as err:
        name = error_name(err)
        if name in FATAL:
            raise _Fatal(name, str(err)) from err
        unreported[key] = _FIELD_REASONS.get(name, f"NVML error {name}: {err}")


def _gpu(index: int, h: Any) -> dict[str, Any]:
    g: dict[str, Any] = {"index": index}
    un: dict[str, str] = {}

    def read(key: str, fn: Callable[..., Any], *args: Any, convert: Callable[[Any], Any] = lambda v: v) -> None:
        _read(g, un, key, fn, h, *args, convert=convert)

    read("name", pynvml.nvmlDeviceGetName)
    read("uuid", pynvml.nvmlDeviceGetUUID)
    read("serial", pynvml.nvmlDeviceGetSerial)
    pci: dict[str, Any] = {}
    _read(pci, un, "pci", pynvml.nvmlDeviceGetPciInfo, h)
    if "pci" in pci:
        info = pci["pci"]
        bus = info.busId.decode() if isinstance(info.busId, bytes) else info.busId
        g["bus_id"] = bus
        g["pci_device_id"] = info.pciDeviceId >> 16
        g["pci_subsystem_id"] = info.pciSubSystemId
    else:
        for key in ("bus_id", "pci_device_id", "pci_subsystem_id"):
            un[key] = un["pci"]
    read("vbios_version", pynvml.nvmlDeviceGetVbiosVersion)
    read("architecture", pynvml.nvmlDeviceGetArchitecture, convert=lambda v: _ARCHITECTURES.get(v, f"arch {v}"))
    read("compute_capability", pynvml.nvmlDeviceGetCudaComputeCapability, convert=lambda v: f"{v[0]}.{v[1]}")
    read("memory_total_mib", pynvml.nvmlDeviceGetMemoryInfo, convert=lambda m: m.total // MIB)
    read("bar1_total_mib", pynvml.nvmlDeviceGetBAR1MemoryInfo, convert=lambda m: m.bar1Total // MIB)
    read("ecc_enabled", pynvml.nvmlDeviceGetEccMode, convert=lambda m: bool(m[0]))
    read("ecc_pending_enabled", pynvml.nvmlDeviceGetEccMode, convert=lambda m: bool(m[1]))
    if g.get("ecc_enabled"):
        read("ecc_uncorrected_volatile", pynvml.nvmlDeviceGetTotalEccErrors,
             pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC)
        read("ecc_uncorrected_aggregate", pynvml.nvmlDeviceGetTotalEccErrors,
             pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_AGGREGATE_ECC)
    else:
        un["ecc_uncorrected_volatile"] = un["ecc_uncorrected_aggregate"] = "ECC is disabled: no counters"
    read("persistence_mode", pynvml.nvmlDeviceGetPersistenceMode, convert=lambda v: v == pynvml.NVML_FEATURE_ENABLED)
    read("power_default_limit_w", pynvml.nvmlDeviceGetPowerManagementDefaultLimit, convert=lambda mw: mw / 1000)
    read("power_enforced_limit_w", pynvml.nvmlDeviceGetEnforcedPowerLimit, convert=lambda mw: mw / 1000)
    read("power_max_limit_w", pynvml.nvmlDeviceGetPowerManagementLimitConstraints, convert=lambda c: c[1] / 1000)
    read("pcie_gen_current", pynvml.nvmlDeviceGetCurrPcieLinkGeneration)
    read("pcie_gen_max", pynvml.nvmlDeviceGetMaxPcieLinkGeneration)
    read("pcie_width_current", pynvml.nvmlDeviceGetCurrPcieLinkWidth)
    read("pcie_width_max", pynvml.nvmlDeviceGetMaxPcieLinkWidth)
    read("retired_pages_sbe", pynvml.nvmlDeviceGetRetiredPages,
         pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS, convert=len)
    read("retired_pages_dbe", pynvml.nvmlDeviceGetRetiredPages,
         pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR, convert=len)
    read("retired_pages_pending", pynvml.nvmlDeviceGetRetiredPagesPendingStatus, convert=bool)
    # One call gives all four (corrected, uncorrected, pending, failure); NOT_SUPPORTED before Ampere.
    for position, key in enumerate(("remapped_rows_correctable", "remapped_rows_uncorrectable",
                                    "remapped_rows_pending", "remapped_rows_failure")):
        read(key, pynvml.nvmlDeviceGetRemappedRows,
             convert=lambda rows, i=position: bool(rows[i]) if i >= 2 else int(rows[i]))
    read("nvlink_active", _active_nvlinks)
    read("temp_slowdown_c", pynvml.nvmlDeviceGetTemperatureThreshold, pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)
    read("temp_shutdown_c", pynvml.nvmlDeviceGetTemperatureThreshold, pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN)
    un.pop("pci", None)
    g["unreported"] = un
    return g


def _active_nvlinks(h: Any) -> int:
    """How many NVLinks of the GPU are up. NOT_SUPPORTED for link 0 is a card without NVLink (a P40: 0, a
    positive fact PCIE-TOPO needs); past the card's last link NVML answers NOT_SUPPORTED or
    INVALID_ARGUMENT. Any other error is the field's (not reported, with the reason)."""
    active = 0
    for link in range(pynvml.NVML_NVLINK_MAX_LINKS):
        try:
            active += pynvml.nvmlDeviceGetNvLinkState(h, link) == pynvml.NVML_FEATURE_ENABLED
        except pynvml.NVMLError as err:
            if error_name(err) == "NOT_SUPPORTED" or (link and error_name(err) == "INVALID_ARGUMENT"):
                break
            raise
    return active


def enable_persistence(index: int, timeout_s: float) -> str | None:
    """Turn persistence mode on for GPU ``index``; None when done, else why not (NVML needs root)."""

    def work() -> None:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            pynvml.nvmlDeviceSetPersistenceMode(handle, pynvml.NVML_FEATURE_ENABLED)
        finally:
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()

    try:
        within(timeout_s, "NVML", work)
    except DeadlineExceeded as err:
        return str(err)
    except pynvml.NVMLError as err:
        name = error_name(err)
        return "NVML refused: run as root (NO_PERMISSION)" if name == "NO_PERMISSION" else f"NVML {name}: {err}"
    return None


def _per_gpu(timeout_s: float, read: Callable[[int, Any], dict[str, Any]]) -> dict[str, Any]:
    """``{"gpus": [read(index, handle)...], "error": ""}`` from one NVML session within ``timeout_s``;
    ``error`` (and no GPUs) when NVML failed or did not answer in time."""

    def work() -> dict[str, Any]:
        pynvml.nvmlInit()
        try:
            return {"gpus": [read(index, pynvml.nvmlDeviceGetHandleByIndex(index))
                             for index in range(pynvml.nvmlDeviceGetCount())], "error": ""}
        finally:
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()

    try:
        return within(timeout_s, "NVML", work)
    except DeadlineExceeded as err:
        return {"gpus": [], "error": str(err)}
    except _Fatal as err:
        return {"gpus": [], "error": f"NVML {err.name}: {err.detail}"}
    except pynvml.NVMLError as err:
        return {"gpus": [], "error": f"NVML {error_name(err)}: {err}"}


def compute_processes(timeout_s: float) -> dict[str, Any]:
    """Every compute process on each GPU now (NVML's list; ``used_mib`` None where the driver cannot tell):
    the diag tier looks before it allocates anything. ``error`` when NVML could not tell."""

    def read(index: int, h: Any) -> dict[str, Any]:
        procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
        return {"index": index, "bus_id": _text(pynvml.nvmlDeviceGetPciInfo(h).busId),
                "processes": [{"pid": int(p.pid), "used_mib": None if p.usedGpuMemory is None
                               else int(p.usedGpuMemory) // MIB} for p in procs]}

    return _per_gpu(timeout_s, read)


def link_counters(timeout_s: float) -> dict[str, Any]:
    """For the diag tier, before and after its load: each GPU's bus id, PCIe replay counter and volatile ECC
    counts (None where NVML cannot tell, with the reason in ``unreported``); ``error`` when NVML failed."""

    def read(index: int, h: Any) -> dict[str, Any]:
        g: dict[str, Any] = {"index": index}
        un: dict[str, str] = {}
        _read(g, un, "bus_id", lambda handle: _text(pynvml.nvmlDeviceGetPciInfo(handle).busId), h)
        _read(g, un, "pcie_replay", pynvml.nvmlDeviceGetPcieReplayCounter, h)
        for key, kind in (("ecc_corrected", pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                          ("ecc_uncorrected", pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED)):
            _read(g, un, key, pynvml.nvmlDeviceGetTotalEccErrors, h, kind, pynvml.NVML_VOLATILE_ECC)
        for key in ("bus_id", "pcie_replay", "ecc_corrected", "ecc_uncorrected"):
            g.setdefault(key, None)
        g["unreported"] = un
        return g

    return _per_gpu(timeout_s, read)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
