"""PCIe Advanced Error Reporting counts from sysfs, for each GPU and the port above it (through the testinfra host).

The kernel keeps per-device totals in ``aer_dev_correctable``, ``aer_dev_nonfatal`` and ``aer_dev_fatal``
(``TOTAL_ERR_COR``, ``TOTAL_ERR_NONFATAL``, ``TOTAL_ERR_FATAL`` lines, Linux 4.17+). A link's errors can be
logged by either end, so the upstream port (the GPU's parent in the sysfs tree) is read as well.
"""

from __future__ import annotations

import re
import shlex

from gpuaccept.sources import host as host_commands

_BDF = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_LINE = re.compile(r"^(?P<gpu>\S+) (?P<device>\S+) (?P<kind>correctable|nonfatal|fatal) (?P<count>\d{1,18})$")
MAX_BYTES = 64 * 1024
#: Where the kernel lists PCI devices; the self-tests point it at a sysfs tree of their own.
DEVICES = "/sys/bus/pci/devices"


def command(bus_ids: list[str]) -> str:
    """A shell loop printing ``<gpu> <device> <kind> <total>`` per readable counter (bus ids checked first)."""
    ids = " ".join(b for b in bus_ids if _BDF.match(b))
    return (f"for g in {ids}; do p=$(readlink -f {shlex.quote(DEVICES)}/$g) || continue; "
            "for d in \"$p\" \"${p%/*}\"; do for k in correctable nonfatal fatal; do f=\"$d/aer_dev_$k\"; "
            "[ -r \"$f\" ] && echo \"$g ${d##*/} $k $(awk '/^TOTAL_ERR/ {print $2}' \"$f\")\"; done; done; done; true")


def parse(text: str) -> dict[str, dict[str, dict[str, int]]]:
    """gpu bus id -> device (the GPU or its upstream port) -> kind -> total."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m:
            out.setdefault(m["gpu"], {}).setdefault(m["device"], {})[m["kind"]] = int(m["count"])
    return out


def read(host, bus_ids: list[str], timeout_s: float) -> tuple[dict[str, dict[str, dict[str, int]]], str]:
    """The counts, and why there are none ("" when read)."""
    if host is None:
        return {}, "no host connection to read sysfs through"
    if not any(_BDF.match(b) for b in bus_ids):
        return {}, "no GPU bus id to look up"
    result = host_commands.run(host, command(bus_ids), timeout_s, MAX_BYTES)
    if result.rc != 0 or result.cut:
        return {}, f"reading the AER counters failed (exit {result.rc}{', output cut' if result.cut else ''})"
    counts = parse(result.stdout)
    if not counts:
        return {}, "the kernel exposes no AER counters for these GPUs (AER off, or a kernel before 4.17)"
    return counts, ""
