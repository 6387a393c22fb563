"""Per-GPU benchmark samples as self-contained SVG charts (no script, no fetch).

Two GPUs doing the same work draw the same line: each GPU therefore has its own colour, dash pattern and
marker, the markers of different GPUs sit on different samples, and the legend gives each GPU's mean over
the measured runs, so equal lines read as "both GPUs, equal", never as one GPU. The measured runs are
shaded, so warm-up and load are told apart from what was judged.

Every sample value comes from evidence: anything that is not a finite number is left out, and every text
is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from gpuaccept.facts import Benchmark, GpuSample
from gpuaccept.validate import finite

COLOURS = ("#1f77b4", "#c62828", "#2e7d32", "#6a3d9a", "#e65100", "#5d4037", "#ad1457", "#00838f")
DASHES = ("none", "7 4", "2 3", "10 3 2 3", "5 2", "1 4", "12 6", "4 2 1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "circle", "square", "triangle")
TILE = "GPU {title} during the benchmark, per GPU"  # aria-label of a one-metric chart (the first screen's)
PAIR = "GPU utilization and memory during the benchmark"  # aria-label of the two-panel chart on report rows


@dataclass(frozen=True)
class Metric:
    title: str
    unit: str
    value: Callable[[GpuSample], Any]
    floor_max: float  # the y axis reaches at least this (a metric near zero still has a scale)


METRICS = (
    Metric("utilization", "%", lambda g: g.util_pct, 100),
    Metric("memory used", " GiB", lambda g: finite(g.mem_used_mib) / 1024 if finite(g.mem_used_mib) is not None else None, 1),
    Metric("temperature", " °C", lambda g: g.temp_c, 90),
    Metric("power", " W", lambda g: g.power_w, 50),
    Metric("PCIe link generation", "", lambda g: g.pcie_gen, 4),
)


def series(source: Any, metric: Metric) -> dict[str, list[tuple[float, float]]]:
    """GPU label -> its (time, value) points from ``source.samples`` (a benchmark's, the diag tier's); samples
    without a finite time or value are skipped."""
    out: dict[str, list[tuple[float, float]]] = {}
    for sample in getattr(source, "samples", ()) or ():
        t = finite(getattr(sample, "t", None))
        if t is None:
            continue
        for gpu in getattr(sample, "gpus", ()) or ():
            try:
                v = finite(metric.value(gpu))
            except (TypeError, AttributeError):
                v = None
            label = f"GPU{gpu.index}"
            out.setdefault(label, [])
            if v is not None:
                out[label].append((t, v))
    return dict(sorted(out.items(), key=lambda kv: (len(kv[0]), kv[0])))


def mean_in(points: list[tuple[float, float]], window: tuple[float, float]) -> float | None:
    """The mean over the measured runs (over all samples when none falls inside them)."""
    inside = [v for t, v in points if window[0] <= t <= window[1]] or [v for _, v in points]
    return sum(inside) / len(inside) if inside else None


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
    if kind == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="white" stroke="{colour}" stroke-width="1.5"/>'
    if kind == "triangle":
        return f'<path d="M{x:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 3:.1f}L{x - 4:.1f},{y + 3:.1f}Z" fill="{colour}"/>'
    if kind == "diamond":
        return (f'<path d="M{x:.1f},{y - 4:.1f}L{x + 4:.1f},{y:.1f}L{x:.1f},{y + 4:.1f}L{x - 4:.1f},{y:.1f}Z" '
                f'fill="white" stroke="{colour}"/>')
    return (f'<path d="M{x - 3:.1f},{y - 3:.1f}L{x + 3:.1f},{y + 3:.1f}M{x + 3:.1f},{y - 3:.1f}L{x - 3:.1f},{y + 3:.1f}" '
            f'stroke="{colour}" stroke-width="1.5"/>')


def _style(n: int) -> tuple[str, str, str]:
    return COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)], MARKERS[n % len(MARKERS)]


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    width: float
    height: float


def _panel(data: dict[str, list[tuple[float, float]]], box: Box, y_max: float, t_max: float, title: str,
           unit: str, shade: tuple[float, float]) -> list[str]:
    def x(t: float) -> float:
        return box.left + box.width * (min(max(t, 0.0), t_max) / t_max if t_max else 0)

    def y(v: float) -> float:
        return box.top + box.height - box.height * (min(max(v, 0.0), y_max) / y_max if y_max else 0)

    fmt = ".0f" if y_max >= 10 else ".1f"
    out = [f'<rect x="{x(shade[0]):.1f}" y="{box.top}" width="{max(0.0, x(shade[1]) - x(shade[0])):.1f}" '
           f'height="{box.height}" fill="#e3ecf8"/>',
           f'<rect x="{box.left}" y="{box.top}" width="{box.width}" height="{box.height}" fill="none" stroke="#767676"/>',
           f'<text x="{box.left}" y="{box.top - 6}" font-size="12" font-weight="bold" fill="#1a1a1a">{escape(title)}</text>',
           f'<text x="{box.left - 4}" y="{box.top + 9}" font-size="10" text-anchor="end" fill="#1a1a1a">'
           f'{y_max:{fmt}}{escape(unit)}</text>',
           f'<text x="{box.left - 4}" y="{box.top + box.height}" font-size="10" text-anchor="end" fill="#1a1a1a">0</text>']
    count = len(data)
    for n, (label, points) in enumerate(data.items()):
        if not points:
            continue
        colour, dash, marker = _style(n)
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        # The first GPU is drawn widest, underneath: an equal line drawn dashed over it leaves both visible.
        width = 3 if n == 0 else 1.8
        out.append(f'<polyline class="gpu-line" data-gpu="{escape(label)}" fill="none" stroke="{colour}" '
                   f'stroke-width="{width}" stroke-dasharray="{dash}" points="{path}"/>')
        step = max(1, len(points) // 8)
        offset = (n * step) // max(count, 1)  # each GPU's markers on other samples than the others'
        out += [_marker(marker, x(t), y(v), colour) for t, v in points[offset::step]]
    return out


def _legend(data: dict[str, list[tuple[float, float]]], left: float, top: float, unit: str,
            window: tuple[float, float], columns: int, column_width: float) -> list[str]:
    out = ['<g class="legend">']
    for n, (label, points) in enumerate(data.items()):
        colour, dash, marker = _style(n)
        lx, ly = left + (n % columns) * column_width, top + 14 * (n // columns)
        mean = mean_in(points, window)
        said = f"mean {mean:.1f}{unit}" if mean is not None else "no readable samples"
        out.append(f'<line x1="{lx:.1f}" y1="{ly:.1f}" x2="{lx + 26:.1f}" y2="{ly:.1f}" stroke="{colour}" stroke-width="2" '
                   f'stroke-dasharray="{dash}"/>')
        out.append(_marker(marker, lx + 13, ly, colour))
        out.append(f'<text x="{lx + 32:.1f}" y="{ly + 4:.1f}" font-size="11" fill="#1a1a1a">'
                   f"{escape(label)}: {escape(said)}</text>")
    return [*out, "</g>"]


def _time_range(bench: Benchmark) -> tuple[float, tuple[float, float]]:
    times = [t for t in (finite(getattr(s, "t", None)) for s in bench.samples) if t is not None]
    t_max = max(times + [0.0]) or 1.0
    shade = (finite(bench.measure_from) or 0.0, finite(bench.measure_to) or 0.0)
    return t_max, shade


def _y_max(metric: Metric, data: dict[str, list[tuple[float, float]]], extra: list[float]) -> float:
    top = max([v for pts in data.values() for _, v in pts] + extra + [metric.floor_max])
    return math.ceil(top) if metric.title in ("utilization", "PCIe link generation") else math.ceil(top * 1.05)


def metric_svg(bench: Benchmark, metric: Metric, memory_total_mib: dict[int, float] | None = None,
               width: int = 320) -> str:
    """One metric for every GPU: lines, the measured runs shaded, a legend with each GPU's mean."""
    data = series(bench, metric)
    t_max, shade = _time_range(bench)
    totals = [v / 1024 for v in (memory_total_mib or {}).values() if finite(v)] if metric.title == "memory used" else []
    return line_svg(data, TILE.format(title=metric.title), f"GPU {metric.title}", metric.unit,
                    _y_max(metric, data, totals), t_max, shade, width=width)


@dataclass(frozen=True)
class Ref:
    """A horizontal line across a chart at a limit the verdict used (a temperature, a power limit), labelled."""

    value: float
    label: str


REF_COLOUR = "#1a1a1a"  # none of the GPUs' colours: a limit never reads as a GPU's line
REF_DASHES = ("1 2", "6 3")  # a chart's second limit (power: the floor under the limit) dashed otherwise


def line_svg(data: dict[str, list[tuple[float, float]]], label: str, title: str, unit: str, y_max: float,
             t_max: float, shade: tuple[float, float], refs: tuple[Ref, ...] = (), width: int = 320,
             mean_over: tuple[float, float] | None = None) -> str:
    """Every GPU's line over time, ``shade`` shaded, ``refs`` drawn across; the legend gives each GPU's mean
    inside ``mean_over`` (default: the shaded span). Empty when no GPU has a point to draw."""
    if not any(data.values()):
        return ""
    refs = tuple(r for r in refs if finite(r.value) is not None)
    columns = 1 if len(data) <= 3 else 2  # a legend entry needs about half the chart's width
    legend_rows = math.ceil(len(data) / columns) + len(refs)
    left = max(42, 6 + 5.5 * len(f"{y_max:.0f}{unit}"))  # room for the axis's top label ("1608 MHz")
    box = Box(left, 20, width - left - 10, 78)
    height = int(box.top + box.height + 20 + 14 * legend_rows + 6)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gpu-chart" width="{width}" height="{height}" '
             f'font-family="sans-serif" role="img" aria-label="{escape(label)}">']
    parts += _panel(data, box, y_max, t_max, title, unit, shade)
    for n, ref in enumerate(refs):
        ry = box.top + box.height - box.height * (min(max(ref.value, 0.0), y_max) / y_max if y_max else 0)
        parts.append(f'<line class="ref" x1="{box.left}" y1="{ry:.1f}" x2="{box.left + box.width}" y2="{ry:.1f}" '
                     f'stroke="{REF_COLOUR}" stroke-width="1.5" stroke-dasharray="{REF_DASHES[n % 2]}"/>')
    axis_y = box.top + box.height + 11
    parts.append(f'<text x="{box.left}" y="{axis_y}" font-size="9" fill="#1a1a1a">0 s</text>')
    parts.append(f'<text x="{box.left + box.width}" y="{axis_y}" font-size="9" text-anchor="end" fill="#1a1a1a">{t_max:.1f} s</text>')
    parts += _legend(data, box.left, axis_y + 12, unit, mean_over or shade, columns, (width - box.left) / columns)
    ref_top = axis_y + 12 + 14 * math.ceil(len(data) / columns)
    for n, ref in enumerate(refs):  # listed under the GPUs: a label on the line itself would hide samples
        ly = ref_top + 14 * n
        parts.append(f'<line x1="{box.left:.1f}" y1="{ly:.1f}" x2="{box.left + 26:.1f}" y2="{ly:.1f}" '
                     f'stroke="{REF_COLOUR}" stroke-width="1.5" stroke-dasharray="{REF_DASHES[n % 2]}"/>')
        parts.append(f'<text class="ref-label" x="{box.left + 32:.1f}" y="{ly + 4:.1f}" font-size="11" fill="#1a1a1a">'
                     f"{escape(ref.label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def metric_charts(bench: Benchmark, memory_total_mib: dict[int, float]) -> list[str]:
    """A chart per GPU metric that matters: utilization, memory, temperature, power, link generation."""
    return [svg for svg in (metric_svg(bench, m, memory_total_mib) for m in METRICS) if svg]


def benchmark_svg(bench: Benchmark, memory_total_mib: dict[int, float]) -> str:
    """Utilization (0-100 %) over memory used (0 to the largest card's total), sharing the time axis."""
    util, mem = series(bench, METRICS[0]), series(bench, METRICS[1])
    if not any(util.values()) and not any(mem.values()):
        return ""
    t_max, shade = _time_range(bench)
    w, left, right, top, h, gap = 720, 56, 190, 22, 150, 34
    box_u, box_m = Box(left, top, w - left - right, h), Box(left, top + h + gap, w - left - right, h)
    totals = [v / 1024 for v in memory_total_mib.values() if finite(v)]
    height = top + 2 * h + gap + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" '
             f'role="img" aria-label="{PAIR}">']
    parts += _panel(util, box_u, 100, t_max, "GPU utilization", "%", shade)
    parts += _panel(mem, box_m, _y_max(METRICS[1], mem, totals), t_max, "GPU memory used", " GiB", shade)
    axis_y = top + 2 * h + gap + 16
    parts.append(f'<text x="{left}" y="{axis_y}" font-size="10" fill="#1a1a1a">0 s</text>')
    parts.append(f'<text x="{w - right}" y="{axis_y}" font-size="10" text-anchor="end" fill="#1a1a1a">{t_max:.1f} s</text>')
    parts.append(f'<text x="{(left + w - right) / 2}" y="{axis_y + 14}" font-size="10" text-anchor="middle" fill="#1a1a1a">'
                 f'{len(bench.samples)} samples; shaded: the measured runs</text>')
    parts += _legend(util, w - right + 12, top + 8, "%", shade, 1, 0)
    parts += _legend(mem, w - right + 12, top + h + gap + 8, " GiB", shade, 1, 0)
    parts.append("</svg>")
    return "".join(parts)
