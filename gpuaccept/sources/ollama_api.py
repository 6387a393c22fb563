"""Live Ollama evidence through the official ``ollama`` client (plain HTTP only for ``/api/version``,
which the client lacks). Every call has a total deadline and a size cap (``bounded_http``): the
client's default is no timeout at all, and httpx's own is per read, which a trickling server defeats.

Files: ``ollama-version.json`` (``GET /api/version``; an unreachable server is recorded as
``{"error": ...}``, Ollama's own error shape), ``ollama-tags.json`` and ``ollama-ps.json`` (the client's
``list()`` and ``ps()`` answers, which keep the API's shape).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import ollama

from gpuaccept import evidence as ev
from gpuaccept.profile import OllamaSpec
from gpuaccept.sources.bounded_http import JSON_MAX_BYTES, BoundedTransport, TooLarge, TooSlow, get_json


def client(spec: OllamaSpec, total_s: float | None = None, *, read_s: float | None = None,
           max_bytes: int | None = JSON_MAX_BYTES) -> ollama.Client:
    """A client whose every call ends within ``total_s`` (default ``api_timeout_s``) with at most
    ``max_bytes`` of answer; ``read_s`` (default ``api_timeout_s``) is the longest silence between two reads."""
    total = total_s or spec.api_timeout_s
    return ollama.Client(host=spec.url, timeout=read_s or spec.api_timeout_s,
                         transport=BoundedTransport(spec.url, total, max_bytes))


def reason(err: Exception) -> str:
    if isinstance(err, ollama.ResponseError):
        return f"HTTP {err.status_code}: {err.error}"
    if isinstance(err, (TooSlow, TooLarge)):
        return str(err)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def collect_ollama(spec: OllamaSpec) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(files, absent, commands); never raises for an expected condition."""
    files: dict[str, str] = {}
    absent: dict[str, str] = {}
    commands = {ev.OLLAMA_VERSION: f"GET {spec.url}/api/version", ev.OLLAMA_TAGS: f"GET {spec.url}/api/tags",
                ev.OLLAMA_PS: f"GET {spec.url}/api/ps"}
    try:
        files[ev.OLLAMA_VERSION] = dump(get_json(f"{spec.url.rstrip('/')}/api/version", spec.api_timeout_s))
    except (httpx.HTTPError, ValueError) as err:
        files[ev.OLLAMA_VERSION] = dump({"error": f"no answer from {spec.url}/api/version: {reason(err)}"})
        absent[ev.OLLAMA_TAGS] = absent[ev.OLLAMA_PS] = "the Ollama API did not answer (see OLL-API)"
        return files, absent, commands
    c = client(spec)
    for name, call in ((ev.OLLAMA_TAGS, c.list), (ev.OLLAMA_PS, c.ps)):
        try:
            files[name] = dump(call().model_dump(mode="json"))
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as err:
            absent[name] = f"{commands[name]} failed: {reason(err)}"
    return files, absent, commands


def loaded_on_gpu(spec: OllamaSpec) -> tuple[list[str], str]:
    """One line per model Ollama holds on the GPUs now (``/api/ps``), and why it could not tell: the diag
    tier asks before it allocates, since NVML inside a container may list no process of another one."""
    try:
        listed = client(spec).ps().models
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as err:
        return [], f"{spec.url}/api/ps: {reason(err)}"
    return [f"Ollama at {spec.url} has {m.model} loaded ({(m.size_vram or 0) / 2**30:.1f} GiB on GPUs; "
            f"`ollama stop {m.model}` unloads it)" for m in listed if (m.size_vram or 0) > 0], ""
