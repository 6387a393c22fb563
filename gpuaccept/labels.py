"""``gpuaccept labels RUN``: a run folder's verdict as node labels, for ``kubectl label node NAME --overwrite
$(gpuaccept labels RUN)`` or a scheduler's node attributes.

One ``key=value`` per line, each a valid Kubernetes label (a value of at most 63 characters of
``[A-Za-z0-9._-]`` that starts and ends with a letter or digit):

- ``gpuaccept.io/verdict``: accepted, not-accepted, incomplete, interrupted, internal-error (``replay-``
  before each for a replay, which judged saved evidence, not the node as it is), or untrusted for a folder
  that is not as its run left it (verified first, as ``gpuaccept verify`` does);
- ``gpuaccept.io/profile``: the profile the run was judged by; ``gpuaccept.io/mode``: live or replay;
- ``gpuaccept.io/accepted-at``: when an accepted live run finished (``20261208T042700Z``). Any other run
  prints ``gpuaccept.io/accepted-at-``, kubectl's way to remove the label: a node whose last run was not
  accepted never keeps the time of an earlier acceptance, and a replay never accepts a node.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from gpuaccept import run_identity, summary
from gpuaccept.reason import exit_status

PREFIX = "gpuaccept.io/"
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")


def value(text: str) -> str:
    """``text`` as a label value: other characters become "-", at most 63, letters or digits at both ends."""
    cut = _NOT_LABEL.sub("-", text)[:63].strip("._-")
    return cut or "unknown"


def _stamp(text: object) -> str | None:
    try:
        when = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None  # a time without its zone is no time a scheduler can compare
    try:
        return when.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    except (OverflowError, ValueError):  # year 1 at +01:00 is before any time UTC can hold
        return None


def labels(folder: Path, keys: list[bytes] | None = None) -> tuple[list[str], int]:
    """The label lines and the exit status: the run's own (0 only for ACCEPTED), 1 for a folder not to trust."""
    removed = f"{PREFIX}accepted-at-"
    if run_identity.untrusted(folder, keys):
        return [f"{PREFIX}verdict=untrusted", removed], 1
    try:
        record = run_identity.record(folder)
    except (OSError, ValueError, RecursionError):
        return [f"{PREFIX}verdict=untrusted", removed], 1
    verdict = record["verdict"]
    run = record.get("run") if isinstance(record.get("run"), dict) else {}
    profile = run.get("profile") if isinstance(run.get("profile"), dict) else {}
    mode = "replay" if run.get("mode") == "replay" else "live"
    said = verdict.lower().replace(" ", "-")
    # A replay judged saved evidence, not the node as it is: its verdict never reads as the node's own.
    lines = [f"{PREFIX}verdict={value(('replay-' if mode == 'replay' else '') + said)}",
             f"{PREFIX}profile={value(str(profile.get('name', '')))}", f"{PREFIX}mode={mode}"]
    stamp = _stamp(run.get("finished_at")) if verdict == summary.ACCEPTED and mode == "live" else None
    lines.append(f"{PREFIX}accepted-at={stamp}" if stamp else removed)
    return lines, exit_status(record)
