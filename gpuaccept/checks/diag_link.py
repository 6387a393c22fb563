"""PCIE-BANDWIDTH, PCIE-REPLAY and GPU-P2P: the diag tier's judgement of the PCIe links."""

from __future__ import annotations

from gpuaccept.checks.diag_evidence import OWNER, diag_gpu, foreign, other_settings, tier_problem
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped, warned
from gpuaccept.facts import GpuFacts, HostFacts
from gpuaccept.profile import Profile

# PCIe payload rate per lane in GB/s after line coding (8b/10b to Gen2, 128b/130b from Gen3): a copy can't beat it.
LANE_GBPS = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}


def _link(gpu: GpuFacts) -> str:
    return f"Gen{gpu.pcie_gen_max} x{gpu.pcie_width_max}" if gpu.pcie_gen_max and gpu.pcie_width_max else "its link"


def pcie_bandwidth(host: HostFacts, index: int, profile: Profile) -> Verdict:
    found = diag_gpu(host, index, OWNER)
    if isinstance(found, Verdict):
        return found
    gpu, diag, _ = found
    other = other_settings(diag, profile, OWNER)
    if other is not None:
        return other
    bw = diag.bandwidth
    if bw.error:
        return failed(f"{gpu.label}: the copies stopped: {bw.error}", "pinned copies to complete",
                      "the card or its link failed under transfer (see GPU-XID and PCIE-REPLAY)",
                      "reseat the card and its power cable, remove the riser, and run the tier again")
    alone = next((r for r in bw.alone if r.index == index), None)
    if alone is None:
        return not_evaluated(f"{gpu.label}: diag.json holds no copy figures for it")
    together = next((r for r in bw.together if r.index == index), None)
    floor = profile.diag.bandwidth_floor_gbps
    figures = {"alone host-to-device": alone.h2d.gbps, "alone device-to-host": alone.d2h.gbps}
    if together is not None:
        figures.update({"all at once host-to-device": together.h2d.gbps, "all at once device-to-host": together.d2h.gbps})
    measured = (f"{gpu.label} alone {alone.h2d.gbps:.1f} H2D / {alone.d2h.gbps:.1f} D2H GB/s"
                + (f", all GPUs at once {together.h2d.gbps:.1f} / {together.d2h.gbps:.1f} GB/s" if together else ""))
    expected = f">= {floor:g} GB/s each way (profile diag.bandwidth_floor_gbps)"
    if gpu.pcie_gen_max in LANE_GBPS and gpu.pcie_width_max:
        ceiling = LANE_GBPS[gpu.pcie_gen_max] * gpu.pcie_width_max
        impossible = {k: v for k, v in figures.items() if v > ceiling * 1.05}
        if impossible:
            return not_evaluated(f"{measured}: more than a {_link(gpu)} link can carry ({ceiling:.1f} GB/s): "
                                 "diag.json is not of this card's link")
    low = {k: v for k, v in figures.items() if v < floor}
    if not low:
        return passed(measured, expected)
    during = diag.copy_samples(index)
    gens = [s.pcie_gen for s in during if s.pcie_gen]
    widths = [s.pcie_width for s in during if s.pcie_width]
    trained = f"Gen{min(gens)} x{min(widths)}" if gens and widths else ""
    alone_low = any(k.startswith("alone") for k in low)
    if trained and ((gpu.pcie_gen_max and min(gens) < gpu.pcie_gen_max) or (gpu.pcie_width_max and min(widths) < gpu.pcie_width_max)):
        cause = (f"the link ran at {trained} during the copies, below its {_link(gpu)}: it trained low (riser, slot "
                 "wiring, a BIOS speed or bifurcation setting)")
        fix = "reseat the card in a full x16 slot without a riser, set the slot to Gen3 (or Auto) and x16 in the BIOS"
    elif alone_low:
        cause = (f"the link trained at {trained or 'its full width'} yet moves too little: signal errors and replays "
                 "(see PCIE-REPLAY), a slot wired for fewer lanes, or a slot on the far CPU")
        fix = "move the card to a CPU-attached x16 slot, remove the riser, and check PCIE-REPLAY"
    else:
        cause = ("each card is fast alone but not with the others: they share one upstream link (a PCIe switch or "
                 "a bifurcated slot, see PCIE-TOPO)")
        fix = "put the cards on slots with their own x16 uplinks to the CPU"
    shown = "; ".join(f"{k} {v:.1f} GB/s" for k, v in low.items())
    return failed(f"{measured} ({shown} below the floor)", expected, cause, fix)


def pcie_replay(host: HostFacts, index: int, profile: Profile) -> Verdict:
    found = diag_gpu(host, index, "PCIE-REPLAY")
    if isinstance(found, Verdict):
        return found
    gpu, diag, tested = found
    before, after = diag.counters_before.of(index), diag.counters_after.of(index)
    growth, notes, unread = [], [], []
    if before is not None and after is not None and before.pcie_replay is not None and after.pcie_replay is not None:
        if after.pcie_replay < before.pcie_replay:
            return not_evaluated(f"{gpu.label}: the replay counter went from {before.pcie_replay} to "
                                 f"{after.pcie_replay}: the driver was reloaded during the tier")
        if after.pcie_replay > before.pcie_replay:
            growth.append(f"PCIe replay counter {before.pcie_replay} -> {after.pcie_replay} "
                          f"(+{after.pcie_replay - before.pcie_replay})")
        elif before.pcie_replay:
            notes.append(f"{before.pcie_replay} replays before the tier, none during it")
    else:
        why = (after or before).unreported.get("pcie_replay", "") if (after or before) else \
            (diag.counters_after.error or "no counters recorded after the tier")
        unread.append(f"NVML replay counter ({why or 'not recorded'})")
    aer_before, aer_after = diag.counters_before.aer, diag.counters_after.aer
    mine_before = aer_before.counts.get(tested.bus_id, {})
    mine_after = aer_after.counts.get(tested.bus_id, {})
    compared = 0
    for device, kinds in sorted(mine_after.items()):
        for kind, count in sorted(kinds.items()):
            was = mine_before.get(device, {}).get(kind)
            if was is None:  # read after the tier only: nothing to compare it with
                continue
            compared += 1
            if count < was:
                return not_evaluated(f"{gpu.label}: AER {kind} count at {device} went from {was} to {count}")
            if count > was:
                where = "the GPU" if device == tested.bus_id else f"the port above it ({device})"
                growth.append(f"AER {kind} errors at {where} {was} -> {count} (+{count - was})")
    if not compared:
        why = (aer_before.missing or aer_after.missing
               or ("read after the tier only, not before it" if mine_after else "none for this GPU"))
        unread.append(f"kernel AER counters ({why})")
    expected = "no new replays and no new AER errors during the tier"
    if growth:
        return failed(f"{gpu.label}: " + "; ".join(growth), expected,
                      "the link corrupts transfers and retries them (signal integrity: a riser, the slot, the card's "
                      "seating or its edge connector)",
                      "power off, reseat the card, remove or replace the riser, try another slot, then run -m diag again")
    if len(unread) == 2:
        return not_evaluated(f"{gpu.label}: no link error counter could be read: {'; '.join(unread)}")
    measured = f"{gpu.label}: no new link errors" + (f" ({'; '.join(notes)})" if notes else "")
    note = f" ({unread[0]} not read)" if unread else ""
    return passed(measured, expected, f"{measured}, as expected ({expected}){note}.")


def gpu_p2p(host: HostFacts, profile: Profile) -> Verdict:
    problem = tier_problem(host, "GPU-P2P")
    if problem is not None:
        return problem
    diag = host.diag
    others = foreign(host)
    if others:
        return not_evaluated(f"diag.json tested {others}: the record is of other cards")
    unnamed = [g.index for g in diag.gpus if not g.bus_id]
    if unnamed:
        return not_evaluated(f"diag.json does not say which cards it tested as GPU{unnamed} (no bus id)")
    tested = [g for g in diag.gpus if not g.missing]
    untested = [g for g in host.gpus if all(t.index != g.index for t in tested)]
    if len(host.gpus) >= 2 and untested:
        return not_evaluated(f"the diag tier did not test {', '.join(g.label for g in untested)} "
                             f"(diag.json tested GPUs {[g.index for g in tested]}): the peer copies of every pair "
                             "are not known; see PCIE-BANDWIDTH for why")
    if len(tested) < 2:
        return skipped(f"{len(tested)} GPU tested: no pair to copy between")
    if diag.p2p.error:
        return warned(f"the peer copies stopped: {diag.p2p.error}", "peer copies between every pair",
                      "the driver refused peer copies", "check `nvidia-smi topo -p2p r` and the IOMMU/ACS settings")
    if not diag.p2p.pairs:
        return not_evaluated("diag.json holds no peer copies although it tested several GPUs")
    wanted = {(a.index, b.index) for a in tested for b in tested if a.index != b.index}
    copied = [(p.a, p.b) for p in diag.p2p.pairs]
    strays = sorted(set(copied) - wanted)
    lacking = sorted(wanted - set(copied))
    if strays or lacking or len(copied) != len(set(copied)):
        problems = ([f"copies between GPUs it did not test ({', '.join(f'GPU{a}->GPU{b}' for a, b in strays)})"]
                    if strays else [])
        problems += [f"no copy GPU{a}->GPU{b}" for a, b in lacking]
        problems += ["a pair listed twice"] if len(copied) != len(set(copied)) else []
        return not_evaluated(f"diag.json's peer copies do not cover each direction of every tested pair once: "
                             f"{'; '.join(problems)}")
    floor = profile.diag.p2p_floor_gbps
    shown = ", ".join(f"GPU{p.a}->GPU{p.b} {p.gbps:.1f} GB/s ({'peer' if p.peer_access else 'through host memory'})"
                      for p in diag.p2p.pairs)
    expected = "peer access between every pair" + (f", >= {floor:g} GB/s (profile diag.p2p_floor_gbps)" if floor else "")
    blocked = [p for p in diag.p2p.pairs if not p.peer_access]
    slow = [p for p in diag.p2p.pairs if floor and p.gbps < floor]
    relations = {(link.a, link.b): link.relation for link in host.topology.links}
    if blocked:
        where = {relations.get((min(p.a, p.b), max(p.a, p.b)), "") for p in blocked} - {""}
        return warned(shown, expected, "the driver allows no direct peer access"
                      + (f" (topology {', '.join(sorted(where))})" if where else "")
                      + ": ACS or the IOMMU blocks it, or the cards hang off different CPUs; Ollama's layer split "
                        "works without it", "for peer copies: put both cards under one CPU, disable ACS on the "
                                            "switch ports or boot with iommu=pt")
    if slow:
        return warned(shown, expected, "peer copies are slower than the profile advises", "check the topology (PCIE-TOPO)")
    return passed(shown, expected)
