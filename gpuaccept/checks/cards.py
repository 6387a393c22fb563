"""GPU-* checks: the cards themselves."""

from __future__ import annotations

from gpuaccept.checks.agreement import identity_disagreement, memory_disagreement
from gpuaccept.checks.inventory import gpu_or_verdict, gpu_with, inventory_problem, unreported
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped
from gpuaccept.facts import HostFacts
from gpuaccept.profile import Profile

# What an Xid number usually means, and what to do (NVIDIA's Xid catalogue, abridged).
XID_MEANING: dict[int, tuple[str, str]] = {
    13: ("graphics engine exception, usually an application bug", "check the application; run a GPU memory test if it repeats"),
    31: ("GPU memory page fault, usually an application bug", "check the application that faulted"),
    43: ("an application was stopped after a fault", "check the application"),
    45: ("preemptive cleanup after an earlier error", "look at the Xid before it"),
    48: ("double-bit ECC error: failing card memory", "reboot; replace (RMA) the card if it repeats"),
    61: ("internal micro-controller error", "reboot; update the driver; RMA if it repeats"),
    62: ("internal micro-controller halt", "reboot; update the driver; RMA if it repeats"),
    63: ("ECC page retirement or row remapping event", "reboot so the page retirement takes effect"),
    64: ("ECC page retirement or row remapping failure", "replace (RMA) the card"),
    74: ("NVLink error", "check NVLink bridges"),
    79: ("the GPU fell off the bus: power, riser or seating", "reseat the card and its 8-pin EPS power cable, check the riser and PSU"),
    92: ("high single-bit ECC error rate", "watch the card; RMA if it repeats"),
    94: ("contained ECC error", "restart the affected application"),
    95: ("uncontained ECC error", "reboot; RMA if it repeats"),
}


def gpu_count(host: HostFacts, profile: Profile) -> Verdict:
    problem = inventory_problem(host)
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
    if on_bus is not None and on_bus > seen:
        return failed(f"NVML sees {seen} GPU(s) but {on_bus} are on the PCI bus", expected,
                      _init_failure_cause(host), "see GPU-PCI-COUNT for the card the driver did not bring up")
    return failed(f"NVML sees {seen} GPU(s)", expected,
                  "a card is not seated or not powered (the P40 needs the 8-pin EPS/CPU cable), or is disabled "
                  "in the BIOS", "power off, reseat the card in another slot if needed, connect its power cable")


def _init_failure_cause(host: HostFacts) -> str:
    kernel = host.kernel
    if kernel.notices_of("open-kmod-unsupported"):
        return "the open kernel module refuses these cards (they have no GSP): see DRV-KMOD-FLAVOR"
    if kernel.notices_of("bar1-zero"):
        return "the kernel could not map BAR1 (\"BAR1 is 0M\"): Above 4G Decoding is off in the BIOS"
    if kernel.notices_of("rm-init-adapter-failed"):
        buses = ", ".join(sorted({n.bus_id or "?" for n in kernel.notices_of("rm-init-adapter-failed")}))
        return f"the driver failed to initialise the card (dmesg: RmInitAdapter failed on {buses})"
    if kernel.notices_of("fallen-off-bus"):
        return "a card fell off the bus (dmesg)"
    return "the driver did not initialise the card (look for RmInitAdapter or BAR errors in dmesg)"


def gpu_pci_count(host: HostFacts, profile: Profile) -> Verdict:
    if host.pci.missing is not None:
        return not_evaluated(f"the PCI bus could not be read: {host.pci.missing}")
    bus = host.pci.gpus
    want = profile.gpus.count
    expected = f"{want} NVIDIA GPU(s) on the bus and in NVML (profile gpus.count)"
    listing = ", ".join(d.bus_id for d in bus) or "none"
    unlisted = [g for g in host.gpus if g.bus_id not in {d.bus_id for d in bus}] if host.nvml.ok else []
    if unlisted:
        # NVML talks to a card the PCI listing does not have: the captures are not of one moment or one machine.
        names = ", ".join(g.label if g.bus_id else f"GPU{g.index} (no bus id)" for g in unlisted)
        return not_evaluated(f"the sources disagree: NVML reports {names}, which is not among the NVIDIA GPUs of "
                             f"the PCI listing {host.pci.source} ({listing}); one capture is stale or of another "
                             "machine")
    if len(bus) < want:
        return failed(f"{len(bus)} NVIDIA GPU(s) on the PCI bus ({listing})", expected,
                      "a card is not seated, not powered (8-pin EPS/CPU cable) or its slot is disabled",
                      "power off, reseat the card or try another slot, connect its power cable")
    problem = inventory_problem(host)
    if problem is not None:
        return problem
    in_nvml = {g.bus_id for g in host.gpus}
    missing = [d for d in bus if d.bus_id not in in_nvml]
    if missing or len(bus) != len(host.gpus):
        names = ", ".join(f"{d.bus_id} (driver in use: {d.driver_in_use or 'none'})" for d in missing) or listing
        fix = "enable Above 4G Decoding in the BIOS, check `dmesg | grep NVRM`, bind the card to the nvidia driver"
        if any(d.driver_in_use and d.driver_in_use != "nvidia" for d in missing):
            fix = "unbind the card from the driver shown (e.g. vfio-pci passthrough) and bind it to nvidia"
        return failed(f"{len(bus)} NVIDIA GPU(s) on the bus but {len(host.gpus)} in NVML; not in NVML: {names}",
                      expected, _init_failure_cause(host), fix)
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
    if None in vbios.values():
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
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    if not profile.gpus.persistence:
        return skipped("the profile does not ask for persistence mode (gpus.persistence = false)")
    missing = unreported(gpu, "persistence_mode", "persistence mode")
    if missing:
        return missing
    expected = "persistence mode on, or nvidia-persistenced running (profile gpus.persistence)"
    if not gpu.persistence_mode:
        return failed(f"{gpu.label} persistence mode is off", expected,
                      "nvidia-persistenced is not running, so the driver unloads the GPU state between jobs "
                      "(slow first call, lost settings)",
                      "enable and start nvidia-persistenced (`systemctl enable --now nvidia-persistenced`), "
                      "or run `pytest acceptance/ --remediate` as root")
    return passed(f"{gpu.label} persistence mode is on", expected)


def gpu_ecc(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    if gpu.ecc_enabled is False:
        return skipped(f"{gpu.label}: ECC is disabled, so there are no ECC error counters to check")
    missing = unreported(gpu, "ecc_uncorrected_volatile", "uncorrectable ECC count")
    if missing:
        return missing
    volatile = gpu.ecc_uncorrected_volatile or 0
    aggregate = gpu.ecc_uncorrected_aggregate or 0
    measured = f"{gpu.label} uncorrectable ECC errors: {volatile} since boot, {aggregate} lifetime"
    if volatile or aggregate:
        return failed(measured, "0", "the card's memory is failing",
                      "check GPU-RETIRED; replace (RMA) the card")
    return passed(measured, "0")


def gpu_retired(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_with(host, index, "retired_pages_pending", "page retirement state")
    if isinstance(gpu, Verdict):
        return gpu
    retired = (gpu.retired_pages_sbe or 0) + (gpu.retired_pages_dbe or 0)
    limit = profile.gpus.retired_pages_limit
    measured = (f"{gpu.label}: {retired} retired page(s) "
                f"({gpu.retired_pages_sbe} single-bit, {gpu.retired_pages_dbe} double-bit), "
                f"retirement pending: {'yes' if gpu.retired_pages_pending else 'no'}")
    expected = f"no pending retirement and fewer than {limit} retired pages (profile gpus.retired_pages_limit)"
    if gpu.retired_pages_pending:
        return failed(measured, expected, "memory pages are waiting to be retired",
                      "reboot so the driver retires them, then run the suite again")
    if retired >= limit:
        return failed(measured, expected, "the card has used up its page-retirement budget", "replace (RMA) the card")
    return passed(measured, expected)


def gpu_xid(host: HostFacts, profile: Profile) -> Verdict:
    kernel = host.kernel
    if kernel.log_missing is not None:
        return not_evaluated(f"the kernel log could not be read: {kernel.log_missing}")
    events = kernel.xid_events
    if not events:
        return passed("no NVRM Xid events in the kernel log", "none")
    numbers = sorted({e.number for e in events})
    first = {n: next(e for e in events if e.number == n) for n in numbers}
    measured = f"{len(events)} Xid event(s): " + "; ".join(
        f"Xid {n} on {first[n].bus_id} at {first[n].time or 'unknown time'}" for n in numbers)
    causes = "; ".join(f"Xid {n}: {XID_MEANING.get(n, ('see NVIDIA Xid catalogue', ''))[0]}" for n in numbers)
    fixes = "; ".join(f"Xid {n}: {XID_MEANING[n][1]}" for n in numbers if n in XID_MEANING)
    return failed(measured, "none since boot", causes,
                  (fixes or "look the Xid up in NVIDIA's Xid catalogue") + "; then reboot to clear the log")
