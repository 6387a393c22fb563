"""``--baseline``: the earlier run of this host that HOST-DRIFT compares this one with, as evidence.

A baseline is a run folder of the same host (its evidence's hostname), verified first as ``gpuaccept
verify`` verifies it (manifest, name, signature; against ``--pubkey`` where given). ``latest-accepted``
is the newest ACCEPTED live run of this host under the report folder that verifies. Its figures
(gpuaccept.drift) become this run's ``baseline.json``, with where they came from and what vouches for
them, so a replay of this run compares the same figures again. A folder that is not this host's, or does
not verify, is refused (``BaselineRefused``, one line); no accepted run yet under ``latest-accepted`` is
no refusal: the first acceptance of a host has nothing to drift from, and says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gpuaccept import evidence as ev
from gpuaccept import run_identity
from gpuaccept.errors import UsageProblem

LATEST = "latest-accepted"


class BaselineRefused(UsageProblem):
    """The folder given cannot be this host's baseline: the message says why, in one line."""


def _record(folder: Path) -> dict[str, Any] | None:
    """The folder's run record (run_identity.record) with its run object, or None."""
    try:
        found = run_identity.record(folder)
    except (OSError, ValueError, RecursionError):
        return None
    return found if isinstance(found.get("run"), dict) else None


def latest_accepted(root: Path, hostname: str, keys: list[bytes] | None, exclude: Path | None,
                    skipped: list[str] | None = None) -> Path | None:
    """The newest ACCEPTED live run of ``hostname`` under ``root`` that verifies (by its finish time); each
    newer one that claims to be and does not verify is named in ``skipped``, with why."""
    found = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return None
    for entry in entries:
        folder = Path(entry.path)
        if entry.is_symlink() or not entry.is_dir(follow_symlinks=False) or (exclude and folder == exclude):
            continue
        record = _record(folder)
        run = record["run"] if record else {}
        if record and record.get("verdict") == "ACCEPTED" and run.get("mode") == "live" and run.get("host") == hostname:
            found.append((str(run.get("finished_at", "")), folder))
    for _, folder in sorted(found, reverse=True):
        why = run_identity.untrusted(folder, keys)
        if not why:
            return folder
        if skipped is not None:
            skipped.append(f"{folder.name} ({why})")
    return None


def record(folder: Path, hostname: str, keys: list[bytes] | None, model: str) -> dict[str, Any]:
    """baseline.json's content for ``folder``; raises BaselineRefused."""
    from gpuaccept import drift
    from gpuaccept.sources.build import build_facts

    shown = folder.name
    if folder.is_symlink() or not (folder / "evidence").is_dir() or (folder / "evidence").is_symlink():
        raise BaselineRefused(f"{shown} is no run folder (no evidence/ folder in it)")
    why = run_identity.untrusted(folder, keys)
    if why:
        raise BaselineRefused(f"{shown} does not verify ({why}): it is not as its run left it")
    saved = _record(folder)
    if saved is None:
        raise BaselineRefused(f"{shown}: its summary.json is unreadable")
    then = ev.Evidence.read(folder / "evidence")
    theirs = then.meta.get("hostname")
    if theirs != hostname:
        raise BaselineRefused(f"{shown} is a run of {theirs or 'an unnamed host'}, not of this host ({hostname})")
    facts = build_facts(then, mode="replay", source=str(folder))
    _, note, _ = run_identity.judge(folder, keys)
    run = saved["run"]
    return {"folder": shown, "path": str(folder), "run_id": run.get("id", ""), "verdict": saved.get("verdict", ""),
            "mode": run.get("mode", ""), "finished_at": run.get("finished_at", ""), "seal": note,
            "profile_sha256": (run.get("profile") or {}).get("sha256", "") if isinstance(run.get("profile"), dict) else "",
            "suite_code_sha256": (run.get("suite") or {}).get("code_sha256", "") if isinstance(run.get("suite"), dict)
            else "", "figures": drift.figures(facts, model)}


def attach(evidence: ev.Evidence, given: str, root: Path, keys: list[bytes] | None, model: str,
           this_run: Path | None) -> None:
    """Put the baseline into ``evidence`` (baseline.json, or why there is none); raises BaselineRefused."""
    hostname = str(evidence.meta.get("hostname") or "")
    skipped: list[str] = []
    if given == LATEST:
        folder = latest_accepted(root, hostname, keys, this_run, skipped)
        if folder is None:
            evidence.files.pop(ev.BASELINE, None)
            passed_over = f"; newer ones that do not verify: {'; '.join(skipped)}" if skipped else ""
            evidence.absent[ev.BASELINE] = (f"--baseline {LATEST}: no accepted live run of {hostname} under {root} "
                                            f"that verifies yet{passed_over}")
            return
    else:
        folder = Path(given)
    evidence.absent.pop(ev.BASELINE, None)
    found = record(folder, hostname, keys, model)
    found["skipped"] = skipped  # accepted runs of this host newer than the baseline that do not verify
    evidence.files[ev.BASELINE] = json.dumps(found, indent=2) + "\n"
