"""Benchmark: the quick tier on a replayed host, time beyond pytest's own start-up (goal: <= 0.15 s).

Runs `pytest acceptance/ -m quick --replay fixtures/hosts/dual-p40` and a one-test pytest run of a file of
its own in the same venv, N times each, alternating, after one warm-up of each, and prints the medians
and their difference. Both run with bytecode caching on, as an installed suite does (PYTHONDONTWRITEBYTECODE,
where set, would make every run compile every module again and measure the compiler instead).
Usage: python bench/bench_quick_tier.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, capture_output=True, check=False, env=ENV)
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "test_empty.py"
        empty.write_text("def test_nothing():\n    pass\n")
        # the plugins the suite's own configuration leaves out are left out here too: no credit for them
        one = ["-q", "-p", "no:cacheprovider", "-p", "no:anyio", str(empty)]
        quick = ["acceptance/", "-q", "-m", "quick", "--replay", "fixtures/hosts/dual-p40", "--report-dir",
                 str(Path(tmp) / "reports")]
        _time(one, Path(tmp)), _time(quick, ROOT)  # warm-up: bytecode written, files in the page cache
        baseline, suite = [], []
        for _ in range(runs):
            baseline.append(_time(one, Path(tmp)))
            suite.append(_time(quick, ROOT))
    b, s = statistics.median(baseline), statistics.median(suite)
    print(f"pytest start-up (one empty test): median {b:.3f} s over {runs} runs")
    print(f"quick tier, replayed dual-p40:   median {s:.3f} s over {runs} runs")
    print(f"suite time beyond start-up:      {s - b:.3f} s")


if __name__ == "__main__":
    main()
