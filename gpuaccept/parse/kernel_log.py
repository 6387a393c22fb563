"""Kernel log text -> NVRM Xid events and explanatory notices.

Reads ``dmesg`` (with or without ``-T``), ``journalctl -k`` and syslog lines, including rsyslog's
``#012`` newline escapes and NVRM messages that continue over several lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpuaccept.facts import KernelNotice, XidEvent
from gpuaccept.parse.pci_ids import normalise_bus_id

_PREFIXES = (
    re.compile(r"^\[\s*\d+\.\d+\](?:\s*\[\s*[TC]\d+\])?\s?"),  # dmesg: [ 7386.259769], [ 0.0] [ T0] (PRINTK_CALLER)
    re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\]\s?"),  # dmesg -T
    re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: (?:\[\s*\d+\.\d+\]\s?)?"),  # syslog, journal
    re.compile(r"^\d{4}-\d\d-\d\dT[\d:.,]+(?:[+-]\d\d:?\d\d|Z)? \S+ kernel: (?:\[\s*\d+\.\d+\]\s?)?"),  # ISO
)

_XID = re.compile(r"\bXid \((?:PCI:)?(?P<bus>[0-9a-fA-F:.]+)\):\s*(?P<num>\d+)")
_CAUSED_BY = re.compile(r"caused by previous Xid (\d+)", re.I)
# Every wording of a lost card the driver branches have used (domain-facts §14; osinit.c): NVIDIA's own
# tools count each as Xid 79 whether or not an Xid line stands beside it.
_LOST = re.compile(
    r"(?:The NVIDIA GPU (?P<a>[0-9a-fA-F:.]+)(?: \(PCI ID: [0-9a-fA-F:]+\))? installed in this system has"
    r"|GPU at (?:PCI:)?(?P<b>[0-9a-fA-F]{4}:[0-9a-fA-F:.]+?):? has"
    r"|GPU (?P<c>[0-9a-fA-F]{4}:[0-9a-fA-F:.]+): GPU has) fallen off the bus")
_NOTICES = {
    "api-mismatch": re.compile(
        r"API mismatch: the client (?:'[^']*' \(pid \d+\) )?has the version (?P<client>[\d.]+), "
        r"but this kernel module has the version (?P<kernel>[\d.]+?)\.(?:\s|$)"
    ),
    "rm-init-adapter-failed": re.compile(r"GPU (?P<bus>[0-9a-fA-F:.]+): RmInitAdapter failed!\s*\((?P<code>[^)]*)\)"),
    "bar1-zero": re.compile(r"BAR1 is 0M @ 0x0(?: \(PCI:(?P<bus>[0-9a-fA-F:.]+)\))?"),
    "fallen-off-bus": re.compile(
        r"The NVIDIA GPU (?P<bus>[0-9a-fA-F:.]+) \(PCI ID: (?P<pci_id>[0-9a-fA-F:]+)\) installed in this "
        r"system has fallen off the bus"
    ),
    # Drivers after R580 (rm_is_legacy_arch in osinit.c), and older branches for their own dropped cards.
    "legacy-branch": re.compile(
        r"The NVIDIA (?P<card>.+?) GPU installed in this system is supported through the NVIDIA "
        r"(?P<branch>\d+)\.xx (?:Legacy|legacy) drivers"
        r"|The NVIDIA (?P<card2>.+?) GPU installed in this system is not supported by the NVIDIA "
        r"(?P<release>[\d.]+) driver release"
    ),
    "sxid": re.compile(r"\bSXid \((?:PCI:)?(?P<bus>[0-9a-fA-F:.]+)\):\s*(?P<number>\d+)"),
    "open-kmod-unsupported": re.compile(
        r"The NVIDIA GPU (?P<bus>[0-9a-fA-F:.]+) \(PCI ID: (?P<pci_id>[0-9a-fA-F:]+)\) installed in this "
        r"system is not supported by open nvidia\.ko"
    ),
}


# Lines that show the log reaches back far enough to hold every Xid of this boot: the kernel's first
# lines (its banner and command line), or the NVIDIA driver's load, before which no Xid can be logged.
# A ring buffer that wrapped has lost them, and with them whatever Xid came early.
_BOOT_BANNER = re.compile(r"^(?:Linux version \d|Command line: |Kernel command line: |Booting Linux on physical CPU)")
_DRIVER_LOAD = re.compile(r"^NVRM: loading NVIDIA UNIX")
_UPTIME = re.compile(r"^\[\s*(\d+)\.\d+\]")
# The driver's load stands for the boot only while the boot is young: a module loaded again later (a
# driver upgrade, a reload after an Xid without a reboot) starts a log that lost the Xids before it.
_BOOT_LOAD_S = 600


@dataclass(frozen=True)
class KernelLog:
    xid_events: tuple[XidEvent, ...]
    notices: tuple[KernelNotice, ...]
    reaches_back: bool = True  # it holds the boot's first lines or the driver's load
    starts_at: str = ""  # the first record's timestamp


def parse_kernel_log(text: str) -> KernelLog:
    xids: list[XidEvent] = []
    notices: list[KernelNotice] = []
    records = _records(text)
    reaches_back = any((_BOOT_BANNER.match(message) and not _late(time)) or (_DRIVER_LOAD.match(message) and _at_boot(time))
                       for time, message in records)
    for time, message in records:
        for m in _XID.finditer(message):
            cause = _CAUSED_BY.search(message[m.end():])
            xids.append(XidEvent(int(m["num"]), normalise_bus_id(m["bus"]), time, message,
                                 caused_by=int(cause.group(1)) if cause else None))
        lost = None if _XID.search(message) else _LOST.search(message)
        if lost is not None:
            bus = lost["a"] or lost["b"] or lost["c"]
            xids.append(XidEvent(79, normalise_bus_id(bus), time, message, lost_notice=True))
        for kind, pattern in _NOTICES.items():
            for m in pattern.finditer(message):
                values = {k: v for k, v in m.groupdict().items() if v and k != "bus"}
                bus = normalise_bus_id(m["bus"]) if m.groupdict().get("bus") else None
                notices.append(KernelNotice(kind, bus, message, values))
    return KernelLog(_without_twins(xids), tuple(notices), reaches_back, records[0][0] if records else "")


def _without_twins(xids: list[XidEvent]) -> tuple[XidEvent, ...]:
    """A lost-card notice beside its own Xid 79 line (same card) is one event, not two."""
    def card(e: XidEvent) -> str:
        return e.bus_id.split(".")[0]  # Xid lines name the card without its function

    with_line = {card(e) for e in xids if e.number == 79 and not e.lost_notice}
    return tuple(e for e in xids if not (e.lost_notice and card(e) in with_line))


def _uptime_s(time: str) -> int | None:
    uptime = _UPTIME.match(time)
    return None if uptime is None else int(uptime.group(1))


def _late(time: str) -> bool:
    """An uptime stamp past the boot's first minutes: the kernel prints its banner in its first second, so one
    stamped later is no boot's (a log line that looks like it); a record without an uptime stamp may be."""
    uptime = _uptime_s(time)
    return uptime is not None and uptime >= _BOOT_LOAD_S


def _at_boot(time: str) -> bool:
    uptime = _uptime_s(time)
    return uptime is not None and uptime < _BOOT_LOAD_S


def reaches_back(text: str) -> bool:
    """Whether a kernel log holds this boot's first lines or the driver's load (collection asks it)."""
    return parse_kernel_log(text).reaches_back


def _records(text: str) -> list[tuple[str, str]]:
    """Split into (timestamp, message) records, joining continuation lines into their message."""
    records: list[list[str]] = []
    for raw in text.replace("#012", "\n").splitlines():
        if not raw.strip():
            continue
        for prefix in _PREFIXES:
            m = prefix.match(raw)
            if m:
                records.append([m.group(0).strip(), raw[m.end():]])
                break
        else:
            if records:
                records[-1].append(raw)
            else:  # a log printed without timestamps: the first line opens the record
                records.append(["", raw])
    return [(r[0], _join(r[1:])) for r in records]


def _join(fragments: list[str]) -> str:
    """Join a multi-line NVRM message, dropping the repeated 'NVRM:' prefixes of continuations."""
    parts = [fragments[0].strip()]
    parts += [re.sub(r"^\s*NVRM:\s*", "", f).strip() for f in fragments[1:]]
    return re.sub(r"\s+", " ", " ".join(parts)).strip()
