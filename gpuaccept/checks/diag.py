"""The diag tier: PCIE-BANDWIDTH, PCIE-REPLAY, GPU-MEMTEST, GPU-SOAK and GPU-P2P, judged on ``diag.json``.

One root cause, one message: when the tier could not run at all (no CUDA driver, no bindings),
PCIE-BANDWIDTH carries the failure with its fix and the others are not evaluated, pointing at it.
"""

from __future__ import annotations

import math
import statistics

from gpuaccept.checks.inventory import gpu_or_verdict
from gpuaccept.checks.load import THROTTLES
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped, warned
from gpuaccept.facts import GpuFacts, HostFacts
from gpuaccept.facts_diag import DiagFacts, DiagGpu
from gpuaccept.profile import Profile

OWNER = "PCIE-BANDWIDTH"
# PCIe payload rate per lane in GB/s after line coding (8b/10b to Gen2, 128b/130b from Gen3): a copy can't beat it.
LANE_GBPS = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}
GIB = 2**30


def _tier_problem(host: HostFacts, requirement: str) -> Verdict | None:
    """Why no diag requirement can be judged: no evidence, or a tier that did not run (the owner fails)."""
    diag = host.diag
    if diag is None:
        return not_evaluated(f"no diag evidence: {host.diag_missing}")
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


def _diag_gpu(host: HostFacts, index: int, requirement: str) -> tuple[GpuFacts, DiagFacts, DiagGpu] | Verdict:
    # A tier that could not start is judged first: with -m diag alone, no driver requirement runs to say why.
    if host.diag is not None and host.diag.error:
        return _tier_problem(host, requirement)
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    problem = _tier_problem(host, requirement)
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
MEASURED_WITH = {"PCIE-BANDWIDTH": ("copy_mib", "copy_seconds"), "GPU-P2P": ("copy_mib", "copy_seconds"),
                 "GPU-SOAK": ("soak_buffer_mib", "sample_hz")}


def _other_settings(diag: DiagFacts, profile: Profile, requirement: str) -> Verdict | None:
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


def _link(gpu: GpuFacts) -> str:
    return f"Gen{gpu.pcie_gen_max} x{gpu.pcie_width_max}" if gpu.pcie_gen_max and gpu.pcie_width_max else "its link"


def pcie_bandwidth(host: HostFacts, index: int, profile: Profile) -> Verdict:
    found = _diag_gpu(host, index, OWNER)
    if isinstance(found, Verdict):
        return found
    gpu, diag, _ = found
    other = _other_settings(diag, profile, OWNER)
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
    during = [s for r in (alone.h2d, alone.d2h) for s in diag.samples_of(index, r.start_t, r.end_t)]
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


def _foreign(host: HostFacts) -> str:
    """diag.json's GPUs whose bus id is not the one NVML gives that index: a record of other cards."""
    known = {g.index: g.bus_id for g in host.gpus}
    return ", ".join(f"{g.bus_id} as GPU{g.index}" for g in host.diag.gpus
                     if g.bus_id and known.get(g.index) and g.bus_id != known[g.index])


def copy_link_samples(host: HostFacts, index: int) -> list[int]:
    """PCIe generations NVML sampled on GPU ``index`` while its own pinned copies ran (for PCIE-GEN)."""
    diag = host.diag
    if diag is None or diag.error or _foreign(host):  # another machine's links say nothing of these
        return []
    alone = next((r for r in diag.bandwidth.alone if r.index == index), None)
    if alone is None:
        return []
    return [s.pcie_gen for r in (alone.h2d, alone.d2h) for s in diag.samples_of(index, r.start_t, r.end_t) if s.pcie_gen]


def pcie_replay(host: HostFacts, index: int, profile: Profile) -> Verdict:
    found = _diag_gpu(host, index, "PCIE-REPLAY")
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


def gpu_memtest(host: HostFacts, index: int, profile: Profile) -> Verdict:
    found = _diag_gpu(host, index, "GPU-MEMTEST")
    if isinstance(found, Verdict):
        return found
    gpu, diag, _ = found
    result = next((m for m in diag.memtest if m.index == index), None)
    if result is None:
        return not_evaluated(f"{gpu.label}: diag.json holds no memory test of it")
    share = profile.diag.memtest_share
    expected = f"0 mismatches over >= {share:.0%} of free memory, no new uncorrectable ECC errors"
    ecc = _ecc_growth(diag, index)
    if ecc.startswith("went back"):  # volatile counts restart with the driver: what they say is lost
        return not_evaluated(f"{gpu.label}: ECC {ecc}: the driver was reloaded during the tier")
    if result.error:
        return failed(f"{gpu.label}: the memory test stopped: {result.error}" + (f"; {ecc}" if ecc else ""), expected,
                      "the memory or the card faulted under the test", "replace the card (RMA) if it happens again "
                      "after a reseat and a reboot; check GPU-XID")
    if result.tested_bytes > result.free_bytes or (result.total_bytes and result.free_bytes > result.total_bytes):
        return not_evaluated(f"{gpu.label}: diag.json's memory test is contradictory: {result.tested_bytes} bytes "
                             f"tested of {result.free_bytes} free and {result.total_bytes} in all")
    tested = f"{result.tested_bytes / GIB:.1f} GiB ({result.coverage:.1%} of {result.free_bytes / GIB:.1f} GiB free)"
    if result.mismatches:
        first = result.first[0] if result.first else None
        at = (f"; first at {first.address} in {first.pattern}: expected {first.expected}, read {first.read}" if first else "")
        addresses = ", ".join(m.address for m in result.first[:5])
        return failed(f"{gpu.label}: {result.mismatches} mismatching words in {tested}{at}"
                      + (f" (addresses {addresses})" if len(result.first) > 1 else ""), expected,
                      "failing GPU memory: cells that do not hold what was written", "replace the card (RMA)")
    if "uncorrected" in ecc:
        return failed(f"{gpu.label}: {ecc} during the test of {tested}", expected,
                      "the memory produced errors ECC could not correct", "replace the card (RMA); see GPU-RETIRED")
    if not result.patterns or result.coverage < share:
        return not_evaluated(f"{gpu.label}: the test covered {tested}, {result.coverage:.2%}, below the profile's {share:.2%} "
                             "(diag.memtest_share): other processes held memory; stop them and run -m diag again")
    measured = (f"{gpu.label}: 0 mismatches in {tested}, {len(result.patterns)} patterns (seed {result.seed}), "
                f"{result.gbps:.0f} GB/s")
    if ecc:
        return warned(f"{measured}; {ecc}", expected, "ECC corrected memory errors during the test",
                      "watch GPU-RETIRED; replace the card if corrected errors keep growing")
    unread = _ecc_unread(diag, index)
    if unread:  # the pattern test still counts; the ECC half of the claim is not made without both readings
        return passed(measured, expected, f"{measured}, as expected ({expected}); the ECC counters were not "
                                          f"compared: {unread}.")
    return passed(measured, expected)


def _ecc_unread(diag: DiagFacts, index: int) -> str:
    """Why the uncorrectable ECC counter was not compared before and after, or ""."""
    before, after = diag.counters_before.of(index), diag.counters_after.of(index)
    for when, counters, record in (("before", before, diag.counters_before), ("after", after, diag.counters_after)):
        if counters is None:
            return f"no counters {when} the tier ({record.error or 'not recorded'})"
        if counters.ecc_uncorrected is None:
            return counters.unreported.get("ecc_uncorrected", f"not reported {when} the tier")
    return ""


def _ecc_growth(diag: DiagFacts, index: int) -> str:
    before, after = diag.counters_before.of(index), diag.counters_after.of(index)
    if before is None or after is None:
        return ""
    pairs = (("uncorrected", before.ecc_uncorrected, after.ecc_uncorrected),
             ("corrected", before.ecc_corrected, after.ecc_corrected))
    back = [f"{name} {b} -> {a}" for name, b, a in pairs if b is not None and a is not None and a < b]
    if back:
        return "went back: " + "; ".join(back)
    grew = [f"ECC {name} {b} -> {a}" for name, b, a in (
        ("uncorrected", before.ecc_uncorrected, after.ecc_uncorrected),
        ("corrected", before.ecc_corrected, after.ecc_corrected)) if b is not None and a is not None and a > b]
    return "; ".join(grew)


def gpu_soak(host: HostFacts, index: int, profile: Profile) -> Verdict:
    found = _diag_gpu(host, index, "GPU-SOAK")
    if isinstance(found, Verdict):
        return found
    gpu, diag, _ = found
    soak, spec = diag.soak, profile.diag
    memtest = next((m for m in diag.memtest if m.index == index), None)
    if memtest is not None and memtest.error and all(g.index != index for g in soak.gpus):
        return not_evaluated(f"{gpu.label}: not soaked, its memory test stopped ({memtest.error}): see GPU-MEMTEST")
    if soak.error:
        return failed(f"{gpu.label}: the soak's load stopped after {soak.ran_s:.0f} s: {soak.error}",
                      f"{spec.soak_s:g} s under full load", "the card faulted or lost power under sustained load",
                      "check GPU-XID and the kernel log; reseat the card's 8-pin EPS cable, check the PSU")
    other = _other_settings(diag, profile, "GPU-SOAK")
    if other is not None:
        return other
    loaded = next((g for g in soak.gpus if g.index == index), None)
    if loaded is None or not loaded.launches:
        return not_evaluated(f"{gpu.label}: diag.json records no load on it during the soak "
                             f"(soaked: {[g.index for g in soak.gpus if g.launches] or 'none'})")
    copies_end = max((r.end_t for row in (*diag.bandwidth.alone, *diag.bandwidth.together) for r in (row.h2d, row.d2h)),
                     default=0.0)
    if soak.end_t <= soak.start_t or soak.start_t < copies_end:  # the soak runs last: its window cannot hold the copies
        return not_evaluated(f"{gpu.label}: the soak's window {soak.start_t:g}-{soak.end_t:g} s is not after the "
                             f"copies (which ended at {copies_end:g} s): diag.json contradicts itself")
    mine = diag.samples_of(index, soak.start_t, soak.end_t)
    if not mine:
        return not_evaluated(f"{gpu.label}: no NVML samples during the soak ({diag.sampler_error or 'none recorded'})")
    gap = _sample_gap(_times(diag, index, soak.start_t, soak.end_t), soak.start_t, soak.end_t)
    if gap:
        return not_evaluated(f"{gpu.label}: the NVML samples do not cover the soak ({gap}"
                             + (f"; {diag.sampler_error}" if diag.sampler_error else "") + "): what the card did in "
                             "between is not known; run -m diag again")
    limit_w = gpu.power_enforced_limit_w
    if not limit_w:
        return not_evaluated(f"{gpu.label}: the enforced power limit is not known ({gpu.why_missing('power_enforced_limit_w')})")
    temps = [(s.temp_c, t) for s, t in zip(mine, _times(diag, index, soak.start_t, soak.end_t), strict=True)
             if s.temp_c is not None]
    power = sorted(s.power_w for s in mine if s.power_w is not None)
    clocks = [s.sm_clock_mhz for s in mine if s.sm_clock_mhz]
    throttled = sorted({n for s in mine if s.throttle for bit, n in THROTTLES.items() if s.throttle & bit})
    peak = max(t for t, _ in temps) if temps else None
    p90 = power[int(0.9 * (len(power) - 1))] if power else None
    parts = [f"{gpu.label} {soak.ran_s:.0f} s under load"]
    if peak is not None:
        parts.append(f"peak {peak:.0f} C")
    if p90 is not None:
        parts.append(f"power {p90:.0f} W of {limit_w:.0f} W ({p90 / limit_w:.0%})")
    if clocks:
        parts.append(f"SM clock median {statistics.median(clocks):.0f} MHz")
    measured = ", ".join(parts)
    slowdown = gpu.temp_slowdown_c
    expected = (f"{spec.soak_s:g} s, " + (f"below {slowdown - spec.temp_margin_c:.0f} C (slowdown {slowdown} C - "
                                          f"{spec.temp_margin_c:g} C), " if slowdown else "")
                + f"a plateau, power >= {spec.soak_power_share:.0%} of the limit, steady clocks, no slowdown throttling")
    full = soak.ran_s >= spec.soak_s * 0.98
    if throttled:
        return failed(f"{measured}; throttled: {', '.join(throttled)}", expected,
                      "the card slowed itself down under sustained load (heat, or the PSU's power brake)",
                      "raise the chassis airflow through the passive heatsinks (fans at full), check the PSU and the "
                      "card's 8-pin EPS cable")
    if peak is not None and slowdown and peak >= slowdown - spec.temp_margin_c:
        return failed(measured, expected, "not enough airflow through the card's passive heatsink",
                      "raise the chassis fan curve or add a ducted fan; passive cards need server airflow")
    if p90 is None:
        return not_evaluated(f"{measured}: NVML reported no power during the soak")
    if p90 < spec.soak_power_share * limit_w:
        load = next((g.load for g in soak.gpus if g.index == index and g.load), "")
        return failed(measured + (f" under {load}" if load else ""), expected,
                      "the card cannot draw its power: a missing or loose 8-pin EPS cable, a PSU or power cap limit "
                      "(see PWR-LIMIT)" + ("" if "tensor" in load else ", or a card whose full power needs a load "
                                                                       "the suite's kernels do not give it"),
                      "check the power cable and PSU; compare the enforced limit with the default (PWR-LIMIT)")
    drop = _clock_drop(clocks, spec.clock_drop_share)
    if drop:
        return failed(f"{measured}; {drop}", expected, "the clocks fell under sustained load without a reported "
                      "throttle reason (power delivery or a failing card)", "check the PSU and cable, then run again")
    rate = _warming_rate(temps, soak.start_t + 0.75 * soak.ran_s) if full else None
    if rate is not None and rate > spec.plateau_c_per_min:
        return failed(f"{measured}; still warming {rate:.1f} C/min in the last quarter", expected,
                      "the cooling does not keep up: the card would pass its limit under a longer load",
                      "raise the chassis airflow through the passive heatsinks")
    if not full:  # nothing failed in the time it ran, but a short soak proves no plateau: never an acceptance
        return not_evaluated(f"{measured}: the soak ran {soak.ran_s:.0f} s of the profile's {spec.soak_s:g} s "
                             "(--soak-seconds); nothing failed in that time, but a passive card's plateau is not "
                             "shown: run the full soak to accept the card")
    return passed(measured, expected)


def _sample_gap(times: list[float], start: float, end: float) -> str:
    """The longest stretch of the soak without a sample, when longer than 5 % of it (at least 15 s): a sampler
    that stopped or stalled."""
    allowed = max(15.0, 0.05 * (end - start))
    edges = [start, *sorted(times), end]
    worst = max(range(len(edges) - 1), key=lambda i: edges[i + 1] - edges[i])
    length = edges[worst + 1] - edges[worst]
    if length <= allowed:
        return ""
    return (f"none from {edges[worst] - start:.0f} s to {edges[worst + 1] - start:.0f} s of its {end - start:.0f} s, "
            f"more than {allowed:.0f} s")


def _times(diag: DiagFacts, index: int, start: float, end: float) -> list[float]:
    return [s.t for s in diag.samples if start <= s.t <= end for g in s.gpus if g.index == index]


def _clock_drop(clocks: list[int], share: float) -> str:
    """A sustained fall of the SM clock (three samples running) below its median by more than ``share``."""
    if len(clocks) < 5:
        return ""
    median = statistics.median(clocks)
    smooth = [statistics.median(clocks[i:i + 3]) for i in range(len(clocks) - 2)]
    low = min(smooth)
    return f"SM clock fell to {low:.0f} MHz from a median of {median:.0f} MHz" if low < (1 - share) * median else ""


def _warming_rate(temps: list[tuple[float, float]], since: float) -> float | None:
    """The temperature's least-squares slope in C/min over the samples after ``since``."""
    points = [(t, c) for c, t in temps if t >= since]
    if len(points) < 3:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_c = sum(c for _, c in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (c - mean_c) for t, c in points) / spread if spread else None


def gpu_p2p(host: HostFacts, profile: Profile) -> Verdict:
    problem = _tier_problem(host, "GPU-P2P")
    if problem is not None:
        return problem
    diag = host.diag
    foreign = _foreign(host)
    if foreign:
        return not_evaluated(f"diag.json tested {foreign}: the record is of other cards")
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
