"""Benchmark: the container tier live against a real Docker Engine, and what a recreate costs.

Needs the self-tests' engines (root, docker.io, busybox-static): uses GPUACCEPT_TEST_ENGINES when set,
else starts them. Times, N times each: `pytest acceptance/test_container.py` live against a healthy
container (the Docker collection includes a GPU probe container), the same run with --replay of its
own evidence (everything but the engine), and `--remediate` recreating a one-GPU container.
Usage: python bench/bench_container_tier.py [N]
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
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from tests.engine import daemons  # noqa: E402

PROFILE = str(ROOT / "tests" / "data" / "profiles" / "dual-p40-standin.toml")
IMAGE = "localhost/ollama-standin:0.32.1"


def run(args: list[str], reports: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GPUACCEPT_FAKE_NVML": str(ROOT / "fixtures/hosts/dual-p40/nvml.json")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.fakes.nvml_plugin", "acceptance/test_container.py",
                    "-q", "--profile", PROFILE, "--report-dir", str(reports), *args],
                   cwd=ROOT, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def container(client: docker.DockerClient, gpus: int) -> None:
    for c in client.containers.list(all=True):
        c.remove(force=True)
    client.containers.run(IMAGE, name="ollama", detach=True, labels={"io.gpuaccept.managed": "true"},
                          device_requests=[docker.types.DeviceRequest(count=gpus, capabilities=[["gpu"]])],
                          environment={"OLLAMA_SCHED_SPREAD": "1"}, volumes={"ollama": {"bind": "/root/.ollama"}},
                          ports={"11434/tcp": ("127.0.0.1", 21434)}, restart_policy={"Name": "unless-stopped"})


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    given = os.environ.get("GPUACCEPT_TEST_ENGINES")
    base = Path(given) if given else Path(tempfile.mkdtemp(prefix="gpuat-", dir="/tmp"))
    engines = daemons.load(base) if given else daemons.start_all(base)
    url = engines["toolkit"].base_url
    client = engines["toolkit"].client()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            reports = Path(tmp)
            container(client, -1)
            live = [run(["--docker-host", url], reports) for _ in range(runs)]
            last = sorted(reports.iterdir())[-1]
            replay = [run(["--replay", str(last)], reports) for _ in range(runs)]
            recreate = []
            for _ in range(runs):
                container(client, 1)
                recreate.append(run(["--docker-host", url, "--remediate"], reports))
    finally:
        for c in client.containers.list(all=True):
            c.remove(force=True)
        if not given:
            daemons.stop_all(base)
    for name, times in (("container tier, live (healthy)", live), ("same evidence, replayed", replay),
                        ("live + --remediate recreate", recreate)):
        print(f"{name:32s} median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f}, "
              f"{runs} runs)")
    print(f"live collection (NVML, host, Docker): {statistics.median(live) - statistics.median(replay):.3f} s")


if __name__ == "__main__":
    main()
