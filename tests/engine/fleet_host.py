"""Simulated GPU servers for fleet runs: busybox containers whose tools print a bundled evidence set.

The image (built from Debian's busybox-static through ``docker import``, no registry) puts stand-ins first on
PATH: ``nvidia-smi`` (``-q -x``, ``topo -m``), ``lspci``, ``dmesg``, ``lsmod``, ``systemctl``, ``docker``
(``info``, ``inspect``, ``exec ... nvidia-smi -L``, ``logs``) and ``cat`` (``/proc/driver/nvidia/version``:
the container's own /proc is the kernel's, and runc allows no mount there). Each prints its file from
``/gpu/`` or fails as the real tool does when it is missing. ``/bin/sh`` is Debian's dash with its two
libraries, not busybox's ash: ash runs its own applets (cat, lsmod, dmesg) before looking at PATH, so the
stand-ins would never run. A host's files are copied into its container
(``put_archive``): one image, many hosts. The suite reaches them through testinfra's ``docker://`` backend.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

from tests.engine import image as base_image
from tests.engine.smi_xml import from_nvml

IMAGE = "localhost/gpuat-fleet-host:5"
PREFIX = "gpuat-fleet-"
LABEL = "gpuat-fleet"

SHOW = """show() { [ -f "/gpu/$1" ] && exec /bin/cat "/gpu/$1"; echo "$2" >&2; exit "${3:-1}"; }
"""
STANDINS = {
    # /gpu/delay: seconds each call waits, as nvidia-smi does on a real server (bench/bench_fleet.py --tool-delay)
    "nvidia-smi": SHOW + """[ -f /gpu/delay ] && sleep "$(/bin/cat /gpu/delay)"
failed="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
case "$*" in
  "-q -x") echo "$*" >> /tmp/nvidia-smi-calls; show nvidia-smi-q.xml "$failed" 9 ;;
  "topo -m") show nvidia-smi-topo.txt "$failed" 9 ;;
  *) echo "nvidia-smi (fleet stand-in): $* is not simulated" >&2; exit 2 ;;
esac
""",
    "lspci": SHOW + 'show lspci-vvv.txt "lspci: command failed" 1\n',
    "dmesg": SHOW + 'show dmesg.txt "dmesg: klogctl: Operation not permitted" 1\n',
    "lsmod": SHOW + 'show lsmod.txt "lsmod: can\'t open \'/proc/modules\'" 1\n',
    "systemctl": SHOW + 'show nvidia-persistenced.txt "System has not been booted with systemd as init system" 1\n',
    "cat": SHOW + """[ "$1" = /proc/driver/nvidia/version ] && show proc-driver-nvidia-version.txt \\
  "cat: can't open '/proc/driver/nvidia/version': No such file or directory" 1
exec /bin/cat "$@"
""",
    # busybox's timeout starts "sh" as its own ash applet, whatever PATH says: hand it dash by path.
    "timeout": """first=1
for a in "$@"; do
  shift
  if [ "$first" = 1 ] && [ "$a" = sh ]; then a=/bin/dash; first=0; fi
  set -- "$@" "$a"
done
exec /bin/busybox timeout "$@"
""",
    "docker": SHOW + """case "$1" in
  info) show docker-info.json "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." 1 ;;
  inspect) [ -f /gpu/docker-inspect.json ] || { echo "[]"; echo "Error: No such object: $2" >&2; exit 1; }
           show docker-inspect.json "" 1 ;;
  exec) show container-nvidia-smi-L.txt "Error response from daemon: container is not running" 1 ;;
  logs) show ollama-server.log "Error response from daemon: No such container: $2" 1 ;;
  *) echo "docker (fleet stand-in): $1 is not simulated" >&2; exit 2 ;;
esac
""",
}
DASH = "/bin/dash"
CHANGES = ["ENV PATH=/usr/local/bin:/usr/bin:/bin", 'CMD ["/bin/sleep", "3600"]']


def rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add(name: str, data: bytes | None = None, mode: int = 0o755, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, int(time.time())
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "usr", "usr/bin", "usr/local", "usr/local/bin", "root", "tmp", "etc", "gpu", "proc",
                  "sys", "dev"):
            add(d)
        libraries = _libraries(DASH)
        for d in sorted({p for lib in libraries for p in Path(lib).parent.relative_to("/").parents}
                        | {Path(lib).parent.relative_to("/") for lib in libraries}):
            if str(d) not in (".", "bin", "usr", "usr/bin"):
                add(str(d))
        with open(base_image.BUSYBOX, "rb") as handle:
            add("bin/busybox", handle.read())
        for name in base_image.applets():
            if name != "sh":
                add(f"bin/{name}", link="/bin/busybox")
        for path in [DASH, *libraries]:
            with open(os.path.realpath(path), "rb") as handle:
                add(path.lstrip("/"), handle.read())
        add("bin/sh", link=DASH)
        for name, script in STANDINS.items():
            add(f"usr/local/bin/{name}", b"#!/bin/sh\n" + script.encode())
        add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    return buffer.getvalue()


def _libraries(binary: str) -> list[str]:
    """The shared libraries ``binary`` loads, as ldd lists them (paths as the loader asks for them)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10, check=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts and parts[0].startswith("/") else ""
        if path.startswith("/"):
            found.append(path)
    return found


def build(client) -> str:
    """Import the image once into the engine behind ``client``."""
    try:
        client.images.get(IMAGE)
    except Exception:  # docker.errors.ImageNotFound: build it
        repository, tag = IMAGE.rsplit(":", 1)
        client.api.import_image_from_data(rootfs(), repository=repository, tag=tag, changes=CHANGES)
    return IMAGE


def evidence_tar(evidence: Path, delay_s: float = 0) -> bytes:
    """The evidence set as /gpu/ files, plus nvidia-smi -q -x made from its nvml.json (and /gpu/delay)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))

        for path in sorted(evidence.iterdir()):
            if path.is_file() and path.name not in ("host.json", "nvml.json"):
                add(path.name, path.read_bytes())
        nvml = evidence / "nvml.json"
        if nvml.is_file() and not (evidence / "nvidia-smi-q.xml").exists() and '"ok": true' in nvml.read_text():
            add("nvidia-smi-q.xml", from_nvml(nvml.read_text(), f"fixtures/hosts/{evidence.name}/nvml.json").encode())
        if delay_s:
            add("delay", f"{delay_s:g}".encode())
    return buffer.getvalue()


def start(client, evidence: Path, name: str = "", delay_s: float = 0) -> str:
    """A running simulated host carrying ``evidence``; returns its container name (``gpuat-fleet-...``).

    ``delay_s``: each nvidia-smi call first waits this long, as on a real server where it talks to the cards."""
    name = name or f"{PREFIX}{evidence.name}-{uuid.uuid4().hex[:6]}"
    container = client.containers.run(IMAGE, name=name, hostname=evidence.name[:63], detach=True,
                                      labels={LABEL: "1"}, network_mode="none")
    container.put_archive("/gpu", evidence_tar(evidence, delay_s))
    return name


def remove(client, names: list[str]) -> None:
    """Remove these containers (only the fleet tests' own: their names start with gpuat-fleet-)."""
    for name in names:
        if not name.startswith(PREFIX):
            continue
        with contextlib.suppress(Exception):  # docker.errors.NotFound: already gone
            client.containers.get(name).remove(force=True)


def available() -> str | None:
    return None if shutil.which(base_image.BUSYBOX) and shutil.which("docker") and os.path.exists(DASH) else \
        "busybox-static, dash and the docker CLI are needed for simulated fleet hosts"
