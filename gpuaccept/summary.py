"""summary.json: one stable, documented record of a run's verdicts (schema ``gpuaccept.summary/2``, published
as JSON Schema in gpuaccept/data/summary.schema.json).

Top level: ``verdict`` (first: ACCEPTED, NOT ACCEPTED, INCOMPLETE, INTERRUPTED or INTERNAL ERROR), ``schema``, ``run`` (id,
mode, host, source, profile, technician, ticket, started/finished
UTC times, exit status, suite version, ``suite``: version and code digest, the profile's digest),
``counts`` (requirements per outcome), ``requirements`` (ID -> title, tier, outcome, the evidence files it
was judged on, its cases: id, outcome, measured, expected, message, remediation; and for a failed, errored
or not evaluated one its ``action``, gpuaccept.actions), ``remediation`` (every action planned or done).
A requirement's outcome is its worst case: fail > error > not_evaluated > warn > xfail > pass > skip, so
one failing GPU fails it, one GPU that could not be judged leaves it not evaluated, and a requirement is
``skip`` only when it applies to none of its cases.
Case outcomes: pass, fail, warn (passed with an advisory warning), skip (not applicable: the profile or
the hardware says so), not_evaluated (applies, but its evidence was missing, unreadable or contradictory,
or a source failed), xfail (waived), error.

The run's verdict and exit status (``run_verdict``): gpuaccept.run_options.EXIT_STATUSES says each code's
meaning (0 ACCEPTED, 1 NOT ACCEPTED, 2 INTERRUPTED, 3 INTERNAL ERROR, 4 usage error, 5 no test collected,
6 INCOMPLETE, 7 the run folder could not be written).

A run that did not reach its end also has ``interruption``: ``reason`` (the signal, or why it stopped)
and ``phase`` (what it was doing). summary.json is first written when the run folder is made, as
INTERRUPTED with the reason "not finished", and replaced when the run ends: a folder whose run was
killed (SIGKILL, power loss) still says it is not a verdict. Only a run that ended with its record
written becomes ``reports/latest``. ``record_error`` (with exit status 7) names the first file of the run
folder that could not be written.
"""

from __future__ import annotations

import re
from typing import Any

from gpuaccept.actions import action
from gpuaccept.catalogue import CATALOGUE, EVIDENCE

SCHEMA = "gpuaccept.summary/2"  # /2: run.suite, run.profile.sha256, a requirement's action
_RANK = {"skip": 0, "pass": 1, "xfail": 2, "warn": 3, "not_evaluated": 4, "error": 5, "fail": 6}
OUTCOMES = ("pass", "fail", "warn", "skip", "not_evaluated", "xfail", "error")
ATTENTION = ("fail", "error", "not_evaluated")  # the outcomes a requirement carries an action for
ACCEPTED, NOT_ACCEPTED, INCOMPLETE, INTERRUPTED = "ACCEPTED", "NOT ACCEPTED", "INCOMPLETE", "INTERRUPTED"
INTERNAL_ERROR = "INTERNAL ERROR"
EXIT = {ACCEPTED: 0, NOT_ACCEPTED: 1, INTERRUPTED: 2, INTERNAL_ERROR: 3, INCOMPLETE: 6}
NOT_RECORDED_EXIT = 7  # the run folder could not be written
NOT_FINISHED = "not finished: if no acceptance run is still going on this host, it was killed or the machine stopped"


_GPU_CASE = re.compile(r"\[gpu(\d+)\]$")


def unrun(cases: list[dict[str, Any]], tiers: frozenset[str], gpus: int = 0) -> list[str]:
    """The requirements of the selected tiers that have no case in the run (``-k``, test ids or --deselect
    chose part of them): an acceptance covers every requirement of its tiers, or it is not one. ``gpus``:
    how many per-GPU cases each per-GPU requirement has in a whole run (``test_pcie_width[gpu0]`` ...):
    one left out (``--deselect ...[gpu1]``, ``-k "not gpu1"``) is named as ``PCIE-WIDTH[gpu1]``."""
    ran = {c["requirement"] for c in cases}
    missing = [rid for rid, req in CATALOGUE.items() if req.tier in tiers and rid not in ran]
    per_gpu: dict[str, set[int]] = {}
    for c in cases:
        found = _GPU_CASE.search(str(c.get("id", "")))
        if found:
            per_gpu.setdefault(c["requirement"], set()).add(int(found.group(1)))
    missing += [f"{rid}[gpu{i}]" for rid, seen in per_gpu.items() if CATALOGUE[rid].tier in tiers
                for i in range(gpus) if i not in seen]
    return sorted(missing)


def run_verdict(cases: list[dict[str, Any]], exitstatus: int, missing: list[str] | None = None) -> tuple[str, int]:
    """The run's verdict and its exit status, from its requirement cases and pytest's own status.
    ``missing``: requirements of the selected tiers the run did not run (see ``unrun``): never ACCEPTED."""
    outcomes = {c["outcome"] for c in cases}
    if exitstatus == 2:
        return INTERRUPTED, 2
    if exitstatus == EXIT[INTERNAL_ERROR]:  # whatever was judged before, the run did not finish its work
        return INTERNAL_ERROR, EXIT[INTERNAL_ERROR]
    if outcomes & {"fail", "error"}:
        return NOT_ACCEPTED, EXIT[NOT_ACCEPTED]
    if exitstatus not in (0, 1):
        return INCOMPLETE, exitstatus  # internal or usage error: pytest's code says which
    if "not_evaluated" in outcomes or not outcomes & {"pass", "warn", "xfail"} or missing:
        return INCOMPLETE, EXIT[INCOMPLETE]
    return ACCEPTED, EXIT[ACCEPTED]


def verdict_counts(cases: list[dict[str, Any]]) -> str:
    """``3 failed, 1 not evaluated, 40 passed``: requirement cases per outcome, worst first."""
    names = {"fail": "failed", "error": "error", "not_evaluated": "not evaluated", "warn": "warned",
             "xfail": "waived", "pass": "passed", "skip": "not applicable"}
    counts = {o: sum(1 for c in cases if c["outcome"] == o) for o in names}
    return ", ".join(f"{n} {names[o]}" for o, n in sorted(counts.items(), key=lambda kv: -_RANK[kv[0]]) if n)


def worst(outcomes: list[str]) -> str:
    return max(outcomes, key=lambda o: _RANK.get(o, 0)) if outcomes else "skip"


def build(cases: list[dict[str, Any]], run: dict[str, Any], remediation: list[dict[str, Any]],
          evidence_present: set[str], verdict: str = "") -> dict[str, Any]:
    requirements: dict[str, Any] = {}
    for rid, req in CATALOGUE.items():
        mine = [c for c in cases if c["requirement"] == rid]
        if not mine:
            continue  # not collected in this run (e.g. -m quick leaves the load tier out)
        outcome = worst([c["outcome"] for c in mine])
        requirements[rid] = {"title": req.title, "tier": req.tier, "outcome": outcome,
                             "evidence": [f"evidence/{n}" for n in EVIDENCE.get(rid, ()) if n in evidence_present],
                             "cases": [{k: v for k, v in c.items() if k != "requirement"} for c in mine]}
        if outcome in ATTENTION:  # what to do about it, in gpuaccept.actions' words, beside the fix
            requirements[rid]["action"] = action(rid, outcome, [str(c.get("message", "")) for c in mine
                                                                if c["outcome"] == outcome])
    counts = {o: sum(1 for r in requirements.values() if r["outcome"] == o) for o in OUTCOMES}
    verdict = verdict or run_verdict(cases, int(run.get("exit_status", 0)))[0]
    return {"verdict": verdict, "schema": SCHEMA, "run": run, "counts": counts, "requirements": requirements, "remediation": remediation}


def unfinished(run: dict[str, Any], reason: str, phase: str, verdict: str = INTERRUPTED) -> dict[str, Any]:
    """The record of a run that has not reached (or never reached) its end: no requirement verdicts, and
    why and where it stopped."""
    return {"verdict": verdict, "schema": SCHEMA, "run": run, "counts": dict.fromkeys(OUTCOMES, 0),
            "requirements": {}, "remediation": [], "interruption": {"reason": reason, "phase": phase}}
