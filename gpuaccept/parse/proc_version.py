"""``/proc/driver/nvidia/version`` -> kernel module version and flavour.

Proprietary: ``NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 ...``
Open:        ``NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  Release Build ...``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"NVRM version:\s+NVIDIA UNIX\s+(?P<what>.*?Kernel Module.*?)\s+(?P<version>\d+\.\d+(?:\.\d+)?)\b")


@dataclass(frozen=True)
class KernelModuleVersion:
    version: str
    flavor: str  # "proprietary" or "open"
    line: str


def parse_proc_version(text: str) -> KernelModuleVersion | None:
    for line in text.splitlines():
        m = _LINE.search(line)
        if m:
            flavor = "open" if "Open Kernel Module" in m["what"] else "proprietary"
            return KernelModuleVersion(version=m["version"], flavor=flavor, line=line.strip())
    return None
