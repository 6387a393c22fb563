"""Which ``OLLAMA_*`` variables Ollama reads, and what to use instead of the ones it does not.

Source: envconfig/config.go at HEAD (domain facts §4). Ollama ignores unknown variables silently, so a
made-up one is worse than useless: it looks like a setting and does nothing.
"""

from __future__ import annotations

READ = frozenset({
    "OLLAMA_HOST", "OLLAMA_ORIGINS", "OLLAMA_MODELS", "OLLAMA_KEEP_ALIVE", "OLLAMA_LOAD_TIMEOUT",
    "OLLAMA_DEBUG", "OLLAMA_DEBUG_LOG_REQUESTS", "OLLAMA_FLASH_ATTENTION", "OLLAMA_KV_CACHE_TYPE",
    "OLLAMA_GPU_OVERHEAD", "OLLAMA_SCHED_SPREAD", "OLLAMA_CONTEXT_LENGTH", "OLLAMA_NUM_PARALLEL",
    "OLLAMA_MAX_LOADED_MODELS", "OLLAMA_MAX_QUEUE", "OLLAMA_MAX_TRANSFER_STREAMS", "OLLAMA_LLM_LIBRARY",
    "OLLAMA_NOPRUNE", "OLLAMA_NOHISTORY", "OLLAMA_NO_CLOUD", "OLLAMA_REMOTES", "OLLAMA_EDITOR",
    "OLLAMA_GO_TEMPLATE", "OLLAMA_AUTH", "OLLAMA_VULKAN", "OLLAMA_IGPU_ENABLE",
    # read outside envconfig
    "OLLAMA_EXPERIMENT", "OLLAMA_API_KEY",
})

_LAYERS = "layer offload is the `num_gpu` model option (request options or `PARAMETER num_gpu` in a Modelfile)"
_GPUS = ("the container's GPUs are chosen with `--gpus` (or CUDA_VISIBLE_DEVICES); "
         "to use every GPU set OLLAMA_SCHED_SPREAD=1")
_SPLIT = "set OLLAMA_SCHED_SPREAD=1 and Ollama splits the model over the GPUs itself"

# Never existed in Ollama: what to use instead.
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

# Read by older Ollama only.
REMOVED = {
    "OLLAMA_NEW_ENGINE": "no longer read after v0.24 (the engine is chosen per model)",
    "OLLAMA_MULTIUSER_CACHE": "no longer read after v0.24",
    "OLLAMA_INTEL_GPU": "no longer read after v0.12.10",
    "OLLAMA_MAX_VRAM": "no longer read after v0.6 (use OLLAMA_GPU_OVERHEAD to keep VRAM free)",
    "OLLAMA_TMPDIR": "no longer read after v0.5",
    "OLLAMA_RUNNERS_DIR": "no longer read by current Ollama",
}


def advice(name: str) -> str | None:
    """None for a variable Ollama reads (or one that is not Ollama's); else what to do instead."""
    if not name.startswith("OLLAMA_") or name in READ:
        return None
    if name in NEVER:
        return f"{name} is not an Ollama setting (Ollama ignores it): {NEVER[name]}"
    if name in REMOVED:
        return f"{name} is {REMOVED[name]}"
    return f"{name} is not a variable Ollama reads (see envconfig/config.go); remove it"


def truthy(value: str | None) -> bool:
    """Ollama's BoolWithDefault: strconv.ParseBool, and any other non-empty value counts as true."""
    if value is None:
        return False
    value = value.strip().strip("'\"")
    return value not in ("", "0", "f", "F", "FALSE", "false", "False")
