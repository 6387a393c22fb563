"""GPU-* checks: the cards themselves."""

from __future__ import annotations

from gpuaccept.checks.agreement import identity_disagreement, memory_disagreement
from gpuaccept.checks.inventory import gpu_or_verdict, gpu_with, inventory_problem, unreported
from gpuaccept.checks.kernel_xid import gpu_xid  # noqa: F401 (GPU-XID, where the acceptance test finds it)
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped, warned
from gpuaccept.data.older_branch_memory import older_branch
from gpuaccept.facts import HostFacts
from gpuaccept.profile import Profile


def gpu_count(host: HostFacts, profile: Profile) -> Verdict:
    problem = inventory_problem(host, "GPU-COUNT")
    if problem is not None:
        return problem
    contradiction = identity_disagreement(host)
    if contradiction is not None:
        return not_evaluated(contradiction)
    seen, want = len(host.gpus), profile.gpus.count
    expected = f"{want} GPU(s) (profile gpus.count)"
    if seen == want:
        return passed(f"NVML sees {seen} GPU(s)", expected)
    on_bus = len(host.pci.gpus) if host.pci.missing is None else None
    if seen > want:
        return failed(f"NVML sees {seen} GPUs", expected, "more cards are installed than the profile names",
                      "check the profile (--expect-gpus N) or remove the extra card")
    disagreement = pci_disagreement(host) if on_bus is not None else None
    if disagreement is not None:  # no cause can be read from sources that contradict each other
        return failed(f"NVML sees {seen} GPU(s)", expected, f"not known: {disagreement} (see GPU-PCI-COUNT)",
                      "capture the evidence again in one run on this machine, then judge it")
    if on_bus is not None and on_bus > seen:
        cause, fix = _init_failure(host)
        if not host.kernel.notices_of("legacy-branch"):
            fix = "see GPU-PCI-COUNT for the card the driver did not bring up"
        return failed(f"NVML sees {seen} GPU(s) but {on_bus} are on the PCI bus", expected, cause, fix)
    return failed(f"NVML sees {seen} GPU(s)", expected,
                  "a card is not seated or not powered (the P40 needs the 8-pin EPS/CPU cable), or is disabled "
                  "in the BIOS", "power off, reseat the card in another slot if needed, connect its power cable")


def _init_failure(host: HostFacts) -> tuple[str, str]:
    """Why the driver did not bring a card up, from the kernel's notices, and that cause's own fix (not a list
    of guesses): one (cause, fix) per notice, the first that the kernel log shows."""
    kernel = host.kernel
    reseat = ("power off, reseat the card and its 8-pin EPS power cable (try another slot or riser); if "
              "`dmesg | grep NVRM` still shows the failure, replace (RMA) the card")
    legacy = kernel.notices_of("legacy-branch")
    if legacy:  # the driver ignores the cards on purpose: no fault of the card or the BIOS
        v = legacy[0].values
        branch = f"the NVIDIA {v['branch']}.xx legacy branch" if v.get("branch") else "an older driver branch"
        return (f"the installed driver does not drive these cards: the kernel says the {v.get('card') or v.get('card2')} "
                f"is supported through {branch} (see DRV-VERSION)",
                f"install {branch} (for Pascal: R580, e.g. nvidia-driver-580-server) and reboot: see DRV-VERSION")
    if kernel.notices_of("open-kmod-unsupported"):
        return ("the open kernel module refuses these cards (they have no GSP): see DRV-KMOD-FLAVOR",
                "install the proprietary (non -open) driver packages and reboot: see DRV-KMOD-FLAVOR")
    if kernel.notices_of("bar1-zero"):
        return ("the kernel could not map BAR1 (\"BAR1 is 0M\"): Above 4G Decoding is off in the BIOS",
                "enable Above 4G Decoding (and Resizable BAR where offered) in the BIOS, then reboot")
    if kernel.notices_of("rm-init-adapter-failed"):
        buses = ", ".join(sorted({n.bus_id or "?" for n in kernel.notices_of("rm-init-adapter-failed")}))
        return f"the driver failed to initialise the card (dmesg: RmInitAdapter failed on {buses})", reseat
    if kernel.notices_of("fallen-off-bus") or any(e.judged_as == 79 for e in kernel.xid_events):
        return "a card fell off the bus (dmesg; see GPU-XID)", reseat
    return ("the driver did not initialise the card (look for RmInitAdapter or BAR errors in dmesg)",
            "check `dmesg | grep NVRM` for the card's error; enable Above 4G Decoding in the BIOS if BAR1 "
            "could not be mapped; bind the card to the nvidia driver")


def pci_disagreement(host: HostFacts, unlisted_only: bool = False) -> str | None:
    """Where NVML and the PCI listing cannot both be of this machine at one moment, or None: NVML reports
    a card the listing lacks, or lists a card the listing shows bound to another driver (NVML can only
    list a card the nvidia driver holds)."""
    if not host.nvml.ok or host.pci.missing is not None:
        return None
    bus = host.pci.gpus
    listing = ", ".join(d.bus_id for d in bus) or "none"
    unlisted = [g for g in host.gpus if g.bus_id not in {d.bus_id for d in bus}]
    if unlisted:
        names = ", ".join(g.label if g.bus_id else f"GPU{g.index} (no bus id)" for g in unlisted)
        return (f"the sources disagree: NVML reports {names}, which is not among the NVIDIA GPUs of the PCI "
                f"listing {host.pci.source} ({listing}); one capture is stale or of another machine")
    if unlisted_only:
        return None
    in_nvml = {g.bus_id for g in host.gpus}
    other = [d for d in bus if d.bus_id in in_nvml and d.driver_in_use and d.driver_in_use != "nvidia"]
    if other:
        names = ", ".join(f"{d.bus_id} ({d.driver_in_use})" for d in other)
        return f"NVML lists {names} but {host.pci.source} shows it bound to another driver: the sources disagree"
    return None


def gpu_pci_count(host: HostFacts, profile: Profile) -> Verdict:
    if host.pci.missing is not None:
        return not_evaluated(f"the PCI bus could not be read: {host.pci.missing}")
    bus = host.pci.gpus
    want = profile.gpus.count
    expected = f"{want} NVIDIA GPU(s) on the bus and in NVML (profile gpus.count)"
    listing = ", ".join(d.bus_id for d in bus) or "none"
    unlisted = pci_disagreement(host, unlisted_only=True)
    if unlisted is not None:
        return not_evaluated(unlisted)
    if len(bus) < want:
        return failed(f"{len(bus)} NVIDIA GPU(s) on the PCI bus ({listing})", expected,
                      "a card is not seated, not powered (8-pin EPS/CPU cable) or its slot is disabled",
                      "power off, reseat the card or try another slot, connect its power cable")
    problem = inventory_problem(host)
    if problem is not None:
        return problem
    other_driver = pci_disagreement(host)
    if other_driver is not None:
        return not_evaluated(other_driver)
    in_nvml = {g.bus_id for g in host.gpus}
    missing = [d for d in bus if d.bus_id not in in_nvml]
    if missing or len(bus) != len(host.gpus):
        names = ", ".join(f"{d.bus_id} (driver in use: {d.driver_in_use or 'none'})" for d in missing) or listing
        cause, fix = _init_failure(host)
        if any(d.driver_in_use and d.driver_in_use != "nvidia" for d in missing):
            fix = "unbind the card from the driver shown (e.g. vfio-pci passthrough) and bind it to nvidia"
        return failed(f"{len(bus)} NVIDIA GPU(s) on the bus but {len(host.gpus)} in NVML; not in NVML: {names}",
                      expected, cause, fix)
    if len(bus) > want:
        return failed(f"{len(bus)} NVIDIA GPUs on the PCI bus ({listing})", expected,
                      "more cards are installed than the profile names", "check the profile or remove the card")
    return passed(f"{len(bus)} NVIDIA GPU(s) on the bus ({listing}), all in NVML", expected)


def gpu_model(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_with(host, index, "name", "name")
    if isinstance(gpu, Verdict):
        return gpu
    want_id = profile.pci_device_id
    expected = f"{profile.gpus.name} [10de:{want_id:04x}] (profile gpus.name, gpus.pci_device_id)"
    device = f" [10de:{gpu.pci_device_id:04x}]" if gpu.pci_device_id is not None else ""
    measured = f"{gpu.label} is {gpu.name}{device}"
    if gpu.name != profile.gpus.name or (gpu.pci_device_id is not None and gpu.pci_device_id != want_id):
        return failed(measured, expected, "a different card is installed than the profile names",
                      f"install a {profile.gpus.name}, or run with the profile for this card (--profile)")
    # The right name and id with another architecture or compute capability: the evidence contradicts itself.
    odd = [f"{what} {have!r} (the profile's card: {want!r})" for what, have, want in (
        ("architecture", gpu.architecture, profile.gpus.architecture),
        # the profile names the compute capability for Ollama's discovery: only where it checks Ollama
        ("compute capability", gpu.compute_capability,
         profile.ollama.compute_capability if profile.ollama.enabled else None))
        if have and want and have != want]
    if odd:
        return not_evaluated(f"{measured} but reports {'; '.join(odd)}: the sources contradict each other")
    return passed(measured, expected)


def gpu_identical(host: HostFacts, profile: Profile) -> Verdict:
    problem = inventory_problem(host)
    if problem is not None:
        return problem
    contradiction = identity_disagreement(host)
    if contradiction is not None:
        return not_evaluated(f"{contradiction}: see GPU-COUNT")
    if len(host.gpus) < 2:
        if profile.gpus.count > 1:
            return not_evaluated(f"{len(host.gpus)} GPU visible of {profile.gpus.count}: see GPU-COUNT")
        return skipped(f"{len(host.gpus)} GPU visible: nothing to compare")
    models = {g.name for g in host.gpus}
    vbios = {g.label: g.vbios_version for g in host.gpus}
    listing = ", ".join(f"{label} {v or 'not reported'}" for label, v in vbios.items())
    expected = "one model and one VBIOS version on every GPU"
    if len(models) > 1:
        return failed(f"models differ: {', '.join(sorted(str(m) for m in models))}", expected,
                      "cards of different models are installed", "install identical cards")
    if not all(vbios.values()):  # None or "": a version nobody reported cannot be compared
        return not_evaluated(f"VBIOS version not reported for every GPU ({listing})")
    if len(set(vbios.values())) > 1:
        return failed(f"VBIOS versions differ: {listing}", expected,
                      "the cards carry different firmware (different batches or a reflashed card)",
                      "flash the same VBIOS on every card with the vendor's tool, or record a waiver in the "
                      "profile ([waivers] GPU-IDENTICAL = \"reason\")")
    return passed(f"all {len(host.gpus)} GPUs are {models.pop()} with VBIOS {next(iter(vbios.values()))}", expected)


def gpu_memory(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_with(host, index, "memory_total_mib", "total memory")
    if isinstance(gpu, Verdict):
        return gpu
    contradiction = memory_disagreement(host, gpu)
    if contradiction is not None:
        return not_evaluated(contradiction)
    spec = profile.gpus
    if gpu.ecc_enabled is None:
        want, mode = None, "ECC mode not reported"
    else:
        want = spec.memory_mib_ecc_on if gpu.ecc_enabled else spec.memory_mib_ecc_off
        mode = "ECC on" if gpu.ecc_enabled else "ECC off"
    measured = f"{gpu.label} has {gpu.memory_total_mib} MiB ({mode})"
    tol = spec.memory_tolerance_mib
    if want is None:
        candidates = (spec.memory_mib_ecc_on, spec.memory_mib_ecc_off)
        if all(abs(gpu.memory_total_mib - c) > tol for c in candidates):
            return failed(measured, f"{candidates[0]} or {candidates[1]} MiB", "a faulty or different card",
                          "compare with `nvidia-smi -q -d MEMORY`; replace the card")
        want = min(candidates, key=lambda c: abs(gpu.memory_total_mib - c))
    expected = f"{want} MiB ±{tol} for {mode} (profile gpus.memory_mib_ecc_{'on' if want == spec.memory_mib_ecc_on else 'off'})"
    if abs(gpu.memory_total_mib - want) > tol:
        branches = older_branch(gpu.pci_device_id, gpu.ecc_enabled, gpu.memory_total_mib)
        if branches is not None:  # the figure of an old driver, not a card short of memory: no RMA
            return not_evaluated(f"{measured}: the figure the {branches} driver branches report for this card, "
                                 f"where today's report {want} MiB; judged once the driver is in the profile's "
                                 "window (see DRV-VERSION)")
        return failed(measured, expected, "part of the card's memory is unavailable (faulty card) or it is "
                      "another model", "run a GPU memory test and replace (RMA) the card")
    others = [g for g in host.gpus if g.index != index and g.memory_total_mib is not None
              and abs(g.memory_total_mib - gpu.memory_total_mib) > tol]
    if others:
        listing = ", ".join(f"{g.label} {g.memory_total_mib} MiB (ECC {'on' if g.ecc_enabled else 'off'})"
                            for g in others)
        return failed(f"{measured} but {listing}", "equal memory on every GPU",
                      "ECC mode differs between the cards",
                      "set the same ECC mode on every card (`nvidia-smi -i N -e 0|1`) and reboot")
    return passed(measured, expected)


def gpu_persistence(host: HostFacts, index: int, profile: Profile) -> Verdict:
    """On now (the mode, or nvidia-persistenced holding the GPU), and kept across reboots: NVML's setting is
    lost at reboot; only nvidia-persistenced enabled at boot (NVIDIA's recommended way) brings it back."""
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    if not profile.gpus.persistence:
        return skipped("the profile does not ask for persistence mode (gpus.persistence = false)")
    unit = host.persistenced
    daemon = f"nvidia-persistenced: {unit.describe()}"
    if gpu.persistence_mode is None and not unit.running:
        missing = unreported(gpu, "persistence_mode", "persistence mode")
        if missing:
            return missing
    expected = ("persistence mode on (or nvidia-persistenced running), with nvidia-persistenced enabled at boot "
                "so it survives a reboot (profile gpus.persistence)")
    enable = "`systemctl enable --now nvidia-persistenced`, or run `pytest acceptance/ --remediate` as root"
    if not gpu.persistence_mode and not unit.running:
        if unit.starts_at_boot:
            cause = "nvidia-persistenced is enabled but not running (it failed or was stopped: see `journalctl -u nvidia-persistenced`)"
        elif unit.installed:
            cause = "nvidia-persistenced is installed but not enabled, so the driver unloads the GPU state between jobs"
        elif unit.missing is None:
            cause = "nvidia-persistenced is not installed, so the driver unloads the GPU state between jobs"
        else:
            cause = "nvidia-persistenced is not running, so the driver unloads the GPU state between jobs"
        fix = enable if unit.installed or unit.missing else (
            "install the driver's nvidia-persistenced (its unit comes with the driver packages), then " + enable)
        return failed(f"{gpu.label} persistence mode is off; {daemon}", expected,
                      cause + " (slow first call, lost settings)", fix)
    now = "persistence mode is on" if gpu.persistence_mode else "nvidia-persistenced holds the GPU (mode shown off)"
    measured = f"{gpu.label} {now}; {daemon}"
    if unit.missing is not None:
        # On now, but whether it lasts is half the requirement: unknown is not evaluated, never a pass.
        return not_evaluated(f"{measured}; whether it survives a reboot is unknown: the state of "
                             "nvidia-persistenced was not read (check `systemctl is-enabled nvidia-persistenced`)")
    if not unit.starts_at_boot:
        return warned(measured, expected, "it is lost at the next reboot: set through NVML or `nvidia-smi -pm 1`, "
                      "and nvidia-persistenced does not start at boot",
                      "`systemctl enable nvidia-persistenced` (install it first if it is missing)")
    return passed(measured, expected, f"{measured}: survives a reboot.")


def gpu_ecc(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    if gpu.ecc_enabled is False:
        return skipped(f"{gpu.label}: ECC is disabled, so there are no ECC error counters to check")
    # Both counters, or no verdict: a counter that could not be read is unknown, never zero.
    missing = (unreported(gpu, "ecc_uncorrected_volatile", "uncorrectable ECC count since boot")
               or unreported(gpu, "ecc_uncorrected_aggregate", "uncorrectable ECC count (lifetime)"))
    if missing:
        return missing
    volatile, aggregate = gpu.ecc_uncorrected_volatile, gpu.ecc_uncorrected_aggregate
    measured = f"{gpu.label} uncorrectable ECC errors: {volatile} since boot, {aggregate} lifetime"
    if volatile or aggregate:
        return failed(measured, "0", "the card's memory is failing",
                      "check GPU-RETIRED; replace (RMA) the card")
    return passed(measured, "0")


def gpu_retired(host: HostFacts, index: int, profile: Profile) -> Verdict:
    """Memory health: page retirement (up to Volta... Turing) or row remapping (Ampere on)."""
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    xid63 = [e for e in host.kernel.xid_events if e.number == 63 and gpu.bus_id and
             gpu.bus_id.lower().startswith(e.bus_id.lower().split(".")[0])]
    note = f"; Xid 63 logged {len(xid63)} time(s)" if xid63 else ""
    if gpu.remapped_rows_pending is not None:
        return _remapped_rows(gpu, note)
    if gpu.retired_pages_pending is None and "NOT_SUPPORTED" in gpu.why_missing("retired_pages_pending") \
            and "NOT_SUPPORTED" not in gpu.why_missing("remapped_rows_pending"):
        return not_evaluated(f"{gpu.label}: page retirement is not supported and remapped rows were not "
                             f"reported: {gpu.why_missing('remapped_rows_pending')}")
    missing = (unreported(gpu, "retired_pages_pending", "page retirement state")
               or unreported(gpu, "retired_pages_sbe", "pages retired for single-bit errors")
               or unreported(gpu, "retired_pages_dbe", "pages retired for double-bit errors"))
    if missing:
        return missing
    sbe, dbe = gpu.retired_pages_sbe, gpu.retired_pages_dbe
    if xid63 and not gpu.retired_pages_pending and not sbe + dbe:
        # The kernel logged a retirement this boot ("reboot to activate") that NVML knows nothing of.
        return not_evaluated(f"{gpu.label}: the kernel log has Xid 63 (a page retired) {len(xid63)} time(s) but "
                             "NVML reports no retired page and none pending: the two sources disagree")
    limit = profile.gpus.retired_pages_limit
    measured = (f"{gpu.label}: {sbe + dbe} retired page(s) ({sbe} single-bit, {dbe} double-bit), "
                f"retirement pending: {'yes' if gpu.retired_pages_pending else 'no'}, "
                f"ECC {'on' if gpu.ecc_enabled else 'off' if gpu.ecc_enabled is False else 'unknown'}{note}")
    expected = (f"no pending retirement, no double-bit retirement, fewer than {limit} retired pages "
                "(profile gpus.retired_pages_limit), ECC on")
    if gpu.retired_pages_pending:
        return failed(measured, expected, "memory pages are waiting to be retired",
                      "reboot so the driver retires them, then run the suite again")
    if dbe:
        return failed(measured, expected, "the card's memory had uncorrectable (double-bit) errors",
                      "replace (RMA) the card, or accept it with a waiver after a memory test")
    if sbe + dbe >= limit:
        return failed(measured, expected, "the card has used up its page-retirement budget", "replace (RMA) the card")
    if gpu.ecc_enabled is False:
        return warned(measured, expected, "ECC is off: the driver retires no pages and memory errors go unseen",
                      "enable ECC (`nvidia-smi -i N -e 1`, reboot; costs 1.5 GiB per P40), or waive GPU-RETIRED "
                      "in the profile")
    if sbe:
        return warned(measured, expected, "some pages were retired after repeated single-bit errors (the card "
                      "still works)", "watch the count on each run; replace the card if it keeps rising")
    return passed(measured, expected)


def _remapped_rows(gpu, note: str) -> Verdict:
    missing = (unreported(gpu, "remapped_rows_correctable", "correctable remapped rows")
               or unreported(gpu, "remapped_rows_uncorrectable", "uncorrectable remapped rows")
               or unreported(gpu, "remapped_rows_failure", "row remapping failure"))
    if missing:
        return missing
    corr, unc = gpu.remapped_rows_correctable, gpu.remapped_rows_uncorrectable
    measured = (f"{gpu.label}: {corr + unc} remapped row(s) ({corr} correctable, {unc} uncorrectable), "
                f"remap pending: {'yes' if gpu.remapped_rows_pending else 'no'}, "
                f"remap failure: {'yes' if gpu.remapped_rows_failure else 'no'}{note}")
    expected = "no pending remap, no remap failure (row remapping, Ampere and later)"
    if gpu.remapped_rows_failure:
        return failed(measured, expected, "a memory row could not be remapped: the card's spare rows are used up",
                      "replace (RMA) the card")
    if gpu.remapped_rows_pending:
        return failed(measured, expected, "a row remap is pending: it takes effect at the next GPU reset",
                      "reset the GPU (`nvidia-smi -r` with no processes on it) or reboot, then run again")
    if corr + unc:
        return warned(measured, expected, "some memory rows were remapped after errors (the card still works)",
                      "watch the count on each run; replace the card if it keeps rising")
    return passed(measured, expected)


