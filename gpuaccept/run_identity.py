"""Is a run folder the one its own record names? A folder copied under another name (another host's,
another run's) must not verify as that one.

``summary.json`` names its folder (``run.folder``) and, in a fleet, the host it was reached as
(``run.fleet.host``, whose folder name is gpuaccept.fleet.folder_name of it). The manifest seals
summary.json, so these names are as the run wrote them whenever the manifest holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gpuaccept import manifest, signing, summary
from gpuaccept.fleet import folder_name

_MAX_SUMMARY = 64 << 20
RECORD_MAX = 16 << 20  # summary.json as a record to act on (reason, labels, a baseline): the suite's are KiBs


def problems(folder: Path) -> list[str]:
    """One line for each way the folder's name disagrees with its summary.json; a missing or unreadable
    summary.json is one too, since every run writes it."""
    path = folder / "summary.json"
    try:
        record = json.loads(manifest.read_regular(path, _MAX_SUMMARY))
    except FileNotFoundError:
        return ["summary.json: missing: every run writes its record there, so this is not a whole run folder"]
    except manifest.NotRegular:
        return []  # the folder check names the link or special file
    except (OSError, ValueError, RecursionError) as err:  # nested past the decoder's depth: no record either
        return [f"summary.json: not a run record ({err})"]
    run = record.get("run") if isinstance(record, dict) else None
    if not isinstance(run, dict) or not isinstance(run.get("folder"), str):
        return ["summary.json: names no run folder (run.folder): not a run record of this suite"]
    name, found = folder.name, []
    if run["folder"] != name:
        found.append(f"{manifest.show(name)}: the folder is named otherwise than its summary.json says "
                     f"({manifest.show(run['folder'])}): copied or renamed from another run")
    fleet = run.get("fleet")
    if isinstance(fleet, dict) and isinstance(fleet.get("host"), str) and folder_name(fleet["host"]) != name:
        found.append(f"{manifest.show(name)}: summary.json is the record of fleet host "
                     f"{manifest.show(fleet['host'])}, whose folder is {folder_name(fleet['host'])}")
    return found


def judge(folder: Path, keys: list[bytes] | None) -> tuple[list[str], str, list[str]]:
    """A run folder as ``gpuaccept verify`` judges it (and a replay and ``gpuaccept reason`` with it): the
    problems of its files and manifest, and, where the manifest is there and summary.json unchanged, of its
    name (a sealed folder without its summary.json, which names the signer and the folder, or under another
    run's or host's name, is not the run that sealed it); what its signature says; the signature's problems
    (``keys`` from --pubkey)."""
    found = manifest.verify(folder)
    if os.path.lexists(folder / manifest.NAME) and not any(line.startswith("summary.json: ") for line in found):
        found += problems(folder)
    note, bad_signature = signing.check(folder, keys)
    return found, note, bad_signature


def untrusted(folder: Path, keys: list[bytes] | None) -> str:
    """Why the folder is not as its run left it (the first of ``judge``'s problems), or "" when it is."""
    problems, _, bad_signature = judge(folder, keys)
    first = (problems + bad_signature)[:1]
    return first[0] if first else ""


def record(folder: Path) -> dict[str, Any]:
    """The folder's summary.json as a record of this suite: a verdict it knows and a requirements object;
    raises OSError, ValueError or RecursionError for anything else."""
    found = json.loads(manifest.read_regular(folder / "summary.json", RECORD_MAX))
    if not isinstance(found, dict) or not isinstance(found.get("verdict"), str) or found["verdict"] not in summary.EXIT:
        raise ValueError("summary.json names no verdict of this suite")
    if not isinstance(found.get("requirements"), dict):
        raise ValueError("summary.json has no requirements")
    return found
