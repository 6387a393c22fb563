"""Guards shared by the GPU checks: is there an inventory at all, and is GPU i in it?"""

from __future__ import annotations

from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, skipped
from gpuaccept.facts import GpuFacts, HostFacts

# NVML error name -> (likely cause, fix). Names as pynvml spells them without NVML_ERROR_.
NVML_ERRORS: dict[str, tuple[str, str]] = {
    "LIBRARY_NOT_FOUND": (
        "libnvidia-ml.so.1 is not installed: there is no NVIDIA driver on this host",
        "install the NVIDIA driver the profile names (for Tesla P40: the R580 proprietary driver, e.g. "
        "nvidia-driver-580-server, not an -open package) and reboot"),
    "DRIVER_NOT_LOADED": (
        "the nvidia kernel module is not loaded (not built for this kernel, blocked by Secure Boot, or "
        "blacklisted)",
        "check `dmesg | grep NVRM`, rebuild the module for the running kernel (DKMS) or enrol its signing "
        "key, then `modprobe nvidia`"),
    "LIB_RM_VERSION_MISMATCH": (
        "the driver was upgraded without a reboot: the user-space library and the loaded kernel module "
        "have different versions (\"Driver/library version mismatch\")",
        "reboot the host (or unload and reload the nvidia kernel modules)"),
    "GPU_IS_LOST": (
        "a GPU stopped answering (fell off the bus: power, riser or seating; Xid 79)",
        "power the host off, reseat the card and its 8-pin EPS power cable, check the riser, then power on"),
    "RESET_REQUIRED": ("a GPU needs a reset after an error", "reboot the host"),
    "TIMEOUT": ("NVML did not answer: the driver is hung", "check `dmesg | grep NVRM` and reboot"),
    "NO_PERMISSION": ("this user may not open the NVIDIA devices", "run the suite as root or fix /dev/nvidia* permissions"),
}


# The one requirement that reports an NVML failure with its cause and fix; every other GPU requirement is
# not evaluated and points at it, so a missing driver reads as one fault, not twenty.
NVML_OWNER: dict[str, str] = {"LIBRARY_NOT_FOUND": "DRV-VERSION", "DRIVER_NOT_LOADED": "DRV-KMOD-MATCH",
                              "LIB_RM_VERSION_MISMATCH": "DRV-KMOD-MATCH"}


def nvml_owner(host: HostFacts) -> str | None:
    """The requirement that carries the NVML failure (GPU-COUNT unless a driver requirement explains it)."""
    if host.nvml.ok or host.nvml.error in ("MISSING_EVIDENCE", "UNREADABLE_EVIDENCE"):
        return None
    return NVML_OWNER.get(host.nvml.error or "", "GPU-COUNT")


def driver_fault(host: HostFacts) -> Verdict | None:
    """For requirements downstream of the driver (the container's GPUs, Ollama's discovery): when the host's
    driver itself is at fault, they are not evaluated and point at the driver requirement that says so;
    their own fixes (recreate the container...) would not apply."""
    owner = nvml_owner(host)
    if owner and owner.startswith("DRV-"):
        return not_evaluated(f"the host's NVIDIA driver is at fault (NVML {host.nvml.error}): see {owner}, "
                             "and fix that first")
    if host.kernel.notices_of("open-kmod-unsupported"):
        return not_evaluated("the open kernel module does not drive these GPUs: see DRV-KMOD-FLAVOR, and fix that "
                             "first")
    return None


def inventory_problem(host: HostFacts, requirement: str = "") -> Verdict | None:
    """Why no GPU requirement can be judged when the GPU inventory itself is unavailable: the failure, for
    the requirement that owns it (``nvml_owner``); "not evaluated: see <owner>" for every other one."""
    nvml = host.nvml
    if nvml.ok:
        return None
    if nvml.error == "MISSING_EVIDENCE":
        return not_evaluated(f"no GPU evidence: {nvml.detail}")
    if nvml.error == "UNREADABLE_EVIDENCE":  # damaged evidence says nothing about the cards
        return not_evaluated(nvml.detail)
    owner = nvml_owner(host)
    if requirement != owner:
        return not_evaluated(f"NVML could not list the GPUs ({nvml.error}): see {owner}")
    cause, fix = NVML_ERRORS.get(
        nvml.error or "", (f"NVML failed with {nvml.error}", "check `dmesg | grep NVRM` for driver errors"))
    detail = f" ({nvml.detail})" if nvml.detail else ""
    return failed(f"the GPU inventory could not be read: NVML {nvml.error}{detail}",
                  "NVML to list the GPUs", cause, fix)


def gpu_or_verdict(host: HostFacts, index: int) -> GpuFacts | Verdict:
    problem = inventory_problem(host)
    if problem is not None:
        return problem
    gpu = host.gpu(index)
    if gpu is None:
        return not_evaluated(f"GPU{index} is not visible to NVML ({len(host.gpus)} GPU(s) seen): see GPU-COUNT")
    return gpu


def unreported(gpu: GpuFacts, field: str, what: str) -> Verdict | None:
    if getattr(gpu, field) is None:
        why = gpu.why_missing(field)
        # NOT_SUPPORTED: this card or driver has no such thing, so the requirement does not apply to it.
        # Any other reason (no permission, a missing field in a capture) leaves it unjudged.
        verdict = skipped if "NOT_SUPPORTED" in why else not_evaluated
        return verdict(f"{gpu.label}: {what} not reported: {why}")
    return None


def gpu_with(host: HostFacts, index: int, field: str, what: str) -> GpuFacts | Verdict:
    """GPU ``index`` when it is visible and reports ``field``; otherwise the verdict that says why not."""
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    return unreported(gpu, field, what) or gpu
