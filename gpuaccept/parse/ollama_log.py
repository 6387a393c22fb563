"""The Ollama server log (``docker logs``): version, settings, GPU discovery and where a model went.

Formats differ by version (domain facts §3, §6); each is read here, none is assumed:
- discovery ``msg="inference compute"``: ``id=GPU-<uuid> library=cuda variant=v12 compute=6.1`` (<= 0.12.3),
  ``id=GPU-<uuid> library=CUDA ... name=CUDA0 description="Tesla P40" libdirs=ollama,cuda_v12`` (0.12.4 - 0.24),
  ``id=0 filter_id=0 library=CUDA ... name=CUDA0`` (0.30+); CPU only: ``id=cpu library=cpu``;
- trouble: ``no nvidia devices detected``, ``NVIDIA driver too old``, ``user overrode visible devices``; from 0.30 every
  runner folder is tried in turn and cuda_v13 logs ``skipping CUDA device — compute capability not in compiled
  architectures" device="Quadro P4000" cc=610 ... libDirs="[... cuda_v13]"`` for a compute-6.x card before cuda_v12
  finds it (discover/llama_server.go): normal, the final ``inference compute`` lines decide;
- llama.cpp's own lists: ``ggml_cuda_init: found 2 CUDA devices``, ``  Device 0: Tesla P40, compute capability 6.1,
  VMM: yes``, ``load_backend: loaded CUDA backend from .../cuda_v12/libggml-cuda.so``. They are read, never taken
  for the server's discovery: a runner sees only the GPUs chosen for its model, and from 0.30 each runner folder
  lists the cards again before it filters them;
- settings: ``msg="server config" env="map[KEY:value ...]"`` (also the older ``INFO server config env=...``);
- placement: ``msg="model weights" device|buffer=CUDA1 size="11.9 GiB"``, ``CUDA1 model buffer size = 9123.45 MiB``,
  older llama.cpp ``llm_load_tensors:      CUDA0 buffer size =  9123.45 MiB``,
  ``layers.split=33,32`` / ``"[33 32]"``, ``GPULayers:65[ID:GPU-a Layers:33(0..32) ID:GPU-b ...]``,
  ``offloaded 65/65 layers to GPU``.
Lines may carry a journald prefix (``Sep 25 12:42:32 host ollama[861]: ``).

A log may hold several server starts (``docker logs`` keeps earlier runs, a journal earlier boots). Only the last
start describes the server that runs now: a start begins at ``server config``, ``Listening on`` (when the start
already listened or discovered), a systemd ``Started ...ollama`` line or a journal ``-- Boot`` marker.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

_PAIR = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S+)')
_VERSION = re.compile(r"Listening on \S+ \(version ([^)\s]+)\)")
_SERVER_CONFIG = re.compile(r'server config"? env="map\[(.*)\]"')
_ENV_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")
_BUFFER = re.compile(r"\b(CUDA\d+|CPU(?:_Mapped)?)\s+(?:model\s+)?buffer size\s*=\s*([\d.]+) MiB")
_SKIP = "compute capability not in compiled architectures"
_GGML_FOUND = re.compile(r"ggml_cuda_init: found (\d+) CUDA devices")
_GGML_DEVICE = re.compile(r"\bDevice (\d+): (.+?), compute capability (\d+)\.(\d+)")
_RUNNER = re.compile(r"\b(cuda_v\d+|cuda_jetpack\d+|rocm_v?\w+)\b")
_BOOT = re.compile(r"^-- Boot [0-9a-f]+ --$|systemd\[\d+\]: Started (?:ollama|Ollama)")
_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
_GPU_LAYERS_ID = re.compile(r"ID:(\S+) Layers:(\d+)")
_SIZE = re.compile(r"([\d.]+)\s*(B|KiB|MiB|GiB|TiB)")
_UNITS = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "TiB": 1024**2}
TROUBLE = ("no nvidia devices detected", "NVIDIA driver too old", "skipping CUDA device",
           "failed to initialize CUDA", "unable to load cuda driver library", "user overrode visible devices",
           "CUDA GPU is too old")
# Trouble lines that end discovery without an ``inference compute`` line of their own.
FATAL = ("no nvidia devices detected", "NVIDIA driver too old", "failed to initialize CUDA",
         "unable to load cuda driver library", "CUDA GPU is too old")
# Lines that belong to one start's discovery or model load: after one of them, a ``Listening on`` is a new start.
_CONTENT = ('msg="inference compute"', "ggml_cuda_init:", "model weights", "buffer size", "offloaded ", *TROUBLE)


@dataclass(frozen=True)
class ComputeDevice:
    """One ``inference compute`` line."""

    id: str
    library: str
    compute: str = ""
    name: str = ""  # "Tesla P40" (old) or "CUDA0" (0.12.4+), with description="Tesla P40"
    description: str = ""
    libdirs: str = ""
    variant: str = ""
    pci_id: str = ""
    total: str = ""
    driver: str = ""  # the CUDA driver version the server saw, e.g. "13.0" (from 0.12.4)

    @property
    def is_cuda(self) -> bool:
        return self.library.lower() == "cuda"

    @property
    def card(self) -> str:
        return self.description or self.name

    @property
    def runner(self) -> str:
        """cuda_v12 / cuda_v13 from libdirs, or v12 from the old variant field."""
        for part in self.libdirs.split(","):
            if part.startswith("cuda_"):
                return part
        return f"cuda_{self.variant}" if self.variant else ""


@dataclass(frozen=True)
class SkippedDevice:
    """A 0.30+ ``skipping CUDA device — compute capability not in compiled architectures`` line."""

    device: str
    cc: str  # "610"
    runner: str  # the runner folder that skipped it: cuda_v13


@dataclass(frozen=True)
class OllamaLog:
    version: str | None = None
    server_env: dict[str, str] = field(default_factory=dict)
    devices: tuple[ComputeDevice, ...] = ()
    trouble: tuple[str, ...] = ()  # lines that explain a missing or skipped GPU
    model_mib: dict[str, float] = field(default_factory=dict)  # CUDA0/CUDA1/CPU -> model weights, last load
    layer_split: tuple[int, ...] = ()  # layers per GPU, last load
    offloaded: tuple[int, int] | None = None  # (layers on GPU, layers in the model), last load
    starts: int = 0  # server starts in the text; everything above describes the last one
    runners: tuple[str, ...] = ()  # runner folders the last start names (cuda_v12, cuda_v13, ...)
    discovered: bool = False  # the last start logged its discovery (an ``inference compute`` line)
    ggml_devices: tuple[ComputeDevice, ...] = ()  # the last ``ggml_cuda_init`` list, with its runner
    skipped: tuple[SkippedDevice, ...] = ()
    cut_in_discovery: str = ""  # the suite's own cut marker where it may have dropped `inference compute` lines

    @property
    def judgeable(self) -> bool:
        """The last start's discovery can be judged: it logged its whole result, or a failure that ends it."""
        if self.cut_in_discovery:
            return False
        return self.discovered or any(t in line for line in self.trouble for t in FATAL)


# What gpuaccept.sources.docker_engine writes where it left the middle of a long log out.
_CUT = re.compile(r"^\[\.\.\. \d+ bytes left out by gpuaccept \.\.\.\]$")
_DISCOVERY = 'msg="inference compute"'


def _cut_in_discovery(lines: list[str]) -> str:
    """The suite's cut marker when it borders the discovery lines (one per GPU, logged together): the
    line before it or after it is one, so lines of other GPUs may be in what was left out."""
    kept = [line.strip() for line in lines if line.strip()]
    for at, line in enumerate(kept):
        if _CUT.match(line) and any(_DISCOVERY in kept[i] for i in (at - 1, at + 1) if 0 <= i < len(kept)):
            return line
    return ""


def parse_skip(line: str) -> SkippedDevice | None:
    if _SKIP not in line:
        return None
    p = _pairs(line)
    runners = _RUNNER.findall(p.get("libDirs", ""))
    return SkippedDevice(p.get("device", ""), p.get("cc", ""), runners[-1] if runners else "")


def split_starts(lines: list[str]) -> list[int]:
    """Index of the first line of each server start (see the module docstring)."""
    starts = [0]
    config = listening = content = False
    for i, line in enumerate(lines):
        is_config = _SERVER_CONFIG.search(line) is not None
        is_listen = not is_config and _VERSION.search(line) is not None
        is_boot = _BOOT.search(line.strip()) is not None
        if is_config or is_boot:
            begin = config or listening or content
        elif is_listen:
            begin = listening or content
        else:
            begin = False
        if begin:
            starts.append(i)
            config = listening = content = False
        config |= is_config
        listening |= is_listen
        content |= not (is_config or is_listen or is_boot) and any(c in line for c in _CONTENT)
    return starts


def _pairs(line: str) -> dict[str, str]:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in _PAIR.findall(line)}


def mib(text: str) -> float | None:
    match = _SIZE.search(text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def parse_env_map(body: str) -> dict[str, str]:
    """``KEY:value KEY2: KEY3:[a b]``: a new key starts only outside brackets."""
    env: dict[str, str] = {}
    key, depth = None, 0
    for token in body.split(" "):
        match = _ENV_KEY.match(token) if depth == 0 else None
        if match:
            key = match.group(1)
            env[key] = token[match.end():]
        elif key is not None:
            env[key] += " " + token
        depth += token.count("[") - token.count("]")
    return {k: v.strip() for k, v in env.items()}


def parse_ollama_log(text: str) -> OllamaLog:
    all_lines = text.splitlines()
    starts = split_starts(all_lines)
    versions = [m.group(1) for line in all_lines if (m := _VERSION.search(line)) is not None]
    # The last start's version; a start cut off before its "Listening on" line runs the last one seen.
    version, env = (versions[-1] if versions else None), {}
    ggml: list[ComputeDevice] = []
    ggml_runner = ""
    runners: list[str] = []
    skipped: list[SkippedDevice] = []
    discovered = False
    devices: list[ComputeDevice] = []
    trouble: list[str] = []
    model_mib: dict[str, float] = {}
    split: tuple[int, ...] = ()
    offloaded = None
    for raw in all_lines[starts[-1]:]:
        line = raw.strip()
        if not line:
            continue
        if (m := _VERSION.search(line)) is not None:
            version = m.group(1)
        runners += [r for r in _RUNNER.findall(line) if r not in runners]
        if (m := _GGML_FOUND.search(line)) is not None:
            ggml = []  # each runner's discovery lists its devices again: the last list stands
        if (m := _GGML_DEVICE.search(line)) is not None:
            ggml.append(ComputeDevice(id=m.group(1), library="CUDA", compute=f"{m.group(3)}.{m.group(4)}",
                                      name=f"CUDA{m.group(1)}", description=m.group(2).strip()))
        if "loaded CUDA backend from" in line:
            found = _RUNNER.findall(line)
            ggml_runner = found[-1] if found else ggml_runner
        if (m := _SERVER_CONFIG.search(line)) is not None:
            env = parse_env_map(m.group(1))
        if (skip := parse_skip(line)) is not None:
            skipped.append(skip)
        if _DISCOVERY in line:
            discovered = True
            p = _pairs(line)
            devices.append(ComputeDevice(
                id=p.get("id", ""), library=p.get("library", ""), compute=p.get("compute", ""),
                name=p.get("name", ""), description=p.get("description", ""), libdirs=p.get("libdirs", ""),
                variant=p.get("variant", ""), pci_id=p.get("pci_id", ""), total=p.get("total", ""),
                driver=p.get("driver", "")))
        if any(t in line for t in TROUBLE):
            trouble.append(line[line.find("time="):] if "time=" in line else line)
        if "msg=offload " in line or 'msg="offload to cuda"' in line:
            p = _pairs(line)
            numbers = re.findall(r"\d+", p.get("layers.split", ""))
            split = tuple(int(n) for n in numbers)
            model_mib = {}
        if "GPULayers:" in line and "Operation:commit" in line:
            split = tuple(int(n) for _, n in _GPU_LAYERS_ID.findall(line))
        if 'msg="model weights"' in line:
            p = _pairs(line)
            device = p.get("device") or p.get("buffer", "")
            size = mib(p.get("size", ""))
            if device and size is not None:
                model_mib[device] = size
        if (m := _BUFFER.search(line)) is not None:
            model_mib[m.group(1)] = float(m.group(2))
        if (m := _OFFLOADED.search(line)) is not None:
            offloaded = (int(m.group(1)), int(m.group(2)))
    ggml = [dataclasses.replace(d, libdirs=ggml_runner) for d in ggml]
    return OllamaLog(version, env, tuple(devices), tuple(trouble), model_mib, split, offloaded, len(starts),
                     tuple(runners), discovered, tuple(ggml), tuple(skipped), _cut_in_discovery(all_lines[starts[-1]:]))
