"""PCIE-* checks: link width and generation, BAR1, ASPM, topology."""

from __future__ import annotations

from gpuaccept.checks.agreement import benchmark_mismatch, link_disagreement
from gpuaccept.checks.diag_evidence import copy_link_samples
from gpuaccept.checks.inventory import gpu_or_verdict, gpu_with, inventory_problem
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped, warned
from gpuaccept.facts import GpuFacts, HostFacts
from gpuaccept.profile import Profile

_RESEAT = "power off, reseat the card in a full x16 slot, check the slot's bifurcation setting and any riser"


def _sources_disagree(host: HostFacts, gpu: GpuFacts, what: str, expected: str) -> Verdict | None:
    """NVML and the PCI listing must report the same link. In a live run the suite read both seconds apart,
    so a difference is the link itself changing (it retrains: a marginal slot, riser or seating) and fails.
    In a replay the files may be stale or edited, and which one is right cannot be told: not evaluated."""
    problem = link_disagreement(host, gpu, what)
    if problem is None:
        return None
    if host.mode == "live":
        return failed(problem, expected + ", reported alike by NVML and the PCI bus",
                      "the link retrained between two reads seconds apart: a marginal slot, riser or seating",
                      _RESEAT + "; then run the suite again")
    return not_evaluated(f"{problem}: one of the saved captures is stale or edited, so which is right cannot be "
                         "told; capture the evidence again (a live run)")


def pcie_width(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_with(host, index, "pcie_width_current", "PCIe link width")
    if isinstance(gpu, Verdict):
        return gpu
    want = profile.pcie.width
    measured = f"{gpu.label} links at x{gpu.pcie_width_current} (card max x{gpu.pcie_width_max})"
    expected = f"x{want} (profile pcie.width)"
    disagreement = _sources_disagree(host, gpu, "width", expected)
    if disagreement is not None:
        return disagreement
    if gpu.pcie_width_max is not None and gpu.pcie_width_max < want:
        return failed(measured, expected, "the slot or riser offers fewer lanes than the card", _RESEAT)
    if gpu.pcie_width_current != want:
        return failed(measured, expected,
                      "the card is not fully seated, the slot is wired for fewer lanes, or a riser drops lanes "
                      "(model loads take longer at x8)", _RESEAT)
    return passed(measured, expected)


def pcie_gen(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_with(host, index, "pcie_gen_max", "PCIe maximum generation")
    if isinstance(gpu, Verdict):
        return gpu
    want = profile.pcie.generation
    expected = f"Gen{want} link capability (profile pcie.generation)"
    measured = f"{gpu.label} link Gen{gpu.pcie_gen_max} max, Gen{gpu.pcie_gen_current} now"
    disagreement = _sources_disagree(host, gpu, "generation", expected)
    if disagreement is not None:
        return disagreement
    if gpu.pcie_gen_max != want:
        return failed(measured, expected,
                      "the BIOS limits the slot's speed, or a riser or slot cannot run the card's generation",
                      f"set the slot to Gen{want} (or Auto) in the BIOS; use a riser rated for Gen{want}")
    bench = host.ollama.benchmark
    other_run = benchmark_mismatch(bench, profile) if bench is not None else None
    copying = copy_link_samples(host, index)  # the diag tier's pinned copies: under load without Ollama
    if other_run is not None and not copying:
        return not_evaluated(f"{measured}: the maximum is as expected, but the under-load half cannot be judged: "
                             f"{other_run}")
    # Only samples where this GPU was busy: an idle card's link trains down, by design.
    loaded = [g.pcie_gen for s in bench.measured() for g in s.gpus
              if g.index == index and g.pcie_gen and (g.util_pct or 0) > 0] if bench is not None and other_run is None else []
    if loaded or copying:
        # The under-load half: while the model runs and while the copies move data, the link must train up to
        # its maximum. Each load is judged on its own: a link that reaches Gen3 for one and not the other is flaky.
        reached = {w: max(v) for w, v in (("the benchmark", loaded), ("the diag copies", copying)) if v}
        measured = (f"{gpu.label} link Gen{gpu.pcie_gen_max} max, "
                    + ", ".join(f"Gen{g} under load ({w})" for w, g in reached.items()))
        if min(reached.values()) < gpu.pcie_gen_max:
            return failed(measured, expected + f", Gen{gpu.pcie_gen_max} under load",
                          "the link does not train up under load: signal problems (riser, slot, seating) or a "
                          "BIOS speed setting", "reseat the card, remove the riser, set the slot speed in the BIOS")
        return passed(measured, expected + ", reached under load")
    note = ""
    if gpu.pcie_gen_current is not None and gpu.pcie_gen_current < gpu.pcie_gen_max:
        note = (f"{measured}: the maximum is as expected; the current generation is informational at idle, "
                "because idle links train down to save power.")
    return passed(measured, expected, note)


def pcie_bar1(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_with(host, index, "bar1_total_mib", "BAR1 size")
    if isinstance(gpu, Verdict):
        return gpu
    want = profile.pcie.bar1_min_mib
    measured = f"{gpu.label} BAR1 is {gpu.bar1_total_mib} MiB"
    expected = f">= {want} MiB (profile pcie.bar1_min_mib)"
    if gpu.bar1_total_mib < want:
        return failed(measured, expected, "the BIOS maps GPU memory below 4 GiB",
                      "enable Above 4G Decoding (and Resizable BAR where offered) in the BIOS")
    return passed(measured, expected)


def pcie_aspm(host: HostFacts, index: int, profile: Profile) -> Verdict:
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    if profile.pcie.aspm == "ignore":
        return skipped("the profile ignores ASPM (pcie.aspm = \"ignore\")")
    if host.pci.missing is not None:
        return not_evaluated(f"the PCI bus could not be read: {host.pci.missing}")
    device = host.pci.by_bus_id(gpu.bus_id)
    if device is None:
        return not_evaluated(f"{gpu.label} is not in the PCI listing ({host.pci.source})")
    if not device.capabilities_readable:
        return not_evaluated(f"{gpu.label}: lspci ran without root, so link control (ASPM) was not readable")
    if device.aspm is None:
        return skipped(f"{gpu.label}: ASPM state not in {host.pci.source}")
    measured = f"{gpu.label} ASPM {device.aspm}"
    expected = "ASPM disabled on GPU links (advisory; profile pcie.aspm)"
    if device.aspm.lower().startswith("disabled"):
        return passed(measured, expected)
    cause, fix = "Power saving on the link can add latency", "disable PCIe ASPM in the BIOS if latency issues are seen"
    if profile.pcie.aspm == "fail":
        return failed(measured, expected, cause.lower(), fix)
    return warned(measured, expected, cause, fix)


def pcie_topo(host: HostFacts, profile: Profile) -> Verdict:
    problem = inventory_problem(host)
    if problem is not None:
        return problem
    if len(host.gpus) < 2:
        if profile.gpus.count > 1:
            return not_evaluated(f"{len(host.gpus)} GPU visible of {profile.gpus.count}: see GPU-COUNT")
        return skipped(f"{len(host.gpus)} GPU visible: no GPU-to-GPU path to report")
    topo = host.topology
    if topo.missing is not None:
        return not_evaluated(f"GPU topology not known: {topo.missing}")
    listing = ", ".join(f"GPU{link.a}-GPU{link.b} {link.relation}" for link in topo.links) or "no pairs"
    allowed = profile.pcie.topology
    expected = (f"one of {', '.join(allowed)} (profile pcie.topology)" if allowed
                else "reported (profile pcie.topology names no relation)")
    # the profile names NVLink as NV# whatever the link count (nvidia-smi's NV1, NV2, ...)
    bad = [link for link in topo.links
           if allowed and ("NV#" if link.relation.startswith("NV") else link.relation) not in allowed]
    if bad:
        return failed(f"GPU paths: {listing}", expected,
                      "the cards hang off different CPU sockets or PCIe roots, which slows traffic between them",
                      "move a card so both sit under the same CPU (see `nvidia-smi topo -m`)")
    return passed(f"GPU paths: {listing}", expected)
