"""PWR-* checks: power limits and the PSU budget."""

from __future__ import annotations

from gpuaccept.checks.inventory import gpu_with, inventory_problem
from gpuaccept.checks.verdict import Verdict, failed, passed, skipped
from gpuaccept.facts import HostFacts
from gpuaccept.profile import Profile

_TOLERANCE_W = 0.5


def pwr_limit(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_with(host, index, "power_enforced_limit_w", "enforced power limit")
    if isinstance(gpu, Verdict):
        return gpu
    want = profile.power.limit_w
    default = gpu.power_default_limit_w
    measured = f"{gpu.label} enforced power limit {gpu.power_enforced_limit_w:g} W (default {default or '?'} W)"
    expected = f"the default limit, {want:g} W (profile power.limit_w)"
    if default is not None and abs(default - want) > _TOLERANCE_W:
        return failed(measured, expected, "the card's default limit differs from the model's (other model or "
                      "board firmware)", "check GPU-MODEL and GPU-IDENTICAL")
    if abs(gpu.power_enforced_limit_w - (default or want)) > _TOLERANCE_W:
        return failed(measured, expected, "a power cap was set (`nvidia-smi -pl`) or the card is power-braked",
                      f"reset the cap: `nvidia-smi -i {gpu.index} -pl {default or want:g}` (root), and remove any "
                      "boot script that sets it")
    return passed(measured, expected)


def pwr_budget(host: HostFacts, profile: Profile) -> Verdict:
    power = profile.power
    if not power.psu_watts:
        return skipped("PSU capacity not given: pass --psu-watts W (or set power.psu_watts in the profile)")
    problem = inventory_problem(host)
    if problem is not None:
        return problem
    gpu_w = sum(g.power_max_limit_w or g.power_default_limit_w or power.limit_w for g in host.gpus)
    need = gpu_w + power.host_base_w
    allowed = power.psu_watts * power.psu_derating
    measured = (f"{len(host.gpus)} GPU(s) at max limit {gpu_w:g} W + host {power.host_base_w:g} W "
                f"= {need:g} W")
    expected = (f"<= {allowed:g} W ({power.psu_watts:g} W PSU x {power.psu_derating:g}; "
                "profile power.psu_watts, power.psu_derating)")
    if need > allowed:
        return failed(measured, expected, "the power supply is too small for the cards at full load",
                      "fit a larger PSU, or deliberately lower the GPU power limits and record it in the profile")
    return passed(measured, expected)
