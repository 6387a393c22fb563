"""A fix that sends the reader to another requirement names it only where that requirement did not pass.

"check GPU-ECC" beside a GPU-ECC that passed sends a technician after a fault the evidence already rules out:
the message says instead that it passed, so the reader knows it was looked at.
"""

from __future__ import annotations

from collections.abc import Callable

from gpuaccept.checks import cards, container
from gpuaccept.checks import ollama as ollama_checks
from gpuaccept.checks.verdict import Verdict
from gpuaccept.facts import HostFacts
from gpuaccept.profile import Profile

_CHECKS: dict[str, Callable[[HostFacts, Profile], list[Verdict]]] = {
    "GPU-ECC": lambda h, p: [cards.gpu_ecc(h, g.index, p) for g in h.gpus],
    "GPU-XID": lambda h, p: [cards.gpu_xid(h, p)],
    "OLL-GPUS-DETECTED": lambda h, p: [ollama_checks.oll_gpus_detected(h, p)],
    "CTR-SEES-GPUS": lambda h, p: [container.ctr_sees_gpus(h, p)],
    "CTR-GPU-REQUEST": lambda h, p: [container.ctr_gpu_request(h, p)],
}


def passing(host: HostFacts, profile: Profile, rid: str) -> bool:
    """Whether every case of ``rid`` passes on these facts (no GPU cases: not shown to pass)."""
    try:
        verdicts = _CHECKS[rid](host, profile)
    except Exception:  # a check that cannot judge here shows nothing passed: the reader is sent to it
        return False
    return bool(verdicts) and all(v.outcome == "pass" for v in verdicts)


def split(host: HostFacts, profile: Profile, *rids: str) -> tuple[list[str], list[str]]:
    """(the requirements that did not pass, those that did)."""
    good = [rid for rid in rids if passing(host, profile, rid)]
    return [rid for rid in rids if rid not in good], good


def check_these(host: HostFacts, profile: Profile, *rids: str, verb: str = "check") -> str:
    """ "check X and Y" for those that did not pass, and "(Z passed)" for the rest; "" when there is none."""
    bad, good = split(host, profile, *rids)
    said = f"{verb} {' and '.join(bad)}" if bad else ""
    passed_too = f"{' and '.join(good)} passed" if good else ""
    if said and passed_too:
        return f"{said} ({passed_too})"
    return said or f"({passed_too})"
