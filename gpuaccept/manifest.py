"""MANIFEST.sha256: a run folder's tamper evidence, in the format ``sha256sum -c`` reads.

It lists every regular file of the folder but itself and its signature (``<hex>  <relative path>``,
sorted). ``verify`` rejects, one line each: a changed, missing or added file; a symbolic link or a
special file (FIFO, device, socket) or an empty folder anywhere in the folder, since a run writes none; the
manifest or its signature as anything but a regular file; a manifest that is
empty, not UTF-8, has a malformed line, lists a path twice, or lists a path that is absolute, holds
``.``/``..``/empty components, a backslash or a control character.

Nothing but regular files is ever opened, and without following a link (``O_NOFOLLOW``, and
``O_NONBLOCK`` so that a FIFO swapped in after the listing cannot block), files are hashed in 1 MiB
blocks, and the manifest itself is read up to a size cap: a hostile folder cannot hang verify or
fill its memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from gpuaccept.errors import EvidenceError

NAME = "MANIFEST.sha256"
SIGNATURE = NAME + ".sig"  # written by gpuaccept.signing; the manifest cannot list it
_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
_BLOCK = 1 << 20
MAX_MANIFEST = 16 << 20  # a run has a few dozen files; a manifest this big is not one a run wrote
_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFLNK: "a symbolic link"}


class NotRegular(EvidenceError, OSError):
    """The path is a link or a special file: it is never read."""


def show(path: str) -> str:
    """A path as one printable line: anything unprintable is escaped, long paths are cut."""
    text = path if path.isprintable() else ascii(path)
    return text if len(text) <= 200 else text[:200] + "…"


def open_regular(path: Path, follow: bool = False) -> int:
    """A file descriptor for a regular file; never waits on a FIFO nor follows a link unless ``follow``."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if not follow and os.path.islink(path):
            raise NotRegular(f"{path} is a symbolic link") from None
        raise err
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegular(f"{path} is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}")
    return fd


def read_regular(path: Path, limit: int, follow: bool = False) -> bytes:
    """A regular file's bytes; ValueError when it holds more than ``limit``."""
    with os.fdopen(open_regular(path, follow), "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit} bytes")
    return data


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def _walk(folder: Path) -> tuple[list[str], dict[str, str]]:
    """The folder's regular files (relative POSIX paths), and each other entry with why it is rejected."""
    found: list[str] = []
    rejected: dict[str, str] = {}
    pending = [("", folder)]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as err:
            rejected[prefix.rstrip("/") or "."] = f"cannot be listed ({err.strerror})"
            continue
        if prefix and not entries:
            rejected[prefix.rstrip("/")] = "is an empty folder; a run writes none"
        for entry in entries:
            rel = prefix + entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as err:
                rejected[rel] = f"cannot be examined ({err.strerror})"
                continue
            if stat.S_ISDIR(mode) and rel in (NAME, SIGNATURE):
                rejected[rel] = "is a folder, not a regular file; a run writes it as a file"
            elif stat.S_ISDIR(mode):
                pending.append((rel + "/", Path(entry.path)))
            elif stat.S_ISREG(mode):
                found.append(rel)
            elif stat.S_ISLNK(mode):
                try:
                    target = show(os.readlink(entry.path))
                except OSError:
                    target = "?"
                rejected[rel] = f"is a symbolic link (to {target}); a run writes none"
            else:
                rejected[rel] = f"is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a regular file; a run writes none"
    return sorted(found), rejected


def _sealable(rel: str) -> bool:
    """Whether a path can be written as one manifest line that verify reads back as the same path."""
    return rel.isprintable() and "\\" not in rel and rel not in (NAME, SIGNATURE)


def files(folder: Path) -> list[str]:
    """The regular files the manifest lists (links and special files are never sealed)."""
    return [rel for rel in _walk(folder)[0] if _sealable(rel)]


def write(folder: Path) -> Path:
    lines = [f"{_digest(folder / rel)}  {rel}\n" for rel in files(folder)]
    target = folder / NAME
    target.write_text("".join(lines), encoding="utf-8")
    return target


def _unsafe(rel: str) -> str | None:
    """Why a listed path is not a plain path inside the folder, or None."""
    if not rel.isprintable():
        return "holds a control character"
    if "\\" in rel:
        return "holds a backslash"
    if rel.startswith("/"):
        return "is an absolute path"
    parts = rel.split("/")
    if ".." in parts:
        return "holds '..': it points outside the folder"
    if "." in parts or "" in parts:
        return "holds a '.' or empty component: not the plain path a run writes"
    if rel in (NAME, SIGNATURE):
        return "cannot be listed in the manifest"
    return None


def _listing(folder: Path) -> tuple[dict[str, str], list[str]]:
    """The manifest's path -> digest, and a line for each way it cannot be trusted."""
    try:
        raw = read_regular(folder / NAME, MAX_MANIFEST)
    except (OSError, ValueError) as err:
        return {}, [f"{NAME}: cannot be read ({err})"]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return {}, [f"{NAME}: not UTF-8 text (byte {err.start})"]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return {}, [f"{NAME}: lists no file (empty): it seals nothing"]
    listed: dict[str, str] = {}
    first: dict[str, int] = {}
    problems = []
    for number, line in enumerate(lines, 1):
        match = _LINE.fullmatch(line)
        if not match:
            problems.append(f"{NAME} line {number}: not '<sha256 in lowercase hex>  <path>': {show(line[:80])}")
            continue
        digest, rel = match.groups()
        why = _unsafe(rel)
        if why:
            problems.append(f"{show(rel)}: {NAME} line {number} {why}")
        elif rel in listed:
            problems.append(f"{show(rel)}: listed twice in {NAME} (lines {first[rel]} and {number})")
        else:
            listed[rel], first[rel] = digest, number
    return listed, problems


def verify(folder: Path) -> list[str]:
    """Problems found, one line each naming the path and why; empty when the folder is exactly as the run left it."""
    if not os.path.lexists(folder / NAME):  # not a run folder at all: one line, not one per file in it
        return [f"{NAME}: missing from {folder} (not a run folder of this suite, or its run did not finish)"]
    present, rejected = _walk(folder)
    problems = [f"{show(rel)}: {why}" for rel, why in sorted(rejected.items())]
    regular = set(present)
    if NAME not in regular:
        return problems if NAME in rejected else problems + [f"{NAME}: missing from {folder}"]
    listed, bad = _listing(folder)
    problems += bad
    for rel, digest in listed.items():
        if rel not in regular:
            if rel not in rejected:
                problems.append(f"{show(rel)}: missing")
            continue
        try:
            if _digest(folder / rel) != digest:
                problems.append(f"{show(rel)}: changed since the run")
        except OSError as err:  # swapped for a link or a FIFO after the listing, or unreadable
            problems.append(f"{show(rel)}: cannot be read ({err})")
    problems += [f"{show(rel)}: added after the run (not in {NAME})" for rel in present
                 if rel not in listed and rel not in (NAME, SIGNATURE)]
    return problems
