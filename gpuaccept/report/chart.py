"""Per-GPU utilization and memory over the benchmark, as a self-contained SVG (no script, no fetch).

Two panels share the time axis: utilization (0-100 %) and memory used (0 to the largest card's total).
The measured runs are shaded, so warm-up and load are told apart from what was judged.
"""

from __future__ import annotations

from html import escape

from gpuaccept.facts import Benchmark

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
W, H, LEFT, RIGHT, TOP, GAP = 720, 150, 56, 110, 22, 34


def _panel(series: dict[int, list[tuple[float, float]]], y_max: float, t_max: float, top: int, title: str,
           unit: str, shade: tuple[float, float]) -> list[str]:
    width = W - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + width * (t / t_max if t_max else 0)

    def y(v: float) -> float:
        return top + H - H * (min(v, y_max) / y_max if y_max else 0)

    out = [f'<rect x="{x(shade[0]):.1f}" y="{top}" width="{max(0.0, x(shade[1]) - x(shade[0])):.1f}" height="{H}" '
           'fill="#eef3fb"/>',
           f'<rect x="{LEFT}" y="{top}" width="{width}" height="{H}" fill="none" stroke="#999"/>',
           f'<text x="{LEFT}" y="{top - 6}" font-size="12" font-weight="bold">{escape(title)}</text>',
           f'<text x="{LEFT - 6}" y="{top + 10}" font-size="10" text-anchor="end">{y_max:.0f}{unit}</text>',
           f'<text x="{LEFT - 6}" y="{top + H}" font-size="10" text-anchor="end">0</text>']
    for i, points in sorted(series.items()):
        if points:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
            out.append(f'<polyline fill="none" stroke="{COLOURS[i % len(COLOURS)]}" stroke-width="1.5" points="{path}"/>')
    return out


def benchmark_svg(bench: Benchmark, memory_total_mib: dict[int, float]) -> str:
    samples = bench.samples
    if not samples:
        return ""
    t_max = samples[-1].t or 1.0
    indexes = sorted({g.index for s in samples for g in s.gpus})
    util = {i: [(s.t, g.util_pct) for s in samples for g in s.gpus if g.index == i and g.util_pct is not None]
            for i in indexes}
    mem = {i: [(s.t, g.mem_used_mib / 1024) for s in samples for g in s.gpus if g.index == i
               and g.mem_used_mib is not None] for i in indexes}
    mem_max = max([v / 1024 for v in memory_total_mib.values()] + [v for pts in mem.values() for _, v in pts] + [1])
    shade = (bench.measure_from, bench.measure_to)
    height = TOP + 2 * H + GAP + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" '
             f'role="img" aria-label="GPU utilization and memory during the benchmark">']
    parts += _panel(util, 100, t_max, TOP, "GPU utilization", "%", shade)
    parts += _panel(mem, mem_max, t_max, TOP + H + GAP, "GPU memory used", " GiB", shade)
    axis_y = TOP + 2 * H + GAP + 16
    parts.append(f'<text x="{LEFT}" y="{axis_y}" font-size="10">0 s</text>')
    parts.append(f'<text x="{W - RIGHT}" y="{axis_y}" font-size="10" text-anchor="end">{t_max:.1f} s</text>')
    parts.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{axis_y + 14}" font-size="10" text-anchor="middle">'
                 f'{len(samples)} samples; shaded: the measured runs</text>')
    for n, i in enumerate(indexes):
        parts.append(f'<rect x="{W - RIGHT + 12}" y="{TOP + 4 + 16 * n}" width="12" height="3" '
                     f'fill="{COLOURS[i % len(COLOURS)]}"/>')
        parts.append(f'<text x="{W - RIGHT + 28}" y="{TOP + 9 + 16 * n}" font-size="11">GPU{escape(str(i))}</text>')
    parts.append("</svg>")
    return "".join(parts)
