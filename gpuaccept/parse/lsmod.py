"""``lsmod`` (or ``/proc/modules``) text -> loaded module names."""

from __future__ import annotations


def parse_lsmod(text: str) -> tuple[str, ...]:
    names = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] == "Module":
            continue
        names.append(parts[0])
    return tuple(names)
