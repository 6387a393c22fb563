"""Evidence files: what a run saw, named after the command that produced it, so it replays.

A live run writes them into ``<run folder>/evidence/``; ``--replay DIR`` reads them back. A replay of
raw captures made by hand with the same commands works the same way.

Reading is the boundary where evidence from elsewhere enters, so it trusts nothing in the folder:
- each file is opened relative to the folder without following symlinks, and used only if it is a
  regular file (a symlink, FIFO, device, socket or directory is never opened for reading, so a link to
  ``/etc/shadow`` is not read and a FIFO cannot block);
- at most ``MAX_FILE_BYTES`` are read from a file; a larger one is refused whole;
- text is decoded by its byte-order mark (UTF-8, UTF-16 and UTF-32, either byte order), else as UTF-8
  with replacement characters;
- ``host.json`` must be a JSON object; its ``hostname``, ``absent``, ``unreadable``, ``captured_at`` and
  ``container`` entries are kept only if they have the expected types.
Such a file is listed in ``unreadable`` with the reason; it is never "not found".
The folder itself is the one the user named (``--replay DIR`` may be a link the user chose, e.g.
``reports/latest``); inside it nothing is followed.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuaccept import redact
from gpuaccept.errors import EvidenceError
from gpuaccept.validate import Invalid, load_json

NVML = "nvml.json"  # the suite's own NVML snapshot
SMI_XML = "nvidia-smi-q.xml"  # nvidia-smi -q -x
LSPCI = "lspci-vvv.txt"  # lspci -vvv -nn -D -d 10de:
SYSFS_PCI = "sysfs-pci.txt"  # NVIDIA functions under /sys/bus/pci/devices, when lspci is missing
PROC_VERSION = "proc-driver-nvidia-version.txt"  # cat /proc/driver/nvidia/version
TOPO = "nvidia-smi-topo.txt"  # nvidia-smi topo -m
LSMOD = "lsmod.txt"  # lsmod
DMESG = "dmesg.txt"  # dmesg, or journalctl -k -b
DOCKER_INFO = "docker-info.json"  # docker info --format '{{json .}}'
DOCKER_INSPECT = "docker-inspect.json"  # docker inspect <container>
DOCKER_PROBE = "docker-gpu-probe.json"  # docker run --rm --gpus all <image> nvidia-smi -L, as a record
CONTAINER_SMI = "container-nvidia-smi-L.txt"  # docker exec <container> nvidia-smi -L
OLLAMA_LOG = "ollama-server.log"  # docker logs <container>
OLLAMA_VERSION = "ollama-version.json"  # GET /api/version
OLLAMA_TAGS = "ollama-tags.json"  # GET /api/tags (the ollama client's list())
OLLAMA_PS = "ollama-ps.json"  # GET /api/ps (the ollama client's ps())
BENCHMARK = "benchmark.json"  # the load tier's benchmark: per-run timings and the per-GPU samples
DIAG = "diag.json"  # the diag tier: copy bandwidths, link counters, memory test, soak, peer copies and samples
PERSISTENCED = "nvidia-persistenced.txt"  # systemctl show nvidia-persistenced --property=...
HOST_INFO = "host-info.txt"  # kernel, OS, CPU, memory, BIOS and board: labelled sections (gpuaccept.sources.host)
FLEET_PEERS = "fleet-peers.json"  # a fleet run: every host's figures of this host's profile (FLEET-CONSISTENT)
BASELINE = "baseline.json"  # --baseline: the figures of the host's earlier run this one is compared with (gpuaccept.drift)
HOST = "host.json"  # hostname, capture time, and why any file above is absent

MAX_FILE_BYTES = 64 * 2**20  # the largest evidence file read; dmesg and a long server log fit well below

KNOWN = (NVML, SMI_XML, LSPCI, SYSFS_PCI, PROC_VERSION, TOPO, LSMOD, DMESG,
         DOCKER_INFO, DOCKER_INSPECT, DOCKER_PROBE, CONTAINER_SMI, OLLAMA_LOG,
         OLLAMA_VERSION, OLLAMA_TAGS, OLLAMA_PS, BENCHMARK, DIAG, PERSISTENCED, HOST_INFO, BASELINE, FLEET_PEERS)


@dataclass
class Evidence:
    files: dict[str, str] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)  # name -> why the host could not give it
    meta: dict[str, Any] = field(default_factory=dict)
    folder: str = ""
    unreadable: dict[str, str] = field(default_factory=dict)  # name -> why the file there could not be read

    def text(self, name: str) -> str | None:
        return self.files.get(name)

    def why_absent(self, name: str) -> str:
        if name in self.unreadable:
            return self.unreadable[name]
        if name in self.absent:
            return self.absent[name]
        if self.folder:
            return f"{name} is not in the evidence folder {self.folder}"
        return f"{name} was not collected"

    def json(self, name: str) -> Any:
        text = self.text(name)
        return None if text is None else load_json(text)

    @classmethod
    def read(cls, folder: str | Path) -> Evidence:
        files: dict[str, str] = {}
        unreadable: dict[str, str] = {}
        meta: dict[str, Any] = {}
        try:
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as err:
            unreadable = {name: f"evidence unreadable: the folder {folder} cannot be opened ({err.strerror})"
                          for name in (*KNOWN, HOST)}
            return cls(folder=str(folder), unreadable=unreadable)
        try:
            for name in (*KNOWN, HOST):
                try:
                    data = read_bounded(dir_fd, name)
                except FileNotFoundError:
                    continue
                except Unusable as err:
                    unreadable[name] = f"evidence unreadable: {name} {err}"
                    continue
                files[name] = decode(data)
        finally:
            os.close(dir_fd)
        host_text = files.pop(HOST, None)
        if host_text is not None:
            meta, problems = host_meta(host_text)
            if problems:
                unreadable[HOST] = f"evidence unreadable: {HOST} " + "; ".join(problems)
        # A run folder's host.json carries what its own read found unreadable: those files are not there.
        unreadable = {**meta.pop("unreadable", {}), **unreadable}
        return cls(files=files, absent=dict(meta.get("absent", {})), meta=meta, folder=str(folder),
                   unreadable=unreadable)

    def write(self, folder: str | Path) -> None:
        """Save the set into ``folder`` with its secrets redacted (live or replay: nothing else reaches a run
        folder). The set itself becomes what was saved, so facts built from it match a replay of the folder."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        self.files = {name: redact.stable(name, text) for name, text in self.files.items()}
        self.absent = redact.data(self.absent)
        self.meta = redact.data(self.meta)
        for name, text in self.files.items():
            redact.write_redacted(path / name, text)
        meta = {**self.meta, "absent": self.absent, "unreadable": self.unreadable}
        (path / HOST).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


class Unusable(EvidenceError):
    """A file that is there but is not read: what it is instead of a regular file, or its size."""


_KINDS = ((stat.S_ISLNK, "is a symlink (not followed)"), (stat.S_ISFIFO, "is a FIFO, not a regular file"),
          (stat.S_ISCHR, "is a character device, not a regular file"),
          (stat.S_ISBLK, "is a block device, not a regular file"), (stat.S_ISSOCK, "is a socket, not a regular file"),
          (stat.S_ISDIR, "is a directory, not a regular file"))


def _kind(mode: int) -> str:
    return next((why for test, why in _KINDS if test(mode)), "is not a regular file")


def read_bounded(dir_fd: int, name: str, cap: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of regular file ``name`` in the folder ``dir_fd``, at most ``cap`` of them.

    Raises FileNotFoundError when there is no such entry, ``Unusable`` when it is not a regular file,
    cannot be opened, or is larger than ``cap``. The entry is checked before it is opened (opening a
    device can have effects of its own), and again on the open descriptor (it may have been swapped).
    """
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise Unusable(f"cannot be examined ({err.strerror})") from None
    if not stat.S_ISREG(before.st_mode):
        raise Unusable(_kind(before.st_mode))
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Unusable(_kind(stat.S_IFLNK)) from None
        raise Unusable(f"cannot be opened ({err.strerror})") from None
    try:
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise Unusable(_kind(after.st_mode) if not stat.S_ISREG(after.st_mode) else "changed while it was read")
        if after.st_size > cap:
            raise Unusable(f"is larger than the {cap >> 20} MiB cap ({after.st_size} bytes)")
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise Unusable(f"is larger than the {cap >> 20} MiB cap (it grew while it was read)")
        return b"".join(chunks)
    except OSError as err:
        raise Unusable(f"cannot be read ({err.strerror})") from None
    finally:
        os.close(fd)


# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def decode(data: bytes) -> str:
    """Text by its byte-order mark, else UTF-8; undecodable bytes become U+FFFD, never an error."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    return data.decode("utf-8", errors="replace")


def host_meta(text: str) -> tuple[dict[str, Any], list[str]]:
    """``host.json`` -> (the entries that have their expected types, a problem line for each other)."""
    try:
        raw = load_json(text)
    except Invalid as err:
        return {}, [str(err)]
    if not isinstance(raw, dict):
        return {}, ["is not a JSON object"]
    meta, problems = dict(raw), []
    hostname = meta.get("hostname")
    if hostname is not None and not (isinstance(hostname, str) and 0 < len(hostname) <= 255
                                     and hostname.isprintable()):
        problems.append("hostname is not a short printable string")
        del meta["hostname"]
    for key in ("absent", "unreadable"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, dict)
                                      and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            problems.append(f"{key} is not an object of strings")
            del meta[key]
    for key in ("captured_at", "container"):
        if key in meta and not isinstance(meta[key], str):
            problems.append(f"{key} is not a string")
            del meta[key]
    meta["absent"] = meta.get("absent") or {}
    meta["unreadable"] = meta.get("unreadable") or {}
    return meta, problems
