"""The diag tier's part of the first screen, drawn from ``diag.json`` (HostFacts.diag).

The soak charts show every GPU over the whole tier (copies, memory test, soak) with the soak shaded and
the limits GPU-SOAK judged against drawn across: slowdown minus margin on the temperature, the enforced
limit and its required share on the power. The copy bandwidths are bars against the profile's floor,
and a table gives the PCIe link NVML sampled while each GPU's copies ran: a link that trained low shows
there, beside the figure it explains.

diag.json is evidence: every value may be missing, of the wrong type or not finite, and is then left
out (said as "no figure" or "no samples"), never plotted; every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape
from typing import Any

from gpuaccept.facts import GpuFacts, HostFacts
from gpuaccept.profile import DiagSpec
from gpuaccept.report.chart import COLOURS, Metric, Ref, line_svg, series
from gpuaccept.validate import finite

SOAK_TILE = "GPU {title} during the diag tier, per GPU"  # aria-label of each soak chart
BANDWIDTH = "Pinned copy bandwidth per GPU, alone and all at once"  # aria-label of the bandwidth chart
SOAK_METRICS = (
    Metric("temperature", " °C", lambda g: g.temp_c, 90),
    Metric("power", " W", lambda g: g.power_w, 50),
    Metric("SM clock", " MHz", lambda g: g.sm_clock_mhz, 500),
)
DIRECTIONS = (("alone", "h2d", "alone H2D"), ("alone", "d2h", "alone D2H"),
              ("together", "h2d", "all at once H2D"), ("together", "d2h", "all at once D2H"))


def soak_window(diag: Any) -> tuple[float, float] | None:
    """The soak's (start, end) on the samples' clock, or None when diag.json gives no usable one."""
    soak = getattr(diag, "soak", None)
    start, end = finite(getattr(soak, "start_t", None)), finite(getattr(soak, "end_t", None))
    return (start, end) if start is not None and end is not None and end > start else None


def _distinct(values: Iterable[Any]) -> list[float]:
    return sorted({v for v in (finite(x) for x in values) if v is not None})


def soak_refs(metric: Metric, gpus: Iterable[GpuFacts], spec: DiagSpec) -> tuple[Ref, ...]:
    """The limits GPU-SOAK judged this metric against; one line per distinct value across the GPUs."""
    gpus = list(gpus)
    if metric.title == "temperature":
        margin = finite(spec.temp_margin_c) or 0.0
        return tuple(Ref(s - margin, f"slowdown {s:.0f} °C - margin {margin:g} °C = {s - margin:.0f} °C")
                     for s in _distinct(g.temp_slowdown_c for g in gpus))
    if metric.title == "power":
        share = finite(spec.soak_power_share) or 0.0
        refs = []
        for limit in _distinct(g.power_enforced_limit_w for g in gpus):
            refs.append(Ref(limit, f"enforced limit {limit:.0f} W"))
            if share:
                refs.append(Ref(limit * share, f"{share:.0%} of it: {limit * share:.0f} W (the floor)"))
        return tuple(refs)
    return ()


def soak_charts(diag: Any, gpus: Iterable[GpuFacts], spec: DiagSpec) -> list[str]:
    """Temperature, power and SM clock of every GPU over the tier, the soak shaded; empty without samples."""
    gpus = list(gpus)
    times = [t for t in (finite(getattr(s, "t", None)) for s in getattr(diag, "samples", ()) or ()) if t is not None]
    t_max = max(times + [0.0]) or 1.0
    window = soak_window(diag)
    charts = []
    for metric in SOAK_METRICS:
        data = series(diag, metric)
        refs = soak_refs(metric, gpus, spec)
        top = max([v for pts in data.values() for _, v in pts] + [r.value for r in refs] + [metric.floor_max])
        # Without a soak window nothing is shaded and each legend's mean is over every sample.
        svg = line_svg(data, SOAK_TILE.format(title=metric.title), f"GPU {metric.title}", metric.unit,
                       math.ceil(top * 1.05), t_max, window or (0.0, 0.0), refs, mean_over=window or (-math.inf, math.inf))
        if svg:
            charts.append(svg)
    return charts


def _rows(bandwidth: Any, kind: str) -> dict[Any, Any]:
    """GPU index -> its copies ("alone" or "together"); entries without an index are left out."""
    return {getattr(r, "index", None): r for r in getattr(bandwidth, kind, ()) or () if getattr(r, "index", None) is not None}


def _rate(row: Any, direction: str) -> float | None:
    return finite(getattr(getattr(row, direction, None), "gbps", None)) if row is not None else None


def _gpu_order(indices: Iterable[Any]) -> list[Any]:
    return sorted(set(indices), key=lambda i: (not isinstance(i, int), str(i) if not isinstance(i, int) else i))


def bandwidth_svg(bandwidth: Any, floor_gbps: float, width: int = 420) -> str:
    """One group of bars per GPU (alone: filled; all at once: outlined), the profile's floor drawn across."""
    kinds = {kind: _rows(bandwidth, kind) for kind in ("alone", "together")}
    order = _gpu_order([*kinds["alone"], *kinds["together"]])
    figures = [_rate(kinds[k].get(i), d) for i in order for k, d, _ in DIRECTIONS]
    if not any(f is not None for f in figures):
        return ""
    floor = finite(floor_gbps)
    scale = math.ceil(max([f for f in figures if f is not None] + [floor or 0.0, 1.0]) * 1.15)
    left, plot, bar, step, head = 100, width - 100 - 130, 10, 14, 18
    groups = [(i, [(name, _rate(kinds[k].get(i), d)) for k, d, name in DIRECTIONS if kinds[k].get(i) is not None])
              for i in order]
    height = 26 + sum(head + step * len(bars) for _, bars in groups) + 14
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="diag-bandwidth" width="{width}" height="{height}" '
           f'font-family="sans-serif" role="img" aria-label="{BANDWIDTH}">',
           '<text x="0" y="12" font-size="12" font-weight="bold" fill="#1a1a1a">Pinned copies, GB/s</text>']
    y = 26
    for n, (index, bars) in enumerate(groups):
        colour = COLOURS[n % len(COLOURS)]
        out.append(f'<text x="0" y="{y + 12}" font-size="11" font-weight="bold" fill="#1a1a1a">GPU{escape(str(index))}</text>')
        y += head
        for name, gbps in bars:
            out.append(f'<text x="{left - 6}" y="{y + 9}" font-size="10" text-anchor="end" fill="#1a1a1a">{name}</text>')
            if gbps is None:
                out.append(f'<text x="{left + 2}" y="{y + 9}" font-size="10" fill="#1a1a1a">no figure</text>')
            else:
                length = plot * min(max(gbps, 0.0), scale) / scale
                # Outlined bars for all-at-once: the pattern, not only the colour, tells the two apart.
                fill = colour if name.startswith("alone") else "#ffffff"
                below = " (below the floor)" if floor is not None and gbps < floor else ""
                out.append(f'<rect class="bar" data-gpu="GPU{escape(str(index))}" x="{left}" y="{y}" width="{length:.1f}" '
                           f'height="{bar}" fill="{fill}" stroke="{colour}" stroke-width="1.5"/>')
                out.append(f'<text x="{left + length + 4:.1f}" y="{y + 9}" font-size="10" fill="#1a1a1a">'
                           f"{gbps:.1f}{below}</text>")
            y += step
    if floor is not None:
        fx = left + plot * min(floor, scale) / scale
        out.append(f'<line class="floor" x1="{fx:.1f}" y1="20" x2="{fx:.1f}" y2="{y}" stroke="#1a1a1a" '
                   f'stroke-width="1.5" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{fx:.1f}" y="{y + 8}" font-size="10" text-anchor="middle" fill="#1a1a1a">'
                   f"floor {floor:g}</text>")
    out.append("</svg>")
    return "".join(out)


def _span(values: list[float], prefix: str) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    return f"{prefix}{low:.0f}" if low == high else f"{prefix}{low:.0f}-{prefix}{high:.0f}"


def sampled_link(diag: Any, index: Any, rows: list[Any]) -> str:
    """The PCIe generation and width NVML sampled on this GPU while the given copies ran ("Gen3 x16")."""
    found = []
    for row in rows:
        for direction in ("h2d", "d2h"):
            rate = getattr(row, direction, None)
            start, end = finite(getattr(rate, "start_t", None)), finite(getattr(rate, "end_t", None))
            if start is not None and end is not None:
                found += [g for s in getattr(diag, "samples", ()) or () if (t := finite(getattr(s, "t", None))) is not None
                          and start <= t <= end for g in getattr(s, "gpus", ()) or () if getattr(g, "index", None) == index]
    gens = [v for v in (finite(getattr(g, "pcie_gen", None)) for g in found) if v is not None]
    widths = [v for v in (finite(getattr(g, "pcie_width", None)) for g in found) if v is not None]
    said = " ".join(x for x in (_span(gens, "Gen"), _span(widths, "x")) if x)
    return f"{said} ({len(found)} samples)" if said else "no samples"


def link_table(diag: Any, gpus: Iterable[GpuFacts]) -> str:
    """Per GPU: the link sampled during its copies alone and all at once, beside the link's maximum."""
    facts = {g.index: g for g in gpus}
    kinds = {kind: _rows(getattr(diag, "bandwidth", None), kind) for kind in ("alone", "together")}
    order = _gpu_order([*kinds["alone"], *kinds["together"]])
    if not order:
        return ""
    rows = []
    for index in order:
        gpu = facts.get(index)
        most = (f"Gen{gpu.pcie_gen_max} x{gpu.pcie_width_max}" if gpu is not None and gpu.pcie_gen_max and gpu.pcie_width_max
                else "not known")
        cells = [f"GPU{index}", *(sampled_link(diag, index, [kinds[k][index]]) if index in kinds[k] else "not run"
                                  for k in ("alone", "together")), most]
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    return ('<table class="diag-link"><tr><th>GPU</th><th>Link during its copies alone</th>'
            "<th>During the copies all at once</th><th>Link maximum</th></tr>" + "".join(rows) + "</table>")


def section(host: HostFacts, spec: DiagSpec) -> str:
    """The diag tier's charts and link table, or a line saying why there are none."""
    diag = host.diag
    if diag is None:
        return f"<p>No diag charts: {escape(host.diag_missing or 'no diag.json')}.</p>"
    if diag.error:
        return f"<p>No diag charts: the tier did not run ({escape(str(diag.error))}).</p>"
    window = soak_window(diag)
    soak = (f"shaded: the soak, {window[1] - window[0]:.0f} s" if window else "no soak window recorded")
    charts = soak_charts(diag, host.gpus, spec)
    said = (f"<p>Per GPU over the diag tier ({soak}; legend: each GPU's mean there; dotted and dashed: the limits GPU-SOAK "
            f"judges against)</p>" if charts else "<p>No NVML samples to chart from the diag tier.</p>")
    copies = bandwidth_svg(diag.bandwidth, spec.bandwidth_floor_gbps)
    shown = "".join(f"<div>{svg}</div>" for svg in [*charts, copies] if svg)
    table = link_table(diag, host.gpus)
    return (said + f'<div class="gpuaccept-charts">{shown}</div>'
            + (f"<p>PCIe link sampled during the copies</p>{table}" if table else ""))
