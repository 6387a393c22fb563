"""Live Ollama evidence through the official ``ollama`` client (plain HTTP only for ``/api/version``,
which the client lacks). Every call has an explicit timeout: the client's default is none.

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


def client(spec: OllamaSpec, timeout_s: float | None = None) -> ollama.Client:
    return ollama.Client(host=spec.url, timeout=timeout_s or spec.api_timeout_s)


def reason(err: Exception) -> str:
    if isinstance(err, ollama.ResponseError):
        return f"HTTP {err.status_code}: {err.error}"
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
        answer = httpx.get(f"{spec.url.rstrip('/')}/api/version", timeout=spec.api_timeout_s)
        answer.raise_for_status()
        files[ev.OLLAMA_VERSION] = dump(answer.json())
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
