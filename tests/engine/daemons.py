"""Private Docker Engines for the self-tests: started and stopped here, never the host's own.

Each engine has its own socket, data root, exec root, pid file and bridge, so it neither needs nor
disturbs a ``dockerd`` the machine may already run. The ``toolkit`` engine starts with the stand-in
``nvidia-container-runtime-hook`` first on its PATH, which is how dockerd decides that ``--gpus``
is supported; the ``bare`` engine starts without it and answers GPU requests with the real error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[2]
GPUS_FROM = ROOT / "fixtures" / "hosts" / "dual-p40" / "nvml.json"  # the simulated host's GPUs
STATE = "engines.json"
# name -> (its number in the set, hook on PATH)
LAYOUT = {"toolkit": (0, True), "bare": (1, False)}


def network(name: str, base: Path) -> tuple[str, str]:
    """The bridge and its address for engine ``name`` of the set in ``base``. Each set gets its own, so two
    sets on one machine (CI's and a developer's) never share a bridge: stopping one cannot cut the other."""
    slot = zlib.crc32(str(Path(base).resolve()).encode()) % 100
    number = LAYOUT[name][0]
    return f"gpuat{slot:02d}{number}", f"10.213.{2 * slot + number}.1/24"


@dataclass
class Engine:
    name: str
    base_url: str
    folder: str
    pid: int = 0
    bridge: str = ""

    def client(self, timeout: float = 30) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.base_url, timeout=timeout)


def missing() -> str | None:
    """None when engines can be started here, else why not."""
    if os.geteuid() != 0:
        return "starting a Docker Engine needs root"
    for tool in ("dockerd", "containerd", "runc", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install docker.io)"
    return None


def write_hook(folder: Path) -> Path:
    """The hook wrapper dockerd finds on PATH; runc runs it with an empty environment."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    gpus = [{"name": g["name"], "uuid": g["uuid"]} for g in json.loads(GPUS_FROM.read_text())["gpus"]]
    (folder / "gpus.json").write_text(json.dumps(gpus, indent=2))
    hook = bin_dir / "nvidia-container-runtime-hook"
    hook.write_text(f"#!{sys.executable}\n"
                    "import sys\n"
                    f"sys.path.insert(0, {str(ROOT)!r})\n"
                    "from tests.engine.hook import main\n"
                    f"sys.exit(main(sys.argv[1:], {str(folder / 'gpus.json')!r}))\n")
    hook.chmod(0o755)
    return bin_dir


def _bridge(name: str, address: str) -> None:
    subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=10)
    for cmd in (["ip", "link", "add", name, "type", "bridge"], ["ip", "addr", "add", address, "dev", name],
                ["ip", "link", "set", name, "up"]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=10)


def _stale_pid_file(path: Path) -> None:
    """A dockerd killed before its shutdown leaves its pid file, and the next one refuses to start."""
    try:
        pid = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
    except PermissionError:
        pass


def start(name: str, base: Path, timeout: float = 60) -> Engine:
    with_hook = LAYOUT[name][1]
    bridge, address = network(name, base)
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    _stale_pid_file(folder / "docker.pid")
    _bridge(bridge, address)
    env = dict(os.environ)
    env.pop("DOCKER_HOST", None)
    if with_hook:
        env["PATH"] = f"{write_hook(folder)}:{env['PATH']}"
    sock = folder / "docker.sock"
    args = ["dockerd", "--host", f"unix://{sock}", "--data-root", str(folder / "data"),
            "--exec-root", str(folder / "exec"), "--pidfile", str(folder / "docker.pid"),
            "--bridge", bridge, "--iptables=false", "--storage-driver", "overlay2"]
    log = open(folder / "dockerd.log", "ab")  # noqa: SIM115 - the daemon keeps writing after we return
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    engine = Engine(name, f"unix://{sock}", str(folder), proc.pid, bridge)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd ({name}) exited: see {folder / 'dockerd.log'}")
        try:
            engine.client(timeout=5).ping()
            return engine
        except Exception:  # not up yet
            time.sleep(0.2)
    stop(engine)
    raise RuntimeError(f"dockerd ({name}) did not answer within {timeout:g} s: see {folder / 'dockerd.log'}")


def stop(engine: Engine, timeout: float = 20) -> None:
    """SIGTERM, then, once dockerd logs its shutdown (it may linger on gRPC retries), kill its group."""
    try:
        os.kill(engine.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    log = Path(engine.folder) / "dockerd.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(engine.pid, 0)
        except ProcessLookupError:
            break
        if "Daemon shutdown complete" in log.read_text(errors="replace")[-20000:]:
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(engine.pid, signal.SIGKILL)  # dockerd and the containerd it started
    # dockerd bind-mounts its data root onto itself; a killed daemon leaves that mount behind.
    with open("/proc/mounts") as handle:
        points = [line.split()[1] for line in handle if line.split()[1].startswith(engine.folder + "/")]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=10)
    bridge = engine.bridge or network(engine.name, Path(engine.folder).parent)[0]
    subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=10)


def start_all(base: Path) -> dict[str, Engine]:
    from tests.engine import image

    engines = {name: start(name, base) for name in LAYOUT}
    for engine in engines.values():
        image.build(engine.client())
    (base / STATE).write_text(json.dumps({n: asdict(e) for n, e in engines.items()}, indent=2))
    return engines


def load(base: Path) -> dict[str, Engine]:
    return {n: Engine(**e) for n, e in json.loads((base / STATE).read_text()).items()}


def stop_all(base: Path) -> None:
    for engine in load(base).values():
        stop(engine)
