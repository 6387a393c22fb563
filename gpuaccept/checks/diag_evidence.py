"""The diag tier's evidence guards, shared by its checks: is there a diag record, did the tier run, is the record
of these cards and of this profile's measurement settings?

One root cause, one message: when the tier could not run at all (no CUDA driver, no bindings),
PCIE-BANDWIDTH carries the failure with its fix and the others are not evaluated, pointing at it.
"""

from __future__ import annotations

import math

from gpuaccept.checks.inventory import gpu_or_verdict
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated
from gpuaccept.facts import GpuFacts, HostFacts
from gpuaccept.facts_diag import DiagFacts, DiagGpu
from gpuaccept.profile import Profile

OWNER = "PCIE-BANDWIDTH"


def tier_problem(host: HostFacts, requirement: str) -> Verdict | None:
    """Why no diag requirement can be judged: no evidence, or a tier that did not run (the owner fails)."""
    diag = host.diag
    if diag is None:
        return not_evaluated(f"no diag evidence: {host.diag_missing}")
    if diag.busy and not diag.forced:  # refused before anything was allocated: the host serves, it is no fault
        return not_evaluated(f"the diag tier did not run: other compute processes hold the GPUs "
                             f"({'; '.join(diag.busy)}); nothing was allocated. Stop them (e.g. `docker stop "
                             "ollama`) and run -m diag again, or pass --diag-force to test beside them")
    if not diag.error:
        return None
    if requirement != OWNER:
        return not_evaluated(f"the diag tier did not run ({diag.error}): see {OWNER}")
    if "not installed" in diag.error:
        cause, fix = ("the CUDA Python bindings the diag tier uses are not installed with the suite",
                      "pip install -e '.[diag]' in the suite's environment, then run -m diag again")
    elif "did not finish" in diag.error:
        cause, fix = ("a GPU or the driver stopped answering under the tier's load",
                      "check GPU-XID and `dmesg | grep -i xid`; reseat the card and its power cable, then run again")
    elif "CUDA_ERROR_NO_DEVICE" in diag.error:  # NVML lists GPUs (checked above), CUDA is shown none
        hidden = diag.cuda.get("visible_devices")
        cause = ("CUDA is shown no GPU although NVML lists them"
                 + (f": CUDA_VISIBLE_DEVICES={hidden!r} in the suite's environment hides them" if hidden is not None
                    else " (a container or cgroup without the GPU devices, or CUDA_VISIBLE_DEVICES)"))
        fix = "run the suite with CUDA_VISIBLE_DEVICES unset, on the host itself (not in a container without GPUs)"
    elif "PTX" in diag.error or "kernels" in diag.error:
        cause, fix = ("the suite's kernels could not be loaded", "reinstall the suite (pip install -e '.[diag]')")
    else:
        cause, fix = ("no usable CUDA driver on this host (the tier needs libcuda.so.1 from the NVIDIA driver)",
                      "install the NVIDIA driver the profile names (see DRV-VERSION) and reboot")
    return failed(f"the diag tier could not run: {diag.error}", "the tier to run on every GPU", cause, fix)


def diag_gpu(host: HostFacts, index: int, requirement: str) -> tuple[GpuFacts, DiagFacts, DiagGpu] | Verdict:
    # A tier that could not start is judged first: with -m diag alone, no driver requirement runs to say why.
    if host.diag is not None and host.diag.error:
        return tier_problem(host, requirement)
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    problem = tier_problem(host, requirement)
    if problem is not None:
        return problem
    diag = host.diag
    tested = diag.gpu(index)
    if tested is None:
        return not_evaluated(f"{gpu.label} is not in diag.json (it lists GPUs {[g.index for g in diag.gpus]}): "
                             "the record is of another host or another run")
    if not tested.bus_id:
        return not_evaluated(f"{gpu.label}: diag.json does not say which card it tested as GPU{index} (no bus id): "
                             "the record cannot be matched to this card")
    if gpu.bus_id and tested.bus_id != gpu.bus_id:
        return not_evaluated(f"{gpu.label}: diag.json tested {tested.bus_id} as GPU{index}: the record is of "
                             "other cards")
    if tested.missing:
        return not_evaluated(f"{gpu.label}: the diag tier could not test it: {tested.missing}")
    return gpu, diag, tested


# The settings that shape a measurement (not the floors it is judged against): a record made with other
# values than the profile's measured something else. soak_s is left out: a shortened soak is GPU-SOAK's to report.


# The settings that shape a measurement (not the floors it is judged against): a record made with other
# values than the profile's measured something else. soak_s is left out: a shortened soak is GPU-SOAK's to report.
MEASURED_WITH = {"PCIE-BANDWIDTH": ("copy_mib", "copy_seconds"), "GPU-P2P": ("copy_mib", "copy_seconds"),
                 "GPU-SOAK": ("soak_buffer_mib", "sample_hz")}


def other_settings(diag: DiagFacts, profile: Profile, requirement: str) -> Verdict | None:
    """Not evaluated when diag.json was measured with other settings than the profile's, naming them."""
    settings = diag.settings if isinstance(diag.settings, dict) else {}
    changed = []
    for key in MEASURED_WITH.get(requirement, ()):
        if key not in settings:
            continue
        value, want = settings[key], getattr(profile.diag, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isclose(value, want, rel_tol=1e-9):
            changed.append(f"{key} {value!r} in diag.json, {want!r} in the profile")
    if not changed:
        return None
    return not_evaluated(f"diag.json was measured with other settings than the profile's [diag]: {'; '.join(changed)}: "
                         "run -m diag again with this profile")


def foreign(host: HostFacts) -> str:
    """diag.json's GPUs whose bus id is not the one NVML gives that index: a record of other cards."""
    known = {g.index: g.bus_id for g in host.gpus}
    return ", ".join(f"{g.bus_id} as GPU{g.index}" for g in host.diag.gpus
                     if g.bus_id and known.get(g.index) and g.bus_id != known[g.index])


def copy_link_samples(host: HostFacts, index: int) -> list[int]:
    """PCIe generations NVML sampled on GPU ``index`` while its own pinned copies ran (for PCIE-GEN)."""
    diag = host.diag
    if diag is None or diag.error or foreign(host):  # another machine's links say nothing of these
        return []
    return [s.pcie_gen for s in diag.copy_samples(index) if s.pcie_gen]
