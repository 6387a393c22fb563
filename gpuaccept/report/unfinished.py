"""What a run folder says when its run did not finish: the INTERRUPTED banner, and a stand-in report.html.

The stand-in is written when the run folder is made and replaced by pytest-html's report at the session's
end; a run stopped before that (a signal during session start, a kill) keeps a page that says it is not a
verdict, never one that looks finished. Every value is escaped: it comes from options and evidence.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = "background:#b00;color:#fff;padding:10px 14px;margin:8px 0;font-size:1.15em"


def banner(record: dict[str, Any]) -> str:
    """The first thing on the page: the verdict, why the run stopped and what it was doing."""
    why = record.get("interruption", {})
    head = f"{record.get('verdict', 'INTERRUPTED')}: this run did not finish, it is not an acceptance verdict"
    detail = f"Stopped: {why.get('reason', 'unknown')}; {why.get('phase', '')}." if why else ""
    if record.get("record_error"):
        head = "NOT RECORDED: this run's folder could not be written, it is not an archived verdict"
        judged = f"The tests' verdict was {record.get('verdict')}." if record.get("requirements") else "No requirement was judged."
        detail = f"Cannot write {record['record_error']}. {judged}"
    return (f'<div class="gpuaccept-unfinished" style="{_STYLE}"><strong>{escape(head)}</strong>'
            f"<br>{escape(detail)} Requirements not yet judged are missing: run the acceptance again.</div>")


def page(record: dict[str, Any]) -> str:
    """A whole report.html for a run that never reached the point where pytest-html writes its report."""
    run = record.get("run", {})
    profile = run.get("profile") or {}
    rows = [("Run folder", run.get("folder")), ("Run id", run.get("id")), ("Host", run.get("host")),
            ("Mode", run.get("mode")), ("Profile", f"{profile.get('name', '')} ({profile.get('path', '')})"),
            ("Technician", run.get("technician")), ("Ticket", run.get("ticket")), ("Started", run.get("started_at")),
            ("Stopped", run.get("finished_at") or "(not recorded)"), ("Exit status", run.get("exit_status"))]
    table = "".join(f'<tr><th style="text-align:left;padding-right:12px">{escape(k)}</th><td>{escape(str(v or ""))}</td></tr>'
                    for k, v in rows)
    title = f"GPU acceptance: {record.get('verdict', 'INTERRUPTED')} ({run.get('host') or 'unknown host'})"
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/>"
            f"<title>{escape(title)}</title></head><body>\n<h1>{escape(title)}</h1>\n{banner(record)}\n"
            f"<table>{table}</table>\n<p>summary.json in this folder holds the same record.</p>\n</body></html>\n")
