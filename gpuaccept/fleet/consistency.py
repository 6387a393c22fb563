"""FLEET-CONSISTENT's comparison: one host against the other hosts of its profile in the same fleet run.

The hosts must agree on the driver and kernel module version, the VBIOS of each card model, the Ollama
version, the container image and the model digest: a host whose value differs from the one most hosts
agree on is the odd one, named with its value and the value the others agree on (the agreeing hosts pass;
with no value agreed by more hosts than any other, every host that differs from another is named). A
measured figure (generation tokens/s) more than ``max_outlier_mads`` median absolute deviations below the
fleet's median, and more than ``min_outlier_pct`` below it, is an outlier, named with the fleet's median.

The figures are gpuaccept.drift's, read from fleet-peers.json: every value is checked before it is used.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gpuaccept.validate import finite, text_of

AGREED = (("driver", "driver"), ("kernel_module", "kernel module"), ("ollama", "Ollama version"),
          ("image", "container image"), ("model_digest", "model digest"))
MEASURED = (("tokens_per_s", "generation tokens/s", ("benchmark", "tokens_per_s")),)


@dataclass
class Consistency:
    odd: list[str] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)  # what was held against the other hosts
    peers: int = 0


def vbios(figures: dict[str, Any]) -> dict[str, str]:
    """card model -> the VBIOS versions its cards report on this host, joined (two of them: the host disagrees
    with itself, which GPU-IDENTICAL judges; here it is a value no other host has)."""
    found: dict[str, set[str]] = {}
    for gpu in figures.get("gpus") if isinstance(figures.get("gpus"), list) else ():
        if isinstance(gpu, dict) and text_of(gpu.get("name")) and text_of(gpu.get("vbios")):
            found.setdefault(gpu["name"], set()).add(gpu["vbios"])
    return {model: ", ".join(sorted(versions)) for model, versions in found.items()}


def _odd(d: Consistency, name: str, mine: str | None, values: dict[str, str]) -> None:
    if mine is None or len(values) < 2:
        return
    d.compared.append(name)
    counts = Counter(values.values())
    (top, most), *rest = counts.most_common()
    tied = bool(rest) and rest[0][1] == most
    if mine == top and not tied:
        return
    if mine != top and not tied:
        d.odd.append(f"{name} {mine}, where {most} of {len(values)} hosts have {top}")
    elif len(counts) > 1:
        others = ", ".join(f"{v} ({n})" for v, n in counts.most_common() if v != mine)
        d.odd.append(f"{name} {mine}, the hosts disagree with no value most of them share: also {others}")


def compare(this: str, peers: dict[str, Any], max_mads: float, min_pct: float) -> Consistency:
    d = Consistency()
    hosts = {h: f for h, f in peers.items() if isinstance(f, dict)} if isinstance(peers, dict) else {}
    mine = hosts.get(this)
    d.peers = len(hosts) - (1 if mine is not None else 0)
    if mine is None:
        return d
    for key, name in AGREED:
        values = {h: v for h, f in hosts.items() if (v := text_of(f.get(key))) is not None}
        _odd(d, name, text_of(mine.get(key)), values)
    flashed = {h: vbios(f) for h, f in hosts.items()}
    for model, mine_v in flashed[this].items():
        _odd(d, f"{model} VBIOS", mine_v, {h: v[model] for h, v in flashed.items() if model in v})
    for _, name, path in MEASURED:
        values = {}
        for h, f in hosts.items():
            part = f.get(path[0])
            value = finite(part.get(path[1])) if isinstance(part, dict) else None
            if value is not None:
                values[h] = value
        if this not in values or len(values) < 3:  # a median of two says nothing about which one is off
            continue
        median = statistics.median(values.values())
        if median <= 0:  # no rate to be a share of: not a figure to compare
            continue
        d.compared.append(name)
        mad = statistics.median(abs(v - median) for v in values.values())
        below = median - values[this]
        if below > max(max_mads * mad, min_pct / 100 * median):
            d.odd.append(f"{name} {values[this]:.3g}, {below / median * 100:.0f}% below the fleet's median of "
                         f"{median:.3g} over {len(values)} hosts (median absolute deviation {mad:.3g})")
    return d
