"""The Xid catalogue the suite judges GPU-XID by: each Xid's class, meaning and fix.

Source: NVIDIA's Xid catalogue (docs.nvidia.com/deploy/xid-errors, "Xid Errors" table and the
"Xid 63/64: page retirement and row remapping" notes), NVIDIA's "Dynamic page retirement" document, and for
8, 32, 69, 109 and 154 the causes NVIDIA's table lists (gathered with leptonai/gpud's Xid table:
domain-facts §14). A line "caused by previous Xid N" is judged as N (gpuaccept/checks/kernel_xid.py).

Classes:
- ``hardware``: the card, its memory, its firmware or its power/PCIe path failed. GPU-XID fails.
- ``application``: an application or the driver's handling of one faulted (bad kernel, memory fault of a
  process, a channel stopped after it). Usually not the card: GPU-XID warns, naming the process.
- ``memory-retirement``: 63, a page retirement or row remap was *recorded*. That is the memory health
  mechanism working; GPU-RETIRED judges it from the retired pages / remapped rows counters.
An Xid number not in this table is judged as ``hardware``: an acceptance run must not pass an error nobody
has classified.
"""

from __future__ import annotations

from dataclasses import dataclass

HARDWARE, APPLICATION, RETIREMENT = "hardware", "application", "memory-retirement"


@dataclass(frozen=True)
class Xid:
    number: int
    kind: str
    meaning: str
    fix: str


_TABLE = [
    (8, HARDWARE, "the GPU stopped processing (a timeout): driver error, system memory corruption, a bus "
     "error, a thermal problem or framebuffer corruption",
     "check the PCIe link (PCIE-REPLAY), the card's power and cooling; update the driver; RMA if it repeats"),
    (13, APPLICATION, "graphics engine exception, usually an application bug",
     "check the application named; run a GPU memory test if it repeats without one"),
    (31, APPLICATION, "GPU memory page fault (MMU fault) of an application",
     "check the application named; if many different programs fault, test the card's memory"),
    (32, HARDWARE, "invalid or corrupted push buffer stream: often a PCIe bus error or system memory corruption",
     "check the PCIe link (PCIE-REPLAY, reseat the card and riser) and system memory; RMA if it repeats"),
    (43, APPLICATION, "an application's channel was stopped after a fault (user-side error)",
     "check the application named"),
    (45, APPLICATION, "preemptive cleanup after an earlier error or a killed process",
     "look at the Xid before it; none needed on its own"),
    (48, HARDWARE, "double-bit ECC error: failing card memory", "reboot; replace (RMA) the card if it repeats"),
    (61, HARDWARE, "internal micro-controller breakpoint/warning", "reboot; update the driver; RMA if it repeats"),
    (62, HARDWARE, "internal micro-controller halt", "reboot; update the driver; RMA if it repeats"),
    (63, RETIREMENT, "ECC page retirement or row remapping recorded", "see GPU-RETIRED; reboot so it takes effect"),
    (64, HARDWARE, "ECC page retirement or row remapping failure", "replace (RMA) the card"),
    (69, HARDWARE, "graphics engine class error", "reboot; update the driver; RMA if it repeats"),
    (74, HARDWARE, "NVLink error", "check NVLink bridges and the cards; reboot"),
    (79, HARDWARE, "the GPU fell off the bus: power, riser or seating",
     "reseat the card and its 8-pin EPS power cable, check the riser and PSU"),
    (92, HARDWARE, "high single-bit ECC error rate", "watch the card; replace (RMA) it if it repeats"),
    (94, HARDWARE, "contained ECC error (the affected application was stopped)",
     "restart the application; replace (RMA) the card if it repeats"),
    (95, HARDWARE, "uncontained ECC error", "reboot; replace (RMA) the card if it repeats"),
    (109, APPLICATION, "context switch timeout: usually an application, but a bus, memory or thermal fault can "
     "cause it too", "check the application named; if it repeats without one, run the diag tier (-m diag)"),
    (119, HARDWARE, "GSP RPC timeout: the GPU's system processor stopped answering",
     "reboot; update the driver; RMA if it repeats"),
    (120, HARDWARE, "GSP error", "reboot; update the driver; RMA if it repeats"),
]
_TABLE.append((154, HARDWARE, "the GPU's recovery action changed (NVML nvmlDeviceGpuRecoveryAction_t)",
               "do what the recovery action asks (a GPU reset, a node reboot, drain and reset); then run the "
               "acceptance again"))
XIDS: dict[int, Xid] = {n: Xid(n, kind, meaning, fix) for n, kind, meaning, fix in _TABLE}


def classify(number: int) -> Xid:
    return XIDS.get(number, Xid(number, HARDWARE, "an Xid not in the suite's catalogue",
                                "look the Xid up in NVIDIA's Xid catalogue before accepting the card"))
