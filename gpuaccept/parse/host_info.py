"""``host-info.txt`` -> HostInfo: the kernel, OS, CPU, memory, BIOS and board of the host the evidence comes from.

The file is labelled sections (``[uname -srvm]``, ``[/etc/os-release]``, ...), each holding its source's raw
output (gpuaccept/sources/host.py writes it). Its text is untrusted (a replayed folder can hold anything): every
value is cut to one printable line of bounded length before it reaches the report.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter

from gpuaccept.facts import HostInfo

KERNEL, OS_RELEASE, CPUINFO, LSCPU, MEMINFO, DMI = (
    "uname -srvm", "/etc/os-release", "/proc/cpuinfo", "lscpu", "/proc/meminfo", "/sys/class/dmi/id")
SECTIONS = (KERNEL, OS_RELEASE, CPUINFO, LSCPU, MEMINFO, DMI)
MAX_CHARS = 160  # longest real values (a kernel's uname -srvm line, a DMI string) are well under it
_HEADER = re.compile(r"^\[(.+)\]\s*$")


def clean(value: str, limit: int = MAX_CHARS) -> str | None:
    """One printable line, at most ``limit`` characters; None when nothing is left."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text or None


def sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header and header.group(1) in SECTIONS:
            current = found.setdefault(header.group(1), [])
        elif current is not None and line.strip():
            current.append(line)
    if not found:
        raise ValueError(f"no section of {', '.join(f'[{s}]' for s in SECTIONS)}: not the suite's host-info output")
    return found


def _pairs(lines: list[str], sep: str) -> list[tuple[str, str]]:
    pairs = []
    for line in lines:
        key, found, value = line.partition(sep)
        if found:
            pairs.append((key.strip(), value.strip()))
    return pairs


def _unquote(value: str) -> str:
    """os-release values are shell words: ``"Debian GNU/Linux 12 (bookworm)"``."""
    try:
        words = shlex.split(value)
    except ValueError:
        return value.strip("\"'")
    return " ".join(words)


def parse_host_info(text: str, name: str = "host-info.txt") -> HostInfo:
    found = sections(text)
    values: dict[str, object] = {}
    why: dict[str, str] = {}

    def lines_of(section: str) -> list[str]:
        return found.get(section, [])

    def gave_nothing(section: str) -> str:
        if section not in found:
            return f"{name} has no [{section}] section"
        return f"[{section}] in {name} is empty (not readable on that host)"

    kernel = clean(lines_of(KERNEL)[0]) if lines_of(KERNEL) else None
    values["kernel"] = kernel
    if kernel is None:
        why["kernel"] = gave_nothing(KERNEL)

    release = dict(_pairs(lines_of(OS_RELEASE), "="))
    pretty = release.get("PRETTY_NAME") or " ".join(_unquote(release[k]) for k in ("NAME", "VERSION") if k in release)
    values["os"] = clean(_unquote(pretty)) if pretty else None
    if values["os"] is None:
        why["os"] = gave_nothing(OS_RELEASE)

    cpuinfo = _pairs(lines_of(CPUINFO), ":")
    lscpu = dict(_pairs(lines_of(LSCPU), ":"))
    models = Counter(v for k, v in cpuinfo if k == "model name" and v)
    model = models.most_common(1)[0][0] if models else lscpu.get("Model name")
    values["cpu_model"] = clean(model) if model else None
    if values["cpu_model"] is None:
        why["cpu_model"] = f"neither [{CPUINFO}] nor [{LSCPU}] in {name} names a CPU model"
    count = sum(1 for k, _ in cpuinfo if k == "processor") or _number(lscpu.get("CPU(s)"))
    values["cpu_count"] = count if count and 0 < count < 1_000_000 else None
    if values["cpu_count"] is None:
        why["cpu_count"] = f"neither [{CPUINFO}] nor [{LSCPU}] in {name} counts the CPUs"

    meminfo = dict(_pairs(lines_of(MEMINFO), ":"))
    total = re.fullmatch(r"(\d{1,15})\s*kB", meminfo.get("MemTotal", ""))
    values["mem_total_mib"] = int(total.group(1)) // 1024 if total else None
    if values["mem_total_mib"] is None:
        why["mem_total_mib"] = (f"[{MEMINFO}] in {name} has no 'MemTotal: N kB' line" if MEMINFO in found
                                else gave_nothing(MEMINFO))

    dmi = {k: clean(v, 80) for k, v in _pairs(lines_of(DMI), "=")}
    bios = " ".join(v for v in (dmi.get("bios_vendor"), dmi.get("bios_version")) if v)
    if bios and dmi.get("bios_date"):
        bios += f" ({dmi['bios_date']})"
    values["bios"] = clean(bios) if bios else None
    board = " ".join(v for v in (dmi.get("board_vendor"), dmi.get("board_name")) if v)
    system = " ".join(v for v in (dmi.get("sys_vendor"), dmi.get("product_name")) if v)
    if system and system != board:
        board = f"{board} (system: {system})" if board else f"system: {system}"
    values["board"] = clean(board) if board else None
    no_dmi = (gave_nothing(DMI) + ": no DMI tables there (common in virtual machines and on ARM boards)"
              if not dmi else None)
    if values["bios"] is None:
        why["bios"] = no_dmi or f"[{DMI}] in {name} has no bios_vendor or bios_version"
    if values["board"] is None:
        why["board"] = no_dmi or f"[{DMI}] in {name} has no board or system name"
    return HostInfo(**values, unreported=why)  # type: ignore[arg-type]


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 8 else None
