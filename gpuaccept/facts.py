"""Typed, frozen facts about a host: what the acceptance tests read.

Facts are source-agnostic: a live run (NVML, commands) and a replay of saved evidence produce the
same objects. A value of ``None`` means "not reported"; the reason is kept beside it, so a test can
skip with that reason instead of guessing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gpuaccept.facts_diag import DiagFacts
from gpuaccept.samples import GpuSample, Sample  # noqa: F401 - re-exported: the benchmark's samples
from gpuaccept.validate import conform


@dataclass(frozen=True)
class GpuFacts:
    """One GPU as NVML (or ``nvidia-smi -q -x``) reports it. Field docs name the nvidia-smi query field."""

    index: int
    name: str | None = None  # name
    uuid: str | None = None  # uuid
    serial: str | None = None  # serial
    bus_id: str | None = None  # pci.bus_id, normalised to DDDD:BB:DD.F
    pci_device_id: int | None = None  # pci.device_id >> 16, e.g. 0x1B38
    pci_subsystem_id: int | None = None  # pci.sub_device_id
    vbios_version: str | None = None  # vbios_version
    architecture: str | None = None  # e.g. "Pascal"
    compute_capability: str | None = None  # compute_cap, e.g. "6.1"
    memory_total_mib: int | None = None  # memory.total
    ecc_enabled: bool | None = None  # ecc.mode.current
    ecc_pending_enabled: bool | None = None  # ecc.mode.pending
    ecc_uncorrected_volatile: int | None = None  # ecc.errors.uncorrected.volatile.total
    ecc_uncorrected_aggregate: int | None = None  # ecc.errors.uncorrected.aggregate.total
    bar1_total_mib: int | None = None  # (nvidia-smi -q "BAR1 Memory Usage Total")
    persistence_mode: bool | None = None  # persistence_mode
    power_default_limit_w: float | None = None  # power.default_limit
    power_enforced_limit_w: float | None = None  # enforced.power.limit
    power_max_limit_w: float | None = None  # power.max_limit
    pcie_gen_current: int | None = None  # pcie.link.gen.current
    pcie_gen_max: int | None = None  # pcie.link.gen.max
    pcie_width_current: int | None = None  # pcie.link.width.current
    pcie_width_max: int | None = None  # pcie.link.width.max
    retired_pages_sbe: int | None = None  # retired_pages.sbe
    retired_pages_dbe: int | None = None  # retired_pages.dbe
    retired_pages_pending: bool | None = None  # retired_pages.pending
    nvlink_active: int | None = None  # NVLinks up (nvidia-smi nvlink -s); 0: a card without NVLink, as a P40
    temp_slowdown_c: int | None = None  # (nvidia-smi -q "GPU Slowdown Temp")
    temp_shutdown_c: int | None = None  # (nvidia-smi -q "GPU Shutdown Temp")
    # Row remapping replaces page retirement from Ampere on (NVML NOT_SUPPORTED before): remapped_rows.*
    remapped_rows_correctable: int | None = None  # remapped_rows.correctable
    remapped_rows_uncorrectable: int | None = None  # remapped_rows.uncorrectable
    remapped_rows_pending: bool | None = None  # remapped_rows.pending
    remapped_rows_failure: bool | None = None  # remapped_rows.failure
    #: field name -> why the source did not report it ("not supported by this GPU", ...)
    unreported: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name this GPU: ``GPU1 (0000:03:00.0)``."""
        return f"GPU{self.index} ({self.bus_id})" if self.bus_id else f"GPU{self.index}"

    def why_missing(self, name: str) -> str:
        return self.unreported.get(name, "not reported by the source")


@dataclass(frozen=True)
class NvmlStatus:
    """Whether the GPU inventory could be read at all, and from which evidence."""

    ok: bool
    source: str = ""  # "NVML", "nvml.json", "nvidia-smi-q.xml"
    error: str | None = None  # an NVML error name such as LIBRARY_NOT_FOUND, or MISSING_EVIDENCE
    detail: str = ""


@dataclass(frozen=True)
class DriverFacts:
    nvml_version: str | None = None  # user-space driver version as NVML reports it
    cuda_driver_version: str | None = None  # e.g. "13.0"
    kernel_module_version: str | None = None  # from /proc/driver/nvidia/version
    kernel_module_flavor: str | None = None  # "proprietary" or "open"
    kernel_module_line: str | None = None
    kernel_module_missing: str | None = None  # why the kernel module version is unknown


@dataclass(frozen=True)
class PciDevice:
    """An NVIDIA function on the PCI bus, from lspci or sysfs."""

    bus_id: str  # DDDD:BB:DD.F
    vendor: int | None = None
    device: int | None = None
    class_code: str | None = None  # "0302" 3D controller, "0300" VGA
    description: str = ""
    driver_in_use: str | None = None
    link_cap_speed_gts: float | None = None
    link_cap_width: int | None = None
    link_sta_speed_gts: float | None = None
    link_sta_width: int | None = None
    bars_mib: dict[str, int] = field(default_factory=dict)  # region number -> size in MiB
    aspm: str | None = None  # LnkCtl ASPM state, e.g. "Disabled", "L1 Enabled"
    capabilities_readable: bool = True  # False when lspci ran without root ("<access denied>")

    @property
    def is_gpu(self) -> bool:
        """A display/3D controller (class 03xx); audio and USB functions of a card are not GPUs."""
        if self.class_code:
            return self.class_code.startswith("03")
        return "VGA" in self.description or "3D controller" in self.description


@dataclass(frozen=True)
class PciFacts:
    devices: tuple[PciDevice, ...] = ()
    source: str = ""  # "lspci-vvv.txt" or "sysfs-pci.txt"
    missing: str | None = None

    @property
    def gpus(self) -> tuple[PciDevice, ...]:
        return tuple(d for d in self.devices if d.vendor in (None, 0x10DE) and d.is_gpu)

    def by_bus_id(self, bus_id: str | None) -> PciDevice | None:
        return next((d for d in self.devices if bus_id and d.bus_id == bus_id), None)


@dataclass(frozen=True)
class XidEvent:
    number: int
    bus_id: str  # as the kernel printed it, normalised to lower case (may lack the function)
    time: str  # the line's own timestamp ("[ 7386.259769]", "[Sun Jul 28 ...]", "Jun 30 11:07:05")
    text: str
    caused_by: int | None = None  # "... caused by previous Xid N": the Xid that started it, judged instead
    lost_notice: bool = False  # a "fallen off the bus" notice without its Xid 79 line, counted as Xid 79

    @property
    def judged_as(self) -> int:
        return self.caused_by if self.caused_by is not None else self.number


@dataclass(frozen=True)
class KernelNotice:
    """A kernel message that explains a failure elsewhere (API mismatch, RmInitAdapter, BAR1 0M...)."""

    kind: str
    bus_id: str | None
    text: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KernelFacts:
    modules: tuple[str, ...] = ()
    modules_missing: str | None = None
    xid_events: tuple[XidEvent, ...] = ()
    notices: tuple[KernelNotice, ...] = ()
    log_missing: str | None = None
    log_reaches_back: bool = True  # False: the log lost this boot's start (a wrapped ring buffer)
    log_starts_at: str = ""  # its first line's timestamp

    @property
    def nouveau_loaded(self) -> bool | None:
        return None if self.modules_missing else "nouveau" in self.modules

    def notices_of(self, kind: str) -> tuple[KernelNotice, ...]:
        return tuple(n for n in self.notices if n.kind == kind)


@dataclass(frozen=True)
class GpuLink:
    """How two GPUs reach each other: X, PIX, PXB, PHB, NODE, SYS or NV#."""

    a: int
    b: int
    relation: str


@dataclass(frozen=True)
class TopologyFacts:
    links: tuple[GpuLink, ...] = ()
    source: str = ""
    missing: str | None = None


CDI_GPU_KIND = "nvidia.com/gpu"  # the vendor/class `nvidia-ctk cdi generate` names whole GPUs under


@dataclass(frozen=True)
class DeviceRequest:
    """One entry of HostConfig.DeviceRequests: what ``--gpus`` asked for, or a CDI ``--device``.

    The docker CLI (cli/command/container/opts.go) turns every ``--device`` that is a qualified CDI
    name (``nvidia.com/gpu=all``) into one request ``{"Driver": "cdi", "DeviceIDs": [names...]}``
    (Count 0, no capabilities) appended after the ``--gpus`` ones; dockerd's ``cdi`` device driver
    (moby daemon/cdi.go) injects those names from the CDI specs in ``CDISpecDirs``. Compose's
    ``driver: cdi`` reservation gives the same request, sometimes with capabilities ``[["gpu"]]``.
    """

    driver: str = ""
    count: int = 0  # -1 = all
    device_ids: tuple[str, ...] = ()  # indexes or UUIDs; CDI names for driver "cdi"
    capabilities: tuple[tuple[str, ...], ...] = ()

    @property
    def wants_gpu(self) -> bool:
        if self.is_cdi:
            return bool(self.cdi_gpu_names)
        return self.driver == "nvidia" or any("gpu" in group for group in self.capabilities)

    @property
    def is_cdi(self) -> bool:
        return self.driver == "cdi"

    @property
    def cdi_gpu_names(self) -> tuple[str, ...]:
        """The device part of each ``nvidia.com/gpu=<device>`` name of a CDI request (all, 0, GPU-<uuid>...)."""
        if not self.is_cdi:
            return ()
        return tuple(name for kind, _, name in (i.partition("=") for i in self.device_ids) if kind == CDI_GPU_KIND)

    @property
    def cdi_other_names(self) -> tuple[str, ...]:
        """The names of a CDI request that are not NVIDIA GPUs (another vendor's or class's devices)."""
        if not self.is_cdi:
            return ()
        return tuple(i for i in self.device_ids if i.partition("=")[0] != CDI_GPU_KIND)


@dataclass(frozen=True)
class Mount:
    type: str  # volume, bind, tmpfs
    source: str  # volume name or host path
    destination: str


@dataclass(frozen=True)
class PortBinding:
    container_port: str  # "11434/tcp"
    host_ip: str  # "" and "0.0.0.0" both mean every interface
    host_port: str


@dataclass(frozen=True)
class ContainerGpu:
    """One line of ``nvidia-smi -L`` run inside the container (indexes renumbered from 0)."""

    index: int
    name: str
    uuid: str


@dataclass(frozen=True)
class ContainerFacts:
    name: str
    exists: bool = False
    id: str = ""
    image: str = ""
    status: str = ""  # running, exited, created, ...
    state_problem: str | None = None  # where State contradicts itself (Status running, Running false, ...)
    restart_count: int = 0  # restarts by its restart policy since it was last started
    restart_policy: str = ""
    managed: bool = False  # carries the suite's label, so --remediate may recreate it
    runtime: str = ""
    network_mode: str = ""
    env: tuple[tuple[str, str], ...] = ()  # secrets redacted
    device_requests: tuple[DeviceRequest, ...] = ()
    mounts: tuple[Mount, ...] = ()
    ports: tuple[PortBinding, ...] = ()
    # where the bound ports disagree with the asked ones (a running container): which port is whose is unknown
    ports_problem: str | None = None
    gpus_seen: tuple[ContainerGpu, ...] | None = None
    gpus_seen_missing: str | None = None  # why there is no in-container GPU list (no evidence)
    gpus_seen_error: str | None = None  # what `nvidia-smi -L` printed instead of a list

    @property
    def running(self) -> bool:
        """Running by a State that holds together: a contradictory one is never "running"."""
        return self.status == "running" and self.state_problem is None

    def stores(self, path: str) -> list[Mount]:
        """The volumes and bind mounts that hold ``path``: data there outlives the container."""
        return [m for m in self.mounts if m.type in ("volume", "bind")
                and (path.rstrip("/") + "/").startswith(m.destination.rstrip("/") + "/")]

    def env_value(self, name: str) -> str | None:
        """The value the process sees: the last definition wins, as in the OCI spec."""
        value = None
        for key, val in self.env:
            if key == name:
                value = val
        return value


@dataclass(frozen=True)
class GpuProbe:
    """A throw-away ``docker run --rm --gpus all <image> nvidia-smi -L``: does the engine give GPUs?

    On an engine with CDI (``CDISpecDirs``) whose ``--gpus all`` failed, the probe is repeated with
    ``--device nvidia.com/gpu=all``: then ``request`` says so and ``gpus_error`` keeps what ``--gpus`` said.
    """

    ok: bool
    image: str = ""
    error: str = ""
    output: str = ""
    request: str = "--gpus all"  # the request the recorded result (ok, error, output) is from
    gpus_error: str = ""  # what `--gpus all` said, when the CDI request was tried after it

    @property
    def cdi(self) -> bool:
        return self.request.startswith("--device")


@dataclass(frozen=True)
class EngineFacts:
    reachable: bool
    error: str = ""
    version: str = ""
    api_version: str = ""
    runtimes: tuple[str, ...] = ()
    default_runtime: str = ""
    cdi_spec_dirs: tuple[str, ...] = ()
    probe: GpuProbe | None = None
    probe_missing: str | None = None


@dataclass(frozen=True)
class DockerFacts:
    engine: EngineFacts | None = None
    engine_missing: str | None = None  # why there is no engine evidence
    container: ContainerFacts | None = None
    container_missing: str | None = None  # why there is no container evidence


@dataclass(frozen=True)
class OllamaModel:
    """A model as ``/api/tags`` (installed) or ``/api/ps`` (loaded) lists it."""

    name: str
    size: int = 0  # bytes: the file (tags) or all buffers (ps)
    size_vram: int | None = None  # ps only: bytes on GPUs, summed over every GPU
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    context_length: int | None = None
    digest: str = ""  # the manifest's SHA-256 (tags): the same name can be another build after a pull


def find_model(models: tuple[OllamaModel, ...], name: str) -> OllamaModel | None:
    """The model Ollama would run for ``name``: a name without a tag means ``:latest``."""
    wanted = {name, f"{name}:latest"} if ":" not in name else {name}
    return next((m for m in models if m.name in wanted), None)


@dataclass(frozen=True)
class ComputeDevice:
    """One GPU (or the CPU) the Ollama server discovered at start-up (its ``inference compute`` line)."""

    id: str
    library: str
    compute: str = ""
    card: str = ""
    runner: str = ""  # cuda_v12, cuda_v13
    pci_id: str = ""
    driver: str = ""  # the CUDA driver version the server saw ("13.0"), where the log says it


@dataclass(frozen=True)
class GpuProcess:
    """A PID NVML listed during the benchmark, as the host's /proc showed it (None: unreadable)."""

    pid: int
    comm: str | None = None
    cmdline: str | None = None
    cgroup: str | None = None


@dataclass(frozen=True)
class BenchRun:
    """One measured generate call; durations in nanoseconds, as Ollama reports them."""

    eval_count: int = 0
    eval_ns: int = 0
    prompt_eval_count: int = 0
    prompt_eval_ns: int = 0
    load_ns: int = 0
    total_ns: int = 0
    ttft_s: float | None = None  # wall time to the first streamed token
    done_reason: str = ""
    start_t: float | None = None  # the call's start and end on the sampler's clock (seconds)
    end_t: float | None = None
    chunks: int | None = None  # streamed chunks that carried text
    text: str | None = None  # the generated text, capped (Benchmark.text_cap bytes)

    @property
    def wall_s(self) -> float | None:
        return None if self.start_t is None or self.end_t is None else self.end_t - self.start_t

    @property
    def tokens_per_s(self) -> float:
        return self.eval_count / self.eval_ns * 1e9 if self.eval_ns else 0.0


@dataclass(frozen=True)
class CutRun:
    """A generation the benchmark stopped (ollama_bench.Overrun): where, why (``slow``: it could no longer
    reach the floor) and what it streamed until then, by the wall clock."""

    stage: str = ""
    slow: bool = False
    chunks: int = 0
    streaming_s: float = 0.0  # seconds from its first token to the stop


@dataclass(frozen=True)
class Answer(BenchRun):
    """One of OLL-ANSWER's questions, asked after the measured runs: the prompt, the accepted answers and the
    reply (``text``), or the error that ended it."""

    id: str = ""
    prompt: str = ""
    expect: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class PageCache:
    """Whether the host's page cache was emptied before the timed load (sources/page_cache.py)."""

    state: str  # "dropped" or "warm"; anything else is a damaged record
    why: str = ""


@dataclass(frozen=True)
class Benchmark:
    model: str
    load_ns: int = 0  # the cold load before the runs
    runs: tuple[BenchRun, ...] = ()
    error: str = ""  # why the benchmark stopped early
    samples: tuple[Sample, ...] = ()
    measure_from: float = 0.0  # sample times of the measured runs (warm-up and load excluded)
    measure_to: float = 0.0
    runner_pids: tuple[int, ...] = ()  # GPU processes that appeared with the model
    baseline_at: float = 0.0  # sample time before the load: processes already on the GPUs
    loaded: tuple[OllamaModel, ...] = ()  # /api/ps while the model was loaded
    settings: dict[str, Any] = field(default_factory=dict)
    warmup: tuple[BenchRun, ...] = ()  # the warm-up runs, before the measured ones
    loaded_at_load: tuple[OllamaModel, ...] = ()  # /api/ps right after the cold load
    processes: tuple[GpuProcess, ...] = ()  # every PID NVML listed, as /proc showed it while loaded
    text_cap: int = 0  # bytes of each run's text kept
    answers: tuple[Answer, ...] | None = None  # OLL-ANSWER's questions; None: a record from before them
    cut: CutRun | None = None  # the generation the benchmark stopped, if it stopped one
    page_cache: PageCache | None = None  # before the timed load; None: a record from before it was kept

    def measured(self) -> tuple[Sample, ...]:
        return tuple(s for s in self.samples if self.measure_from <= s.t <= self.measure_to)


@dataclass(frozen=True)
class OllamaFacts:
    url: str = ""
    reachable: bool | None = None  # None: no evidence
    error: str = ""
    version: str = ""
    missing: str | None = None  # why there is no API evidence
    models: tuple[OllamaModel, ...] | None = None
    models_missing: str | None = None
    loaded: tuple[OllamaModel, ...] | None = None
    devices: tuple[ComputeDevice, ...] | None = None  # from the server log
    trouble: tuple[str, ...] = ()
    log_version: str = ""
    server_env: tuple[tuple[str, str], ...] = ()
    log_starts: int = 0  # server starts in the log; devices, trouble and server_env are the last one's
    runners_seen: tuple[str, ...] = ()  # runner folders the last start's log names (cuda_v12, cuda_v13)
    model_mib: tuple[tuple[str, float], ...] = ()  # CUDA0/CUDA1/CPU -> model weights, from the log
    log_missing: str | None = None
    benchmark: Benchmark | None = None
    benchmark_missing: str | None = None
    offloaded: tuple[int, int] | None = None  # the log's last `offloaded N/M layers to GPU` (N, M)


@dataclass(frozen=True)
class SmiFacts:
    """``nvidia-smi -q -x`` beside ``nvml.json``: a second account of the same GPUs, kept for cross-checks.

    Both read the same driver, so they must agree; when they do not, one capture is stale or edited.
    """

    gpus: tuple[GpuFacts, ...] | None = None  # None: no second account (see missing / error)
    driver_version: str | None = None
    missing: str | None = None  # why there is no second account (absent, or the XML is the inventory itself)
    error: str | None = None  # the XML is there but could not be read


@dataclass(frozen=True)
class UnitFacts:
    """A systemd unit's state (``systemctl show``): whether it starts at boot and whether it runs now."""

    load_state: str = ""  # loaded, not-found, masked
    unit_file_state: str = ""  # enabled, disabled, static, masked, ...
    active_state: str = ""  # active, inactive, failed, ...
    sub_state: str = ""  # running, dead, ...
    missing: str | None = None  # why the state is unknown (no systemd, no evidence)

    @property
    def installed(self) -> bool:
        return self.load_state == "loaded"

    @property
    def starts_at_boot(self) -> bool:
        # "static"/"indirect" units start only when something else pulls them in: not a boot guarantee.
        return self.installed and self.unit_file_state in ("enabled", "enabled-runtime", "alias", "linked")

    @property
    def running(self) -> bool:
        return self.active_state == "active"

    def describe(self) -> str:
        if self.missing is not None:
            return f"state unknown ({self.missing})"
        if not self.installed:
            return f"not installed (LoadState={self.load_state or '?'})"
        return (f"{'enabled' if self.starts_at_boot else self.unit_file_state or 'not enabled'} at boot, "
                f"{self.active_state}{f' ({self.sub_state})' if self.sub_state else ''} now")


@dataclass(frozen=True)
class HostInfo:
    """The machine the evidence comes from (``host-info.txt``): shown in the report, judged by no requirement.

    Each value is None when its source gave nothing; ``unreported`` says why, field by field.
    """

    kernel: str | None = None  # uname -srvm
    os: str | None = None  # /etc/os-release PRETTY_NAME
    cpu_model: str | None = None  # /proc/cpuinfo "model name" (lscpu "Model name" where cpuinfo has none)
    cpu_count: int | None = None  # logical CPUs: /proc/cpuinfo "processor" lines (lscpu "CPU(s)")
    mem_total_mib: int | None = None  # /proc/meminfo MemTotal
    bios: str | None = None  # /sys/class/dmi/id bios_vendor bios_version (bios_date)
    board: str | None = None  # /sys/class/dmi/id board_vendor board_name (system: sys_vendor product_name)
    #: field name -> why it is None
    unreported: dict[str, str] = field(default_factory=dict)

    def why_missing(self, name: str) -> str:
        return self.unreported.get(name, "not reported by the source")


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    mode: str  # "live" or "replay"
    source: str  # "live" or the replayed folder
    captured_at: str = ""
    nvml: NvmlStatus = NvmlStatus(ok=False, error="MISSING_EVIDENCE")
    gpus: tuple[GpuFacts, ...] = ()
    driver: DriverFacts = DriverFacts()
    pci: PciFacts = PciFacts()
    kernel: KernelFacts = KernelFacts()
    topology: TopologyFacts = TopologyFacts()
    docker: DockerFacts = DockerFacts()
    ollama: OllamaFacts = OllamaFacts()
    smi: SmiFacts = SmiFacts()
    persistenced: UnitFacts = UnitFacts(missing="not collected")  # nvidia-persistenced.service
    provenance: str = ""  # a replayed folder's own word on where it comes from ("constructed: ...", "captured: ...")
    diag: DiagFacts | None = None  # the diag tier's measurements (diag.json)
    diag_missing: str | None = "not collected"  # why there is no diag evidence
    baseline: dict[str, Any] | None = None  # baseline.json: an earlier run's figures (gpuaccept.drift), unchecked
    baseline_missing: str | None = "not collected"  # why there is none: no --baseline, or none found
    fleet_peers: dict[str, Any] | None = None  # fleet-peers.json: the fleet's hosts of this profile, their figures
    fleet_peers_missing: str | None = "not collected"
    host_info: HostInfo = HostInfo()  # kernel, OS, CPU, memory, BIOS and board of the host the evidence comes from
    #: (evidence file, why) for each file that was present but could not be used: the requirements
    #: judged on it are not evaluated (fixtures/requirements.py), whatever their checks concluded.
    unreadable: tuple[tuple[str, str], ...] = ()

    def gpu(self, index: int) -> GpuFacts | None:
        return next((g for g in self.gpus if g.index == index), None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostFacts:
        return from_dict(cls, data)


def from_dict(tp: Any, value: Any, path: str = "") -> Any:
    """Rebuild a (nested) dataclass from ``dataclasses.asdict`` output or evidence JSON, following the type
    hints strictly; raises ``validate.Invalid`` naming the path of the first value that does not fit."""
    return conform(tp, value, path)
