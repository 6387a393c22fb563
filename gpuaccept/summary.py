"""summary.json: one stable, documented record of a run's verdicts (schema ``gpuaccept.summary/1``).

Top level: ``schema``, ``run`` (id, mode, host, source, profile, technician, ticket, started/finished
UTC times, exit status, suite version), ``counts`` (requirements per outcome), ``requirements`` (ID ->
title, tier, outcome, the evidence files it was judged on, its cases: id, outcome, measured, expected,
message, remediation), ``remediation`` (every action planned or done).
A requirement's outcome is its worst case: fail > error > warn > xfail > pass > skip, so one failing
GPU fails it and a requirement is ``skip`` only when none of its cases could be evaluated.
Case outcomes: pass, fail, warn (passed with an advisory warning), skip, xfail (waived), error.
"""

from __future__ import annotations

from typing import Any

from gpuaccept.catalogue import CATALOGUE, EVIDENCE

SCHEMA = "gpuaccept.summary/1"
_RANK = {"skip": 0, "pass": 1, "xfail": 2, "warn": 3, "error": 4, "fail": 5}
OUTCOMES = ("pass", "fail", "warn", "skip", "xfail", "error")


def worst(outcomes: list[str]) -> str:
    return max(outcomes, key=lambda o: _RANK.get(o, 0)) if outcomes else "skip"


def build(cases: list[dict[str, Any]], run: dict[str, Any], remediation: list[dict[str, Any]],
          evidence_present: set[str]) -> dict[str, Any]:
    requirements: dict[str, Any] = {}
    for rid, req in CATALOGUE.items():
        mine = [c for c in cases if c["requirement"] == rid]
        if not mine:
            continue  # not collected in this run (e.g. -m quick leaves the load tier out)
        requirements[rid] = {"title": req.title, "tier": req.tier, "outcome": worst([c["outcome"] for c in mine]),
                             "evidence": [f"evidence/{n}" for n in EVIDENCE.get(rid, ()) if n in evidence_present],
                             "cases": [{k: v for k, v in c.items() if k != "requirement"} for c in mine]}
    counts = {o: sum(1 for r in requirements.values() if r["outcome"] == o) for o in OUTCOMES}
    return {"schema": SCHEMA, "run": run, "counts": counts, "requirements": requirements, "remediation": remediation}
