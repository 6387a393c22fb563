"""Which variables each Ollama release reads, and how it parses them: data, no network at run time.

Source: github.com/ollama/ollama, every release tag from v0.0.1 to v0.32.15 (commit
b7871fc0d1d82fe109536efa3e0e8e411c766c75). A release "reads" a name when the string literal "OLLAMA_<NAME>"
appears in its non-test Go code (``git grep '"OLLAMA_[A-Z0-9_]*"' <tag> -- '*.go' ':!*_test.go' ':!integration/**'``):
envconfig/config.go holds most; a few are read elsewhere (OLLAMA_EXPERIMENT in server/routes.go,
OLLAMA_CLOUD_BASE_URL in server/cloud_proxy.go, OLLAMA_LLAMA_CPP_COMPAT in server/quantization.go). A name read
only by the desktop app or the CLI counts too: the image ships one binary, and calling such a name made up
would be wrong.

RELEASES maps a name to its spans (first release that reads it, first release that no longer does, or None when
v0.32.15 still reads it). KINDS says how envconfig/config.go parses a value (read at the tags named there):
- bool: ``Bool``/``BoolWithDefault``: strconv.ParseBool (1 t T TRUE true True 0 f F FALSE false False); since
  v0.3.2 any OTHER non-empty value counts as TRUE (before v0.3.2 LoadConfig ignored it and kept the default);
- uint / bytes: ``Uint``/``Uint64``: strconv.ParseUint base 10; a bad value is ignored, the default is used and
  only a warning is logged ("invalid environment variable, using default"); bytes are a plain integer (no units);
- duration: ``KeepAlive``/``LoadTimeout``: time.ParseDuration ("5m", "1h30m"), else an integer of seconds; a bad
  value is ignored silently and the default is used;
- debug: ``LogLevel``: a bool, or an integer level (2 = trace); a bad value means INFO, silently;
- host: ``Host``: [scheme://]host[:port]; a bad port is replaced by the default with a warning;
- string / list: taken as written (Var trims spaces and quotes).
"""

from __future__ import annotations

LAST_RELEASE = "0.32.15"
BOOL_ANY_VALUE_TRUE_SINCE = "0.3.2"

RELEASES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "OLLAMA_AGENT_DISABLE_BASH": (("0.14.0", "0.31.2"),),
    "OLLAMA_AGENT_DISABLE_SHELL": (("0.32.0", None),),
    "OLLAMA_AGENT_DISABLE_WEBSEARCH": (("0.14.0", "0.31.2"), ("0.32.0", None),),
    "OLLAMA_API_KEY": (("0.23.0", None),),
    "OLLAMA_APP_DB_PATH": (("0.32.15", None),),
    "OLLAMA_AUTH": (("0.8.0", None),),
    "OLLAMA_BACKEND": (("0.14.0", "0.15.6"),),
    "OLLAMA_CLOUD_BASE_URL": (("0.18.0", None),),
    "OLLAMA_CONTEXT_LENGTH": (("0.5.13", None),),
    "OLLAMA_CORS": (("0.12.10", None),),
    "OLLAMA_DEBUG": (("0.1.21", None),),
    "OLLAMA_DEBUG_LOG_REQUESTS": (("0.18.3", None),),
    "OLLAMA_DOT_COM_URL": (("0.12.10", None),),
    "OLLAMA_EDITOR": (("0.16.0", None),),
    "OLLAMA_EXPERIMENT": (("0.6.0", None),),
    "OLLAMA_FLASH_ATTENTION": (("0.1.39", None),),
    "OLLAMA_GO_TEMPLATE": (("0.30.0", None),),
    "OLLAMA_GPU_OVERHEAD": (("0.3.10", None),),
    "OLLAMA_HOST": (("0.0.1", None),),
    "OLLAMA_IGPU_ENABLE": (("0.30.0", None),),
    "OLLAMA_INTEL_GPU": (("0.1.45", "0.12.11"),),
    "OLLAMA_KEEP_ALIVE": (("0.1.29", None),),
    "OLLAMA_KV_CACHE_TYPE": (("0.5.0", None),),
    "OLLAMA_LAUNCH_DSH_API_KEY": (("0.32.11", None),),
    "OLLAMA_LIBRARY_PATH": (("0.6.7", None),),
    "OLLAMA_LLAMA_CPP_COMPAT": (("0.30.0", None),),
    "OLLAMA_LLM_LIBRARY": (("0.1.21", None),),
    "OLLAMA_LOAD_TIMEOUT": (("0.3.10", None),),
    "OLLAMA_MAX_LOADED_MODELS": (("0.1.33", None),),
    "OLLAMA_MAX_QUEUE": (("0.1.34", None),),
    "OLLAMA_MAX_TRANSFER_STREAMS": (("0.23.3", None),),
    "OLLAMA_MAX_VRAM": (("0.1.29", "0.2.8"), ("0.3.2", "0.7.0"),),
    "OLLAMA_MLX_MTP_COMPARE_SERIAL_VALIDATE": (("0.23.1", "0.30.8"),),
    "OLLAMA_MLX_MTP_DRAFT_SCHEDULE": (("0.23.1", "0.30.11"),),
    "OLLAMA_MLX_MTP_INITIAL_DRAFT_TOKENS": (("0.23.1", "0.30.11"),),
    "OLLAMA_MLX_MTP_MAX_DRAFT_TOKENS": (("0.23.1", "0.30.11"),),
    "OLLAMA_MLX_MTP_SERIAL_VALIDATE": (("0.23.1", "0.30.11"),),
    "OLLAMA_MODELS": (("0.1.6", None),),
    "OLLAMA_MULTIUSER_CACHE": (("0.3.13", "0.30.0"),),
    "OLLAMA_NEW_ENGINE": (("0.5.12", "0.30.0"),),
    "OLLAMA_NEW_ESTIMATES": (("0.11.5", "0.11.11"),),
    "OLLAMA_NOHISTORY": (("0.1.39", None),),
    "OLLAMA_NOPRUNE": (("0.0.19", None),),
    "OLLAMA_NO_CLOUD": (("0.16.2", None),),
    "OLLAMA_NUM_PARALLEL": (("0.1.33", None),),
    "OLLAMA_ORIGINS": (("0.0.14", None),),
    "OLLAMA_PORT": (("0.0.1", "0.0.20"),),
    "OLLAMA_REGISTRY_MAXSTREAMS": (("0.5.13", "0.31.2"),),
    "OLLAMA_REMOTES": (("0.12.0", None),),
    "OLLAMA_RUNNERS_DIR": (("0.1.33", "0.3.11"),),
    "OLLAMA_SCHED_SPREAD": (("0.1.45", None),),
    "OLLAMA_SKILLS": (("0.32.2", None),),
    "OLLAMA_TMPDIR": (("0.1.32", "0.6.6"),),
    "OLLAMA_UPDATE_URL": (("0.12.10", "0.23.0"),),
    "OLLAMA_VULKAN": (("0.12.11", None),),
}

# name -> (kind, default as Ollama documents it, changes of the default: ((since release, default), ...))
KINDS: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "OLLAMA_HOST": ("host", "127.0.0.1:11434 (the image sets 0.0.0.0:11434)", ()),
    "OLLAMA_ORIGINS": ("list", "localhost, 127.0.0.1 and 0.0.0.0 origins", ()),
    "OLLAMA_MODELS": ("string", "$HOME/.ollama/models", ()),
    "OLLAMA_KEEP_ALIVE": ("duration", "5m", ()),
    "OLLAMA_LOAD_TIMEOUT": ("duration", "5m", ()),
    "OLLAMA_DEBUG": ("debug", "INFO", ()),
    "OLLAMA_DEBUG_LOG_REQUESTS": ("bool", "false", ()),
    "OLLAMA_FLASH_ATTENTION": ("bool", "false", (("0.12.4", "auto (on where the GPUs support it)"),)),
    "OLLAMA_GO_TEMPLATE": ("bool", "true", ()),
    "OLLAMA_KV_CACHE_TYPE": ("string", "f16", ()),
    "OLLAMA_GPU_OVERHEAD": ("bytes", "0", ()),
    "OLLAMA_SCHED_SPREAD": ("bool", "false", ()),
    "OLLAMA_CONTEXT_LENGTH": ("uint", "2048", (("0.6.7", "4096"), ("0.15.5", "0 (4k/32k/256k by VRAM)"))),
    "OLLAMA_NUM_PARALLEL": ("uint", "0 (auto)", (("0.10.0", "1"),)),
    "OLLAMA_MAX_LOADED_MODELS": ("uint", "0 (3 per GPU)", ()),
    "OLLAMA_MAX_QUEUE": ("uint", "512", ()),
    "OLLAMA_MAX_TRANSFER_STREAMS": ("uint", "4", ()),
    "OLLAMA_MAX_VRAM": ("bytes", "0", ()),
    "OLLAMA_NOPRUNE": ("bool", "false", ()),
    "OLLAMA_NOHISTORY": ("bool", "false", ()),
    "OLLAMA_NO_CLOUD": ("bool", "false", ()),
    "OLLAMA_AUTH": ("bool", "false", ()),
    "OLLAMA_VULKAN": ("bool", "false", (("0.30.0", "true"),)),
    "OLLAMA_IGPU_ENABLE": ("bool", "false", ()),
    "OLLAMA_INTEL_GPU": ("bool", "false", ()),
    "OLLAMA_MULTIUSER_CACHE": ("bool", "false", ()),
    "OLLAMA_NEW_ENGINE": ("bool", "false", ()),
    "OLLAMA_NEW_ESTIMATES": ("bool", "false", ()),
    "OLLAMA_CORS": ("bool", "false", ()),
}
