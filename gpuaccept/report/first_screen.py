"""The report's first screen: the answer before the details.

In order: the run's verdict in a banner (ACCEPTED, NOT ACCEPTED, INCOMPLETE; REPLAY and the evidence's
provenance when it is one) with its counts; the requirements that failed or could not be evaluated, each
with its one-paragraph measured / expected / cause / fix; then every requirement by tier, the load tier
with the benchmark's charts, the diag tier (when it ran) with its soak and copy charts. pytest-html puts
its title and environment table before its summary section, where this block is inserted: the style
below moves that section to the top of the page.

Every text here comes from evidence or options and is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from gpuaccept.catalogue import CATALOGUE
from gpuaccept.summary import ACCEPTED, INCOMPLETE, INTERRUPTED, NOT_ACCEPTED, worst

TEXT = "#1a1a1a"  # every row's text colour: WCAG AA (>= 4.5:1) on each background below
ROWS = {"pass": "#d7f0d2", "fail": "#f6c9c9", "error": "#f6c9c9", "warn": "#fbe7b5", "skip": "#e6e6e6",
        "not_evaluated": "#f3d9a4", "xfail": "#dde4f5"}
BANNERS = {ACCEPTED: ("#1b5e20", "#ffffff"), NOT_ACCEPTED: ("#b00020", "#ffffff"),
           INCOMPLETE: ("#8a4b00", "#ffffff"), INTERRUPTED: ("#b00000", "#ffffff")}
REPLAY_BADGE = ("#ffffff", "#6a1b9a")  # background, text
LABELS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "warn": "WARN", "skip": "NOT APPLICABLE",
          "not_evaluated": "NOT EVALUATED", "xfail": "WAIVED"}
ATTENTION = ("fail", "error", "not_evaluated")

# pytest-html's page: title, environment table, then the summary section holding this block. The body
# becomes a column whose first item is that section. pytest-html's own grey text, orange and red (below
# 4.5:1 on white) are replaced by darker ones.
STYLE = f"""<style>
body {{ display: flex; flex-direction: column; color: {TEXT}; }}
body > .summary {{ order: -1; }}
.summary__data > h2 {{ display: none; }}
#results-table {{ color: {TEXT}; margin-top: 14px; }}
a, .filters button, .collapse button {{ color: #1a4e8a; }}
span.passed, .passed .col-result {{ color: #1b5e20; }}
span.skipped, span.xfailed, span.rerun, .skipped .col-result, .xfailed .col-result, .rerun .col-result {{ color: #8a4b00; }}
span.error, span.failed, span.xpassed, .error .col-result, .failed .col-result, .xpassed .col-result {{ color: #b00020; }}
.gpuaccept {{ color: {TEXT}; font-size: 13px; }}
.gpuaccept-verdict {{ padding: 8px 14px; margin: 0 0 6px 0; }}
.gpuaccept-verdict .verdict {{ font-size: 30px; font-weight: bold; letter-spacing: 1px; }}
.gpuaccept-verdict .replay {{ background: {REPLAY_BADGE[0]}; color: {REPLAY_BADGE[1]}; font-weight: bold;
  padding: 1px 8px; margin-left: 12px; font-size: 18px; vertical-align: 5px; }}
.gpuaccept-verdict p {{ color: inherit; margin: 3px 0 0 0; }}
.gpuaccept p {{ color: {TEXT}; margin: 3px 0; }}
.gpuaccept table {{ border-collapse: collapse; margin: 4px 0; }}
.gpuaccept td, .gpuaccept th {{ color: {TEXT}; padding: 2px 6px; border: 1px solid #ffffff; text-align: left;
  vertical-align: top; }}
.gpuaccept h3 {{ font-size: 14px; margin: 8px 0 2px 0; color: {TEXT}; }}
.gpuaccept-attention td.message {{ max-width: 980px; }}
.gpuaccept-tiers {{ display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: flex-start; }}
.gpuaccept-tiers table {{ font-size: 12px; }}
.gpuaccept-quick {{ flex: 1 1 600px; }}
.gpuaccept-load {{ flex: 0 1 660px; }}
.gpuaccept-charts {{ display: flex; flex-wrap: wrap; gap: 2px 8px; max-width: 660px; }}
.gpuaccept-diag {{ flex: 1 1 1000px; }}
.gpuaccept-diag .gpuaccept-charts {{ max-width: none; }}
</style>"""


def mode_line(mode: str, hostname: str, *, source: str = "", captured_at: str = "", provenance: str = "",
              seal: str = "", signed_by: str = "", reached_as: str = "") -> str:
    """Live or replay, and what signs it: the terminal header, the environment table and the banner say it
    in these words, for a host judged alone and for each host of a fleet (``reached_as``: its connection)."""
    if mode == "replay":
        when = f", captured {captured_at}" if captured_at else ""
        origin = provenance or "its provenance is not stated in host.json"
        return f"REPLAY of saved evidence from {source} (host {hostname}{when}; {origin}; {seal}): NOT a live run"
    via = f" (reached as {reached_as})" if reached_as else ""
    # "--sign-key" is never followed by a word here: redaction takes the word after a key's flag for its value.
    signed = f"signed with {signed_by} (--sign-key)" if signed_by else "not signed (no --sign-key)"
    return f"LIVE run on {hostname}{via}; {signed}"


def banner(verdict: str, counts: str, exit_status: int, mode_line: str, replay: bool) -> str:
    """The run's verdict, big, with its counts; a replay says so beside it, with where its evidence came from."""
    background, colour = BANNERS.get(verdict, BANNERS[INCOMPLETE])
    badge = '<span class="replay">REPLAY</span>' if replay else ""
    return (f'<div class="gpuaccept-verdict" style="background:{background};color:{colour}">'
            f'<span class="verdict">{escape(verdict)}</span>{badge}'
            f"<p>{escape(counts or 'no requirement was judged')} &middot; exit status {int(exit_status)}</p>"
            f"<p>{escape(mode_line)}</p></div>")


def case_name(case: dict[str, Any]) -> str:
    """``gpu1`` for a case ``test_pcie_width[gpu1]``, "" for a host-wide one."""
    name = str(case.get("id", ""))
    return name[name.index("[") + 1:-1] if "[" in name and name.endswith("]") else ""


def one_paragraph(text: Any, limit: int = 700) -> str:
    said = " ".join(str(text or "").split())
    return said if len(said) <= limit else said[:limit] + " [...]"


def _row(outcome: str, cells: list[str]) -> str:
    return f'<tr style="background:{ROWS.get(outcome, "#ffffff")}">' + "".join(cells) + "</tr>"


def needs_attention(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failed, errored and not-evaluated cases, failures first."""
    return sorted((c for c in cases if c.get("outcome") in ATTENTION), key=lambda c: ATTENTION.index(c["outcome"]))


def attention(cases: list[dict[str, Any]]) -> str:
    """The failed and not-evaluated cases, failures first: what to fix before the run can be accepted."""
    shown = needs_attention(cases)
    if not shown:
        return ""
    rows = [_row(c["outcome"], [f"<td><strong>{escape(str(c.get('requirement', '')))}</strong></td>",
                                f"<td>{escape(case_name(c))}</td>",
                                f"<td><strong>{escape(LABELS.get(c['outcome'], c['outcome']))}</strong></td>",
                                f'<td class="message">{escape(one_paragraph(c.get("message")))}</td>'])
            for c in shown]
    return ('<div class="gpuaccept-attention"><h3>Needs attention: failed or not evaluated</h3><table>'
            + "".join(rows) + "</table></div>")


def tier_table(cases: list[dict[str, Any]], tier: str) -> str:
    """One row per requirement of the tier, coloured by its outcome (its worst case)."""
    ids = [rid for rid, r in CATALOGUE.items() if r.tier == tier and any(c["requirement"] == rid for c in cases)]
    rows = []
    for rid in ids:
        mine = [c for c in cases if c["requirement"] == rid]
        outcome = worst([c["outcome"] for c in mine])
        shown = next((c for c in mine if c["outcome"] == outcome), mine[0])
        text = one_paragraph(shown.get("measured") or shown.get("message", ""), 160)
        rows.append(f'<tr style="background:{ROWS.get(outcome, "#ffffff")}"><td>{escape(rid)}</td>'
                    f"<td><strong>{escape(LABELS.get(outcome, outcome.upper()))}</strong></td>"
                    f"<td>{escape(CATALOGUE[rid].title)}</td><td>{escape(text)}</td></tr>")
    if not rows:
        return ""
    return (f'<table style="border-collapse:collapse" class="gpuaccept-tier" data-tier="{tier}">'
            "<tr><th>Requirement</th><th>Outcome</th><th>Checks</th><th>Measured</th></tr>" + "".join(rows) + "</table>")


def tiers(cases: list[dict[str, Any]], charts: list[str], bench_note: str = "", diag: str = "") -> str:
    """The quick tier beside the load tier; the load tier's section carries the benchmark's charts. The diag
    tier, opt-in, has a section only when its tests ran; ``diag`` is its charts' markup (already escaped)."""
    sections = []
    quick = tier_table(cases, "quick")
    if quick:
        sections.append(f'<section class="gpuaccept-quick"><h3>Quick tier</h3>{quick}</section>')
    load = tier_table(cases, "load")
    if load:
        shown = "".join(f"<div>{svg}</div>" for svg in charts) or f"<p>{escape(bench_note or 'No benchmark samples to chart.')}</p>"
        sections.append(f'<section class="gpuaccept-load"><h3>Load tier</h3>{load}'
                        f'<p>Per GPU over the benchmark (shaded: the measured runs; legend: each GPU\'s mean there)</p>'
                        f'<div class="gpuaccept-charts">{shown}</div></section>')
    active = tier_table(cases, "diag")
    if active:
        sections.append(f'<section class="gpuaccept-diag"><h3>Diag tier</h3>{active}{diag}</section>')
    return f'<div class="gpuaccept-tiers">{"".join(sections)}</div>' if sections else ""
