"""The suite's sysfs PCI listing (``sysfs-pci.txt``) -> PciDevice facts.

Written by ``sources/host.py`` when lspci is missing: one ``device <bdf>`` line per NVIDIA function,
then ``key=value`` lines copied from ``/sys/bus/pci/devices/<bdf>/``.
"""

from __future__ import annotations

import re

from gpuaccept.facts import PciDevice
from gpuaccept.parse.pci_ids import normalise_bus_id

_SPEED = re.compile(r"^([\d.]+)\s*GT/s")


def parse_sysfs_pci(text: str) -> list[PciDevice]:
    devices: list[dict[str, str]] = []
    for line in text.splitlines():
        if line.startswith("device "):
            devices.append({"bdf": line.split()[1]})
        elif "=" in line and devices:
            key, value = line.split("=", 1)
            devices[-1][key.strip()] = value.strip()
    return [_device(d) for d in devices]


def _int(value: str | None, base: int = 10) -> int | None:
    try:
        return int(value, base) if value else None
    except ValueError:
        return None


def _speed(value: str | None) -> float | None:
    m = _SPEED.match(value or "")
    return float(m.group(1)) if m else None


def _device(d: dict[str, str]) -> PciDevice:
    bars = {}
    resource = d.get("resource1", "").split()
    if len(resource) >= 2 and int(resource[1], 16) > int(resource[0], 16):
        bars["1"] = (int(resource[1], 16) - int(resource[0], 16) + 1) // (1024 * 1024)
    aspm = None
    if "l1_aspm" in d or "l0s_aspm" in d:
        on = [name for name in ("L0s", "L1") if d.get(f"{name.lower()}_aspm") == "1"]
        aspm = f"{' '.join(on)} Enabled" if on else "Disabled"
    cls = d.get("class", "")
    return PciDevice(
        bus_id=normalise_bus_id(d["bdf"]),
        vendor=_int(d.get("vendor"), 16),
        device=_int(d.get("device"), 16),
        class_code=cls[2:6] if cls.startswith("0x") else None,
        description="(from sysfs)",
        driver_in_use=d.get("driver") or None,
        link_cap_speed_gts=_speed(d.get("max_link_speed")),
        link_cap_width=_int(d.get("max_link_width")),
        link_sta_speed_gts=_speed(d.get("current_link_speed")),
        link_sta_width=_int(d.get("current_link_width")),
        bars_mib=bars,
        aspm=aspm,
    )
