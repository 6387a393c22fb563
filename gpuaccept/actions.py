"""The action a failing or not-evaluated requirement asks for, from one fixed vocabulary, beside its fix.

A scheduler, a ticketing rule or a technician's runbook reads ``action`` in summary.json instead of the fix's
words. The words are the ones operators use for the ladder from nothing to a return: each requirement names
the first step its fix text gives (a link trained narrow: reseat the card; a driver outside the window:
update it), ``investigate`` where the step depends on what the evidence says (an Xid's class, a slow
benchmark's cause). A requirement that could not be evaluated asks for ``investigate`` (its evidence was
missing, unreadable or contradictory: the message says which), or for ``rerun`` when the run was stopped
before the case finished; an error of the suite itself is ``investigate`` too (report it), and so is every
failure of a host that did not answer (nothing was observed on it: its connection is the matter).
"""

from __future__ import annotations

ACTIONS = ("none", "rerun", "reconfigure", "update-driver", "reboot", "reseat", "replace-part", "rma", "investigate")

# requirement -> the action its failure asks for (tests/test_summary_schema.py: every catalogue ID has one)
ON_FAILURE = {
    "GPU-COUNT": "reseat", "GPU-PCI-COUNT": "reseat", "GPU-MODEL": "replace-part", "GPU-IDENTICAL": "investigate",
    "GPU-MEMORY": "reconfigure", "GPU-PERSISTENCE": "reconfigure", "GPU-ECC": "rma", "GPU-RETIRED": "rma",
    "GPU-XID": "investigate", "DRV-VERSION": "update-driver", "DRV-KMOD-MATCH": "reboot",
    "DRV-KMOD-FLAVOR": "update-driver", "DRV-NOUVEAU": "reconfigure", "PCIE-WIDTH": "reseat",
    "PCIE-GEN": "investigate", "PCIE-BAR1": "reconfigure", "PCIE-ASPM": "reconfigure", "PCIE-TOPO": "investigate",
    "PWR-LIMIT": "reconfigure", "PWR-BUDGET": "replace-part", "CTR-ENGINE": "reconfigure",
    "CTR-TOOLKIT": "reconfigure", "CTR-RUNNING": "reconfigure", "CTR-GPU-REQUEST": "reconfigure",
    "CTR-SEES-GPUS": "reconfigure", "CTR-CONFIG": "reconfigure", "CTR-EXPOSURE": "reconfigure",
    "OLL-API": "reconfigure", "OLL-GPUS-DETECTED": "reconfigure", "OLL-MODEL": "reconfigure",
    "OLL-OFFLOAD": "reconfigure", "OLL-SPREAD": "reconfigure", "OLL-BALANCE": "reconfigure",
    "OLL-THROUGHPUT": "investigate", "OLL-LOAD-TIME": "investigate", "OLL-ANSWER": "investigate",
    "OLL-CONSISTENT": "investigate", "GPU-THERMAL": "investigate", "PCIE-BANDWIDTH": "investigate",
    "PCIE-REPLAY": "reseat", "GPU-MEMTEST": "rma", "GPU-SOAK": "investigate", "GPU-P2P": "investigate",
    "HOST-DRIFT": "investigate", "FLEET-CONSISTENT": "reconfigure",
}

_NOT_FINISHED = "not finished"
_UNREACHABLE = "host unreachable:"  # fixtures.fleet's words for a host that did not answer


def action(requirement: str, outcome: str, messages: list[str]) -> str:
    """The action of a requirement whose outcome is ``outcome`` (its worst case), ``messages`` its cases'."""
    if outcome == "fail" and messages and all(m.startswith(_UNREACHABLE) for m in messages):
        return "investigate"  # nothing was observed on the host: its connection is what to look at
    if outcome == "fail":
        return ON_FAILURE.get(requirement, "investigate")
    if outcome == "not_evaluated" and messages and all(m.startswith(_NOT_FINISHED) for m in messages):
        return "rerun"
    if outcome in ("not_evaluated", "error"):
        return "investigate"
    return "none"
