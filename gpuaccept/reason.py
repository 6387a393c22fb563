"""``gpuaccept reason RUN``: a run folder's verdict as one line a scheduler takes as it is.

For ``scontrol update nodename=... state=drain reason="$(gpuaccept reason RUN)"`` or a Kubernetes node
condition's message: at most 200 printable ASCII characters, no newline, requirement IDs only (never a
message, which holds what the host said). The folder is verified first, as ``gpuaccept verify`` does: a
folder that is not as its run left it gives the line that says so, never the verdict it claims.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpuaccept import run_identity, summary
from gpuaccept.catalogue import CATALOGUE

LIMIT = 200
_SHOWN = (("fail", "failed"), ("error", "errored"), ("not_evaluated", "not evaluated"))


def _fit(line: str) -> str:
    line = "".join(c if c.isascii() and c.isprintable() else "?" for c in line)
    return line if len(line) <= LIMIT else line[:LIMIT - 3] + "..."


def reason(folder: Path, keys: list[bytes] | None = None) -> tuple[str, int]:
    """The line and the exit status: the run's own (0 only for ACCEPTED), or 1 for a folder not to trust."""
    why = run_identity.untrusted(folder, keys)
    if why:
        return _fit(f"gpuaccept UNTRUSTED: the run folder is not as its run left it ({why})"), 1
    try:
        record = run_identity.record(folder)
    except (OSError, ValueError, RecursionError) as err:
        return _fit(f"gpuaccept UNTRUSTED: summary.json unreadable ({err})"), 1
    verdict = record["verdict"]
    parts = []
    for outcome, word in _SHOWN:
        ids = sorted(rid for rid, req in record["requirements"].items()
                     if rid in CATALOGUE and isinstance(req, dict) and req.get("outcome") == outcome)
        if ids:
            parts.append(f"{word} {','.join(ids)}")
    run = record.get("run")
    not_run = run.get("not_run") if isinstance(run, dict) else None
    if isinstance(not_run, list) and not_run:
        parts.append(f"{len(not_run)} not run")
    line = f"gpuaccept {verdict}" + (": " + "; ".join(parts) if parts else "")
    return _fit(line), exit_status(record)


def exit_status(record: dict[str, Any]) -> int:
    """The run's own exit status as its record says it (a run stopped by a usage error is 4, not its
    verdict's), else its verdict's."""
    run = record.get("run")
    said = run.get("exit_status") if isinstance(run, dict) else None
    if isinstance(said, int) and not isinstance(said, bool) and 0 <= said <= 7:
        return said
    return summary.EXIT[record["verdict"]]
