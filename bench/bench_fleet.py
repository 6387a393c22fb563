"""Benchmark: the quick tier over a fleet of simulated hosts, serially and spread over xdist workers.

Starts N simulated servers (tests/engine/fleet_host.py: busybox containers carrying the bundled dual-p40
evidence sets, reached through testinfra's docker:// backend), runs `pytest acceptance/ -m quick
--hosts=...` once without -n and once with -n W, and prints the wall times, the speed-up and the seconds
per host. Both runs must give every host the same verdict. The containers are removed at the end.

Needs a Docker Engine: GPUACCEPT_TEST_ENGINES (the test engines: the bare one is used) or DOCKER_HOST.
Usage: python bench/bench_fleet.py [HOSTS] [WORKERS] [--tool-delay S]    (default 32 hosts, 4 workers, 0 s)

``--tool-delay S`` makes every nvidia-smi call on the simulated hosts wait S seconds first, as it does on a
real server while it queries the cards (about 0.2-1 s for nvidia-smi -q -x on a multi-GPU server): without
it the simulated hosts answer at once and the run measures only this machine's own CPU work (the docker
CLI, dockerd and pytest on the same cores).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from tests.engine import daemons, fleet_host  # noqa: E402

VARIANTS = ["dual-p40", "dual-p40-x8-link", "dual-p40-xid-79", "dual-p40-driver-535", "dual-p40-vbios-differs",
            "dual-p40-api-exposed", "dual-p40-container-one-gpu", "dual-p40-no-toolkit"]


def _engine_url() -> str:
    given = os.environ.get("GPUACCEPT_TEST_ENGINES")
    if given:
        return daemons.load(Path(given))["bare"].base_url  # no NVIDIA runtime needed
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    sys.exit("set GPUACCEPT_TEST_ENGINES (the test engines) or DOCKER_HOST")


def _run(hosts: list[str], reports: Path, url: str, extra: list[str]) -> tuple[float, dict[str, str], int, float]:
    """Wall seconds, each host's verdict, the exit status, and the control node's CPU seconds (pytest, its
    workers and every command they ran: the docker CLI of each docker:// command included)."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "acceptance/", "-q", "-p", "no:cacheprovider", "-m", "quick",
                           f"--hosts={','.join(hosts)}", "--report-dir", str(reports), *extra],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "DOCKER_HOST": url},
                          timeout=1800, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    folder = max(reports.glob("fleet-*"), key=lambda p: p.stat().st_mtime)
    fleet = json.loads((folder / "fleet.json").read_text())
    return seconds, {r["host"]: r["verdict"] for r in fleet["hosts"]}, done.returncode, used


def main() -> None:
    args = sys.argv[1:]
    delay = 0.0
    if "--tool-delay" in args:
        at = args.index("--tool-delay")
        delay = float(args[at + 1])
        del args[at:at + 2]
    count = int(args[0]) if args else 32
    workers = int(args[1]) if len(args) > 1 else 4
    url = _engine_url()
    client = docker.DockerClient(base_url=url, timeout=60)
    fleet_host.build(client)
    names: list[str] = []
    try:
        for i in range(count):
            variant = VARIANTS[i % len(VARIANTS)]
            names.append(fleet_host.start(client, ROOT / "fixtures" / "hosts" / variant,
                                          name=f"{fleet_host.PREFIX}bench-{i:02d}-{os.getpid()}", delay_s=delay))
        hosts = [f"docker://{n}" for n in names]
        with tempfile.TemporaryDirectory() as tmp:
            serial, serial_verdicts, serial_rc, serial_cpu = _run(hosts, Path(tmp) / "serial", url, [])
            parallel, parallel_verdicts, parallel_rc, parallel_cpu = _run(hosts, Path(tmp) / "parallel", url,
                                                                          ["-n", str(workers)])
        alive = {c.name for c in client.containers.list(filters={"label": fleet_host.LABEL})}
        if not set(names) <= alive:
            sys.exit("some simulated hosts were removed during the runs (a shared engine emptied by another test): "
                     "the figures are void, run again")
        unreachable = sum(1 for v in serial_verdicts.values() if v == "NOT ACCEPTED")
        print(f"hosts: {count} simulated ({len(VARIANTS)} evidence sets), quick tier, engine {url}, "
              f"each nvidia-smi call waits {delay:g} s")
        print(f"machine: {os.cpu_count()} CPU cores (the simulated hosts and dockerd share them with pytest)")
        print(f"serial (no -n):  {serial:7.2f} s   {serial / count:.3f} s per host   exit {serial_rc}")
        print(f"-n {workers}:           {parallel:7.2f} s   {parallel / count:.3f} s per host   exit {parallel_rc}")
        print(f"speed-up:        {serial / parallel:.2f}x (goal >= 3x)")
        print(f"control-node CPU: {serial_cpu / count:.3f} s per host serially, {parallel_cpu / count:.3f} s per host "
              f"with -n {workers} (goal <= 0.3 s; dockerd's own CPU is not counted)")
        print(f"same verdict for every host in both runs: {serial_verdicts == parallel_verdicts} "
              f"({unreachable} hosts NOT ACCEPTED by their faults, as their evidence says)")
    finally:
        fleet_host.remove(client, names)


if __name__ == "__main__":
    main()
