"""Secrets never reach evidence or reports: values of secret-looking names are replaced."""

from __future__ import annotations

import re

REDACTED = "<redacted>"
_SECRET = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|^AUTHORIZATION$", re.IGNORECASE)


def is_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


def env_list(items: list[str]) -> list[str]:
    """``NAME=value`` items (a container's Config.Env) with secret values redacted."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        out.append(f"{name}{sep}{REDACTED}" if sep and value and is_secret(name) else item)
    return out
