"""GPU-XID: the kernel's Xid events since boot, judged by class (gpuaccept/xid.py), counted per GPU.

- A "fallen off the bus" notice in any wording is the card lost: Xid 79, with or without its Xid line.
- An Xid "caused by previous Xid N" is judged as N (the one that started it).
- An application-class Xid (13, 31, 43, 45, 109) warns, unless its process is Ollama's own server or
  runner (``ollama``, ``ollama_llama_server``, ``llama-server``): the workload under acceptance crashed on
  these cards, and that fails.
- NVSwitch ``SXid`` lines are no GPU Xid: named as NVSwitch errors (a warning), never as Xid 20034.
- The log must reach back to this boot, or a pass is not evaluated (what it holds is still judged when it
  shows a fault).
"""

from __future__ import annotations

import re

from gpuaccept import xid
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, warned
from gpuaccept.facts import HostFacts, KernelFacts, XidEvent
from gpuaccept.profile import Profile

_PROCESS = re.compile(r"pid=(?P<pid>'?[^,']+'?), name=(?P<name>[^,]+)")
# Ollama's server and runner as the kernel names them (comm, 15 characters): `ollama serve` and, in
# 0.12-0.24, `ollama runner`; `ollama_llama_server` before; llama.cpp's `llama-server` from 0.30.
WORKLOAD = ("ollama", "ollama_llama_se", "ollama_llama_server", "llama-server")
_RECOVERY = re.compile(r"recovery action changed from \S+(?: \([^)]*\))? to \S+ \((?P<action>[^)]*)\)", re.I)


def process_of(event: XidEvent) -> tuple[str, str] | None:
    """(name, pid) of the process the Xid line names, or None when it names none."""
    m = _PROCESS.search(event.text)
    if m is None or "unknown" in m["name"]:
        return None
    return m["name"].strip(), m["pid"].strip("'")


def _is_workload(event: XidEvent) -> bool:
    named = process_of(event)
    return named is not None and named[0] in WORKLOAD


def _label(e: XidEvent) -> str:
    if e.caused_by is not None:
        return f"Xid {e.number} (caused by Xid {e.caused_by})"
    return "Xid 79 ('fallen off the bus' notice)" if e.lost_notice else f"Xid {e.number}"


def listing(events: list[XidEvent]) -> str:
    """``Xid 31 on 0000:00:07 x2, 0000:00:08 x1 (first at [t], python3.10 pid 2512125)``: each Xid with
    how often it hit each GPU."""
    parts = []
    for label in sorted({_label(e) for e in events}, key=lambda lab: (int(re.findall(r"\d+", lab)[0]), lab)):
        mine = [e for e in events if _label(e) == label]
        per_gpu = {}
        for e in mine:
            per_gpu[e.bus_id] = per_gpu.get(e.bus_id, 0) + 1
        gpus = ", ".join(f"{bus} x{n}" for bus, n in sorted(per_gpu.items()))
        named = process_of(mine[0])
        process = f", {named[0]} pid {named[1]}" if named else ""
        parts.append(f"{label} on {gpus} (first at {mine[0].time or 'unknown time'}{process})")
    return "; ".join(parts)


def _meaning(e: XidEvent) -> str:
    entry = xid.classify(e.judged_as)
    action = _RECOVERY.search(e.text)
    return f"{entry.meaning}: {action['action']}" if action else entry.meaning


def not_since_boot(kernel: KernelFacts) -> str:
    start = f" (its first line is at {kernel.log_starts_at})" if kernel.log_starts_at else ""
    return (f"the kernel log does not reach back to this boot{start}: neither the kernel's first lines nor the "
            "NVIDIA driver's load are in it (the ring buffer wrapped), and `journalctl -k -b` did not cover the "
            "boot either, so an Xid before its first line is unknown. Read it with `journalctl -k -b` on a "
            "host that keeps the journal, or raise the ring buffer (log_buf_len=) and reboot")


def gpu_xid(host: HostFacts, profile: Profile) -> Verdict:
    kernel = host.kernel
    if kernel.log_missing is not None:
        return not_evaluated(f"the kernel log could not be read: {kernel.log_missing}")
    events = list(kernel.xid_events)
    sxids = kernel.notices_of("sxid")
    if not events and not sxids:
        if not kernel.log_reaches_back:
            return not_evaluated(not_since_boot(kernel))
        return passed("no NVRM Xid events in the kernel log", "none")
    measured = (f"{len(events)} Xid event(s): {listing(events)}" if events else "no GPU Xid event")
    if sxids:
        numbers = sorted({n.values.get("number", "?") for n in sxids})
        measured += f"; {len(sxids)} NVSwitch SXid event(s) ({', '.join(numbers)})"
    expected = "no hardware Xid since boot (application Xids warn; Xid 63 is judged by GPU-RETIRED)"
    hardware = [e for e in events if xid.classify(e.judged_as).kind == xid.HARDWARE]
    workload = [e for e in events if xid.classify(e.judged_as).kind == xid.APPLICATION and _is_workload(e)]
    if hardware or workload:
        causes, fixes = [], []
        for e in sorted({_label(e): e for e in hardware}.values(), key=lambda e: e.judged_as):
            causes.append(f"{_label(e)}: {_meaning(e)}")
            fixes.append(f"{_label(e)}: {xid.classify(e.judged_as).fix}")
        if workload:
            named = sorted({f"{process_of(e)[0]} pid {process_of(e)[1]} (Xid {e.judged_as})" for e in workload})
            causes.append(f"the model server under acceptance faulted on these cards: {', '.join(named)}")
            fixes.append("read the Ollama log for the crash (docker logs); run the diag tier's memory test "
                         "(-m diag); if it repeats on one card, replace (RMA) it")
        return failed(measured, expected, "; ".join(causes), "; ".join(fixes) + "; then reboot to clear the log")
    if not kernel.log_reaches_back:
        return not_evaluated(not_since_boot(kernel) + f" (what it holds: {measured})")
    application = [e for e in events if xid.classify(e.judged_as).kind == xid.APPLICATION]
    if application or sxids:
        numbers = sorted({e.judged_as for e in application})
        causes = "; ".join([f"Xid {n}: {xid.classify(n).meaning}" for n in numbers]
                           + (["NVSwitch errors (SXid): the fabric between the GPUs, not a GPU Xid"] if sxids else []))
        fixes = [f"Xid {n}: {xid.classify(n).fix}" for n in numbers]
        if sxids:
            fixes.append("SXid: check the NVSwitch fabric manager's log and NVIDIA's SXid catalogue")
        return warned(measured, expected, f"application-side or fabric errors, usually not the card ({causes})",
                      "; ".join(fixes))
    return passed(measured, expected, f"{measured}: memory retirement events only, judged by GPU-RETIRED.")
