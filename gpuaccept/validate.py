"""Untrusted values -> checked values: JSON without NaN or Infinity, shapes and types that follow type
hints, and plausible ranges.

Evidence may come from another machine, a damaged copy or a hostile hand. Nothing of it reaches the facts
unchecked: every problem is one ``Invalid`` that names where it is and why
(``gpus[1].memory_total_mib is NaN``), so the requirements that depend on it can say so instead of
judging a value that compares false with everything.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from typing import Any

# Field name -> (lowest, highest) plausible value, wherever the field appears (facts or evidence shapes).
# Outside these a reading is damaged, not a hardware fault: no GPU has 10^8 MiB or a 10^6 W limit.
_MIB = (0, 10**7)  # 10 TiB
_WATTS = (0, 10**5)
_CELSIUS = (-50, 200)
_COUNT = (0, 10**12)
_NANOSECONDS = (0, 10**15)  # about 11 days
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "index": (0, 1023),
    "memory_total_mib": _MIB, "bar1_total_mib": _MIB, "mem_used_mib": _MIB,
    "power_default_limit_w": _WATTS, "power_enforced_limit_w": _WATTS, "power_max_limit_w": _WATTS,
    "power_w": _WATTS,
    "temp_slowdown_c": _CELSIUS, "temp_shutdown_c": _CELSIUS, "temp_c": _CELSIUS,
    "pcie_gen_current": (1, 8), "pcie_gen_max": (1, 8), "pcie_gen": (1, 8),
    "pcie_width_current": (1, 32), "pcie_width_max": (1, 32), "pcie_width": (1, 32),
    "pci_device_id": (0, 0xFFFF), "pci_subsystem_id": (0, 0xFFFFFFFF),
    "ecc_uncorrected_volatile": _COUNT, "ecc_uncorrected_aggregate": _COUNT,
    "retired_pages_sbe": _COUNT, "retired_pages_dbe": _COUNT,
    "util_pct": (0, 100), "throttle": (0, 2**64 - 1),
    "eval_count": _COUNT, "prompt_eval_count": _COUNT,
    "eval_ns": _NANOSECONDS, "prompt_eval_ns": _NANOSECONDS, "load_ns": _NANOSECONDS, "total_ns": _NANOSECONDS,
    "ttft_s": (0, 10**6), "t": (0, 10**7), "measure_from": (0, 10**7), "measure_to": (0, 10**7),
    "baseline_at": (0, 10**7),
    "size": (0, 10**15), "size_vram": (0, 10**15), "context_length": (0, 10**9),  # bytes, tokens
    # diag.json: no copy moves 10^5 GB/s, no card has a petabyte, no counter runs negative
    "gbps": (0, 10**5), "seconds": (0, 10**7), "copies": _COUNT, "start_t": (0, 10**7), "end_t": (0, 10**7),
    "requested_s": (0, 10**7), "launches": _COUNT, "launch_ms": (0, 10**7), "copy_bytes": (0, 10**15),
    "free_bytes": (0, 10**15), "total_bytes": (0, 10**15), "tested_bytes": (0, 10**15), "bytes_moved": (0, 10**18),
    "mismatches": _COUNT, "pcie_replay": _COUNT, "ecc_corrected": _COUNT, "ecc_uncorrected": _COUNT,
    "sm_clock_mhz": (0, 10**5), "cuda_ordinal": (0, 1023),
}


class Invalid(ValueError):
    """A value that fails validation: where it is (``gpus[1].memory_total_mib``) and why."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path} {why}" if path else why)
        self.path, self.why = path, why


def load_json(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and numbers too large for a float, naming where they are."""
    found: list[bool] = []

    def constant(name: str) -> float:  # NaN, Infinity, -Infinity: valid to Python's json, not to JSON
        found.append(True)
        return math.nan if name == "NaN" else math.copysign(math.inf, -1 if name.startswith("-") else 1)

    def number(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):  # 1e999
            found.append(True)
        return value

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # Two values for one key: which one a reader takes is a matter of parser, so the file says nothing.
        seen: dict[str, Any] = {}
        for key, item in pairs:
            if key in seen:
                raise Invalid("", f"holds the key {key!r} twice (contradictory: which value is meant?)")
            seen[key] = item
        return seen

    try:
        value = json.loads(text, parse_constant=constant, parse_float=number, object_pairs_hook=unique)
    except Invalid:
        raise
    except RecursionError:
        raise Invalid("", "is nested too deeply to be evidence") from None
    except ValueError as err:
        raise Invalid("", f"is not valid JSON ({err})") from None
    if found:
        path, bad = _first_non_finite(value)
        raise Invalid(path, f"is {_describe_float(bad)}")
    return value


def _first_non_finite(value: Any) -> tuple[str, float]:
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path, item
        if isinstance(item, dict):
            stack.extend((join(path, k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return "", math.nan


def _describe_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def join(path: str, key: Any) -> str:
    key = str(key)
    name = key if re.fullmatch(r"[A-Za-z_][\w-]*", key) else json.dumps(key)
    if not path:
        return name if name == key else f"[{name}]"
    return f"{path}.{name}" if name == key else f"{path}[{name}]"


def describe(value: Any) -> str:
    """How a message names a value: in JSON's words, since evidence is JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp) or typing.is_typeddict(tp):
        return "an object"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def conform(tp: Any, value: Any, path: str = "") -> Any:
    """``value`` checked against the type hint ``tp``; dataclasses are built, TypedDicts kept as dicts.

    Strict: an int is not a bool, a str or a float; a float is a finite int or float; a str is a str;
    tuples and lists hold the right items; objects have their required keys. Unknown keys are ignored
    (and dropped from TypedDicts, so nothing unchecked reaches a parser). Fields named in ``PLAUSIBLE``
    must lie in their range. Raises ``Invalid`` naming the path.
    """
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:
            try:
                return conform(option, value, path)
            except Invalid:
                continue
        return conform(options[-1], value, path)
    if dataclasses.is_dataclass(tp):
        obj = _object(tp, value, path)
        hints = typing.get_type_hints(tp)
        values = {}
        for f in dataclasses.fields(tp):
            if not f.init:
                continue
            if f.name in obj:
                values[f.name] = _field(f.name, hints[f.name], obj[f.name], path)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise Invalid(join(path, f.name), "is missing")
        return tp(**values)
    if typing.is_typeddict(tp):
        obj = _object(tp, value, path)
        hints = typing.get_type_hints(tp)
        for key in tp.__required_keys__:
            if key not in obj:
                raise Invalid(join(path, key), "is missing")
        return {k: _field(k, hints[k], v, path) for k, v in obj.items() if k in hints}
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise Invalid(path, f"is {describe(value)}, expected a list")
        args = typing.get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise Invalid(path, f"is {describe(value)}, expected a list of {len(args)}")
            items = [conform(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))]
        else:
            items = [conform(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise Invalid(path, f"is {describe(value)}, expected an object")
        key_tp, value_tp = typing.get_args(tp)
        return {conform(key_tp, k, path): conform(value_tp, v, join(path, k)) for k, v in value.items()}
    return _scalar(tp, value, path)


def _object(tp: Any, value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise Invalid(path, f"is {describe(value)}, expected {_expected(tp)}")
    return value


def _field(name: str, tp: Any, value: Any, path: str) -> Any:
    where = join(path, name)
    checked = conform(tp, value, where)
    if name in PLAUSIBLE and isinstance(checked, (int, float)) and not isinstance(checked, bool):
        low, high = PLAUSIBLE[name]
        if not low <= checked <= high:
            raise Invalid(where, f"is {checked!r}, outside the plausible range {low:g} to {high:g}")
    return checked


def _scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise Invalid(path, f"is {_describe_float(value)}")
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"conform: no rule for the type {tp!r}")  # a hint this module does not know: a bug
    if not ok:
        raise Invalid(path, f"is {describe(value)}, expected {_expected(tp)}")
    return value
