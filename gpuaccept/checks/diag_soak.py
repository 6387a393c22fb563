"""GPU-SOAK: the diag tier's judgement of the full-power soak from the NVML samples taken during it."""

from __future__ import annotations

import statistics

from gpuaccept.checks.diag_evidence import diag_gpu, other_settings
from gpuaccept.checks.load import THROTTLES
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed
from gpuaccept.facts import HostFacts
from gpuaccept.facts_diag import DiagFacts
from gpuaccept.profile import Profile


def gpu_soak(host: HostFacts, index: int, profile: Profile) -> Verdict:
    found = diag_gpu(host, index, "GPU-SOAK")
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
    other = other_settings(diag, profile, "GPU-SOAK")
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
