"""The load tier's benchmark: load the model cold, warm up, then N measured runs, sampling NVML throughout.

Settings come from the profile (``[ollama.benchmark]``): fixed prompt, ``num_predict``, ``num_ctx``, seed,
temperature 0, thinking off. Metrics are Ollama's own nanosecond timings; time to first token is the
wall time to the first streamed token. Each streamed chunk must arrive within ``api_timeout_s``, and a
whole generation (as the load) must end within ``load_timeout_s``, so a stalled stream, or one that
trickles tokens, ends the benchmark with a reason instead of hanging it. Afterwards the model is
unloaded (``keep_alive`` 0) unless asked to stay. The result is a plain dict: ``benchmark.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import ollama

from gpuaccept.profile import OllamaSpec
from gpuaccept.sources.bounded_http import TooSlow
from gpuaccept.sources.nvml_sampler import Sampler
from gpuaccept.sources.ollama_api import client, reason

Progress = Callable[[str], None]


def _options(spec: OllamaSpec) -> dict[str, Any]:
    b = spec.benchmark
    return {"num_predict": b.num_predict, "num_ctx": b.num_ctx, "seed": b.seed, "temperature": b.temperature}


def _run(c: ollama.Client, spec: OllamaSpec) -> dict[str, Any]:
    start = time.monotonic()
    ttft = None
    final = None
    for chunk in c.generate(model=spec.model, prompt=spec.benchmark.prompt, stream=True, think=False,
                            options=_options(spec), keep_alive="10m"):
        if ttft is None and (chunk.response or chunk.thinking):
            ttft = time.monotonic() - start
        if chunk.done:
            final = chunk
    if final is None:
        raise RuntimeError("the stream ended without a final chunk")
    return {"eval_count": final.eval_count or 0, "eval_ns": final.eval_duration or 0,
            "prompt_eval_count": final.prompt_eval_count or 0, "prompt_eval_ns": final.prompt_eval_duration or 0,
            "load_ns": final.load_duration or 0, "total_ns": final.total_duration or 0,
            "ttft_s": None if ttft is None else round(ttft, 4), "done_reason": final.done_reason or ""}


def run_benchmark(spec: OllamaSpec, *, keep_loaded: bool = False, progress: Progress = lambda _l: None) -> dict[str, Any]:
    b = spec.benchmark
    record: dict[str, Any] = {"model": spec.model, "load_ns": 0, "baseline_at": 0.0, "runs": [], "error": "", "samples": [],
                              "measure_from": 0.0, "measure_to": 0.0, "runner_pids": [], "loaded": [],
                              "settings": {**_options(spec), "prompt": b.prompt, "warmup_runs": b.warmup_runs,
                                           "runs": b.runs, "think": False, "sample_hz": b.sample_hz}}
    quick = client(spec)
    # One generation, streamed: a token at least every api_timeout_s, the whole run within load_timeout_s.
    streamed = client(spec, spec.load_timeout_s)
    sampler = Sampler(b.sample_hz).start()
    stage = "unloading the model before the cold load"
    try:
        quick.generate(model=spec.model, prompt="", keep_alive=0)
        time.sleep(min(0.5, 2 / b.sample_hz))  # a baseline: the GPUs' processes without the model
        record["baseline_at"] = round(sampler.now(), 4)
        stage = "loading the model"
        progress(f"loading {spec.model} ...")
        loader = client(spec, spec.load_timeout_s, read_s=spec.load_timeout_s)  # silent until loaded
        loaded = loader.generate(model=spec.model, prompt="", keep_alive="10m")
        record["load_ns"] = loaded.load_duration or 0
        for i in range(b.warmup_runs):
            stage = f"warm-up run {i + 1}"
            _run(streamed, spec)
        record["measure_from"] = round(sampler.now(), 4)
        for i in range(b.runs):
            stage = f"measured run {i + 1} of {b.runs}"
            record["runs"].append(_run(streamed, spec))
            run = record["runs"][-1]
            progress(f"run {i + 1}/{b.runs}: {run['eval_count']} tokens, "
                     f"{run['eval_count'] / run['eval_ns'] * 1e9 if run['eval_ns'] else 0:.1f} tokens/s")
        record["measure_to"] = round(sampler.now(), 4)
        stage = "reading /api/ps"
        record["loaded"] = quick.ps().model_dump(mode="json")["models"]
    except TooSlow as err:  # answers arrive, but not a complete one within the call's total deadline
        record["error"] = f"{stage}: {err}"
    except httpx.TimeoutException:
        load = stage == "loading the model"
        record["error"] = (f"{stage}: no answer within {spec.load_timeout_s if load else spec.api_timeout_s:g} s "
                           f"(the {'load' if load else 'stream'} stalled)")
    except Exception as err:  # ResponseError (HTTP 500 ...), connection loss: the record says what happened
        record["error"] = f"{stage}: {reason(err)}"
    finally:
        if not record["measure_to"]:
            record["measure_to"] = round(sampler.now(), 4)
        record["samples"] = sampler.stop()
        if sampler.error:
            record["error"] = record["error"] or sampler.error
        if not keep_loaded:
            try:
                quick.generate(model=spec.model, prompt="", keep_alive=0)
            except Exception as err:  # unloading is courtesy; a failure is noted, not fatal
                record["unload_error"] = reason(err)
    record["runner_pids"] = _runner_pids(record)
    return record


def _runner_pids(record: dict[str, Any]) -> list[int]:
    """GPU processes that appeared with the model: absent from the first sample, present while measuring."""
    samples = record["samples"]
    if not samples:
        return []
    baseline = [s for s in samples if s["t"] <= record.get("baseline_at", 0)] or samples[:1]
    before = {pid for g in baseline[-1]["gpus"] for pid, _ in g["processes"]}
    during = {pid for s in samples if record["measure_from"] <= s["t"] <= record["measure_to"]
              for g in s["gpus"] for pid, _ in g["processes"]}
    return sorted(during - before) or sorted(during)
