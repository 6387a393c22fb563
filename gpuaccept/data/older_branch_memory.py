"""Total memory older driver branches report for a card, where it differs from the figure of today's
branches (the profile's): a card at such a figure is not short of memory, its driver is old.

Source: domain-facts §14 ("P40 memory by branch"), from nvidia-smi captures on those branches: an ECC-on
Tesla P40 (10de:1b38) reports 22919 MiB on R470 and R440, 22912 MiB on R375, and 23040 MiB from R5xx.
"""

from __future__ import annotations

# (PCI device id, ECC on) -> {MiB: the branches that report it}
OLDER: dict[tuple[int, bool], dict[int, str]] = {
    (0x1B38, True): {22919: "R470 and R440", 22912: "R375"},
}


def older_branch(pci_device_id: int | None, ecc_on: bool | None, mib: int) -> str | None:
    """The older branches that report exactly ``mib`` for this card in this ECC mode, or None."""
    if pci_device_id is None or ecc_on is None:
        return None
    return OLDER.get((pci_device_id, ecc_on), {}).get(mib)
