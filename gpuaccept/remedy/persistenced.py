"""Persistence that lasts: enable nvidia-persistenced at boot and start it (systemd), as NVIDIA recommends.

``nvmlDeviceSetPersistenceMode`` (what ``nvidia-smi -pm 1`` does) is lost at the next reboot (NVML
documentation); the daemon, enabled at boot, brings the GPUs' state back every time. Where the unit is
not installed the plan falls back to the NVML setting and says that it will not survive a reboot.
"""

from __future__ import annotations

import testinfra

from gpuaccept import evidence
from gpuaccept.errors import RemedyError
from gpuaccept.facts import UnitFacts
from gpuaccept.parse.systemd import parse_systemctl_show
from gpuaccept.sources import host as host_commands

UNIT = "nvidia-persistenced.service"
ENABLE = "systemctl enable --now nvidia-persistenced"


class PersistencedError(RemedyError):
    pass


def state(timeout_s: float) -> UnitFacts:
    outcome = host_commands.collect(testinfra.get_host("local://"), evidence.PERSISTENCED, timeout_s)
    if outcome.text is None:
        return UnitFacts(missing=outcome.reason)
    try:
        return parse_systemctl_show(outcome.text)
    except ValueError as err:
        return UnitFacts(missing=str(err))


def enable(timeout_s: float) -> str:
    """Run ``systemctl enable --now`` and return the unit's state afterwards; raise when it did not take."""
    result = host_commands.run(testinfra.get_host("local://"), ENABLE, timeout_s)
    after = state(timeout_s)
    if result.rc != 0 or not (after.starts_at_boot and after.running):
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise PersistencedError(f"`{ENABLE}` exited {result.rc}" + (f": {said[0][:200]}" if said else "")
                                + f"; nvidia-persistenced is {after.describe()}")
    return f"`{ENABLE}`: nvidia-persistenced is {after.describe()}: persistence survives a reboot"
