"""``lspci -vvv -nn -d 10de:`` text -> PciDevice facts.

Reads old and new pciutils output: device headers with or without ``[class]``/``[vendor:device]``
(``-nn``), with or without the PCI domain, ``Region N: Memory at`` (``-vv``) or bare ``Memory at``
(``-v``) lines, ``(ok)``/``(downgraded)`` link wording, TAB or space indentation, and
``Capabilities: <access denied>`` when lspci ran without root.
"""

from __future__ import annotations

import re

from gpuaccept.facts import PciDevice
from gpuaccept.parse.pci_ids import normalise_bus_id

_HEADER = re.compile(
    r"^(?P<bdf>(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+(?P<rest>.*)$"
)
_CLASS = re.compile(r"^(?P<cls_name>[^:\[]+?)(?:\s+\[(?P<cls>[0-9a-fA-F]{4})\])?:\s+(?P<desc>.*)$")
_IDS = re.compile(r"\[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]")
_PLAIN_DEVICE = re.compile(r"NVIDIA Corporation Device (?P<device>[0-9a-fA-F]{4})\b")
_LINK = re.compile(r"Speed\s+(?P<speed>[\d.]+)GT/s[^,]*,\s*Width\s+x(?P<width>\d+)")
_REGION = re.compile(r"^(?:Region\s+(?P<num>\d+):\s+)?Memory at .*\[size=(?P<size>\d+)(?P<unit>[KMGT]?)\]")
_ASPM_CTL = re.compile(r"^LnkCtl:\s+ASPM\s+(?P<state>[^;]+)")
_UNIT_MIB = {"": 1 / (1024 * 1024), "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}

_CLASS_CODES = {"VGA compatible controller": "0300", "3D controller": "0302", "Audio device": "0403"}


def parse_lspci(text: str) -> list[PciDevice]:
    devices: list[PciDevice] = []
    for block in _blocks(text):
        device = _parse_block(block)
        if device is not None:
            devices.append(device)
    return devices


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if _HEADER.match(line):
            blocks.append([line])
        elif blocks and line.strip():
            blocks[-1].append(line.strip())
    return blocks


def _parse_block(block: list[str]) -> PciDevice | None:
    header = _HEADER.match(block[0])
    assert header is not None  # _blocks only starts a block on a header line
    cls = _CLASS.match(header["rest"])
    if not cls:
        return None
    desc = cls["desc"]
    vendor = device = None
    ids = _IDS.search(desc)
    if ids:
        vendor, device = int(ids["vendor"], 16), int(ids["device"], 16)
    elif "NVIDIA" in desc:
        vendor = 0x10DE
        plain = _PLAIN_DEVICE.search(desc)
        device = int(plain["device"], 16) if plain else None
    fields: dict = {
        "bus_id": normalise_bus_id(header["bdf"]),
        "vendor": vendor,
        "device": device,
        "class_code": (cls["cls"] or _CLASS_CODES.get(cls["cls_name"].strip())),
        "description": f"{cls['cls_name'].strip()}: {desc}",
    }
    bars: dict[str, int] = {}
    unnamed = 0
    for line in block[1:]:
        if line.startswith("Kernel driver in use:"):
            fields["driver_in_use"] = line.split(":", 1)[1].strip()
        elif line.startswith("Capabilities: <access denied>"):
            fields["capabilities_readable"] = False
        elif line.startswith("LnkCap:") and (m := _LINK.search(line)):
            fields["link_cap_speed_gts"], fields["link_cap_width"] = float(m["speed"]), int(m["width"])
        elif line.startswith("LnkSta:") and (m := _LINK.search(line)):
            fields["link_sta_speed_gts"], fields["link_sta_width"] = float(m["speed"]), int(m["width"])
        elif m := _ASPM_CTL.match(line):
            fields["aspm"] = m["state"].strip()
        elif m := _REGION.match(line):
            name = m["num"] if m["num"] is not None else f"#{unnamed}"
            unnamed += m["num"] is None
            bars[name] = round(int(m["size"]) * _UNIT_MIB[m["unit"]])
    return PciDevice(bars_mib=bars, **fields)
