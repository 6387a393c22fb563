"""Requirement profiles: declarative TOML files, validated when loaded.

Every problem (missing file, TOML syntax, unknown key, wrong type, NaN or infinity, value out of range, a
minimum above its maximum) raises ProfileError with one line naming the file and the key. Every number
has a minimum and a maximum: an absurd value is a typo, not a requirement. Bundled profiles live in
``gpuaccept/profiles/``; ``--profile`` takes a bundled name or a path.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import sys
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from gpuaccept.errors import UsageProblem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ProfileError(UsageProblem, ValueError):
    """A profile that cannot be used; the message is one line: file, key, problem."""


def _spec(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, **rules: Any) -> Any:
    """A profile field: its default (none = required) and the rules its value must meet."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=rules)
    if default is dataclasses.MISSING:
        return field(metadata=rules)
    return field(default=default, metadata=rules)


@dataclass(frozen=True, kw_only=True)
class GpuSpec:
    count: int = _spec(min=1, max=64)
    name: str = _spec()
    pci_device_id: str = _spec(hex=True)
    architecture: str = _spec()
    memory_mib_ecc_off: int = _spec(min=1, max=10**7)
    memory_mib_ecc_on: int = _spec(min=1, max=10**7)
    memory_tolerance_mib: int = _spec(64, min=0, max=10**6)
    retired_pages_limit: int = _spec(63, min=1, max=10**6)  # retired pages must stay below this
    persistence: bool = _spec(True)


@dataclass(frozen=True, kw_only=True)
class DriverSpec:
    min_version: str = _spec(version=True)
    below_version: str = _spec("", version=True)  # exclusive; "" = no upper bound
    kernel_module_flavor: str = _spec("any", choices=("proprietary", "open", "any"))
    # True: where the deployed Ollama's release is known, its own floor (gpuaccept/data/ollama_driver_floors.py)
    # replaces min_version; min_version stays the floor when it is not known.
    follow_ollama: bool = _spec(True)


@dataclass(frozen=True, kw_only=True)
class PcieSpec:
    generation: int = _spec(min=1, max=6)
    width: int = _spec(choices=(1, 2, 4, 8, 16, 32))
    bar1_min_mib: int = _spec(0, min=0, max=10**7)
    aspm: str = _spec("warn", choices=("ignore", "warn", "fail"))
    topology: list[str] = _spec(factory=list, choices=("PIX", "PXB", "PHB", "NODE", "SYS", "INTERNAL", "NV#"))


@dataclass(frozen=True, kw_only=True)
class PowerSpec:
    limit_w: float = _spec(min=1, max=10**5)  # the default power limit each GPU should run at
    psu_watts: float = _spec(0.0, min=0, max=10**5)  # 0 = not known: PWR-BUDGET skips
    psu_derating: float = _spec(0.8, min=0.1, max=1.0)
    host_base_w: float = _spec(300.0, min=0, max=10**5)


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """The Ollama container: what CTR-* check, and what ``--remediate`` launches."""

    enabled: bool = _spec(True)  # false: the CTR requirements skip (no container on this host)
    name: str = _spec("ollama")
    image: str = _spec("ollama/ollama:0.32.1")  # pinned: Pascal support differs between releases
    port: int = _spec(11434, min=1, max=65535)
    bind_address: str = _spec("127.0.0.1")  # where a launch publishes the API
    allowed_bind_addresses: list[str] = _spec(factory=lambda: ["127.0.0.1", "::1"])
    volume: str = _spec("ollama")  # named volume for the model store
    models_path: str = _spec("/root/.ollama")
    restart_policies: list[str] = _spec(factory=lambda: ["unless-stopped", "always"],
                                        choices=("no", "on-failure", "unless-stopped", "always"))
    spread: bool = _spec(True)  # require OLLAMA_SCHED_SPREAD=1 so the model uses every GPU
    environment: dict[str, str] = _spec(factory=dict)  # extra variables a launch sets
    api_wait_s: float = _spec(60.0, min=1, max=900)
    docker_host: str = _spec("")  # "" = DOCKER_HOST, else the default socket
    docker_timeout_s: float = _spec(20.0, min=1, max=600)


@dataclass(frozen=True, kw_only=True)
class BenchmarkSpec:
    """The load tier's fixed benchmark: same prompt, seed and length every run, thinking off."""

    prompt: str = _spec("Write a detailed, numbered list of twenty practical steps for installing a second "
                        "GPU in an inference server, from unpacking the card to the final acceptance test.")
    num_predict: int = _spec(256, min=8, max=8192)
    num_ctx: int = _spec(4096, min=512, max=10**7)
    seed: int = _spec(42, min=-(2**31), max=2**31 - 1)
    temperature: float = _spec(0.0, min=0, max=2)
    warmup_runs: int = _spec(1, min=0, max=10)
    runs: int = _spec(3, min=1, max=50)
    sample_hz: float = _spec(10.0, min=1, max=100)


@dataclass(frozen=True, kw_only=True)
class OllamaSpec:
    """Ollama serving: what OLL-* and GPU-THERMAL check, with the thresholds they use."""

    enabled: bool = _spec(True)
    url: str = _spec("http://127.0.0.1:11434")
    model: str = _spec("qwen3:32b")
    min_version: str = _spec("0.6.6", version=True)  # qwen3 support arrived in 0.6.6
    compute_capability: str = _spec("6.1")  # what discovery must report for each GPU
    cuda_runner: str = _spec("cuda_v12")  # Pascal needs the CUDA 12 runner (cuda_v13 has no sm_61)
    api_timeout_s: float = _spec(10.0, min=1, max=600)  # version, tags, ps, and each streamed chunk
    load_timeout_s: float = _spec(600.0, min=5, max=3600)  # loading the model
    # A floor of 0 would pass a card that holds nothing: the floors below are the least that still judge.
    min_gpu_memory_gib: float = _spec(2.0, min=0.25, max=10**4)  # OLL-SPREAD: the runner holds at least this on every GPU
    balance_min_ratio: float = _spec(0.6, min=0.05, max=1)  # OLL-BALANCE: smallest/largest share
    throughput_floor_tps: float = _spec(8.0, min=0.1, max=10**6)  # OLL-THROUGHPUT: median generation tokens/s
    memory_bandwidth_gbs: float = _spec(346.0, min=1, max=10**6)  # one card's memory bandwidth (P40: 346 GB/s)
    load_time_max_s: float = _spec(0.0, min=0, max=86400)  # OLL-LOAD-TIME fails above this; 0 = no failing limit
    # OLL-LOAD-TIME warns above this; 0: from the model's size (checks/load.py load_warn_limit)
    load_time_warn_s: float = _spec(0.0, min=0, max=86400)
    # Drop the host's page cache before the timed load (root, Ollama on this host), so it reads the disk
    cold_load: bool = _spec(False)
    thermal_margin_c: float = _spec(5.0, min=0, max=100)  # GPU-THERMAL: stay this far below the slowdown threshold
    # OLL-OFFLOAD: the runner's NVML memory against /api/ps size (Ollama's estimate of weights, KV cache and
    # graph, which it sizes generously): a model with layers left on the CPU holds far less than this.
    offload_min_nvml_ratio: float = _spec(0.8, min=0.05, max=1)
    consistent_text_required: bool = _spec(False)  # OLL-CONSISTENT fails (not only reports) on differing text
    benchmark: BenchmarkSpec = _spec(factory=BenchmarkSpec)


@dataclass(frozen=True, kw_only=True)
class DiagSpec:
    """The diag tier's active tests (PCIE-BANDWIDTH, PCIE-REPLAY, GPU-MEMTEST, GPU-SOAK, GPU-P2P) and their floors."""

    bandwidth_floor_gbps: float = _spec(10.0, min=0.1, max=10**4)  # each way, per GPU (P40 Gen3 x16 measures 11.8 / 12.9)
    copy_mib: int = _spec(256, min=1, max=16384)  # one pinned copy
    copy_seconds: float = _spec(1.0, min=0.05, max=600)  # each timed copy run lasts at least this
    memtest_share: float = _spec(0.9, min=0.05, max=0.99)  # GPU-MEMTEST covers at least this share of free memory
    soak_s: float = _spec(600.0, min=5, max=86400)  # GPU-SOAK's time under load (--soak-seconds shortens it)
    soak_buffer_mib: int = _spec(256, min=16, max=16384)  # each GPU's working set during the soak
    soak_power_share: float = _spec(0.85, min=0, max=1)  # power must reach this share of the enforced limit
    temp_margin_c: float = _spec(5.0, min=0, max=100)  # stay this far below the slowdown temperature
    plateau_c_per_min: float = _spec(1.0, min=0.01, max=100)  # the last quarter of the soak warms slower than this
    clock_drop_share: float = _spec(0.1, min=0.01, max=0.9)  # SM clock may dip this far below its soak median
    sample_hz: float = _spec(2.0, min=0.1, max=100)
    p2p_floor_gbps: float = _spec(0.0, min=0, max=10**4)  # GPU-P2P warns below this; 0 = report only

    def evidence(self) -> dict[str, Any]:
        """The settings a diag.json was measured with (compared with the profile on replay)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class DriftSpec:
    """HOST-DRIFT (with --baseline): how far a measured figure may fall from the host's earlier run."""

    max_drop_pct: float = _spec(10.0, min=0, max=100)  # tokens/s, bandwidth, memory-test rate down (load time up)


@dataclass(frozen=True, kw_only=True)
class FleetSpec:
    """FLEET-CONSISTENT (fleet runs): how far below the fleet's median a host's measured figure may be."""

    max_outlier_mads: float = _spec(3.5, min=0.5, max=100)  # median absolute deviations below the median
    min_outlier_pct: float = _spec(5.0, min=0, max=100)  # and at least this far below it


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str = _spec()
    description: str = _spec("")
    strict_warnings: bool = _spec(False)
    # The tiers an acceptance must judge: a -m that leaves one out is INCOMPLETE (exit 6), never ACCEPTED.
    required_tiers: list[str] = _spec(factory=lambda: ["quick"], choices=("quick", "load", "diag"))
    gpus: GpuSpec = _spec()
    driver: DriverSpec = _spec()
    pcie: PcieSpec = _spec()
    power: PowerSpec = _spec()
    container: ContainerSpec = _spec(factory=ContainerSpec)
    ollama: OllamaSpec = _spec(factory=OllamaSpec)
    diag: DiagSpec = _spec(factory=DiagSpec)
    drift: DriftSpec = _spec(factory=DriftSpec)
    fleet: FleetSpec = _spec(factory=FleetSpec)
    waivers: dict[str, str] = _spec(factory=dict)
    path: str = ""

    @property
    def pci_device_id(self) -> int:
        return int(self.gpus.pci_device_id, 16)


BUNDLED = resources.files("gpuaccept") / "profiles"


def bundled_names() -> list[str]:
    return sorted(p.name[:-5] for p in BUNDLED.iterdir() if p.name.endswith(".toml"))


def resolve_path(name_or_path: str, base: Path | None = None) -> Path:
    """A path to a profile file, or the bundled profile of that name."""
    candidate = Path(name_or_path)
    if not candidate.is_absolute() and base is not None:
        candidate = base / candidate
    if candidate.is_file():
        return candidate
    bundled = BUNDLED / f"{name_or_path}.toml"
    if bundled.is_file():
        return Path(str(bundled))
    raise ProfileError(f"{name_or_path}: no such profile file, and no bundled profile of that name "
                       f"(bundled: {', '.join(bundled_names())})")


def load(name_or_path: str, base: Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Profile:
    path = resolve_path(name_or_path, base)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"{where}: not valid TOML: {err}") from None
    except OSError as err:
        raise ProfileError(f"{where}: cannot read: {err.strerror}") from None
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    profile = _build(Profile, data, where, "")
    _check_relations(profile, where)
    return dataclasses.replace(profile, path=where)


def _build(cls: type, data: Any, where: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: [{prefix.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "path"}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ProfileError(f"{where}: unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ProfileError(f"{where}: missing key {key}")
            continue
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            values[name] = _build(tp, data[name], where, f"{key}.")
        else:
            values[name] = _value(tp, data[name], f.metadata, where, key)
    return cls(**values)


def _value(tp: Any, value: Any, rules: Any, where: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProfileError(f"{where}: {key} must be a list of strings, got {value!r}")
        for item in value:
            _rules(item, rules, where, key)
        return list(value)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ProfileError(f"{where}: {key} must be a table of strings, got {value!r}")
        return dict(value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[tp]
    if not ok:
        raise ProfileError(f"{where}: {key} must be {tp.__name__}, got {type(value).__name__} {value!r}")
    if tp is float and not math.isfinite(value):  # TOML has nan and inf; nan passes every < and > test
        raise ProfileError(f"{where}: {key} = {value!r} is not a finite number")
    value = float(value) if tp is float else value
    _rules(value, rules, where, key)
    return value


def _rules(value: Any, rules: Any, where: str, key: str) -> None:
    if "min" in rules and value < rules["min"]:
        raise ProfileError(f"{where}: {key} = {value!r} is below its minimum {rules['min']}")
    if "max" in rules and value > rules["max"]:
        raise ProfileError(f"{where}: {key} = {value!r} is above its maximum {rules['max']}")
    if "choices" in rules and value not in rules["choices"]:
        allowed = ", ".join(repr(c) for c in rules["choices"])
        raise ProfileError(f"{where}: {key} = {value!r} is not one of {allowed}")
    if rules.get("hex"):
        try:
            int(value, 16)
        except ValueError:
            raise ProfileError(f"{where}: {key} = {value!r} is not a hexadecimal id such as '0x1B38'") from None
    if rules.get("version") and value:
        try:
            Version(value)
        except InvalidVersion:
            raise ProfileError(f"{where}: {key} = {value!r} is not a version number") from None


def _check_relations(p: Profile, where: str) -> None:
    if p.gpus.memory_mib_ecc_on > p.gpus.memory_mib_ecc_off:
        raise ProfileError(f"{where}: gpus.memory_mib_ecc_on ({p.gpus.memory_mib_ecc_on}) is above "
                           f"gpus.memory_mib_ecc_off ({p.gpus.memory_mib_ecc_off}); ECC never adds memory")
    if p.driver.below_version and Version(p.driver.min_version) >= Version(p.driver.below_version):
        raise ProfileError(f"{where}: driver.min_version ({p.driver.min_version}) is not below "
                           f"driver.below_version ({p.driver.below_version})")
    for key, address in [("container.bind_address", p.container.bind_address),
                         *(("container.allowed_bind_addresses", a) for a in p.container.allowed_bind_addresses)]:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ProfileError(f"{where}: {key}: {address!r} is not an IP address") from None
    from gpuaccept.catalogue import CATALOGUE  # late import: the catalogue is data, not a dependency cycle

    for rid in p.waivers:
        if rid not in CATALOGUE:
            raise ProfileError(f"{where}: waivers.{rid}: no requirement has that ID")
