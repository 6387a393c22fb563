"""The Ollama server log (``docker logs``): version, settings, GPU discovery and where a model went.

Formats differ by version (domain facts §3, §6); each is read here, none is assumed:
- discovery ``msg="inference compute"``: ``id=GPU-<uuid> library=cuda variant=v12 compute=6.1`` (<= 0.12.3),
  ``id=GPU-<uuid> library=CUDA ... name=CUDA0 description="Tesla P40" libdirs=ollama,cuda_v12`` (0.12.4 - 0.24),
  ``id=0 filter_id=0 library=CUDA ... name=CUDA0`` (0.30+); CPU only: ``id=cpu library=cpu``;
- trouble: ``no nvidia devices detected``, ``NVIDIA driver too old``, ``skipping CUDA device``;
- settings: ``msg="server config" env="map[KEY:value ...]"`` (also the older ``INFO server config env=...``);
- placement: ``msg="model weights" device|buffer=CUDA1 size="11.9 GiB"``, ``CUDA1 model buffer size = 9123.45 MiB``,
  ``layers.split=33,32`` / ``"[33 32]"``, ``GPULayers:65[ID:GPU-a Layers:33(0..32) ID:GPU-b ...]``,
  ``offloaded 65/65 layers to GPU``.
Lines may carry a journald prefix (``Sep 25 12:42:32 host ollama[861]: ``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PAIR = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S+)')
_VERSION = re.compile(r"Listening on \S+ \(version ([^)\s]+)\)")
_SERVER_CONFIG = re.compile(r'server config"? env="map\[(.*)\]"')
_ENV_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")
_BUFFER = re.compile(r"\b(CUDA\d+|CPU(?:_Mapped)?)\s+model buffer size\s*=\s*([\d.]+) MiB")
_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
_GPU_LAYERS_ID = re.compile(r"ID:(\S+) Layers:(\d+)")
_SIZE = re.compile(r"([\d.]+)\s*(B|KiB|MiB|GiB|TiB)")
_UNITS = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "TiB": 1024**2}
TROUBLE = ("no nvidia devices detected", "NVIDIA driver too old", "skipping CUDA device",
           "failed to initialize CUDA", "unable to load cuda driver library")


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
class OllamaLog:
    version: str | None = None
    server_env: dict[str, str] = field(default_factory=dict)
    devices: tuple[ComputeDevice, ...] = ()
    trouble: tuple[str, ...] = ()  # lines that explain a missing or skipped GPU
    model_mib: dict[str, float] = field(default_factory=dict)  # CUDA0/CUDA1/CPU -> model weights, last load
    layer_split: tuple[int, ...] = ()  # layers per GPU, last load
    offloaded: tuple[int, int] | None = None  # (layers on GPU, layers in the model), last load


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
    version, env = None, {}
    devices: list[ComputeDevice] = []
    trouble: list[str] = []
    model_mib: dict[str, float] = {}
    split: tuple[int, ...] = ()
    offloaded = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if (m := _VERSION.search(line)) is not None:
            version = m.group(1)
            devices, trouble = [], []  # a restart: the newest start-up is what runs now
        if (m := _SERVER_CONFIG.search(line)) is not None:
            env = parse_env_map(m.group(1))
        if 'msg="inference compute"' in line:
            p = _pairs(line)
            devices.append(ComputeDevice(
                id=p.get("id", ""), library=p.get("library", ""), compute=p.get("compute", ""),
                name=p.get("name", ""), description=p.get("description", ""), libdirs=p.get("libdirs", ""),
                variant=p.get("variant", ""), pci_id=p.get("pci_id", ""), total=p.get("total", "")))
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
    return OllamaLog(version, env, tuple(devices), tuple(trouble), model_mib, split, offloaded)
