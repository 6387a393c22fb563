"""Benchmark: redaction of large text evidence, throughput and peak memory (goals: >= 50 MB/s, peak <= 2x the
largest file + 100 MB).

Builds 4 text evidence files of 32 MiB each from the real captures in tests/data/captures (kernel logs and
Ollama server logs, repeated, with a few secrets spread through them: a token in a server config map, a
password in a URL, a Bearer header) and redacts each in a child process of its own, as the last pass over a
run folder does (redact.run_folder: read, redact, write back). It prints each file's throughput and the
child's peak memory beyond what it held before it read the file, and checks that every secret is gone.
Usage: python bench/bench_redaction.py [MiB per file]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "tests" / "data" / "captures"
SECRETS = ('env="map[OLLAMA_API_KEY:SECRET-A OLLAMA_SCHED_SPREAD:1]"', "proxy=http://bob:SECRET-B@proxy:3128",
           "Authorization: Bearer SECRET-C")
FILES = {"dmesg.txt": sorted((CAPTURES / "driver").glob("dmesg-*.txt")),
         "ollama-server.log": sorted((CAPTURES / "ollama-logs").glob("*.log")),
         "host-info.txt": sorted((CAPTURES / "host-info").glob("*")),
         "lspci-vvv.txt": sorted((CAPTURES / "lspci").glob("*"))}

CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from gpuaccept import redact


def high_water():
    # This process's own peak (VmHWM, from the exec on): ru_maxrss would start at the parent's size at fork.
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


folder = Path(sys.argv[1])
before = high_water()
size = sum(p.stat().st_size for p in folder.iterdir())
start = time.perf_counter()
changed = redact.run_folder(folder)
seconds = time.perf_counter() - start
peak = high_water()
print(json.dumps({"seconds": seconds, "bytes": size, "peak_beyond": peak - before, "changed": changed}))
"""


def _build(path: Path, sources: list[Path], size: int) -> None:
    text = "".join(p.read_text(errors="replace") for p in sources if p.is_file()) or "line\n"
    with open(path, "w") as out:
        written, n = 0, 0
        while written < size:
            block = text if n % 50 else text + "\n".join(SECRETS) + "\n"
            out.write(block)
            written += len(block.encode())
            n += 1


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for name, sources in FILES.items():
            folder = Path(tmp) / name.replace(".", "-")
            folder.mkdir()
            _build(folder / name, sources, mib << 20)
            done = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(ROOT)], capture_output=True, text=True,
                                  check=True)
            result = json.loads(done.stdout)
            left = [s for s in ("SECRET-A", "SECRET-B", "SECRET-C") if s in (folder / name).read_text()]
            assert not left, f"{name}: {left} survived redaction"
            results.append(result)
            print(f"{name:18} {result['bytes'] / 2**20:6.1f} MiB  {result['bytes'] / result['seconds'] / 1e6:7.1f} MB/s  "
                  f"peak +{result['peak_beyond'] / 2**20:6.1f} MiB (goal <= {2 * mib + 100 * 1e6 / 2**20:.0f} MiB)")
    total = sum(r["bytes"] for r in results) / sum(r["seconds"] for r in results)
    print(f"all {len(results)} files: {total / 1e6:.1f} MB/s (goal >= 50 MB/s); "
          f"largest peak +{max(r['peak_beyond'] for r in results) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
