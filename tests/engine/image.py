"""A tiny Ollama stand-in image built from Debian's busybox-static through ``docker import``.

It is shaped like ``ollama/ollama`` where the suite looks: ``ENTRYPOINT ["/bin/ollama"]``,
``CMD ["serve"]``, ``NVIDIA_VISIBLE_DEVICES=all``, ``OLLAMA_HOST=0.0.0.0:11434``, port 11434, models
under ``/root/.ollama``. Its ``ollama serve`` logs the real ``server config`` and ``Listening on``
lines (format of the Ollama logs in tests/data/captures), one ``inference compute`` line per GPU the
container was given (or the CPU line), and serves ``/api/version``, ``/api/tags`` and ``/api/ps`` as
static answers with busybox httpd: the quick tier's Ollama checks run through the published port.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import time

from tests.fakes.ollama_server import QWEN3_32B

BUSYBOX = "/bin/busybox"
REPOSITORY, TAG = "localhost/ollama-standin", "0.32.1"
IMAGE = f"{REPOSITORY}:{TAG}"

OLLAMA = """#!/bin/sh
# Stand-in for /bin/ollama: "serve" logs like Ollama and answers GET /api/version on 11434.
[ "$1" = serve ] || { echo "this ollama (test stand-in) knows 'serve' only" >&2; exit 2; }
now() { date -u +%Y-%m-%dT%H:%M:%S.000Z; }
env="CUDA_VISIBLE_DEVICES:$CUDA_VISIBLE_DEVICES OLLAMA_HOST:http://$OLLAMA_HOST OLLAMA_KEEP_ALIVE:5m0s"
case "$OLLAMA_SCHED_SPREAD" in 1|t|T|true|TRUE|True) spread=true ;; *) spread=false ;; esac  # as Ollama parses it
env="$env OLLAMA_MODELS:/root/.ollama/models OLLAMA_SCHED_SPREAD:$spread"
echo "time=$(now) level=INFO source=routes.go:1311 msg=\\"server config\\" env=\\"map[$env]\\""
echo "time=$(now) level=INFO source=routes.go:1364 msg=\\"Listening on [::]:11434 (version 0.32.1)\\""
# GPU discovery as Ollama 0.30+ logs it: one CUDA line per GPU the container was given, else the CPU.
if nvidia-smi -L >/tmp/gpus 2>/dev/null && grep -q '^GPU ' /tmp/gpus; then
  grep '^GPU ' /tmp/gpus | while read -r _ n rest; do
    i=${n%:}; card=${rest% (UUID*}
    fields="id=$i filter_id=$i library=CUDA compute=6.1 name=CUDA$i description=\\"$card\\" libdirs=ollama,cuda_v12"
    fields="$fields driver=13.0 pci_id=\\"\\" type=discrete total=\\"22.5 GiB\\" available=\\"22.3 GiB\\""
    echo "time=$(now) level=INFO source=types.go:42 msg=\\"inference compute\\" $fields"
  done
else
  fields="id=cpu library=cpu compute=\\"\\" name=cpu description=cpu libdirs=ollama driver=\\"\\" pci_id=\\"\\""
  fields="$fields type=\\"\\" total=\\"62.7 GiB\\" available=\\"60.1 GiB\\""
  echo "time=$(now) level=INFO source=types.go:60 msg=\\"inference compute\\" $fields"
fi
mkdir -p /root/.ollama/models
# Like Ollama, stop on SIGTERM (as PID 1 a shell would otherwise ignore it, and docker stop would wait).
httpd -f -p 11434 -h /www &
trap 'kill $!; exit 0' TERM INT
wait
"""

CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV NVIDIA_VISIBLE_DEVICES=all",
    "ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility",
    "ENV OLLAMA_HOST=0.0.0.0:11434",
    "EXPOSE 11434",
    'ENTRYPOINT ["/bin/ollama"]',
    'CMD ["serve"]',
]


def applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, timeout=10, check=True).stdout
    return [a for a in out.split() if a and a != "busybox"]


def rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "usr", "usr/bin", "root", "tmp", "etc", "www", "www/api", "proc", "sys", "dev"):
            add_dir(d)
        with open(BUSYBOX, "rb") as handle:
            add_file("bin/busybox", handle.read())
        for name in applets():
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(link)
        add_file("bin/ollama", OLLAMA.encode())
        add_file("www/api/version", b'{"version":"0.32.1"}', 0o644)
        # GET /api/tags and /api/ps as static answers: qwen3:32b installed, nothing loaded.
        add_file("www/api/tags", json.dumps({"models": [QWEN3_32B]}).encode(), 0o644)
        add_file("www/api/ps", b'{"models":[]}', 0o644)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    return buffer.getvalue()


def available() -> str | None:
    """None when the image can be built here, else why not."""
    return None if shutil.which(BUSYBOX) else f"{BUSYBOX} is missing (apt-get install busybox-static)"


def build(client) -> str:
    """Import the stand-in image into the engine behind ``client`` (a docker.DockerClient)."""
    client.api.import_image_from_data(rootfs(), repository=REPOSITORY, tag=TAG, changes=CHANGES)
    return IMAGE
