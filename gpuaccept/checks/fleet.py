"""FLEET-CONSISTENT: a host of a fleet run against the other hosts of its profile (gpuaccept.fleet.consistency)."""

from __future__ import annotations

from gpuaccept import drift
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped
from gpuaccept.facts import HostFacts
from gpuaccept.fleet import consistency
from gpuaccept.profile import Profile


def fleet_consistent(host: HostFacts, profile: Profile) -> Verdict:
    record = host.fleet_peers
    if record is None:
        if host.fleet_peers_missing and host.fleet_peers_missing.startswith("evidence unreadable"):
            return not_evaluated(host.fleet_peers_missing)
        return skipped(f"a fleet run's requirement (--hosts): {host.fleet_peers_missing or 'not a fleet run'}")
    this = record.get("host")
    peers = record.get("hosts")
    if not isinstance(this, str) or not isinstance(peers, dict) or this not in peers:
        return not_evaluated("fleet-peers.json names no figures of this host among its fleet's")
    # This host is judged on its own evidence; the file gives only the other hosts' figures. Its entry there
    # must say what the evidence says: a file of another host, or edited, is no comparison.
    mine = drift.figures(host, profile.ollama.model)
    filed = peers[this] if isinstance(peers[this], dict) else {}
    differs = [name for key, name in consistency.AGREED if filed.get(key) != mine.get(key)]
    if consistency.vbios(filed) != consistency.vbios(mine):
        differs.append("VBIOS")
    if differs:
        return not_evaluated(f"fleet-peers.json's figures of this host ({this}) contradict its evidence on "
                             f"{', '.join(differs)}: the file is of another host, or changed")
    found = consistency.compare(this, {**peers, this: mine}, profile.fleet.max_outlier_mads,
                                profile.fleet.min_outlier_pct)
    if found.peers == 0:
        return skipped(f"no other host of profile {profile.name} in this fleet run to agree with")
    if not found.compared:
        return not_evaluated(f"nothing of this host could be held against the {found.peers} other host(s) of "
                             f"profile {profile.name}: the values are not reported")
    expected = (f"the value most of the {found.peers + 1} hosts of profile {profile.name} share, for "
                f"{', '.join(found.compared)}; no measured figure an outlier (profile fleet.max_outlier_mads)")
    if found.odd:
        return failed(f"{this}: " + "; ".join(found.odd), expected,
                      "this host was installed or updated otherwise than its fleet (the values named)",
                      "bring it to the value its fleet agrees on (driver, VBIOS, Ollama, image or model), or "
                      "find why it is slower than its peers, and run the fleet again")
    return passed(f"{this} agrees with the {found.peers} other host(s) of profile {profile.name} on "
                  f"{', '.join(found.compared)}", expected)
