"""HOST-DRIFT's figures: what a host's accepted run said, set against what this run says.

``figures(facts)`` takes from a run's facts what can drift: each card's identity (serial, UUID, VBIOS),
its memory health counters (retired pages, remapped rows), its link (width now, the generation the link
trains to at most), its enforced power limit; the measured rates (generation tokens/s, the model's load
time, each link's pinned-copy bandwidth each way, each card's memory-test rate) with the settings they
were measured under; the versions and digests of what serves (driver, kernel module, Ollama, container
image, model). It is written into the later run's evidence as ``baseline.json`` (with where it came
from), so a replay of that run compares the same figures again.

``compare(then, now, max_drop_pct)`` says what changed: ``fail`` lines (a card swapped or reflashed,
counters that grew, a link that fell, a power limit that changed, a rate that fell by more than
``max_drop_pct`` or a load time that rose by more), ``warn`` lines (versions and digests), how many
figures it compared, and what it could not compare and why (measured under other settings, absent in one
run). ``then`` is read from a file: every value is checked for its type and finiteness before use.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from gpuaccept.facts import HostFacts, find_model
from gpuaccept.validate import finite, text_of

_IDENTITY = (("serial", "serial"), ("uuid", "UUID"), ("vbios", "VBIOS"))
_COUNTERS = (("retired_sbe", "single-bit retired pages"), ("retired_dbe", "double-bit retired pages"),
             ("remapped_correctable", "correctable remapped rows"),
             ("remapped_uncorrectable", "uncorrectable remapped rows"))
_VERSIONS = (("driver", "driver"), ("kernel_module", "kernel module"), ("ollama", "Ollama version"),
             ("image", "container image"), ("model_digest", "model digest"))


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def figures(facts: HostFacts, model: str = "") -> dict[str, Any]:
    gpus = [{"index": g.index, "name": g.name, "bus_id": g.bus_id, "serial": g.serial, "uuid": g.uuid, "vbios": g.vbios_version,
             "retired_sbe": g.retired_pages_sbe, "retired_dbe": g.retired_pages_dbe,
             "remapped_correctable": g.remapped_rows_correctable,
             "remapped_uncorrectable": g.remapped_rows_uncorrectable,
             "width": g.pcie_width_current, "gen_max": g.pcie_gen_max, "power_limit_w": g.power_enforced_limit_w}
            for g in facts.gpus] if facts.nvml.ok else None  # an inventory NVML could not give is no figure
    served = find_model(facts.ollama.models or (), model) if model else None
    container = facts.docker.container
    out: dict[str, Any] = {
        "gpus": gpus,
        "driver": facts.driver.nvml_version, "kernel_module": facts.driver.kernel_module_version,
        "ollama": facts.ollama.version or None, "image": container.image if container and container.exists else None,
        "model_digest": served.digest or None if served else None,
    }
    bench = facts.ollama.benchmark
    cut = bench.cut if bench is not None else None
    if bench is not None and cut is not None and cut.slow and cut.streaming_s > 0 and cut.chunks > 1:
        # Stopped as too slow to reach the floor: its rate by the wall clock is the run's figure (OLL-THROUGHPUT's).
        out["benchmark"] = {"settings": bench.settings if isinstance(bench.settings, dict) else {},
                            "tokens_per_s": cut.chunks / cut.streaming_s, "load_s": None, "page_cache": None,
                            "stopped": bench.error[:300]}
    elif bench is not None and bench.error:
        out["benchmark"] = {"stopped": bench.error[:300]}
    elif bench is not None:
        out["benchmark"] = {"settings": bench.settings if isinstance(bench.settings, dict) else {},
                            "tokens_per_s": _median([r.tokens_per_s for r in bench.runs if r.eval_ns]),
                            "load_s": bench.load_ns / 1e9 if bench.load_ns else None,
                            "page_cache": bench.page_cache.state if bench.page_cache is not None else None}
    diag = facts.diag
    if diag is not None and not diag.error:
        out["diag"] = {"settings": {k: diag.settings.get(k) for k in ("copy_mib", "copy_seconds", "memtest_share")},
                       "links": [{"index": c.index, "h2d_gbps": c.h2d.gbps, "d2h_gbps": c.d2h.gbps}
                                 for c in diag.bandwidth.alone],
                       "memtest": [{"index": m.index, "gbps": m.gbps} for m in diag.memtest if not m.error]}
    return out


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass
class Drift:
    fail: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)  # what each kind of failure means, in order, each once
    warn: list[str] = field(default_factory=list)
    compared: int = 0
    cards: int = 0  # of them, figures of a card (identity, counters, link, power limit)
    not_compared: list[str] = field(default_factory=list)


def _failed(d: Drift, line: str, cause: str) -> None:
    d.fail.append(line)
    if cause not in d.causes:
        d.causes.append(cause)


def _pair_gpus(d: Drift, then: list[dict], now: list[dict]) -> list[tuple[str, dict, dict]]:
    """Cards of both runs matched by their PCI address (a card moved to another slot is matched by index);
    a card of either run with no partner is named as not compared."""
    by_bus = {g["bus_id"]: g for g in then if text_of(g.get("bus_id"))}
    pairs, used = [], []
    for g in now:
        old = by_bus.get(g["bus_id"]) if text_of(g.get("bus_id")) else None
        if old is None and _index(g.get("index")) is not None:
            old = next((t for t in then if _index(t.get("index")) == g["index"] and t not in used), None)
        label = f"GPU{_index(g.get('index')) if _index(g.get('index')) is not None else '?'} ({text_of(g.get('bus_id')) or '?'})"
        if old is None or any(old is u for u in used):
            d.not_compared.append(f"{label} (no card of the earlier run to pair it with)")
            continue
        used.append(old)
        pairs.append((label, old, g))
    for t in then:
        if not any(t is u for u in used):
            d.not_compared.append(f"the earlier run's GPU{_index(t.get('index')) if _index(t.get('index')) is not None else '?'} "
                                  f"({text_of(t.get('bus_id')) or '?'}) (no card of this run to pair it with)")
    return pairs


def _rate(d: Drift, label: str, then: Any, now: Any, unit: str, max_drop: float, lower_is_worse: bool = True) -> None:
    a, b = finite(then), finite(now)
    if a is None or b is None or a <= 0:
        d.not_compared.append(f"{label} (not measured in {'both runs' if a is None and b is None else 'one run'})")
        return
    d.compared += 1
    change = (b - a) / a * 100
    worse = -change if lower_is_worse else change
    if worse > max_drop:
        word = "fell" if lower_is_worse else "rose"
        _failed(d, f"{label} {word} {abs(change):.0f}%: {a:.3g} {unit} then, {b:.3g} {unit} now",
                "a measured rate is worse than at the earlier run under the same settings (the figures named)")


def compare(then: dict[str, Any], now: dict[str, Any], max_drop_pct: float) -> Drift:
    d = Drift()
    if not isinstance(then.get("gpus"), list) or not isinstance(now.get("gpus"), list):
        which = "either run" if not isinstance(then.get("gpus"), list) and not isinstance(now.get("gpus"), list) else (
            "the earlier run" if not isinstance(then.get("gpus"), list) else "this run")
        d.not_compared.append(f"the cards (NVML gave no inventory in {which})")
    then_gpus, now_gpus = _items(then.get("gpus")), _items(now.get("gpus"))
    if isinstance(then.get("gpus"), list) and isinstance(now.get("gpus"), list):
        d.compared += 1
        if len(then_gpus) != len(now_gpus):
            _failed(d, f"{len(then_gpus)} GPU(s) then, {len(now_gpus)} now", "a card was added, removed or is not seen")
    before = d.compared
    for label, old, new in _pair_gpus(d, then_gpus, now_gpus) if then_gpus and now_gpus else ():
        for key, name in _IDENTITY:
            a, b = text_of(old.get(key)), text_of(new.get(key))
            if a is None or b is None:
                d.not_compared.append(f"{label} {name} (not reported in {'both runs' if a is None and b is None else 'one run'})")
                continue
            d.compared += 1
            if a != b:
                _failed(d, f"{label} {name} changed: {a} then, {b} now",
                        "the card was reflashed (its VBIOS differs)" if key == "vbios"
                        else "another card is in that slot (its serial or UUID differs)")
        for key, name in _COUNTERS:
            a, b = finite(old.get(key)), finite(new.get(key))
            if a is None or b is None:
                continue  # not every card counts both (row remapping is Ampere's, page retirement older cards')
            d.compared += 1
            if b > a:
                _failed(d, f"{label} {name} grew: {a:g} then, {b:g} now", "the card's memory has degraded since")
        for key, name in (("width", "link width"), ("gen_max", "link generation")):
            a, b = finite(old.get(key)), finite(new.get(key))
            if a is None or b is None:
                d.not_compared.append(f"{label} {name} (not reported in one run)")
                continue
            d.compared += 1
            if b < a:
                unit = "x" if key == "width" else "Gen"
                _failed(d, f"{label} {name} fell: {unit}{a:g} then, {unit}{b:g} now",
                        "the link trains lower than it did (seating, slot, riser or a BIOS setting)")
        a, b = finite(old.get("power_limit_w")), finite(new.get("power_limit_w"))
        if a is not None and b is not None:
            d.compared += 1
            if abs(a - b) >= 1:
                _failed(d, f"{label} enforced power limit changed: {a:g} W then, {b:g} W now",
                        "the power limit was set otherwise since (nvidia-smi -pl, a management tool)")
    d.cards = d.compared - before
    _measured(d, then, now, max_drop_pct)
    for key, name in _VERSIONS:
        a, b = text_of(then.get(key)), text_of(now.get(key))
        if a is not None and b is not None:
            d.compared += 1
            if a != b:
                d.warn.append(f"{name} changed: {a} then, {b} now")
    return d


def _measured(d: Drift, then: dict[str, Any], now: dict[str, Any], max_drop: float) -> None:
    old, new = then.get("benchmark"), now.get("benchmark")
    stopped = next((f"{which} benchmark was stopped: {text_of(b.get('stopped'))}" for which, b in
                    (("the earlier run's", old), ("this run's", new))
                    if isinstance(b, dict) and text_of(b.get("stopped")) and "settings" not in b), None)
    if stopped:
        d.not_compared.append(f"tokens/s and load time ({stopped})")
    elif isinstance(old, dict) and isinstance(new, dict):
        if old.get("settings") != new.get("settings"):
            d.not_compared.append("tokens/s and load time (the benchmark ran with other settings)")
        else:
            _rate(d, "generation", old.get("tokens_per_s"), new.get("tokens_per_s"), "tokens/s", max_drop)
            if old.get("page_cache") == new.get("page_cache"):
                _rate(d, "model load time", old.get("load_s"), new.get("load_s"), "s", max_drop, lower_is_worse=False)
            else:
                d.not_compared.append(f"model load time (page cache {old.get('page_cache')} then, "
                                      f"{new.get('page_cache')} now)")
    elif isinstance(old, dict) or isinstance(new, dict):
        d.not_compared.append("tokens/s and load time (no benchmark in " + ("this run)" if isinstance(old, dict)
                                                                             else "the baseline)"))
    old, new = then.get("diag"), now.get("diag")
    if isinstance(old, dict) and isinstance(new, dict):
        if old.get("settings") != new.get("settings"):
            d.not_compared.append("PCIe bandwidth and memory-test rate (the diag tier ran with other settings)")
            return
        for kind, unit, keys in (("links", "GB/s", (("h2d_gbps", "host-to-device bandwidth"),
                                                    ("d2h_gbps", "device-to-host bandwidth"))),
                                 ("memtest", "GB/s", (("gbps", "memory-test rate"),))):
            earlier = {_index(g.get("index")): g for g in _items(old.get(kind)) if _index(g.get("index")) is not None}
            for g in _items(new.get(kind)):
                if _index(g.get("index")) in earlier:
                    for key, name in keys:
                        _rate(d, f"GPU{g['index']} {name}", earlier[g["index"]].get(key), g.get(key), unit, max_drop)
    elif isinstance(old, dict) or isinstance(new, dict):
        d.not_compared.append("PCIe bandwidth and memory-test rate (no diag tier in " +
                              ("this run)" if isinstance(old, dict) else "the baseline)"))
