"""A simulated ``cuda.bindings.driver`` for the diag tier, installed at its one seam (gpuaccept.diag.cuda.install).

It answers exactly the calls the diag modules make, as the real bindings do: ``(CUresult, value...)``
tuples with the real enums and handle types (nothing reaches libcuda). GPUs come from a spec (``p40``
gives a Tesla P40's published figures); copies and kernels take the time their bytes and FLOPs need at
the simulated rates, scaled onto the wall clock by ``time_scale`` so the NVML sampler sees them; device
memory is the description model of cuda_memory. While the GPUs work the driver writes the fake NVML's
live state (link, power, temperature, SM clock, throttle reasons, replay counter) and, given a sysfs
root, the GPUs' AER counters. Faults per GPU (``faults``): ``stuck`` cells, a ``link`` trained low,
``replays_per_copy``, ``aer_per_copy``, ``throttle`` during the burn, a CUDA ``error`` at a kernel launch.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cuda.bindings import driver as real

from tests.fakes import cuda_aer
from tests.fakes.cuda_memory import OPAQUE, Allocation, Unsimulated, describe

R = real.CUresult
OK = R.CUDA_SUCCESS
MIB, GIB = 2**20, 2**30
# PCIe payload GB/s per lane after line coding: a link trained below Gen3 x16 scales the copy rates.
LANE_GBPS = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969}


def p40(bus_id: str, **override: Any) -> dict[str, Any]:
    """A Tesla P40. Copy rates: Microway's bandwidthTest on a P40 (pinned, Gen3 x16): 11.8 GB/s host to
    device, 12.9 GB/s device to host, 240 GB/s device to device. 24 GiB GDDR5, 30 SMs (3840 FP32 cores),
    11.76 TFLOPS FP32 at the 1531 MHz boost clock, 250 W board power."""
    spec = {"bus_id": bus_id, "name": "Tesla P40", "memory_mib": 24576, "free_mib": 24576 - 256, "sms": 30,
            "h2d_gbps": 11.8, "d2h_gbps": 12.9, "d2d_gbps": 240.0, "tflops": 11.76, "pcie_gen": 3, "pcie_width": 16,
            "power_idle_w": 50.0, "power_load_w": 240.0, "temp_idle_c": 30, "temp_load_c": 71, "warm_tau_s": 0.4,
            "sm_clock_idle_mhz": 544, "sm_clock_load_mhz": 1531, "faults": {}}
    return {**spec, **override}


def dual_p40(**common: Any) -> list[dict[str, Any]]:
    """The GPUs of fixtures/hosts/dual-p40 (NVML indexes 0 and 1)."""
    return [p40("0000:02:00.0", nvml_index=0, **common), p40("0000:03:00.0", nvml_index=1, **common)]


def _signatures() -> dict[str, tuple[str, ...]]:
    """kernels.cu's kernels and their parameter kinds ("ptr", "u64", "u32"), read from the source itself."""
    source = (Path(__file__).parents[2] / "gpuaccept" / "diag" / "kernels.cu").read_text()
    out = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', source):
        out[name] = tuple("ptr" if "*" in p else p.split()[0] for p in params.split(","))
    return out


SIGNATURES = _signatures()
_CTYPE = {"u64": ctypes.c_uint64, "u32": ctypes.c_uint32, "ptr": None}


@dataclass
class Stream:
    device: Device
    t: float = 0.0  # simulated seconds at which the queued work ends


@dataclass
class Device:
    ordinal: int
    spec: dict[str, Any]
    base: int
    allocations: dict[int, Allocation] = field(default_factory=dict)
    peers: set[int] = field(default_factory=set)
    launches: dict[str, int] = field(default_factory=dict)
    sticky: Any = None  # a CUresult every later call on this context answers (as after an ECC fault)
    burn_since: float | None = None
    burning: set[int] = field(default_factory=set)  # buffers the burn kernel runs on
    replays: int = 0
    aer: dict[str, dict[str, int]] = field(default_factory=dict)  # "gpu" or "port" -> kind -> total
    ecc_uncorrected: int = 0

    @property
    def faults(self) -> dict[str, Any]:
        return self.spec.get("faults", {})

    def rate(self, key: str) -> float:
        """GB/s; host copies slow down with a link trained below Gen3 x16."""
        gbps = self.spec[key]
        link = self.faults.get("link")
        if link and key in ("h2d_gbps", "d2h_gbps"):
            gbps *= LANE_GBPS[link["gen"]] * link["width"] / (LANE_GBPS[3] * 16)
        return gbps

    def used(self) -> int:
        return sum(a.size for a in self.allocations.values())


class FakeDriver:
    __version__ = "simulated"
    CUresult, CUdevice_attribute = real.CUresult, real.CUdevice_attribute  # the real enums

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.scale = float(spec.get("time_scale", 0.25))
        self.live = spec.get("nvml_live")
        self.sysfs = spec.get("sysfs")
        self.devices = [Device(i, g, 0x7F0000000000 + i * 0x1000000000) for i, g in enumerate(spec["gpus"])]
        self.host: dict[int, Allocation] = {}
        self.handles = itertools.count(0x1000)
        self.streams: dict[int, Stream] = {}
        self.events: dict[int, tuple[Device, float]] = {}
        self.modules: dict[int, tuple[Device, set[str]]] = {}  # handle -> (device, its PTX's entry points)
        self.functions: dict[int, tuple[Device, str]] = {}
        self.current: Device | None = None
        self.t0 = time.monotonic()
        self.written: dict[str, Any] = {}  # what write_state last published

    def __getattr__(self, name: str) -> Any:
        if name.startswith("cu"):
            raise AttributeError(f"the simulated driver does not offer {name} (the diag modules never call it)")
        raise AttributeError(name)

    # --- time ----------------------------------------------------------------------------------
    def sim_now(self) -> float:
        return (time.monotonic() - self.t0) / self.scale if self.scale > 0 else 0.0

    def _enqueue(self, stream: Stream, seconds: float) -> None:
        stream.t = max(stream.t, self.sim_now()) + seconds

    def _wait(self, t: float) -> None:
        if self.scale > 0:
            time.sleep(max(0.0, self.t0 + t * self.scale - time.monotonic()))
        self.write_state()

    # --- lookups -------------------------------------------------------------------------------
    def _device(self, handle: Any) -> Device:
        return self.devices[int(handle)]

    def _context(self, handle: Any) -> Device:
        return self.devices[int(handle) - 1]

    def _find(self, pointer: Any) -> tuple[Device | None, Allocation]:
        address = int(pointer)
        for device in self.devices:
            for a in device.allocations.values():
                if a.base <= address < a.base + a.size:
                    return device, a
        for a in self.host.values():
            if a.base <= address < a.base + a.size:
                return None, a
        raise KeyError(address)

    def _fails(self, device: Device | None) -> Any:
        return device.sticky if device is not None and device.sticky is not None else None

    # --- init, devices, contexts ---------------------------------------------------------------
    def cuInit(self, flags: int) -> tuple:
        self.t0 = time.monotonic()
        self.written = {}
        self.write_state()
        return (getattr(R, self.spec["init_error"]),) if self.spec.get("init_error") else (OK,)

    def cuGetErrorName(self, err: Any) -> tuple:
        return OK, R(int(err)).name.encode()

    def cuDriverGetVersion(self) -> tuple:
        return OK, int(self.spec.get("driver_api", 13000))

    def cuDeviceGetCount(self) -> tuple:
        return OK, len(self.devices)

    def cuDeviceGet(self, ordinal: int) -> tuple:
        if not 0 <= ordinal < len(self.devices):
            return (R.CUDA_ERROR_INVALID_DEVICE, None)
        return OK, real.CUdevice(ordinal)

    def cuDeviceGetPCIBusId(self, length: int, device: Any) -> tuple:
        bus = self._device(device).spec["bus_id"].upper().encode()  # CUDA prints the hex digits in capitals
        return OK, (bus + b"\0" * length)[:length]

    def cuDeviceGetName(self, length: int, device: Any) -> tuple:
        return OK, (self._device(device).spec["name"].encode() + b"\0" * length)[:length]

    def cuDeviceGetAttribute(self, attribute: Any, device: Any) -> tuple:
        values = {real.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: self._device(device).spec["sms"],
                  real.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: 6,
                  real.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: 1}
        if attribute not in values:
            return (R.CUDA_ERROR_INVALID_VALUE, None)
        return OK, values[attribute]

    def cuDevicePrimaryCtxRetain(self, device: Any) -> tuple:
        return OK, real.CUcontext(int(device) + 1)

    def cuDevicePrimaryCtxRelease(self, device: Any) -> tuple:
        return (OK,)

    def cuCtxSetCurrent(self, context: Any) -> tuple:
        self.current = self._context(context)
        return (OK,)

    def cuDeviceCanAccessPeer(self, a: Any, b: Any) -> tuple:
        return OK, int(self._device(a).faults.get("peer", True) and self._device(b).faults.get("peer", True))

    def cuCtxEnablePeerAccess(self, peer: Any, flags: int) -> tuple:
        me, other = self.current, self._context(peer)
        if self._fails(me):
            return (me.sticky,)
        if not self.cuDeviceCanAccessPeer(me.ordinal, other.ordinal)[1]:
            return (R.CUDA_ERROR_PEER_ACCESS_UNSUPPORTED,)
        if other.ordinal in me.peers:
            return (R.CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED,)
        me.peers.add(other.ordinal)
        return (OK,)

    # --- modules -------------------------------------------------------------------------------
    def cuModuleLoadData(self, image: bytes) -> tuple:
        if self._fails(self.current):
            return (self.current.sticky, None)
        text = image.rstrip(b"\0").decode()
        isa = re.search(r"^\.version (\d+)\.(\d+)$", text, re.M)
        newest = tuple(self.spec.get("ptx_isa_max", (9, 0)))  # CUDA 13.0's driver loads PTX ISA up to 9.0
        if not image.endswith(b"\0") or isa is None or not re.search(r"^\.target sm_\d+$", text, re.M):
            return (R.CUDA_ERROR_INVALID_PTX, None)
        if (int(isa[1]), int(isa[2])) > newest:
            return (R.CUDA_ERROR_UNSUPPORTED_PTX_VERSION, None)
        handle = next(self.handles)
        self.modules[handle] = (self.current, set(re.findall(r"^\.visible \.entry (\w+)\(", text, re.M)))
        return OK, real.CUmodule(handle)

    def cuModuleGetFunction(self, module: Any, name: bytes) -> tuple:
        device, entries = self.modules[int(module)]
        if name.decode() not in entries or name.decode() not in SIGNATURES:
            return (R.CUDA_ERROR_NOT_FOUND, None)
        handle = next(self.handles)
        self.functions[handle] = (device, name.decode())
        return OK, real.CUfunction(handle)

    # --- memory --------------------------------------------------------------------------------
    def cuMemGetInfo(self) -> tuple:
        d = self.current
        if self._fails(d):
            return (d.sticky, None, None)
        return OK, d.spec["free_mib"] * MIB - d.used(), d.spec["memory_mib"] * MIB

    def cuMemAlloc(self, size: int) -> tuple:
        d = self.current
        if self._fails(d):
            return (d.sticky, None)
        if size <= 0:
            return (R.CUDA_ERROR_INVALID_VALUE, None)
        if size > d.spec["free_mib"] * MIB - d.used():
            return (R.CUDA_ERROR_OUT_OF_MEMORY, None)
        base = self._place(d, size)
        if base is None:
            return (R.CUDA_ERROR_OUT_OF_MEMORY, None)
        a = d.allocations[base] = Allocation(base, size)
        for stuck in d.faults.get("stuck", []):
            offset = d.base + stuck["offset"] - base
            if 0 <= offset < size:
                a.stuck[offset // 4] = (stuck["mask"], stuck["value"])
        return OK, real.CUdeviceptr(base)

    def _place(self, d: Device, size: int) -> int | None:
        """First fit, 2 MiB aligned (as the driver places large allocations)."""
        size = -(-size // (2 * MIB)) * 2 * MIB
        at = d.base
        for a in sorted(d.allocations.values(), key=lambda a: a.base):
            if a.base - at >= size:
                return at
            at = max(at, a.base + -(-a.size // (2 * MIB)) * 2 * MIB)
        return at if at + size <= d.base + d.spec["memory_mib"] * MIB else None

    def cuMemFree(self, pointer: Any) -> tuple:
        d = next((d for d in self.devices if int(pointer) in d.allocations), None)
        if d is None:
            return (R.CUDA_ERROR_INVALID_VALUE,)
        if self._fails(d):
            return (d.sticky,)
        del d.allocations[int(pointer)]
        if int(pointer) in d.burning:
            d.burning.discard(int(pointer))
            d.burn_since = None if not d.burning else d.burn_since
            self.write_state()
        return (OK,)

    def cuMemHostAlloc(self, size: int, flags: int) -> tuple:
        base = 0x7E0000000000 + sum(a.size for a in self.host.values()) + len(self.host) * 2 * MIB
        self.host[base] = Allocation(base, size)
        return OK, base

    def cuMemFreeHost(self, pointer: Any) -> tuple:
        return (OK,) if self.host.pop(int(pointer), None) is not None else (R.CUDA_ERROR_INVALID_VALUE,)

    # --- streams and events --------------------------------------------------------------------
    def cuStreamCreate(self, flags: int) -> tuple:
        if self._fails(self.current):
            return (self.current.sticky, None)
        handle = next(self.handles)
        self.streams[handle] = Stream(self.current)
        return OK, real.CUstream(handle)

    def cuStreamDestroy(self, stream: Any) -> tuple:
        return (OK,) if self.streams.pop(int(stream), None) is not None else (R.CUDA_ERROR_INVALID_HANDLE,)

    def cuStreamSynchronize(self, stream: Any) -> tuple:
        s = self.streams[int(stream)]
        self._wait(s.t)
        return (s.device.sticky,) if self._fails(s.device) else (OK,)

    def cuEventCreate(self, flags: int) -> tuple:
        handle = next(self.handles)
        self.events[handle] = (self.current, 0.0)
        return OK, real.CUevent(handle)

    def cuEventRecord(self, event: Any, stream: Any) -> tuple:
        s = self.streams[int(stream)]
        if self._fails(s.device):
            return (s.device.sticky,)
        s.t = max(s.t, self.sim_now())
        self.events[int(event)] = (s.device, s.t)
        return (OK,)

    def cuEventSynchronize(self, event: Any) -> tuple:
        device, t = self.events[int(event)]
        self._wait(t)
        return (device.sticky,) if self._fails(device) else (OK,)

    def cuEventElapsedTime(self, start: Any, end: Any) -> tuple:
        return OK, (self.events[int(end)][1] - self.events[int(start)][1]) * 1000.0

    # --- copies and fills ----------------------------------------------------------------------
    def _copy(self, dst: Any, src: Any, size: int, stream: Any, gbps: float, host_copy: bool = False) -> tuple:
        s = self.streams[int(stream)]
        if self._fails(s.device):
            return (s.device.sticky,)
        (_, to), (_, frm) = self._find(dst), self._find(src)
        whole = int(dst) == to.base and int(src) == frm.base and size == to.size == frm.size
        to.write_all(frm.desc if whole else OPAQUE)
        if whole:
            to.words = dict(frm.words)
        self._enqueue(s, size / (gbps * 1e9))
        if host_copy:
            s.device.replays += s.device.faults.get("replays_per_copy", 0)
            if self.sysfs and s.device.faults.get("aer_per_copy"):
                cuda_aer.grow(s.device, s.device.faults["aer_per_copy"])
        return (OK,)

    def cuMemcpyHtoDAsync(self, dst: Any, src: int, size: int, stream: Any) -> tuple:
        return self._copy(dst, src, size, stream, self.streams[int(stream)].device.rate("h2d_gbps"), True)

    def cuMemcpyDtoHAsync(self, dst: int, src: Any, size: int, stream: Any) -> tuple:
        return self._copy(dst, src, size, stream, self.streams[int(stream)].device.rate("d2h_gbps"), True)

    def cuMemcpyDtoDAsync(self, dst: Any, src: Any, size: int, stream: Any) -> tuple:
        # bandwidthTest counts a device-to-device copy's bytes twice (read and written): so does the rate
        return self._copy(dst, src, size, stream, self.streams[int(stream)].device.rate("d2d_gbps") / 2)

    def cuMemcpyPeerAsync(self, dst: Any, dst_ctx: Any, src: Any, src_ctx: Any, size: int, stream: Any) -> tuple:
        a, b = self._context(src_ctx), self._context(dst_ctx)
        gbps = self.spec.get("peer_gbps") or min(a.rate("h2d_gbps"), b.rate("h2d_gbps"))
        if b.ordinal not in a.peers:  # staged through host memory: down, then up
            gbps = 1 / (1 / a.rate("d2h_gbps") + 1 / b.rate("h2d_gbps"))
        return self._copy(dst, src, size, stream, gbps)

    def cuMemcpyDtoH(self, dst: int, src: Any, size: int) -> tuple:
        device, a = self._find(src)
        if self._fails(device):
            return (device.sticky,)
        try:
            data = a.read_bytes(int(src) - a.base, size)
        except Unsimulated as err:
            raise AssertionError(f"simulated driver: {err}") from None
        ctypes.memmove(dst, data, size)
        return (OK,)

    def _memset(self, pointer: Any, word: int, size: int, stream: Any) -> tuple:
        s = self.streams[int(stream)]
        if self._fails(s.device):
            return (s.device.sticky,)
        _, a = self._find(pointer)
        a.write_all(describe(0, word) if int(pointer) == a.base and size == a.size else OPAQUE)
        self._enqueue(s, size / (s.device.rate("d2d_gbps") * 1e9))
        return (OK,)

    def cuMemsetD8Async(self, pointer: Any, byte: int, count: int, stream: Any) -> tuple:
        return self._memset(pointer, (byte & 0xFF) * 0x01010101, count, stream)

    def cuMemsetD32Async(self, pointer: Any, word: int, count: int, stream: Any) -> tuple:
        return self._memset(pointer, word, 4 * count, stream)

    # --- kernels -------------------------------------------------------------------------------
    def cuLaunchKernel(self, function: Any, gx, gy, gz, bx, by, bz, shared: int, stream: Any, params: Any,
                       extra: Any) -> tuple:
        device, name = self.functions[int(function)]
        s = self.streams[int(stream)]
        if self._fails(device):
            return (device.sticky,)
        values, types = params
        kinds = SIGNATURES[name]
        if s.device is not device or len(values) != len(kinds) or any(
                t is not _CTYPE[k] for t, k in zip(types, kinds, strict=True)) or bx * by * bz > 1024:
            return (R.CUDA_ERROR_INVALID_VALUE,)
        device.launches[name] = device.launches.get(name, 0) + 1
        error = device.faults.get("error")
        if error and error["kernel"] == name and device.launches[name] == error["after"]:
            device.sticky = getattr(R, error["result"])  # reported at the next synchronisation, and from then on
            device.ecc_uncorrected += int(error["result"] == "CUDA_ERROR_ECC_UNCORRECTABLE")
            return (OK,)
        try:
            seconds = getattr(self, f"_{name}")(device, *values)
        except Unsimulated as err:
            raise AssertionError(f"simulated driver: {err}") from None
        self._enqueue(s, seconds)
        return (OK,)

    def _fill(self, device: Device, pointer: Any, n: int, kind: int, arg: int) -> float:
        _, a = self._find(pointer)
        if int(pointer) != a.base or 4 * n != a.size:
            raise Unsimulated("a fill of part of an allocation")
        a.write_all(describe(kind, arg))
        return 4 * n / (device.spec["d2d_gbps"] * 1e9)  # bytes written at the card's copy rate

    def _check(self, device: Device, pointer: Any, n: int, kind: int, arg: int, invert: int, result: Any,
               slots: int) -> float:
        _, a = self._find(pointer)
        _, r = self._find(result)
        if int(pointer) != a.base or 4 * n > a.size:
            raise Unsimulated("a check of part of an allocation")
        count, first = a.check(n, kind, arg, slots)
        at = (int(result) - r.base) // 4
        u64 = lambda k: r.stored(at + 2 * k) | r.stored(at + 2 * k + 1) << 32  # noqa: E731
        taken = u64(1)
        for k, v in ((0, u64(0) + count), (1, taken + count),
                     *((2 + 2 * (taken + j), i) for j, (i, _, _) in enumerate(first) if taken + j < slots),
                     *((3 + 2 * (taken + j), want << 32 | got) for j, (_, want, got) in enumerate(first)
                       if taken + j < slots)):
            r.write_word(at + 2 * k, v & 0xFFFFFFFF)
            r.write_word(at + 2 * k + 1, v >> 32)
        if invert:  # the kernel writes ~want back into every word
            a.write_all(describe(kind, arg, inverted=True))
        return (2 if invert else 1) * 4 * n / (device.spec["d2d_gbps"] * 1e9)

    def _burn(self, device: Device, pointer: Any, n: int, rounds: int) -> float:
        _, a = self._find(pointer)
        a.write_all(OPAQUE)
        if device.burn_since is None:
            device.burn_since = time.monotonic()
        device.burning.add(a.base)
        flops = n * rounds * 8 * 2  # eight FMA chains, two FLOPs an FMA
        return max(flops / (device.spec["tflops"] * 1e12), 8 * n / (device.spec["d2d_gbps"] * 1e9))

    # --- what NVML and sysfs show ---------------------------------------------------------------
    def state(self, d: Device) -> dict[str, Any]:
        spec = d.spec
        link = d.faults.get("link") or {"gen": spec["pcie_gen"], "width": spec["pcie_width"]}
        out = {"index": spec.get("nvml_index", d.ordinal), "pcie_gen": link["gen"], "pcie_width": link["width"],
               "pcie_replay": spec.get("replays_before", 0) + d.replays, "util_pct": 0,
               "temp_c": spec["temp_idle_c"], "power_w": spec["power_idle_w"], "throttle": 0,
               "sm_clock_mhz": spec["sm_clock_idle_mhz"], "ecc_uncorrected_volatile": d.ecc_uncorrected,
               "ecc_corrected_volatile": 0}
        if d.burn_since is None:
            return out
        ran = time.monotonic() - d.burn_since
        warm = 1 - math.exp(-ran / spec["warm_tau_s"])
        out.update(util_pct=100, temp_c=round(spec["temp_idle_c"] + (spec["temp_load_c"] - spec["temp_idle_c"]) * warm),
                   power_w=spec["power_load_w"], sm_clock_mhz=spec["sm_clock_load_mhz"])
        throttle = d.faults.get("throttle")
        if throttle and ran >= throttle.get("after_s", 0):
            out.update(throttle=throttle["bits"], sm_clock_mhz=throttle.get("sm_clock_mhz", 544),
                       power_w=throttle.get("power_w", 125.0))
        return out

    def write_state(self) -> None:
        """Publish the state where it changed (rewriting files on every call would slow the simulation)."""
        aer = json.dumps([d.aer for d in self.devices])
        if self.sysfs and aer != self.written.get("aer"):
            cuda_aer.write(self.sysfs, self.devices)
            self.written["aer"] = aer
        states = [self.state(d) for d in self.devices]
        if not self.live or states == self.written.get("live"):
            return
        try:
            with open(self.live) as handle:
                gpus = {g["index"]: g for g in json.load(handle).get("gpus", [])}
        except (OSError, ValueError):
            gpus = {}
        for new in states:
            gpus[new["index"]] = {**gpus.get(new["index"], {}), **new}
        temp = f"{self.live}.{os.getpid()}.tmp"
        with open(temp, "w") as handle:
            json.dump({"gpus": sorted(gpus.values(), key=lambda g: g["index"])}, handle)
        os.replace(temp, self.live)  # the NVML fake re-reads the file: never half written
        self.written["live"] = states
