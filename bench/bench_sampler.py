"""Benchmark: the load tier's NVML sampler against spawning nvidia-smi for every sample.

1. Cost per sample: one sampler read of every GPU (utilization, memory, processes, PCIe link,
   temperature, power, throttle reasons) in-process through NVML, against one `nvidia-smi` spawn
   asking for the same fields (plus a second spawn for the per-process memory, as a script must),
   N times each; medians and their ratio.
2. Rate achieved: the Sampler thread asked for 10 Hz and for 100 Hz over a few seconds.
Without a GPU, `--simulated` serves NVML from the dual-p40 capture through the self-tests' stand-in
library (the nvidia-smi half is then skipped: there is no nvidia-smi to spawn).
3. `--with-load` (a GPU with PyTorch): samples at 10 Hz while a child process runs matrix products on
   GPU0, and prints what the sampler saw of it: its PID's memory, utilization, PCIe link, temperature,
   power: the readings the load tier judges, taken from real hardware.
Usage: python bench/bench_sampler.py [N] [--simulated] [--with-load]
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pynvml  # noqa: E402

from gpuaccept.sources.nvml_sampler import Sampler, read_gpu  # noqa: E402

QUERY = ("utilization.gpu,memory.used,pcie.link.gen.current,pcie.link.width.current,temperature.gpu,"
         "power.draw,clocks_event_reasons.active")


def per_sample_nvml(n: int) -> list[float]:
    pynvml.nvmlInit()
    try:
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        times = []
        for _ in range(n):
            start = time.perf_counter()
            [read_gpu(i, h) for i, h in enumerate(handles)]
            times.append(time.perf_counter() - start)
        return times
    finally:
        pynvml.nvmlShutdown()


def per_sample_smi(n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader"], capture_output=True,
                       check=True, timeout=30)
        subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
                       capture_output=True, check=True, timeout=30)
        times.append(time.perf_counter() - start)
    return times


def rate(hz: float, seconds: float) -> float:
    sampler = Sampler(hz).start()
    time.sleep(seconds)
    samples = sampler.stop()
    span = samples[-1]["t"] - samples[0]["t"] if len(samples) > 1 else 0
    return (len(samples) - 1) / span if span else 0.0


LOAD = """
import time, torch
x = torch.randn(8192, 8192, device="cuda")
end = time.time() + 4
while time.time() < end:
    y = x @ x
    torch.cuda.synchronize()
"""


def under_load() -> None:
    sampler = Sampler(10.0).start()
    time.sleep(0.5)
    child = subprocess.Popen([sys.executable, "-c", LOAD])
    child.wait(timeout=120)
    time.sleep(0.3)
    samples = sampler.stop()
    mine = [g for s in samples for g in s["gpus"] if g["index"] == 0]
    pid_mib = [m for g in mine for p, m in g["processes"] if p == child.pid]
    idle, busy = mine[0], max(mine, key=lambda g: g["util_pct"] or 0)
    span = samples[-1]["t"] - samples[0]["t"]
    print(f"under load (child PID {child.pid}, {len(samples)} samples, {(len(samples) - 1) / span:.1f} Hz):")
    print(f"  utilization: idle {idle['util_pct']}%, peak {busy['util_pct']}%")
    print(f"  child's memory per NVML processes: peak {max(pid_mib, default=0):.0f} MiB "
          f"(seen in {len(pid_mib)} samples)")
    print(f"  PCIe link: idle Gen{idle['pcie_gen']} x{idle['pcie_width']}, busy Gen{busy['pcie_gen']} x{busy['pcie_width']}")
    print(f"  temperature {min(g['temp_c'] or 0 for g in mine)}-{max(g['temp_c'] or 0 for g in mine)} C, "
          f"power peak {max(g['power_w'] or 0 for g in mine):.0f} W, throttle reasons seen "
          f"{sorted({hex(g['throttle']) for g in mine if g['throttle'] is not None})}")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 200
    simulated = "--simulated" in sys.argv
    if simulated:
        from tests.fakes.nvml_lib import FakeNvmlLib

        FakeNvmlLib(json.loads((ROOT / "fixtures/hosts/dual-p40/nvml.json").read_text())).install()
    nvml = per_sample_nvml(n)
    print(f"NVML sampler read, all GPUs:   median {statistics.median(nvml) * 1e3:.3f} ms "
          f"(p95 {sorted(nvml)[int(n * 0.95) - 1] * 1e3:.3f} ms, {n} samples){' [simulated NVML]' if simulated else ''}")
    if not simulated and shutil.which("nvidia-smi"):
        smi = per_sample_smi(max(10, n // 10))
        print(f"nvidia-smi spawns per sample:  median {statistics.median(smi) * 1e3:.1f} ms ({len(smi)} samples)")
        print(f"ratio nvidia-smi / NVML:       {statistics.median(smi) / statistics.median(nvml):.0f}x")
    for hz in (10.0, 100.0):
        print(f"sampler asked for {hz:5.0f} Hz:    achieved {rate(hz, 3.0):.1f} Hz over 3 s")
    if "--with-load" in sys.argv:
        under_load()


if __name__ == "__main__":
    main()
