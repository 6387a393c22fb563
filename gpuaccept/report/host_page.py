"""report.html of a host folder that no pytest-html session wrote: each host of a fleet.

The page a person opens for one host is the single-host report's, in the same order and with the same
parts (gpuaccept.report.first_screen, gpuaccept.report.environment): the verdict banner, what failed or
was not evaluated with its cause and fix, the tiers with the benchmark's and the diag tier's charts, then
the Environment table (the host's kernel, OS, CPU, RAM, BIOS, board, driver, each GPU) and one row per
case with its measured and expected values, its message and links to the evidence it was judged on.

Every value comes from evidence, options or what a host said, and is escaped.
"""

from __future__ import annotations

from html import escape as _escape
from typing import Any

from gpuaccept.checks.verdict import visible
from gpuaccept.facts import HostFacts
from gpuaccept.profile import Profile
from gpuaccept.report import diag_charts, first_screen
from gpuaccept.report.chart import metric_charts
from gpuaccept.report.environment import run_rows
from gpuaccept.summary import verdict_counts


def escape(text: str) -> str:
    """Text for the page: control characters a host said shown as escapes (a NUL is no HTML), then escaped."""
    return _escape(visible(text))


_PAGE_STYLE = """<style>
body { font-family: Helvetica, Arial, sans-serif; font-size: 12px; margin: 8px 14px; }
h1 { font-size: 20px; margin: 10px 0 4px 0; } h2 { font-size: 16px; margin: 14px 0 4px 0; }
#environment th, #environment td, #results-table th, #results-table td { border: 1px solid #e6e6e6;
  padding: 3px 6px; text-align: left; vertical-align: top; }
#environment, #results-table { border-collapse: collapse; }
#results-table td.message { white-space: pre-wrap; max-width: 640px; }
</style>"""


def page(record: dict[str, Any], facts: HostFacts | None, profile: Profile | None, facts_missing: str = "") -> str:
    """The whole page of one host's record; ``facts`` (None: ``facts_missing`` says why) give the charts and
    the environment table, ``profile`` the diag tier's limits its charts draw."""
    run = record.get("run", {})
    # What hosts said is shown as the terminal shows it: control characters as escapes (first_screen escapes
    # the markup only, for the messages of a single-host run, which come through Verdict already so).
    cases = [{**c, "requirement": rid, **{k: visible(str(c[k])) for k in ("message", "measured", "id") if k in c}}
             for rid, req in record.get("requirements", {}).items() for c in req["cases"]]
    reached = (run.get("fleet") or {}).get("host", "")
    mode = first_screen.mode_line(run.get("mode", "live"), str(run.get("host", "")), source=str(run.get("source", "")),
                                  signed_by=str(run.get("signed_by", "")), reached_as=reached)
    if run.get("unreachable"):
        mode = f"{mode}; host unreachable: {run['unreachable']}"
    mode = visible(mode)
    parts = [first_screen.banner(record.get("verdict", ""), verdict_counts(cases), int(run.get("exit_status", 0)),
                                 mode, run.get("mode") == "replay")]
    who = " &middot; ".join(escape(x) for x in (
        f"run {run.get('id', '')}", f"technician: {run.get('technician') or 'not given'}",
        f"ticket: {run.get('ticket') or 'not given'}", f"profile {(run.get('profile') or {}).get('name', '')}"))
    body = [f"<p>{who}</p>", first_screen.attention(cases), _tiers(cases, facts, profile)]
    parts.append(f'<div class="gpuaccept">{"".join(body)}</div>')
    title = f"GPU acceptance: {run.get('host', '')} ({str(run.get('mode', 'live')).upper()})"
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/><title>" + escape(title) + "</title>"
            + first_screen.STYLE + _PAGE_STYLE + "</head><body>"
            f'<h1 id="title">{escape(title)}</h1>'
            + _environment(run, facts, facts_missing, mode)
            + f'<div class="summary">{"".join(parts)}</div>'
            + _results(record) + "</body></html>\n")


def _tiers(cases: list[dict[str, Any]], facts: HostFacts | None, profile: Profile | None) -> str:
    ran = {tier for tier in ("load", "diag") if first_screen.tier_table(cases, tier)}
    bench = facts.ollama.benchmark if facts is not None else None
    totals = {g.index: g.memory_total_mib or 0 for g in facts.gpus} if facts is not None else {}
    charts = metric_charts(bench, totals) if bench is not None and "load" in ran else []
    note = (f"No benchmark: {bench.error}" if bench is not None and bench.error else "") if not charts else ""
    diag = diag_charts.section(facts, profile.diag) if "diag" in ran and facts is not None and profile else ""
    return first_screen.tiers(cases, charts, note, diag)


def _environment(run: dict[str, Any], facts: HostFacts | None, facts_missing: str, mode: str) -> str:
    profile = run.get("profile") or {}
    label = f"{profile.get('name', '')} ({profile.get('path', '')})"
    if facts is not None:
        rows = run_rows(facts, run_id=str(run.get("id", "")), technician=str(run.get("technician", "")),
                        ticket=str(run.get("ticket", "")), mode=mode, profile=label)
    else:
        rows = {"Run id": run.get("id", ""), "Mode": mode, "Host": run.get("host", ""), "Profile": label,
                "Host facts": f"unavailable: {facts_missing}"}
    fleet = run.get("fleet") or {}
    if fleet:
        rows = {**rows, "Reached as": fleet.get("host", ""), "Fleet run": fleet.get("run", "")}
    rows = {**rows, "Captured": run.get("captured_at", ""), "Finished": run.get("finished_at", "")}
    cells = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v or ''))}</td></tr>" for k, v in rows.items())
    return f'<h2>Environment</h2><table id="environment">{cells}</table>'


def _results(record: dict[str, Any]) -> str:
    rows = []
    for rid, req in record.get("requirements", {}).items():
        links = " ".join(f'<a href="{escape(path)}">{escape(path.rpartition("/")[2])}</a>'
                         for path in req.get("evidence", ()))
        for n, case in enumerate(req["cases"]):
            outcome = case.get("outcome", "")
            anchor = f' id="{escape(rid)}"' if n == 0 else ""  # the fleet page links to a requirement's first row
            rows.append(f'<tr{anchor} style="background:{first_screen.ROWS.get(outcome, "#ffffff")}">'
                        f"<td>{escape(rid)}</td><td>{escape(str(case.get('id', '')))}</td>"
                        f"<td><strong>{escape(first_screen.LABELS.get(outcome, outcome.upper()))}</strong></td>"
                        f"<td>{escape(str(case.get('measured', '')))}</td><td>{escape(str(case.get('expected', '')))}</td>"
                        f'<td class="message">{escape(str(case.get("message", "")))}</td><td>{links}</td></tr>')
    return ('<h2>Requirements</h2><table id="results-table"><tr><th>Requirement</th><th>Case</th><th>Outcome</th>'
            "<th>Measured</th><th>Expected</th><th>Message</th><th>Evidence</th></tr>" + "".join(rows) + "</table>")
