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


def inventory_problem(host: HostFacts) -> Verdict | None:
    """A verdict for every GPU requirement when the GPU inventory itself is unavailable."""
    nvml = host.nvml
    if nvml.ok:
        return None
    if nvml.error == "MISSING_EVIDENCE":
        return not_evaluated(f"no GPU evidence: {nvml.detail}")
    if nvml.error == "UNREADABLE_EVIDENCE":  # damaged evidence says nothing about the cards
        return not_evaluated(nvml.detail)
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
