"""Small shared helpers for PCI identifiers and link speeds."""

from __future__ import annotations

import re

_BDF = re.compile(r"(?:(?P<domain>[0-9a-fA-F]{4,8}):)?(?P<bus>[0-9a-fA-F]{2}):(?P<dev>[0-9a-fA-F]{2})(?:\.(?P<fn>[0-7]))?")

# PCIe transfer rate per lane (GT/s) -> generation.
_GEN_BY_SPEED = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}


def normalise_bus_id(text: str) -> str:
    """``00000000:03:00.0`` (NVML), ``03:00.0`` (lspci) and ``0000:03:00.0`` all become ``0000:03:00.0``."""
    m = _BDF.search(text)
    if not m:
        return text.strip().lower()
    domain = int(m["domain"] or "0", 16)
    function = f".{m['fn']}" if m["fn"] else ""  # kernel Xid lines name the device without a function
    return f"{domain:04x}:{m['bus']}:{m['dev']}{function}".lower()


def generation_of(speed_gts: float | None) -> int | None:
    """PCIe generation for a per-lane rate in GT/s (8.0 -> 3)."""
    if speed_gts is None:
        return None
    return _GEN_BY_SPEED.get(round(speed_gts, 1))
