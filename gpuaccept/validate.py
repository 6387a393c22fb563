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
from collections.abc import Callable
from typing import Any

from gpuaccept.errors import EvidenceError

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
    "pcie_width_current": (1, 32), "pcie_width_max": (1, 32), "pcie_width": (1, 32), "nvlink_active": (0, 36),
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
    "RestartCount": _COUNT, "mismatches": _COUNT, "pcie_replay": _COUNT, "ecc_corrected": _COUNT, "ecc_uncorrected": _COUNT,
    "sm_clock_mhz": (0, 10**5), "cuda_ordinal": (0, 1023),
}


class Invalid(EvidenceError, ValueError):
    """A value that fails validation: where it is (``gpus[1].memory_total_mib``) and why."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path} {why}" if path else why)
        self.path, self.why = path, why


# A number literal that can overflow a float (beyond 1e308): an exponent of three digits or more, or digits
# enough (209) that an exponent of two (at most 99) takes it past 308 digits.
_HUGE_NUMBER = re.compile(r"[eE][+-]?\d{3}|\d{209}")


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
        seen = dict(pairs)
        if len(seen) != len(pairs):
            keys: set[str] = set()
            twice = next(key for key, _ in pairs if key in keys or keys.add(key))
            raise Invalid("", f"holds the key {twice!r} twice (contradictory: which value is meant?)")
        return seen

    # Only a literal that can overflow needs the float hook: the rest parse at the C parser's own speed.
    floats = {"parse_float": number} if _HUGE_NUMBER.search(text) else {}
    try:
        value = json.loads(text, parse_constant=constant, object_pairs_hook=unique, **floats)
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


def finite(value: Any) -> float | None:
    """A finite number read from evidence or a record, else None: a bool, a string, NaN, an infinity and an
    integer too large for a float are none (the last would raise where it is compared)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def text_of(value: Any) -> str | None:
    """A non-empty string read from evidence or a record, else None."""
    return value if isinstance(value, str) and value else None


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

    Each type hint is turned once into a checking function (``_checker``), so a file of 100,000 samples
    costs one lookup of its classes' field types, not one per value; paths are spelled only for the value
    that fails.
    """
    try:
        return _checker(tp)(value)
    except _Bad as bad:
        where = path
        for segment in reversed(bad.trail):
            where = f"{where}[{segment}]" if isinstance(segment, int) else join(where, segment)
        raise Invalid(where, bad.why) from None


class _Bad(EvidenceError):
    """A failure on its way up: why, and the keys and indexes passed, innermost first (spelled at the top)."""

    def __init__(self, why: str, trail: list[Any] | None = None):
        super().__init__(why)
        self.why, self.trail = why, trail if trail is not None else []


_CHECKERS: dict[Any, Callable[[Any], Any]] = {}


def _checker(tp: Any) -> Callable[[Any], Any]:
    """The checking function of a type hint, built on first use and kept (type hints are hashable)."""
    try:
        return _CHECKERS[tp]
    except KeyError:
        pass
    except TypeError:  # an unhashable hint: built each time
        return _build(tp)
    # Placed before it is built, so a dataclass that refers to itself finds its own (late-bound) checker.
    slot: list[Callable[[Any], Any]] = []
    _CHECKERS[tp] = lambda value: slot[0](value)
    try:
        built = _build(tp)
    except BaseException:
        del _CHECKERS[tp]
        raise
    slot.append(built)
    _CHECKERS[tp] = built
    return built


def _build(tp: Any) -> Callable[[Any], Any]:
    if tp is Any:
        return _same
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp)
    if typing.is_typeddict(tp):
        return _typeddict(tp)
    if origin in (tuple, list):
        return _sequence(tp, origin)
    if origin is dict:
        return _mapping(*typing.get_args(tp))
    return _scalar(tp)


def _same(value: Any) -> Any:
    return value


def _union(args: tuple[Any, ...]) -> Callable[[Any], Any]:
    optional = type(None) in args
    options = [_checker(a) for a in args if a is not type(None)]
    first, last = options[:-1], options[-1]
    if optional and not first:  # X | None, the common case: one test before X's own
        def check_optional(value: Any) -> Any:
            return None if value is None else last(value)
        return check_optional

    def check(value: Any) -> Any:
        if value is None and optional:
            return None
        for option in first:
            try:
                return option(value)
            except _Bad:
                continue
        return last(value)

    return check


def _object(tp: Any) -> Callable[[Any], dict]:
    expected = _expected(tp)

    def check(value: Any) -> dict:
        if not isinstance(value, dict):
            raise _Bad(f"is {describe(value)}, expected {expected}")
        return value

    return check


def _dataclass(tp: Any) -> Callable[[Any], Any]:
    hints = typing.get_type_hints(tp)
    fields = [(f.name, _field(f.name, hints[f.name]),
               f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
              for f in dataclasses.fields(tp) if f.init]
    as_object = _object(tp)

    def check(value: Any) -> Any:
        obj = as_object(value)
        values = {}
        for name, field_check, required in fields:
            if name in obj:
                try:
                    values[name] = field_check(obj[name])
                except _Bad as bad:
                    bad.trail.append(name)
                    raise
            elif required:
                raise _Bad("is missing", [name])
        return tp(**values)

    return check


def _typeddict(tp: Any) -> Callable[[Any], dict]:
    hints = typing.get_type_hints(tp)
    checks = {key: _field(key, hint) for key, hint in hints.items()}
    required = sorted(tp.__required_keys__)
    as_object = _object(tp)

    def check(value: Any) -> dict:
        obj = as_object(value)
        for key in required:
            if key not in obj:
                raise _Bad("is missing", [key])
        out = {}
        for key, item in obj.items():
            field_check = checks.get(key)
            if field_check is not None:
                try:
                    out[key] = field_check(item)
                except _Bad as bad:
                    bad.trail.append(key)
                    raise
        return out

    return check


def _sequence(tp: Any, origin: Any) -> Callable[[Any], Any]:
    args = typing.get_args(tp)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        fixed = [_checker(a) for a in args]

        def check_fixed(value: Any) -> tuple:
            if not isinstance(value, (list, tuple)):
                raise _Bad(f"is {describe(value)}, expected a list")
            if len(value) != len(fixed):
                raise _Bad(f"is {describe(value)}, expected a list of {len(fixed)}")
            out = []
            for i, check in enumerate(fixed):
                try:
                    out.append(check(value[i]))
                except _Bad as bad:
                    bad.trail.append(i)
                    raise
            return tuple(out)

        return check_fixed
    each = _checker(args[0])
    as_tuple = origin is tuple

    def check(value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _Bad(f"is {describe(value)}, expected a list")
        items = []
        for i, item in enumerate(value):
            try:
                items.append(each(item))
            except _Bad as bad:
                bad.trail.append(i)
                raise
        return tuple(items) if as_tuple else items

    return check


def _mapping(key_tp: Any, value_tp: Any) -> Callable[[Any], dict]:
    key_check, value_check = _checker(key_tp), _checker(value_tp)

    def check(value: Any) -> dict:
        if not isinstance(value, dict):
            raise _Bad(f"is {describe(value)}, expected an object")
        out = {}
        for key, item in value.items():
            checked_key = key_check(key)  # a bad key is named by the object's own path
            try:
                out[checked_key] = value_check(item)
            except _Bad as bad:
                bad.trail.append(str(key))
                raise
        return out

    return check


def _field(name: str, tp: Any) -> Callable[[Any], Any]:
    if name not in PLAUSIBLE:
        return _checker(tp)
    low, high = PLAUSIBLE[name]
    fused = _ranged_number(tp, low, high)
    if fused is not None:
        return fused
    check = _checker(tp)

    def in_range(value: Any) -> Any:
        checked = check(value)
        if isinstance(checked, (int, float)) and not isinstance(checked, bool) and not low <= checked <= high:
            raise _outside(checked, low, high)
        return checked

    return in_range


def _outside(value: float, low: float, high: float) -> _Bad:
    return _Bad(f"is {value!r}, outside the plausible range {low:g} to {high:g}")


def _ranged_number(tp: Any, low: float, high: float) -> Callable[[Any], Any] | None:
    """One function for the commonest field, ``int``/``float`` (or ``| None``) in a plausible range: the same
    checks and messages as the composed ones, in one call per value (a file of samples has 10^5 of them)."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    optional = type(None) in args
    kinds = [a for a in args if a is not type(None)]
    if len(kinds) != 1 or kinds[0] not in (int, float):
        return None
    whole = kinds[0] is int
    expected = "a whole number" if whole else "a number"

    def check(value: Any) -> Any:
        if value is None and optional:
            return None
        if value.__class__ is int or (value.__class__ is float and not whole):  # exact JSON types first
            if low <= value <= high:
                return value
        elif not (isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)):
            raise _Bad(f"is {describe(value)}, expected {expected}")
        if not whole and not math.isfinite(value):
            raise _Bad(f"is {_describe_float(value)}")
        if not low <= value <= high:
            raise _outside(value, low, high)
        return value

    return check


def _scalar(tp: Any) -> Callable[[Any], Any]:
    if tp is bool:
        def check_bool(value: Any) -> Any:
            if value is True or value is False:
                return value
            raise _Bad(f"is {describe(value)}, expected true or false")
        return check_bool
    if tp is int:
        def check_int(value: Any) -> Any:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise _Bad(f"is {describe(value)}, expected a whole number")
        return check_int
    if tp is float:
        def check_float(value: Any) -> Any:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise _Bad(f"is {_describe_float(value)}")
                return value
            raise _Bad(f"is {describe(value)}, expected a number")
        return check_float
    if tp is str:
        def check_str(value: Any) -> Any:
            if isinstance(value, str):
                return value
            raise _Bad(f"is {describe(value)}, expected a string")
        return check_str

    def unknown(value: Any) -> Any:
        raise TypeError(f"conform: no rule for the type {tp!r}")  # a hint this module does not know: a bug

    return unknown
