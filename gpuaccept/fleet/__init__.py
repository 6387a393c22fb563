"""Fleet acceptance: the same suite over many servers from one control node, through testinfra's hosts.

A fleet run is one where testinfra's ``--hosts`` names anything but this machine (``local://``): every
acceptance case is then parametrized per host (fixtures.fleet), each host's evidence comes through its
connection (gpuaccept.fleet.remote), and the run folder ``fleet-<UTC>/`` holds one single-host folder
per host plus fleet.json and fleet.html (gpuaccept.fleet.record).
"""

from __future__ import annotations

import re


def specs(hosts_option: str | None) -> list[str]:
    """testinfra's ``--hosts`` as it splits it: comma-separated host specs."""
    return [s.strip() for s in (hosts_option or "").split(",") if s.strip()]


def is_fleet(hosts_option: str | None) -> bool:
    """A fleet run: ``--hosts`` names at least one host that is not this machine. No ``--hosts``, or only
    ``local://``, keeps the single-host run exactly as it is."""
    return any(not s.startswith("local://") for s in specs(hosts_option))


def folder_name(host_id: str) -> str:
    """A host's folder in the fleet record: ``docker://gpu01`` -> ``docker-gpu01``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", host_id.replace("://", "-", 1)).strip("_.") or "host"


_GPU = re.compile(r"^(?P<host>.+)-gpu(?P<n>\d+)$")


def split_case(params: str, host_ids) -> tuple[str, int | None] | None:
    """A fleet case's parameter id -> (host id, GPU index or None): ``docker://a-gpu1`` -> (``docker://a``, 1).

    A host id is matched whole, never as a prefix (``docker://a`` is not ``docker://a-b``'s host)."""
    if params in host_ids:
        return params, None
    m = _GPU.match(params)
    if m and m["host"] in host_ids:
        return m["host"], int(m["n"])
    return None


def clashes(host_ids) -> list[str]:
    """Host ids that would make case ids ambiguous: one is another's ``-gpu<N>`` case id."""
    ids = set(host_ids)
    return sorted(h for h in ids if (m := _GPU.match(h)) and m["host"] in ids)
