"""HOST-DRIFT: this run against the host's earlier run (``--baseline``), figure by figure (gpuaccept.drift)."""

from __future__ import annotations

from gpuaccept import drift
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped, warned
from gpuaccept.facts import HostFacts
from gpuaccept.profile import Profile

_SHOWN = 6  # changes named in the message; the rest are counted


def _said(lines: list[str]) -> str:
    more = f"; {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return "; ".join(lines[:_SHOWN]) + more


def host_drift(host: HostFacts, profile: Profile) -> Verdict:
    base = host.baseline
    if base is None:
        if host.baseline_missing and host.baseline_missing.startswith("evidence unreadable"):
            return not_evaluated(host.baseline_missing)
        return skipped("no baseline: --baseline RUN (or --baseline latest-accepted) compares this run with the "
                       f"host's earlier one ({host.baseline_missing or 'not given'})")
    then = base.get("figures")
    if not isinstance(then, dict):
        return not_evaluated("baseline.json holds no figures of the earlier run")
    origin = base.get("folder") if isinstance(base.get("folder"), str) else "?"
    when = base.get("finished_at") if isinstance(base.get("finished_at"), str) else "?"
    mode = "a replay, " if base.get("mode") == "replay" else ""  # a replay judged evidence as given: say so
    run = f"run {origin} ({mode}finished {when}, {base.get('verdict') if isinstance(base.get('verdict'), str) else '?'})"
    passed_over = [s for s in base["skipped"] if isinstance(s, str)] if isinstance(base.get("skipped"), list) else []
    limit = profile.drift.max_drop_pct
    found = drift.compare(then, drift.figures(host, profile.ollama.model), limit)
    expected = (f"no card, counter, link or power limit changed and no measured rate {limit:g}% worse than {run} "
                "(profile drift.max_drop_pct)")
    skipped_note = f" Not compared: {_said(found.not_compared)}." if found.not_compared else ""
    if passed_over:  # a newer acceptance that no longer verifies was passed over: the operator must know
        skipped_note += f" Newer accepted runs of this host that do not verify, passed over: {_said(passed_over)}."
    if found.cards == 0:  # the cards are what an acceptance accepted: without them no drift is judged
        return not_evaluated(f"no card of {run} could be compared with this run's.{skipped_note}")
    if found.fail:
        return failed(f"since {run}: {_said(found.fail)}", expected,
                      "; ".join(found.causes),
                      "find what changed from the values named (each then and now), fix it or accept the host again "
                      "and make that run the baseline" + (f".{skipped_note}" if skipped_note else ""))
    if found.warn:
        return warned(f"since {run}: {_said(found.warn)}", "the same driver, module, Ollama, image and model",
                      f"The software changed without a new acceptance ({found.compared} figures compared, none "
                      f"fell){skipped_note}", "run the acceptance again and make it the baseline")
    return passed(f"{found.compared} figures compared with {run}: none changed or fell", expected,
                  f"{found.compared} figures compared with {run}: none changed or fell more than {limit:g}%.{skipped_note}")
