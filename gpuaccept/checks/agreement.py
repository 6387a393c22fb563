"""Cross-checks: where two sources report the same thing, they must agree.

A disagreement means a capture is stale, edited, from another machine, or the thing itself changed between
two reads. Each helper returns a sentence naming both values and both sources, or None when they agree (or
when there is only one source to go by).
"""

from __future__ import annotations

from collections import defaultdict

from gpuaccept import evidence as ev
from gpuaccept.facts import Benchmark, GpuFacts, HostFacts, OllamaModel, PciDevice, find_model
from gpuaccept.profile import Profile

# PCIe transfer rate per lane (GT/s) -> generation, as lspci's LnkCap/LnkSta and sysfs report it.
GEN_OF_SPEED = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}


def duplicates(gpus: tuple[GpuFacts, ...], source: str) -> str | None:
    """Two GPUs with one UUID or bus id: the listing cannot be of real, distinct GPUs.

    The serial is not compared: it is the board's ("the globally unique board serial number associated with
    this device's board", nvmlDeviceGetSerial), and the GPUs of one multi-GPU board (K80, M10, A16) share it.
    """
    found = []
    for attr, what in (("uuid", "UUID"), ("bus_id", "bus id")):
        holders: dict[str, list[str]] = defaultdict(list)
        for gpu in gpus:
            value = getattr(gpu, attr)
            if value:
                holders[value].append(f"GPU{gpu.index}")
        found += [f"{' and '.join(names)} report the same {what} {value}"
                  for value, names in holders.items() if len(names) > 1]
    if not found:
        return None
    return f"{source} is contradictory: {'; '.join(found)} (a capture that was edited or pieced together)"


def identity_disagreement(host: HostFacts) -> str | None:
    """Duplicate identities in either GPU listing, or nvml.json and nvidia-smi -q -x naming other GPUs."""
    problem = duplicates(host.gpus, host.nvml.source or ev.NVML)
    if problem:
        return problem
    smi = host.smi
    if smi.error is not None:
        return f"the second GPU listing beside {ev.NVML} is damaged: {smi.error}"
    if smi.gpus is None:
        return None
    problem = duplicates(smi.gpus, ev.SMI_XML)
    if problem:
        return problem
    nvml_ids = sorted(str(g.uuid) for g in host.gpus)
    smi_ids = sorted(str(g.uuid) for g in smi.gpus)
    if nvml_ids != smi_ids:
        return (f"the sources disagree on which GPUs there are: {ev.NVML} lists {', '.join(nvml_ids) or 'none'}, "
                f"{ev.SMI_XML} lists {', '.join(smi_ids) or 'none'} (one capture is stale or of another machine)")
    by_uuid = {g.uuid: g for g in smi.gpus}
    moved = [f"{g.uuid} at {g.bus_id} in {ev.NVML} but at {by_uuid[g.uuid].bus_id} in {ev.SMI_XML}"
             for g in host.gpus if g.bus_id != by_uuid[g.uuid].bus_id]
    if moved:
        return f"the sources disagree on bus ids: {'; '.join(moved)} (one capture is stale or edited)"
    return None


def memory_disagreement(host: HostFacts, gpu: GpuFacts) -> str | None:
    other = next((g for g in host.smi.gpus or () if g.uuid == gpu.uuid), None)
    if other is None or other.memory_total_mib is None or other.memory_total_mib == gpu.memory_total_mib:
        return None
    return (f"{gpu.label}: {ev.NVML} says {gpu.memory_total_mib} MiB, {ev.SMI_XML} says {other.memory_total_mib} MiB "
            "of total memory (one capture is stale or edited)")


def driver_disagreement(host: HostFacts) -> str | None:
    nvml, smi = host.driver.nvml_version, host.smi.driver_version
    if nvml is None or smi is None or nvml == smi:
        return None
    return (f"{ev.NVML} says driver {nvml}, {ev.SMI_XML} says driver {smi} (one capture is stale, or the driver "
            "was changed between them)")


def link_disagreement(host: HostFacts, gpu: GpuFacts, what: str) -> str | None:
    """NVML's link ``what`` ("width" or "generation") against the PCI listing's, for the same bus id.

    Current width must be equal (both read the link status register). NVML's maximum is what the card
    and the slot allow together, so it may be below the card's own capability (LnkCap) but never above.
    The current generation is not compared: an idle link trains down between two reads, by design.
    """
    device: PciDevice | None = host.pci.by_bus_id(gpu.bus_id) if host.pci.missing is None else None
    if device is None:
        return None
    listing = host.pci.source
    found = []
    if what == "width":
        if None not in (gpu.pcie_width_current, device.link_sta_width) and \
                gpu.pcie_width_current != device.link_sta_width:
            found.append(f"link width now: NVML x{gpu.pcie_width_current}, {listing} x{device.link_sta_width}")
        if None not in (gpu.pcie_width_max, device.link_cap_width) and gpu.pcie_width_max > device.link_cap_width:
            found.append(f"maximum link width: NVML x{gpu.pcie_width_max}, above the card's own x{device.link_cap_width} "
                         f"in {listing}")
    else:
        cap = GEN_OF_SPEED.get(device.link_cap_speed_gts) if device.link_cap_speed_gts else None
        if None not in (gpu.pcie_gen_max, cap) and gpu.pcie_gen_max > cap:
            found.append(f"maximum link generation: NVML Gen{gpu.pcie_gen_max}, above the card's own Gen{cap} "
                         f"({device.link_cap_speed_gts:g} GT/s) in {listing}")
    if not found:
        return None
    return f"{gpu.label}: the sources disagree: {'; '.join(found)}"


def same_model(a: str, b: str) -> bool:
    """One model for Ollama: a name without a tag means ``:latest`` (facts.find_model), either way round."""
    return (find_model((OllamaModel(a),), b) is not None) or (find_model((OllamaModel(b),), a) is not None)


def benchmark_mismatch(bench: Benchmark, profile: Profile) -> str | None:
    """A benchmark record of another model or other settings than the profile's cannot judge this profile."""
    want = profile.ollama.model
    if not isinstance(bench.model, str) or not same_model(bench.model, want):
        return (f"{ev.BENCHMARK} is of model {bench.model!r}, the profile's model is {want!r} (profile ollama.model): "
                "the record is of another run")
    spec = profile.ollama.benchmark
    if not isinstance(bench.settings, dict):
        return f"{ev.BENCHMARK} settings is a {type(bench.settings).__name__}, not a table of settings"
    changed = [f"{key} {bench.settings[key]!r} in {ev.BENCHMARK}, {getattr(spec, key)!r} in the profile"
               for key in ("prompt", "num_predict", "num_ctx", "seed", "temperature", "warmup_runs", "runs",
                           "sample_hz")
               if key in bench.settings and not _equal(bench.settings[key], getattr(spec, key))]
    if changed:
        return (f"{ev.BENCHMARK} ran with other settings than the profile's [ollama.benchmark]: {'; '.join(changed)}"
                " (the record is of another run)")
    return None


def _equal(recorded: object, wanted: object) -> bool:
    # JSON keeps 0.0 as 0.0 but a hand-written record may say 0; bool is not a number here.
    if isinstance(recorded, bool) or isinstance(wanted, bool):
        return recorded is wanted
    if isinstance(recorded, (int, float)) and isinstance(wanted, (int, float)):
        return float(recorded) == float(wanted)
    return recorded == wanted
