"""The fleet record: one single-host folder per host, and fleet.json / fleet.html over all of them.

Each host's folder is written by the one writer of every host folder (gpuaccept.host_folder): evidence/,
summary.json, report.html, junit.xml, MANIFEST.sha256 as a single-host run folder has them, its case ids
without the host (``test_pcie_width[gpu1]``), so it replays with ``--replay`` and verifies with
``python -m gpuaccept verify`` on its own. fleet.json and fleet.html show
hosts x requirements, unreachable and failing hosts first; each cell links to the requirement's row in
that host's report.
"""

from __future__ import annotations

import datetime
import json
from html import escape
from pathlib import Path
from typing import Any

from gpuaccept import redact, summary
from gpuaccept.atomic_file import write_atomic
from gpuaccept.catalogue import CATALOGUE
from gpuaccept.fleet import split_case

SCHEMA = "gpuaccept.fleet/1"
_ORDER = {summary.NOT_ACCEPTED: 1, summary.INTERRUPTED: 2, summary.INCOMPLETE: 3, summary.ACCEPTED: 4}
_COLOURS = {"pass": "#cfc", "fail": "#f99", "error": "#f99", "warn": "#fe9", "not_evaluated": "#fc9",
            "skip": "#eee", "xfail": "#ddf", "unreachable": "#c66"}


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
    unreachable = record["run"].get("unreachable", "")
    return {"host": host_id, "hostname": record["run"].get("host", ""), "folder": folder,
            "verdict": record["verdict"], "exit_status": record["run"]["exit_status"], "unreachable": unreachable,
            "counts": summary.verdict_counts([c for r in record["requirements"].values() for c in r["cases"]]),
            "requirements": {rid: ("unreachable" if unreachable else req["outcome"])
                             for rid, req in record["requirements"].items()}}


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


def fleet_page(rows: list[dict[str, Any]], run: dict[str, Any]) -> str:
    rids = [rid for rid in CATALOGUE if any(rid in r["requirements"] for r in rows)]
    head = "<tr><th>Host</th><th>Verdict</th>" + "".join(f"<th>{escape(rid)}</th>" for rid in rids) + "</tr>"
    body = []
    for r in rows:
        link = f"{r['folder']}/report.html"
        verdict = f"{r['verdict']}" + (f" (host unreachable: {r['unreachable']})" if r["unreachable"] else "")
        cells = []
        for rid in rids:
            outcome = r["requirements"].get(rid)
            if outcome is None:
                cells.append("<td></td>")
                continue
            cells.append(f'<td style="background:{_COLOURS.get(outcome, "#fff")}"><a href="{escape(link)}#'
                         f'{escape(rid)}">{escape(outcome)}</a></td>')
        body.append(f'<tr id="{escape(r["folder"])}"><th style="text-align:left"><a href="{escape(link)}">'
                    f'{escape(r["host"])}</a><br><small>{escape(r["hostname"])}</small></th>'
                    f"<td>{escape(verdict)}<br><small>{escape(r['counts'])}</small></td>" + "".join(cells) + "</tr>")
    title = f"GPU fleet acceptance: {len(rows)} hosts ({run.get('folder', '')})"
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/><title>" + escape(title) + "</title></head><body>"
            f"<h1>{escape(title)}</h1><p>Unreachable and failing hosts first. Each cell links to that requirement's "
            "row in the host's own report.</p><table border=1 cellpadding=3 style='border-collapse:collapse'>"
            + head + "".join(body) + "</table></body></html>\n")
