"""Replace a file at once: a reader (or a kill) never sees half a record."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str, errors: str = "strict") -> None:
    """``errors``: what becomes of a character UTF-8 cannot hold (a lone surrogate: an option's bytes that were
    no UTF-8, as Python's argv keeps them); "strict" raises."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", errors=errors)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
