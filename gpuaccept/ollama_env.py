"""Which ``OLLAMA_*`` variables the deployed Ollama reads, whether their values parse, and what to use instead.

The table of names per release and how each is parsed is gpuaccept/data/ollama_envconfig.py (taken from every
release tag's source). Ollama ignores a variable it does not read without a word, so a made-up or removed one
is worse than useless: it looks like a setting and does nothing. A value it cannot parse is no better: numbers
and durations fall back to the default, and a boolean it cannot parse counts as true.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from packaging.version import Version

from gpuaccept.data.ollama_envconfig import BOOL_ANY_VALUE_TRUE_SINCE, KINDS, LAST_RELEASE, RELEASES
from gpuaccept.facts import GpuFacts

_LAYERS = "layer offload is the `num_gpu` model option (request options or `PARAMETER num_gpu` in a Modelfile)"
_GPUS = ("the container's GPUs are chosen with `--gpus`; "
         "to use every GPU set OLLAMA_SCHED_SPREAD=1")
_SPLIT = "set OLLAMA_SCHED_SPREAD=1 and Ollama splits the model over the GPUs itself"

# Never read by any Ollama release (no release's source has the name): what to use instead.
NEVER = {
    "OLLAMA_GPU_LAYERS": _LAYERS,
    "OLLAMA_NUM_GPU_LAYERS": _LAYERS,
    "OLLAMA_GPU_LAYER_OFFLOAD": _LAYERS,
    "OLLAMA_NUM_GPU": _GPUS,
    "OLLAMA_GPUS": _GPUS,
    "OLLAMA_GPU_SPLIT": _SPLIT,
    "OLLAMA_TENSOR_SPLIT": _SPLIT,
    "OLLAMA_TENSOR_PARALLEL_SIZE": "tensor parallelism (`--tensor-parallel-size`) is a vLLM option; Ollama splits by layers",
}

# Read by some releases only: what replaced them.
INSTEAD = {
    "OLLAMA_NEW_ENGINE": "from 0.30 Ollama picks the engine per model itself",
    "OLLAMA_INTEL_GPU": "Intel GPUs are reached through Vulkan (OLLAMA_VULKAN) since 0.12.11",
    "OLLAMA_MAX_VRAM": "use OLLAMA_GPU_OVERHEAD (bytes) to keep VRAM free",
}

_PARSE_BOOL = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_MEANT_OFF = {"off", "no", "n", "disable", "disabled", "none", "-1"}
# time.ParseDuration: a sequence of decimal numbers with a unit each ("300ms", "1.5h", "2h45m"), or "0".
_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
_INT = re.compile(r"[-+]?\d+")
_UINT = re.compile(r"\d+")
_RELEASE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def release(version: str | None) -> Version | None:
    """The release a version string belongs to (``0.5.2-rc3-0-g581a4a5-dirty`` -> 0.5.2), None if unknown."""
    match = _RELEASE.match((version or "").strip())
    return Version(".".join(match.groups())) if match else None


def reads(name: str, version: str | None) -> bool | None:
    """Whether that Ollama reads the variable; None when the version is unknown."""
    spans = RELEASES.get(name, ())
    v = release(version)
    if v is None:
        return None
    v = min(v, Version(LAST_RELEASE))  # newer than the table: as its last release
    return any(Version(first) <= v and (gone is None or v < Version(gone)) for first, gone in spans)


def _history(spans: Sequence[tuple[str, str | None]]) -> str:
    return ", ".join(f"read from {first}" + (f", removed in {gone}" if gone else "") for first, gone in spans)


def advice(name: str, version: str | None = None) -> str | None:
    """None for a variable the deployed Ollama reads (or one that is not Ollama's); else what is wrong and what to do.

    ``version`` is the deployed Ollama (the API's, else the log's); without it a name any release still reads passes.
    """
    if not name.startswith("OLLAMA_"):
        return None
    if name in NEVER:
        return f"{name} is not an Ollama setting (no Ollama release reads it): {NEVER[name]}"
    spans = RELEASES.get(name)
    if spans is None:
        return (f"{name} is not a variable any Ollama release reads (v0.0.1 to v{LAST_RELEASE}, envconfig/config.go "
                "and the rest of its Go code); remove it")
    instead = f"; {INSTEAD[name]}" if name in INSTEAD else ""
    known = reads(name, version)
    if known or (known is None and spans[-1][1] is None):
        return None
    if known is None:
        return f"{name} is not read by current Ollama ({_history(spans)}){instead}"
    v = release(version)
    if v < Version(spans[0][0]):
        return f"{name} is not read by Ollama {version}: added in {spans[0][0]}{instead}"
    gone = max((g for _, g in spans if g is not None and Version(g) <= v), key=Version)
    back = next((first for first, _ in spans if Version(first) > v), None)
    again = f", read again from {back}" if back else ""
    return f"{name} is not read by Ollama {version}: removed in {gone}{again}{instead}"


def default(name: str, version: str | None) -> str:
    kind = KINDS.get(name)
    if kind is None:
        return "its default"
    value = kind[1]
    v = release(version)
    for since, changed in kind[2]:
        if v is None or v >= Version(since):
            value = changed
    return value


def value_problem(name: str, value: str, version: str | None = None) -> tuple[str, str] | None:
    """("fail" or "warn", why) when Ollama cannot parse the value as it parses that variable; None when it can."""
    kind = KINDS.get(name, ("string",))[0]
    text = value.strip().strip("\"'")  # envconfig.Var trims spaces and quotes
    if not text:
        return None
    said = f"{name}={value}"
    fallback = default(name, version)
    v = release(version)
    if kind == "bool" and text not in _PARSE_BOOL:
        if v is not None and v < Version(BOOL_ANY_VALUE_TRUE_SINCE):
            return "fail", (f"{said} is not a boolean (strconv.ParseBool: 1/0, true/false, t/f): Ollama {version} "
                            f"ignores it silently and uses its default ({fallback})")
        severity = "fail" if text.lower() in _MEANT_OFF else "warn"
        return severity, (f"{said} is not a boolean (strconv.ParseBool: 1/0, true/false, t/f): Ollama counts any "
                          f"other non-empty value as TRUE, so {name} is ON (write 1 or 0)")
    if kind in ("uint", "bytes") and (not _UINT.fullmatch(text) or int(text) >= 2**64):
        unit = " (a plain number of bytes, no unit: 1 GiB = 1073741824)" if kind == "bytes" else ""
        return "fail", (f"{said} is not an unsigned integer{unit}: Ollama ignores it and uses its default "
                        f"({fallback}), saying so only in a log warning")
    if kind == "duration" and not (_DURATION.fullmatch(text) or _INT.fullmatch(text)):
        return "fail", (f"{said} is neither a Go duration (5m, 1h30m, -1) nor a number of seconds: Ollama ignores "
                        f"it silently and uses its default ({fallback})")
    if kind == "debug" and text not in _PARSE_BOOL and not _INT.fullmatch(text):
        return "warn", f"{said} is neither a boolean nor a level number: Ollama ignores it silently and logs at INFO"
    return None


def visible(value: str, gpus: Sequence[GpuFacts]) -> tuple[list[GpuFacts], str]:
    """The GPUs that ``CUDA_VISIBLE_DEVICES=value`` leaves to CUDA, of ``gpus`` (the container's, in CUDA order).

    CUDA's rules (CUDA Programming Guide, "CUDA_VISIBLE_DEVICES"): an empty value hides every GPU; entries are
    indexes or GPU UUIDs (a unique prefix is enough); at the first entry that names no GPU, the rest are ignored.
    Returns the visible GPUs and, when an entry stopped the list, a note naming it.
    """
    text = value.strip().strip("\"'")
    if not text:
        return [], "an empty value hides every GPU"
    seen: list[GpuFacts] = []
    for entry in (e.strip() for e in text.split(",")):
        match = None
        if _UINT.fullmatch(entry) and int(entry) < len(gpus):
            match = gpus[int(entry)]
        elif entry.upper().startswith("GPU-"):
            hits = [g for g in gpus if (g.uuid or "").lower().startswith(entry.lower())]
            match = hits[0] if len(hits) == 1 else None
        if match is None:
            return seen, f"'{entry}' names no GPU of the container, so CUDA ignores it and every entry after it"
        if match not in seen:
            seen.append(match)
    return seen, ""


def truthy(value: str | None) -> bool:
    """Ollama's BoolWithDefault: strconv.ParseBool, and any other non-empty value counts as true."""
    if value is None:
        return False
    value = value.strip().strip("'\"")
    return value != "" and value not in _FALSE
