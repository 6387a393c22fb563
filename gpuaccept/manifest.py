"""MANIFEST.sha256: a run folder's tamper evidence, in the format ``sha256sum -c`` reads.

It lists every file of the folder but itself (``<hex>  <relative path>``, sorted). ``verify`` says
what differs: a changed, missing or added file, or a manifest that cannot be read.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

NAME = "MANIFEST.sha256"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.name != NAME)


def write(folder: Path) -> Path:
    lines = [f"{_digest(folder / rel)}  {rel}\n" for rel in _files(folder)]
    target = folder / NAME
    target.write_text("".join(lines), encoding="utf-8")
    return target


def verify(folder: Path) -> list[str]:
    """Problems found; empty when the folder is exactly as the run left it."""
    manifest = folder / NAME
    if not manifest.is_file():
        return [f"{NAME} is missing from {folder}"]
    listed: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        match = _LINE.match(line)
        if not match:
            return [f"{NAME} line {number} is not '<sha256>  <file>': {line[:80]!r}"]
        listed[match.group(2)] = match.group(1)
    problems = []
    for rel, digest in listed.items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif _digest(path) != digest:
            problems.append(f"{rel}: changed since the run")
    problems += [f"{rel}: added after the run" for rel in _files(folder) if rel not in listed]
    return problems
