"""The requirement catalogue: stable IDs, their tier and a one-line title.

IDs never change meaning; a new meaning gets a new ID. Each ID is checked by exactly one acceptance test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requirement:
    id: str
    tier: str  # "quick", "load" or "diag" (opt-in: -m diag)
    title: str


_ROWS = [
    ("GPU-COUNT", "quick", "GPUs visible to NVML == expected"),
    ("GPU-PCI-COUNT", "quick", "NVIDIA GPUs on the PCI bus == NVML count == expected"),
    ("GPU-MODEL", "quick", "each GPU's name and PCI device id match the profile"),
    ("GPU-IDENTICAL", "quick", "all GPUs report the same model and VBIOS version"),
    ("GPU-MEMORY", "quick", "total memory per GPU fits its ECC mode and is equal across GPUs"),
    ("GPU-PERSISTENCE", "quick", "persistence mode on (or nvidia-persistenced running), and kept across reboots"),
    ("GPU-ECC", "quick", "no uncorrectable ECC errors"),
    ("GPU-RETIRED", "quick", "memory health: retired pages or remapped rows, nothing pending, ECC on"),
    ("GPU-XID", "quick", "no hardware Xid in the kernel log since boot (application Xids warn)"),
    ("DRV-VERSION", "quick", "NVIDIA driver within the profile window"),
    ("DRV-KMOD-MATCH", "quick", "kernel module version == NVML (user space) version"),
    ("DRV-KMOD-FLAVOR", "quick", "kernel module flavour fits the architecture"),
    ("DRV-NOUVEAU", "quick", "nouveau not loaded"),
    ("PCIE-WIDTH", "quick", "current link width == max == profile"),
    ("PCIE-GEN", "quick", "max link generation == profile (current: informational at idle)"),
    ("PCIE-BAR1", "quick", "BAR1 size per GPU >= profile"),
    ("PCIE-ASPM", "quick", "ASPM state of the GPU links (advisory)"),
    ("PCIE-TOPO", "quick", "topology between the GPUs reported and as the profile names"),
    ("PWR-LIMIT", "quick", "enforced power limit == default limit"),
    ("PWR-BUDGET", "quick", "GPU max power + host base load <= PSU capacity x derating"),
    ("CTR-ENGINE", "quick", "Docker Engine reachable (version recorded)"),
    ("CTR-TOOLKIT", "quick", "containers can be given GPUs: NVIDIA runtime hook or CDI"),
    ("CTR-RUNNING", "quick", "the Ollama container exists and runs, with a restart policy"),
    ("CTR-GPU-REQUEST", "quick", "the container's GPU request covers every expected GPU"),
    ("CTR-SEES-GPUS", "quick", "nvidia-smi -L in the container lists exactly the host's expected GPUs"),
    ("CTR-CONFIG", "quick", "only OLLAMA_* variables the deployed Ollama reads, with values it parses; no "
                            "CUDA_VISIBLE_DEVICES hiding a GPU; persistent model store; API port published"),
    ("CTR-EXPOSURE", "quick", "the API is not published on every interface unless the profile allows it"),
    ("OLL-API", "quick", "Ollama API reachable; version recorded and >= profile minimum"),
    ("OLL-GPUS-DETECTED", "quick", "the current server start's final GPU discovery shows every expected GPU on "
                                   "CUDA, right runner"),
    ("OLL-MODEL", "quick", "the model is installed"),
    ("FLEET-CONSISTENT", "quick", "in a fleet run: the host agrees with the other hosts of its profile on driver, "
                                  "kernel module, VBIOS per card model, Ollama, image and model; no measured "
                                  "figure an outlier"),
    ("HOST-DRIFT", "quick", "with --baseline: nothing changed or fell since the host's earlier run (cards, counters, "
                            "links, power limit, measured rates); versions that changed are named"),
    ("OLL-OFFLOAD", "load", "once loaded, the whole model is on GPU: /api/ps, the log's offloaded layers and NVML agree"),
    ("OLL-SPREAD", "load", "the model's runner holds memory on every expected GPU (NVML per process)"),
    ("OLL-BALANCE", "load", "per-GPU memory and utilization shares within tolerance"),
    ("OLL-THROUGHPUT", "load", "median generation tokens/s >= floor; share of the bandwidth ceiling shown"),
    ("OLL-LOAD-TIME", "load", "model load time and load rate reported; optional ceiling"),
    ("OLL-ANSWER", "load", "the model answers known questions right; no generated text is gibberish"),
    ("OLL-CONSISTENT", "load", "how many fixed-seed, temperature-0 runs differ, and where (a report)"),
    ("GPU-THERMAL", "load", "under load: below slowdown temperature minus margin, no slowdown throttling"),
    ("PCIE-BANDWIDTH", "diag", "pinned host-to-device and device-to-host copies per GPU, alone and all at once, "
                               ">= the profile's floor"),
    ("PCIE-REPLAY", "diag", "NVML's PCIe replay counter and the kernel's AER errors do not grow during the diag tier"),
    ("GPU-MEMTEST", "diag", "pattern tests over >= the profile's share of free memory find no mismatch; ECC counters "
                            "do not grow"),
    ("GPU-SOAK", "diag", "all GPUs at once near their power limit for the profile's time: temperature plateau below "
                         "slowdown minus margin, no thermal/HW-slowdown/power-brake throttle, power >= share of the "
                         "enforced limit, steady clocks"),
    ("GPU-P2P", "diag", "peer access between the GPUs and its bandwidth (advisory)"),
]

CATALOGUE: dict[str, Requirement] = {rid: Requirement(rid, tier, title) for rid, tier, title in _ROWS}


# The evidence files each requirement is judged on (gpuaccept/evidence.py names), shown with its
# verdict in the report and listed in summary.json.
_NVML = ("nvml.json", "nvidia-smi-q.xml")
_PCI = ("lspci-vvv.txt", "sysfs-pci.txt")
_BENCH = ("benchmark.json",)
EVIDENCE: dict[str, tuple[str, ...]] = {
    **{rid: _NVML for rid in ("GPU-COUNT", "GPU-MODEL", "GPU-IDENTICAL", "GPU-MEMORY",
                              "GPU-ECC", "GPU-RETIRED", "DRV-VERSION", "PWR-LIMIT", "PWR-BUDGET")},
    "GPU-PCI-COUNT": (*_NVML, *_PCI, "dmesg.txt"),
    "GPU-PERSISTENCE": (*_NVML, "nvidia-persistenced.txt"),
    "GPU-XID": ("dmesg.txt",),
    "FLEET-CONSISTENT": ("fleet-peers.json",),
    "HOST-DRIFT": ("baseline.json", *_NVML, *_PCI, "docker-inspect.json", "ollama-version.json", "ollama-tags.json",
                   *_BENCH, "diag.json"),
    "DRV-KMOD-MATCH": (*_NVML, "proc-driver-nvidia-version.txt", "dmesg.txt"),
    "DRV-KMOD-FLAVOR": ("proc-driver-nvidia-version.txt", "dmesg.txt"),
    "DRV-NOUVEAU": ("lsmod.txt",),
    "PCIE-WIDTH": (*_NVML, *_PCI),
    "PCIE-GEN": (*_NVML, *_PCI, *_BENCH, "diag.json"),
    "PCIE-BAR1": (*_NVML, *_PCI),
    "PCIE-ASPM": _PCI,
    "PCIE-TOPO": (*_NVML, "nvidia-smi-topo.txt"),
    "CTR-ENGINE": ("docker-info.json",),
    "CTR-TOOLKIT": ("docker-gpu-probe.json", "docker-info.json"),
    "CTR-RUNNING": ("docker-inspect.json",),
    "CTR-GPU-REQUEST": ("docker-inspect.json", *_NVML),
    "CTR-SEES-GPUS": ("container-nvidia-smi-L.txt", *_NVML),
    "CTR-CONFIG": ("docker-inspect.json", "ollama-version.json", "ollama-server.log", *_NVML),
    "CTR-EXPOSURE": ("docker-inspect.json",),
    "OLL-API": ("ollama-version.json",),
    "OLL-GPUS-DETECTED": ("ollama-server.log", "docker-inspect.json", *_NVML),
    "OLL-MODEL": ("ollama-tags.json",),
    "OLL-OFFLOAD": (*_BENCH, "ollama-ps.json", "ollama-server.log", "docker-inspect.json"),
    "OLL-SPREAD": (*_BENCH, "ollama-server.log", "docker-inspect.json"),
    "OLL-BALANCE": (*_BENCH, "docker-inspect.json"),
    "OLL-THROUGHPUT": (*_BENCH, "ollama-tags.json", "ollama-server.log", *_NVML),
    "OLL-LOAD-TIME": (*_BENCH, "ollama-tags.json"),
    "OLL-ANSWER": _BENCH,
    "OLL-CONSISTENT": _BENCH,
    "GPU-THERMAL": (*_BENCH, *_NVML),
    "PCIE-BANDWIDTH": ("diag.json", *_NVML),
    "PCIE-REPLAY": ("diag.json",),
    "GPU-MEMTEST": ("diag.json",),
    "GPU-SOAK": ("diag.json", *_NVML),
    "GPU-P2P": ("diag.json", "nvidia-smi-topo.txt", *_NVML),
}
