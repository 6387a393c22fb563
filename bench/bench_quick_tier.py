"""Benchmark: the quick tier on a replayed host, time beyond pytest's own start-up.

Runs `pytest acceptance/ --replay fixtures/hosts/dual-p40` and a bare `pytest --co` of an empty test
file in the same interpreter setup, N times each, and prints the medians and their difference.
Usage: python bench/bench_quick_tier.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "test_empty.py"
        empty.write_text("def test_nothing():\n    pass\n")
        baseline = [_time(["-q", "-p", "no:cacheprovider", str(empty)], Path(tmp)) for _ in range(runs)]
        suite = [_time(["acceptance/", "-q", "-m", "quick", "--replay", "fixtures/hosts/dual-p40", "--report-dir",
                        str(Path(tmp) / "reports")], ROOT) for _ in range(runs)]
    b, s = statistics.median(baseline), statistics.median(suite)
    print(f"pytest start-up (one empty test): median {b:.3f} s over {runs} runs")
    print(f"quick tier, replayed dual-p40:   median {s:.3f} s over {runs} runs")
    print(f"suite time beyond start-up:      {s - b:.3f} s")


if __name__ == "__main__":
    main()
