"""What judged a run, for its record: the suite's version and the digest of its installed code, and the
digest of the profile as it was applied (its file's values with the command line's and the ini file's
overrides). Two runs whose digests agree were judged by the same code against the same limits, so a
comparison between them (drift from a host's accepted run) compares like with like.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import stat
from typing import Any

import gpuaccept

# The files that decide a verdict: the package, the pytest plugins and the acceptance tests of the checkout.
_CODE_SUFFIXES = (".py", ".toml", ".json", ".ptx", ".cu")


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over the relative path and bytes of each code file, in path order (cached: the code of a
    running process does not change under it in any way that matters to its record). Bundled evidence
    (fixtures/hosts/) is data the suite judges, not code that judges: left out."""
    top = os.path.dirname(os.path.dirname(os.path.realpath(gpuaccept.__file__)))
    skipped = {os.path.join(top, "fixtures", "hosts")}
    files = []
    for name in ("gpuaccept", "fixtures", "acceptance"):
        root = os.path.join(top, name)
        if os.path.islink(root) or not os.path.isdir(root):
            continue
        for here, dirs, names in os.walk(root):  # links are not followed: os.walk's default
            dirs[:] = [d for d in dirs if d != "__pycache__" and os.path.join(here, d) not in skipped]
            files += [os.path.join(here, n) for n in names if n.endswith(_CODE_SUFFIXES)]
    digest = hashlib.sha256()
    for path in sorted(files):
        if not stat.S_ISREG(os.lstat(path).st_mode):
            continue
        with open(path, "rb") as f:
            content = f.read()
        digest.update(os.path.relpath(path, top).replace(os.sep, "/").encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def suite() -> dict[str, str]:
    return {"version": gpuaccept.__version__, "code_sha256": code_digest()}


def profile_digest(profile: Any) -> str:
    """SHA-256 of the profile's applied values (its path left out: the same limits from another file are the
    same limits)."""
    values = {k: v for k, v in dataclasses.asdict(profile).items() if k != "path"}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def profile(p: Any) -> dict[str, str]:
    return {"name": p.name, "path": p.path, "sha256": profile_digest(p)}
