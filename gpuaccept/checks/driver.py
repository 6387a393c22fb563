"""DRV-* checks: driver window, kernel/user version match, module flavour, nouveau."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from gpuaccept.checks.agreement import driver_disagreement
from gpuaccept.checks.inventory import NVML_ERRORS, inventory_problem, nvml_owner
from gpuaccept.checks.ollama import log_of_another_server, real_version
from gpuaccept.checks.server_identity import other_server
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed
from gpuaccept.data.ollama_driver_floors import FLOORS, floor_of
from gpuaccept.data.ollama_envconfig import LAST_RELEASE
from gpuaccept.facts import HostFacts
from gpuaccept.profile import Profile


def _upper(profile: Profile) -> str:
    below = profile.driver.below_version
    return f" and < {below} (profile driver.below_version)" if below else ""


def _ollama_floor(host: HostFacts, profile: Profile) -> tuple[str, str, str] | str:
    """(floor, what it is, why a driver below it fails) from the deployed Ollama's release, or why the
    profile's own floor applies instead."""
    if not profile.driver.follow_ollama:
        return "the profile does not follow Ollama (driver.follow_ollama = false)"
    if not profile.ollama.enabled:
        return "Ollama is not part of this profile (ollama.enabled = false)"
    o = host.ollama
    distrust = other_server(host) or log_of_another_server(o)
    if distrust:
        return f"which Ollama release is deployed is not known: {distrust}"
    release, said_by = (o.version, "API") if o.version else (o.log_version, "server log")
    release = release.strip()
    if not release:
        why = o.missing or o.error or o.log_missing or "no API or server-log evidence"
        return f"the deployed Ollama's release is not known ({why})"
    real = real_version(release.lstrip("v"))
    if isinstance(real, str):
        return f"the deployed Ollama's version {release[:40]!r} ({said_by}) cannot be used: {real}"
    floor = floor_of(release, real)
    if floor.rule is None:
        return f"Ollama {release} names no driver floor (the first that does is {FLOORS[0].since})"
    ccs = [g.compute_capability for g in host.gpus]
    readable = [c for c in ccs if isinstance(c, str) and re.fullmatch(r"\d{1,2}\.\d{1,2}", c)]
    if host.gpus and len(readable) == len(ccs):
        older = any(int(c.split(".")[0]) < 7 for c in readable)
        cards = f"compute capability {', '.join(sorted(set(readable)))}"
    else:  # a card that does not say may be one that needs the higher floor
        older = True
        cards = ("cards not every one of which reports a compute capability (the floor for compute capability "
                 "< 7 applies)")
    beyond = (f"; {release} is newer than {LAST_RELEASE}, the last release read, so its newest rule is assumed"
              if floor.beyond_table else "")
    rule = floor.rule
    value = rule.floor_for(older)
    what = f"Ollama {release} ({said_by}) on {cards}: {rule.source}{beyond}"
    verb = "drops the cards and runs the model on the CPU" if rule.enforced else "documents no support"
    return value, what, f"Ollama {release} {verb} below driver {value} for {cards} ({rule.where})"


def drv_version(host: HostFacts, profile: Profile) -> Verdict:
    if nvml_owner(host) == "DRV-VERSION":
        return inventory_problem(host, "DRV-VERSION")
    version = host.driver.nvml_version or host.driver.kernel_module_version
    if version is None:
        problem = inventory_problem(host)
        return problem or not_evaluated(f"driver version not reported: {host.driver.kernel_module_missing}")
    contradiction = driver_disagreement(host)
    if contradiction is not None:
        return not_evaluated(contradiction)
    spec, arch = profile.driver, profile.gpus.architecture
    ollama = _ollama_floor(host, profile)
    if isinstance(ollama, str):
        floor = spec.min_version
        expected = f">= {floor} (profile driver.min_version: {ollama}){_upper(profile)}"
        cause = (f"the driver is older than the profile's floor for {arch} (Ollama from 0.30.0 drops compute "
                 "capability < 7 GPUs below driver 570 and falls back to the CPU)")
    else:
        floor, what, cause = ollama
        expected = f">= {floor} ({what}){_upper(profile)}"
    try:
        v = Version(version)
    except InvalidVersion:
        return failed(f"driver version {version!r} cannot be read", expected, "an unusual driver build",
                      "install a released NVIDIA driver")
    measured = f"NVIDIA driver {version}"
    if v < Version(floor):
        return failed(measured, expected, cause,
                      f"install a driver in the window (for {arch}: the R580 branch, e.g. nvidia-driver-580-server) "
                      "and reboot")
    if spec.below_version and v >= Version(spec.below_version):
        return failed(measured, expected,
                      f"driver branches from {spec.below_version} on do not support {arch} GPUs "
                      "(R580 is the last branch for Maxwell, Pascal and Volta)",
                      f"install the newest driver below {spec.below_version} (R580, supported until June 2028) "
                      "and reboot")
    return passed(measured, expected)


def drv_kmod_match(host: HostFacts, profile: Profile) -> Verdict:
    driver = host.driver
    mismatch = host.kernel.notices_of("api-mismatch")
    expected = "the loaded kernel module and the user-space driver (NVML) at the same version"
    cause, fix = NVML_ERRORS["LIB_RM_VERSION_MISMATCH"]
    if host.nvml.error == "LIB_RM_VERSION_MISMATCH" or (mismatch and not host.nvml.ok):
        detail = ""
        if mismatch:
            values = mismatch[-1].values
            detail = f" (kernel log: client {values.get('client')}, kernel module {values.get('kernel')})"
        kernel = driver.kernel_module_version or "unknown"
        return failed(f"NVML reports a driver/library version mismatch; kernel module {kernel}{detail}",
                      expected, cause, fix)
    if nvml_owner(host) == "DRV-KMOD-MATCH":
        return inventory_problem(host, "DRV-KMOD-MATCH")
    if driver.kernel_module_version is None:
        return not_evaluated(f"kernel module version not known: {driver.kernel_module_missing}")
    if driver.nvml_version is None:
        problem = inventory_problem(host)
        return problem or not_evaluated("user-space driver version not reported")
    measured = f"kernel module {driver.kernel_module_version}, NVML {driver.nvml_version}"
    if driver.kernel_module_version != driver.nvml_version:
        return failed(measured, expected, cause, fix)
    return passed(measured, expected)


def drv_kmod_flavor(host: HostFacts, profile: Profile) -> Verdict:
    want = profile.driver.kernel_module_flavor
    unsupported = host.kernel.notices_of("open-kmod-unsupported")
    expected = f"the {want} kernel module (profile driver.kernel_module_flavor)"
    open_cause = (f"the open kernel module only drives GPUs with a GSP (Turing and later); "
                  f"{profile.gpus.architecture} needs the proprietary module")
    open_fix = ("remove the -open driver packages and install the proprietary ones "
                "(e.g. nvidia-driver-580-server), or pick the proprietary module in the .run installer "
                "(`-m=kernel`), then reboot")
    if unsupported:
        buses = ", ".join(sorted({n.bus_id or "?" for n in unsupported}))
        return failed(f"kernel log: GPU {buses} not supported by the open nvidia.ko (no GSP)", expected,
                      open_cause, open_fix)
    flavor = host.driver.kernel_module_flavor
    if flavor is None:
        return not_evaluated(f"kernel module flavour not known: {host.driver.kernel_module_missing}")
    measured = f"the {flavor} kernel module {host.driver.kernel_module_version} is loaded"
    if want == "any":
        return passed(measured, "any flavour (profile driver.kernel_module_flavor = \"any\")")
    if flavor != want:
        if flavor == "open":
            return failed(measured, expected, open_cause, open_fix)
        return failed(measured, expected, "the profile asks for the open module",
                      "install the -open driver packages, or change the profile")
    return passed(measured, expected)


def drv_nouveau(host: HostFacts, profile: Profile) -> Verdict:
    loaded = host.kernel.nouveau_loaded
    if loaded is None:
        return not_evaluated(f"loaded kernel modules not known: {host.kernel.modules_missing}")
    if loaded:
        return failed("the nouveau module is loaded", "nouveau not loaded",
                      "the open-source nouveau driver claimed the cards before the NVIDIA driver",
                      "blacklist nouveau (`blacklist nouveau` and `options nouveau modeset=0` in "
                      "/etc/modprobe.d/blacklist-nouveau.conf), rebuild the initramfs, reboot")
    return passed("nouveau is not loaded", "nouveau not loaded")
