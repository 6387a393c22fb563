"""The fleet record: one single-host folder per host, and fleet.json / fleet.html over all of them.

Each host's folder is written by the one writer of every host folder (gpuaccept.host_folder): evidence/,
summary.json, report.html, junit.xml, MANIFEST.sha256 as a single-host run folder has them, its case ids
without the host (``test_pcie_width[gpu1]``), so it replays with ``--replay`` and verifies with
``python -m gpuaccept verify`` on its own. fleet.json and fleet.html only index them: one row per host,
unreachable and failing hosts first, with its verdict and what needs attention on it (each with its cause
and fix, linked to the requirement's row in that host's report); fleet.json also keeps every
requirement's outcome per host.
"""

from __future__ import annotations

import datetime
import json
from html import escape
from pathlib import Path
from typing import Any

from gpuaccept import redact, summary
from gpuaccept.atomic_file import write_atomic
from gpuaccept.fleet import split_case
from gpuaccept.report import first_screen

SCHEMA = "gpuaccept.fleet/1"
_ORDER = {summary.NOT_ACCEPTED: 1, summary.INTERRUPTED: 2, summary.INCOMPLETE: 3, summary.ACCEPTED: 4}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def host_cases(cases: list[dict[str, Any]], host_id: str, host_ids) -> list[dict[str, Any]]:
    """The cases of one host, with its ids as a single-host run names them: ``test_pcie_width[docker://a-gpu1]``
    -> ``test_pcie_width[gpu1]``, ``test_gpu_count[docker://a]`` -> ``test_gpu_count``."""
    mine = []
    for case in cases:
        name, _, params = case["id"].partition("[")
        found = split_case(params.removesuffix("]"), host_ids)
        if found is None or found[0] != host_id:
            continue
        mine.append({**case, "id": name if found[1] is None else f"{name}[gpu{found[1]}]"})
    return mine


def row(host_id: str, folder: str, record: dict[str, Any]) -> dict[str, Any]:
    """A host's line in fleet.json and fleet.html: its verdict, counts, each requirement's outcome, and the
    cases that need attention (failed, errored, not evaluated) with their one-paragraph message."""
    unreachable = record["run"].get("unreachable", "")
    cases = [{**c, "requirement": rid} for rid, r in record["requirements"].items() for c in r["cases"]]
    attention = first_screen.needs_attention(cases)
    return {"host": host_id, "hostname": record["run"].get("host", ""), "folder": folder,
            "verdict": record["verdict"], "exit_status": record["run"]["exit_status"], "unreachable": unreachable,
            "counts": summary.verdict_counts(cases),
            "requirements": {rid: ("unreachable" if unreachable else req["outcome"])
                             for rid, req in record["requirements"].items()},
            "attention": [{"requirement": c["requirement"], "case": c["id"], "outcome": c["outcome"],
                           "message": first_screen.one_paragraph(c.get("message", ""), 600)} for c in attention]}


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unreachable hosts first, then failing, then incomplete, then accepted; by host within each."""
    return sorted(rows, key=lambda r: (0 if r["unreachable"] else _ORDER.get(r["verdict"], 0), r["host"]))


def write_fleet(folder: Path, rows: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    rows = ordered(rows)
    verdicts = [r["verdict"] for r in rows]
    record = {"schema": SCHEMA, "run": run, "hosts": rows,
              "counts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
              "unreachable": sum(1 for r in rows if r["unreachable"])}
    write_atomic(folder / "fleet.json", json.dumps(redact.data(record), indent=2) + "\n")
    write_atomic(folder / "fleet.html", fleet_page(rows, run))
    return record


_STYLE = f"""<style>
body {{ font-family: Helvetica, Arial, sans-serif; font-size: 13px; color: {first_screen.TEXT}; margin: 8px 14px; }}
h1 {{ font-size: 20px; margin: 4px 0; }}
table.hosts {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
table.hosts th, table.hosts td {{ border: 1px solid #ffffff; padding: 4px 6px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }}
table.hosts col.host {{ width: 230px; }} table.hosts col.verdict {{ width: 170px; }}
.fleet-verdict {{ padding: 6px 12px; margin: 0 0 8px 0; }}
.fleet-verdict strong {{ font-size: 22px; }}
ul.attention {{ margin: 0; padding-left: 16px; }} ul.attention li {{ margin: 0 0 3px 0; }}
a {{ color: #1a4e8a; }}
</style>"""
_HOST_ROW = {summary.ACCEPTED: "pass", summary.NOT_ACCEPTED: "fail", summary.INCOMPLETE: "not_evaluated",
             summary.INTERRUPTED: "fail"}


def fleet_page(rows: list[dict[str, Any]], run: dict[str, Any]) -> str:
    """One row per host, the odd ones first: its verdict and counts, then what needs attention on it, each
    with its cause and fix and a link to the requirement's row in the host's own report."""
    body = []
    for r in rows:
        link = f"{r['folder']}/report.html"
        if r["unreachable"]:
            said = f"<p><strong>Host unreachable:</strong> {escape(r['unreachable'])}</p>"
        elif r.get("attention"):
            items = "".join(
                f'<li><a href="{escape(link)}#{escape(a["requirement"])}"><strong>{escape(a["requirement"])}'
                f"</strong></a> {escape(first_screen.case_name({'id': a['case']}))} "
                f"<strong>{escape(first_screen.LABELS.get(a['outcome'], a['outcome']))}</strong>: "
                f"{escape(a['message'])}</li>" for a in r["attention"])
            said = f'<ul class="attention">{items}</ul>'
        else:
            said = "<p>Every requirement judged passed.</p>"
        colour = first_screen.ROWS.get("fail" if r["unreachable"] else _HOST_ROW.get(r["verdict"], "not_evaluated"))
        body.append(f'<tr id="{escape(r["folder"])}" style="background:{colour}"><td><a href="{escape(link)}">'
                    f'<strong>{escape(r["host"])}</strong></a><br>{escape(r["hostname"])}</td>'
                    f"<td><strong>{escape(r['verdict'])}</strong><br>{escape(r['counts'])}<br>exit status "
                    f"{int(r['exit_status'])}</td><td>{said}</td></tr>")
    verdicts = [r["verdict"] for r in rows]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in sorted(set(verdicts), key=lambda v: _ORDER.get(v, 0)))
    unreachable = sum(1 for r in rows if r["unreachable"])
    worst = min(verdicts, key=lambda v: _ORDER.get(v, 0)) if verdicts else summary.INCOMPLETE
    background, text = first_screen.BANNERS.get(worst, first_screen.BANNERS[summary.INCOMPLETE])
    title = f"GPU fleet acceptance: {len(rows)} hosts ({run.get('folder', '')})"
    head = (f'<div class="fleet-verdict" style="background:{background};color:{text}"><strong>'
            f"{escape(counts or 'no host')}</strong>"
            + (f" &middot; {unreachable} unreachable" if unreachable else "") + "</div>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/><title>" + escape(title) + "</title>" + _STYLE
            + f"</head><body>{head}<h1>{escape(title)}</h1><p>Unreachable and failing hosts first. A host's name "
            "opens its own report; a requirement opens its row there.</p>"
            '<table class="hosts"><colgroup><col class="host"><col class="verdict"><col></colgroup>'
            "<tr><th>Host</th><th>Verdict</th><th>Needs attention: failed or not evaluated</th></tr>"
            + "".join(body) + "</table></body></html>\n")

