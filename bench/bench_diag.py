"""Benchmark: the diag tier's measurements against the reference on the same GPU, in one process.

1. PCIe copy bandwidth: the tier's pinned host<->device copies (gpuaccept.diag.bandwidth, cuda-bindings,
   CUDA events) against PyTorch's pinned-memory copies (``tensor.copy_(non_blocking=True)`` timed by CUDA
   events), same size and repeats, interleaved twice; ratio = ours / PyTorch (goal >= 0.95).
2. Memory test throughput: bytes the pattern kernels read and wrote per second, as a share of the
   device-to-device copy bandwidth (bytes read and written) on the same GPU.
3. Sampler rate during the soak: samples per second the NVML sampler achieved while every GPU burned,
   asked for 2 Hz (the profile's rate) and 20 Hz, with the FP32 load alone and, on cards with tensor
   cores, with the tensor-core load beside it; the power each load drew.
Needs a GPU, PyTorch and cuda-bindings. Usage: python bench/bench_diag.py [--gpu N] [--copy-mib M]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpuaccept.diag import bandwidth, memtest, soak  # noqa: E402
from gpuaccept.diag.cuda import Cuda  # noqa: E402
from gpuaccept.diag.device import close_gpus, open_gpus  # noqa: E402
from gpuaccept.parse.pci_ids import normalise_bus_id  # noqa: E402
from gpuaccept.sources.nvml import link_counters  # noqa: E402
from gpuaccept.sources.nvml_sampler import Sampler  # noqa: E402

MIB = 2**20


def torch_copies(index: int, size: int, repeats: int) -> dict[str, float]:
    import torch

    host = torch.empty(size, dtype=torch.uint8, pin_memory=True)
    device = torch.empty(size, dtype=torch.uint8, device=f"cuda:{index}")
    out = {}
    with torch.cuda.device(index):
        stream = torch.cuda.Stream()
        for name, copy in (("h2d", lambda: device.copy_(host, non_blocking=True)),
                           ("d2h", lambda: host.copy_(device, non_blocking=True))):
            with torch.cuda.stream(stream):
                copy()
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record(stream)
                for _ in range(repeats):
                    copy()
                end.record(stream)
            end.synchronize()
            out[name] = size * repeats / (start.elapsed_time(end) / 1000) / 1e9
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--copy-mib", type=int, default=256)
    args = parser.parse_args()
    size = args.copy_mib * MIB
    cuda = Cuda.open()
    counters = link_counters(20)
    ids = {g["index"]: normalise_bus_id(g["bus_id"]) for g in counters["gpus"] if g["bus_id"]}
    gpus, missing = open_gpus(cuda, ids)
    gpu = next(g for g in gpus if g.index == args.gpu)
    print(f"GPU{gpu.index} {gpu.name} ({gpu.bus_id}), cuda-bindings driver API {cuda('cuDriverGetVersion')}")
    buffers = {gpu.index: bandwidth.allocate(cuda, gpu, size)}
    ours: dict[str, list[float]] = {"h2d": [], "d2h": []}
    theirs: dict[str, list[float]] = {"h2d": [], "d2h": []}
    for _ in range(2):  # interleaved: neither side always runs on a warmer link
        for d in ("h2d", "d2h"):
            r = bandwidth.copies(cuda, [gpu], buffers, d, size, 1.0, lambda: 0.0)[gpu.index]
            ours[d].append(r["gbps"])
            repeats = r["copies"]
        t = torch_copies(gpu.index, size, repeats)
        for d in t:
            theirs[d].append(t[d])
    for d in ("h2d", "d2h"):
        a, b = max(ours[d]), max(theirs[d])
        print(f"pinned {d.upper()} {args.copy_mib} MiB: suite {a:.2f} GB/s ({', '.join(f'{v:.2f}' for v in ours[d])}), "
              f"PyTorch {b:.2f} GB/s ({', '.join(f'{v:.2f}' for v in theirs[d])}): ratio {a / b:.3f}")
    d2d = bandwidth.copies(cuda, [gpu], buffers, "d2d", size, 1.0, lambda: 0.0)[gpu.index]["gbps"]
    bandwidth.release(cuda, gpu, buffers[gpu.index])
    result = memtest.run(cuda, gpu, 0.5, 12345)
    print(f"device-to-device copies: {d2d:.0f} GB/s (bytes read + written)")
    print(f"memtest over {result['tested_bytes'] / 2**30:.1f} GiB, {len(result['patterns'])} patterns: "
          f"{result['gbps']:.0f} GB/s moved = {result['gbps'] / d2d:.2f} of the device-to-device rate, "
          f"{result['mismatches']} mismatches, {result['seconds']:.1f} s")
    tensor = {g.index: g.functions.pop("burn_tc", None) for g in gpus}
    for hz, with_tensor in ((2.0, False), (20.0, False), (2.0, True), (20.0, True)):
        if with_tensor and not any(tensor.values()):
            break  # a card without tensor cores: the FP32 load is the whole soak
        for g in gpus:
            if with_tensor and tensor[g.index] is not None:
                g.functions["burn_tc"] = tensor[g.index]
        sampler = Sampler(hz).start()
        s = soak.run(cuda, gpus, 10.0, 256, sampler.now)
        samples = sampler.stop()
        inside = [x for x in samples if s["start_t"] <= x["t"] <= s["end_t"]]
        span = s["end_t"] - s["start_t"]
        power = [g["power_w"] for x in inside for g in x["gpus"] if g["power_w"] is not None]
        clocks = [g["sm_clock_mhz"] for x in inside for g in x["gpus"] if g["sm_clock_mhz"]]
        load = "FP32 FMA + tensor-core MMA" if with_tensor else "FP32 FMA"
        print(f"{load} soak, sampler asked for {hz:4.0f} Hz over {span:.1f} s: achieved {len(inside) / span:.2f} Hz; "
              f"power median {statistics.median(power):.0f} W, peak {max(power):.0f} W; "
              f"SM clock median {statistics.median(clocks) if clocks else 0:.0f} MHz")
    close_gpus(cuda, gpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
