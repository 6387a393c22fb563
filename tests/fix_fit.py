"""Does a failure's fix fit the evidence? Rules read from the fix's own words, each held against the facts the
replayed set gives (and the run's other verdicts): a fix names only actions that apply to what was found.

Used by tests/test_replay_verdicts.py on every bundled set, so a new set or a changed message is walked too.
"""

from __future__ import annotations

import re

from gpuaccept.catalogue import CATALOGUE
from gpuaccept.facts import HostFacts

_IDS = "|".join(sorted((re.escape(rid) for rid in CATALOGUE), key=len, reverse=True))
# "see X", "fix X first", "check X and Y": the fix sends the reader to X, so X must not have passed.
_POINTS_AT = re.compile(rf"\b(?:see|fix|check)\s+((?:{_IDS})(?:(?:,\s*|\s+and\s+|\s+or\s+)(?:{_IDS}))*)")


def fix_of(message: str) -> str:
    """The text after "Fix:" up to the remediation note (the note is the run's, not the check's)."""
    text = message.split("Fix:", 1)[1] if "Fix:" in message else ""
    return text.split(" Remediation", 1)[0]


# What shows a card's seating, slot, riser or power at fault: one of these failing, or a lost-card notice.
SEATING = ("PCIE-WIDTH", "PCIE-GEN", "GPU-COUNT", "GPU-PCI-COUNT", "GPU-XID")


def _seating_shown(host: HostFacts, outcomes: dict[str, set[str]]) -> bool:
    return (any("failed" in outcomes.get(rid, set()) for rid in SEATING)
            or any(e.number == 79 for e in host.kernel.xid_events))


def misfits(rid: str, message: str, host: HostFacts, outcomes: dict[str, set[str]]) -> list[str]:
    """Each way ``rid``'s fix does not fit the evidence, in words; [] when it fits."""
    fix, found = fix_of(message), []
    c = host.docker.container
    exists = c is not None and c.exists
    running = exists and c.running
    toolkit_fails = "failed" in outcomes.get("CTR-TOOLKIT", set())
    if "--remediate` launches it" in fix:
        if exists:
            found.append("says --remediate launches a container that exists")
        if toolkit_fails and "fix CTR-TOOLKIT first" not in fix:
            found.append("says --remediate launches it while CTR-TOOLKIT fails (the launch is refused)")
    if re.search(r"`docker start \S+`", fix) and not (exists and not running):
        found.append("says `docker start` for a container that is not there or already runs")
    if re.search(r"`docker start \S+` \(or `pytest acceptance/ --remediate`\)", fix) and toolkit_fails:
        found.append("offers --remediate to start a container while CTR-TOOLKIT fails (it is refused)")
    if re.search(r"`docker (?:update|restart|exec)\b", fix) and not exists:
        found.append("names a docker command on a container that is not there")
    if re.search(r"\brecreate (?:the container|it)\b", fix) and not exists:
        found.append("says recreate for a container that is not there")
    if "install the NVIDIA Container Toolkit" in fix and not toolkit_fails:
        found.append("says install the Container Toolkit while CTR-TOOLKIT does not fail")
    if re.search(r"\breseat\b", fix, re.IGNORECASE) and not _seating_shown(host, outcomes):
        found.append("says reseat where no link, count or lost-card evidence shows a seating fault")
    for group in _POINTS_AT.findall(fix):
        for named in re.findall(_IDS, group):
            if named != rid and outcomes.get(named) == {"passed"}:
                found.append(f"points at {named}, which passed")
    return found
