"""``systemctl show UNIT --property=...`` output -> the unit's state, as systemd names it.

The output is ``KEY=value`` lines. A unit that is not installed still answers, with
``LoadState=not-found`` (openSUSE/supportutils pull request #182 shows it for nvidia-persistenced).
"""

from __future__ import annotations

from gpuaccept.facts import UnitFacts

_KEYS = {"LoadState": "load_state", "UnitFileState": "unit_file_state", "ActiveState": "active_state",
         "SubState": "sub_state"}


def parse_systemctl_show(text: str) -> UnitFacts:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in _KEYS:
            values[_KEYS[key]] = value.strip()
    if "load_state" not in values:
        raise ValueError("no LoadState= line: not the output of `systemctl show`")
    return UnitFacts(**values)
