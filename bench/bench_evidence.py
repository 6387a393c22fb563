"""Benchmark: evidence read + validated + built into facts, against json.loads of the same files.

For fixtures/hosts/dual-p40 it times, in one process, N rounds of
  (a) ``json.loads`` of every JSON evidence file of the folder (the floor: parsing alone), and
  (b) ``Evidence.read`` + ``build_facts`` with every tier (reading, the JSON checks, the type and range
      validation, the parsers and the facts),
and prints the medians and their ratio (goal: <= 5x). It then writes a copy of the folder whose benchmark
and diag samples are multiplied by 10 and times (b) on it: the ratio to (b) on the original shows that the
cost grows linearly with the samples (goal: <= 12x for 10x the samples).
Usage: python bench/bench_evidence.py [N]
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpuaccept.evidence import Evidence  # noqa: E402
from gpuaccept.sources.build import build_facts  # noqa: E402

FOLDER = ROOT / "fixtures" / "hosts" / "dual-p40"


def _median(work, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _floor(folder: Path) -> float:
    texts = [p.read_text() for p in sorted(folder.glob("*.json"))]
    return lambda: [json.loads(t) for t in texts]


def _build(folder: Path):
    return lambda: build_facts(Evidence.read(folder), mode="replay", source=str(folder))


def _times_ten(folder: Path, into: Path) -> Path:
    """A copy whose benchmark samples and diag samples are repeated 10 times, times shifted to stay in order."""
    copy = into / "dual-p40-x10"
    shutil.copytree(folder, copy)
    bench = json.loads((copy / "benchmark.json").read_text())
    span = bench["samples"][-1]["t"] + 1
    bench["samples"] = [{**s, "t": s["t"] + k * span} for k in range(10) for s in bench["samples"]]
    bench["measure_to"] = bench["samples"][-1]["t"]
    (copy / "benchmark.json").write_text(json.dumps(bench))
    diag = json.loads((copy / "diag.json").read_text())
    diag["samples"] = diag["samples"] * 10  # the diag checks judge windows of samples; their count is what costs
    (copy / "diag.json").write_text(json.dumps(diag))
    return copy


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    facts = _build(FOLDER)()
    assert facts.diag is not None and facts.ollama.benchmark is not None, "dual-p40 lost its benchmark or diag record"
    floor = _median(_floor(FOLDER), rounds)
    built = _median(_build(FOLDER), rounds)
    with tempfile.TemporaryDirectory() as tmp:
        big = _times_ten(FOLDER, Path(tmp))
        big_facts = _build(big)()
        assert len(big_facts.ollama.benchmark.samples) == 10 * len(facts.ollama.benchmark.samples)
        big_built = _median(_build(big), max(3, rounds // 4))
    print(f"json.loads of the JSON evidence of dual-p40:       median {floor * 1000:8.2f} ms over {rounds} rounds")
    print(f"read + validate + build facts, every tier:         median {built * 1000:8.2f} ms   "
          f"{built / floor:.2f}x json.loads (goal <= 5x)")
    print(f"the same with 10x the benchmark and diag samples:  median {big_built * 1000:8.2f} ms   "
          f"{big_built / built:.2f}x the original (goal <= 12x)")


if __name__ == "__main__":
    main()
