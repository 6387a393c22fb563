"""A sysfs tree with the GPUs' PCIe AER counters, for the fake CUDA driver to grow while it copies.

Laid out as the kernel does: ``bus/pci/devices/<bdf>`` links to ``devices/pci0000:00/<port>/<bdf>``, and
each of the GPU and its upstream port has ``aer_dev_correctable``, ``aer_dev_nonfatal`` and
``aer_dev_fatal`` ending in a ``TOTAL_ERR_*`` line (gpuaccept.sources.aer reads it through a shell).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

KINDS = {"correctable": ("RxErr", "BadTLP", "BadDLLP", "Rollover", "Timeout", "TOTAL_ERR_COR"),
         "nonfatal": ("Undefined", "DLP", "SDES", "TLP", "FCP", "TOTAL_ERR_NONFATAL"),
         "fatal": ("Undefined", "DLP", "SDES", "TLP", "FCP", "TOTAL_ERR_FATAL")}


def paths(root: str, bus_id: str) -> dict[str, Path]:
    """The GPU's folder and its upstream port's (created with the link on first use)."""
    bus = bus_id.lower()
    port = Path(root, "devices", "pci0000:00", f"0000:00:{bus.split(':')[1]}.0")
    gpu = port / bus
    link = Path(root, "bus", "pci", "devices", bus)
    if not link.is_symlink():
        gpu.mkdir(parents=True, exist_ok=True)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(gpu, link.parent), link)
    return {"gpu": gpu, "port": port}


def write(root: str, devices: list[Any]) -> None:
    for d in devices:
        for where, folder in paths(root, d.spec["bus_id"]).items():
            for kind, lines in KINDS.items():
                total = d.aer.get(where, {}).get(kind, d.spec.get("aer_before", 0))
                text = "".join(f"{name} {total if name.startswith('TOTAL') else 0}\n" for name in lines)
                (folder / f"aer_dev_{kind}").write_text(text)


def grow(device: Any, fault: dict[str, Any]) -> None:
    """``fault``: {"at": "gpu" or "port", "kind": "correctable", "count": errors per host copy}."""
    counts = device.aer.setdefault(fault.get("at", "gpu"), {})
    kind = fault.get("kind", "correctable")
    counts[kind] = counts.get(kind, device.spec.get("aer_before", 0)) + fault.get("count", 1)
