"""Secrets never reach evidence or reports: values of secret-looking names are replaced."""

from __future__ import annotations

import json
import re
from typing import Any

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


# NAME=value or NAME: value where NAME looks secret, and HTTP authorization headers, inside any text
# (a log line, a JSON string). The value stops at whitespace, a quote or a comma, and JSON's own null,
# true, false, lists and objects are left alone, so JSON stays valid.
_ASSIGNMENT = re.compile(r"\b([A-Z0-9_]*(?:TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL)[A-Z0-9_]*"
                         r"|(?:password|passwd|secret|token|api[_-]?key|access[_-]?key))(=|: ?)"
                         r"(?!<redacted>|null\b|true\b|false\b)([^\s\",\[{]+)")
_AUTHORIZATION = re.compile(r"(Authorization[\"']?\s*[:=]\s*[\"']?)(?:(Bearer|Basic|Token)\s+)?"
                            r"(?!<redacted>|null\b|true\b|false\b)[^\s\",'\[{]+",
                            re.IGNORECASE)


def text(value: str) -> str:
    value = _AUTHORIZATION.sub(lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{REDACTED}", value)
    return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", value)


def _walk(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]  # list items are values, not named by the key (Docker's plugin lists)
    if isinstance(value, str):
        named = key and (is_secret(key) or key.lower() == "authorization")
        return REDACTED if value and named else text(value)
    return value


def evidence_file(name: str, content: str) -> str:
    """An evidence file with secrets redacted: JSON value by value (it stays valid JSON), other text by lines."""
    if name.endswith(".json"):
        try:
            data = json.loads(content)
        except ValueError:
            return text(content)
        return json.dumps(_walk(data), indent=2, sort_keys=True) + "\n"
    return text(content)
