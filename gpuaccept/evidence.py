"""Evidence files: what a run saw, named after the command that produced it, so it replays.

A live run writes them into ``<run folder>/evidence/``; ``--replay DIR`` reads them back. A replay of
raw captures made by hand with the same commands works the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuaccept import redact

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
PERSISTENCED = "nvidia-persistenced.txt"  # systemctl show nvidia-persistenced --property=...
HOST_INFO = "host-info.txt"  # kernel, OS, CPU, memory, BIOS and board: labelled sections (gpuaccept.sources.host)
HOST = "host.json"  # hostname, capture time, and why any file above is absent

KNOWN = (NVML, SMI_XML, LSPCI, SYSFS_PCI, PROC_VERSION, TOPO, LSMOD, DMESG,
         DOCKER_INFO, DOCKER_INSPECT, DOCKER_PROBE, CONTAINER_SMI, OLLAMA_LOG,
         OLLAMA_VERSION, OLLAMA_TAGS, OLLAMA_PS, BENCHMARK, PERSISTENCED, HOST_INFO)


@dataclass
class Evidence:
    files: dict[str, str] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)  # name -> why the host could not give it
    meta: dict[str, Any] = field(default_factory=dict)
    folder: str = ""

    def text(self, name: str) -> str | None:
        return self.files.get(name)

    def why_absent(self, name: str) -> str:
        if name in self.absent:
            return self.absent[name]
        if self.folder:
            return f"{name} is not in the evidence folder {self.folder}"
        return f"{name} was not collected"

    def json(self, name: str) -> Any:
        text = self.text(name)
        return None if text is None else json.loads(text)

    @classmethod
    def read(cls, folder: str | Path) -> Evidence:
        path = Path(folder)
        files = {}
        for name in KNOWN:
            candidate = path / name
            if candidate.is_file():
                files[name] = candidate.read_text(encoding="utf-8", errors="replace")
        meta: dict[str, Any] = {}
        host_file = path / HOST
        if host_file.is_file():
            try:
                meta = json.loads(host_file.read_text(encoding="utf-8"))
            except ValueError as err:
                meta = {"unreadable": f"{HOST} is not valid JSON ({err})"}
        return cls(files=files, absent=dict(meta.get("absent", {})), meta=meta, folder=str(folder))

    def write(self, folder: str | Path) -> None:
        """Save the set into ``folder`` with its secrets redacted (live or replay: nothing else reaches a run
        folder). The set itself becomes what was saved, so facts built from it match a replay of the folder."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        self.files = {name: redact.evidence_file(name, text) for name, text in self.files.items()}
        self.absent = redact.data(self.absent)
        self.meta = redact.data(self.meta)
        for name, text in self.files.items():
            (path / name).write_text(text, encoding="utf-8")
        meta = {**self.meta, "absent": self.absent}
        (path / HOST).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
