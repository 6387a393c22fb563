"""What ``--remediate`` would do, decided from the facts and the same checks the tests run.

Safety rules, in one place:
- a container the suite did not launch (no ``io.gpuaccept.managed=true`` label) is never recreated
  unless ``--remediate-force`` is given;
- nothing is done to containers while the engine or its GPU support is broken (recreating would fail);
- volumes are never deleted; a container whose models are not on a volume gets one, filled first, and
  the old container goes only once the new one holds every model file (gpuaccept.remedy.model_store);
- persistence is made to last: nvidia-persistenced is enabled at boot and started (systemd, root); only
  where its unit is not installed is the mode set through NVML (root), which a reboot undoes: said so.
A fixed machine plans nothing, so a second ``--remediate`` does nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from gpuaccept.checks import cards, container
from gpuaccept.checks import ollama as ollama_checks
from gpuaccept.facts import CDI_GPU_KIND, ContainerFacts, HostFacts
from gpuaccept.profile import Profile
from gpuaccept.remedy import model_store

RECREATE_FOR = {"CTR-GPU-REQUEST": container.ctr_gpu_request, "CTR-SEES-GPUS": container.ctr_sees_gpus,
                "CTR-CONFIG": container.ctr_config, "CTR-EXPOSURE": container.ctr_exposure}


@dataclass(frozen=True)
class Action:
    kind: str  # launch, recreate, start, restart-policy, persistence, persistenced, pull
    target: str
    requirements: tuple[str, ...]
    reason: str
    before: str = ""
    after: str = ""
    status: str = "planned"  # planned, done, failed, refused
    detail: str = ""
    # A recreate's model store: where it was and is, its counts, every file's sha256, what was verified
    # and any difference found (then the old container was put back).
    models: dict = field(default_factory=dict, hash=False)

    VERBS = {"launch": "launch", "recreate": "recreate", "start": "start", "restart-policy": "set the restart policy of",
             "persistence": "enable persistence mode on", "pull": "pull",
             "persistenced": "enable at boot and start"}

    def describe(self) -> str:
        verb = self.VERBS[self.kind]
        head = {"planned": f"would {verb}", "done": f"did {verb}", "failed": f"failed to {verb}",
                "refused": f"will not {verb}"}[self.status]
        text = f"{head} {self.target}: {self.reason}"
        if self.before or self.after:
            text += f" (before: {self.before or '-'}; after: {self.after or '-'})"
        return text + (f". {self.detail}" if self.detail else "")

    def headline(self) -> str:
        """One sentence for a failure message: what, to what, and for a refusal or failure, why."""
        verb = self.VERBS[self.kind]
        head = {"planned": f"would {verb}", "done": f"did {verb}", "failed": f"failed to {verb}",
                "refused": f"will not {verb}"}[self.status]
        tail = f": {self.detail}" if self.status in ("failed", "refused") and self.detail else ""
        return f"{head} {self.target}{tail}".rstrip(".") + "."

    def to_dict(self) -> dict:
        return {**asdict(self), "requirements": list(self.requirements), "text": self.describe()}

    @classmethod
    def from_dict(cls, data: dict) -> Action:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "requirements": tuple(fields.get("requirements", ()))})


def plan(host: HostFacts, profile: Profile, *, force: bool = False, is_root: bool = True) -> list[Action]:
    return [*_container_actions(host, profile, force), *_model_actions(host, profile),
            *_persistence_actions(host, profile, is_root)]


def _model_actions(host: HostFacts, profile: Profile) -> list[Action]:
    """A missing model is pulled through the API (a later round when the API only now answers)."""
    if ollama_checks.oll_model(host, profile).outcome != "fail":
        return []
    name = profile.ollama.model
    return [Action("pull", f"model {name}", ("OLL-MODEL",), f"{name} is not installed", before="absent",
                   after="installed")]


def _container_actions(host: HostFacts, profile: Profile, force: bool) -> list[Action]:
    spec = profile.container
    engine = host.docker.engine
    if not spec.enabled or engine is None or not engine.reachable or host.docker.container is None:
        return []
    target = f"container {spec.name}"
    c = host.docker.container
    blocker = container.change_blocker(host, profile)
    if blocker:
        # The requirements a launch, start or recreate would have mended carry the refusal, so their failures
        # say what blocked it (never that --remediate does it).
        mended = ("CTR-TOOLKIT", "CTR-RUNNING", "OLL-API") if not (c.exists and c.running) else ("CTR-TOOLKIT",)
        return [Action("launch" if not c.exists else "recreate", target, mended,
                       "containers cannot be given GPUs here", status="refused",
                       detail=f"Fix CTR-TOOLKIT first: {blocker}")]
    if not c.exists:
        return [Action("launch", target, ("CTR-RUNNING",), f"there is no container named {spec.name}",
                       after=_launch_summary(host, profile))]
    failing = {rid: v for rid, check in RECREATE_FOR.items() if (v := check(host, profile)).outcome == "fail"}
    if failing:
        first_id, first = next(iter(failing.items()))
        others = [rid for rid in failing if rid != first_id]
        reason = first.measured.split("; ")[0] + (f" (also failing: {', '.join(others)})" if others else "")
        if not (c.managed or force):
            return [Action("recreate", target, tuple(failing), reason, status="refused",
                           detail="The suite did not launch it (no label io.gpuaccept.managed=true): pass "
                                  "--remediate-force to recreate it anyway")]
        models_before, models_after = model_store.plan_text(c, spec.models_path, spec.volume)
        return [Action("recreate", target, (*failing, "CTR-RUNNING"), reason,
                       before=f"{_summary(c, host)}; {models_before}",
                       after=f"{_launch_summary(host, profile, c)}; {models_after}")]
    actions = []
    if not c.running:
        actions.append(Action("start", target, ("CTR-RUNNING",), f"it is {c.status}", before=c.status, after="running"))
    if c.restart_policy not in spec.restart_policies:
        actions.append(Action("restart-policy", target, ("CTR-RUNNING",), f"restart policy {c.restart_policy}",
                              before=c.restart_policy, after="unless-stopped"))
    return actions


def _persistence_actions(host: HostFacts, profile: Profile, is_root: bool) -> list[Action]:
    verdicts = {gpu.label: cards.gpu_persistence(host, gpu.index, profile) for gpu in host.gpus}
    off = [label for label, v in verdicts.items() if v.outcome == "fail"]
    lost_at_reboot = [label for label, v in verdicts.items() if v.outcome == "warn" and "next reboot" in v.message]
    if not off and not lost_at_reboot:
        return []
    root = "" if is_root else "Needs root: run the suite as root, or `sudo systemctl enable --now nvidia-persistenced`"
    status = "planned" if is_root else "refused"
    unit = host.persistenced
    if unit.installed:  # the lasting fix, for every GPU at once
        reason = (f"persistence is off on {', '.join(off)}" if off else
                  f"persistence on {', '.join(lost_at_reboot)} is lost at the next reboot")
        return [Action("persistenced", "nvidia-persistenced.service", ("GPU-PERSISTENCE",), reason,
                       before=unit.describe(), after="enabled at boot, active now", status=status, detail=root)]
    lasting = ("nvidia-persistenced is not installed, so this does not survive a reboot: install it (it comes "
               "with the driver packages) and `systemctl enable --now nvidia-persistenced`")
    return [Action("persistence", label, ("GPU-PERSISTENCE",), "persistence mode is off", before="off", after="on",
                   status=status, detail=root or lasting) for label in off]


def _summary(c, host: HostFacts) -> str:
    how = container.covered(c, host, host.docker.engine.default_runtime if host.docker.engine else "")[1]
    ports = ", ".join(f"{p.host_ip or '0.0.0.0'}:{p.host_port}" for p in c.ports) or "no port"
    store = ", ".join(f"{m.type} {m.source}" for m in c.mounts if m.type in ("volume", "bind")) or "no volume"
    return f"{how}; {ports}; {store}; restart {c.restart_policy}"


def _launch_summary(host: HostFacts, profile: Profile, old: ContainerFacts | None = None) -> str:
    spec = profile.container
    gpus = ",".join(g.uuid for g in host.gpus) if host.nvml.ok and host.gpus else "all"
    cdi = cdi_devices(host, profile, old)
    request = " ".join(f"--device {name}" for name in cdi) if cdi else f"--gpus device={gpus}"
    spread = "; OLLAMA_SCHED_SPREAD=1" if spec.spread else ""
    return (f"{request}; {spec.bind_address}:{spec.port}; volume {spec.volume}; "
            f"restart unless-stopped{spread}")


def expected_uuids(host: HostFacts, profile: Profile) -> list[str]:
    """The GPUs a launched or recreated container is given: the expected ones, by UUID (none known: all)."""
    return [g.uuid for g in host.gpus][: profile.gpus.count] if host.nvml.ok else []


def cdi_devices(host: HostFacts, profile: Profile, old: ContainerFacts | None) -> tuple[str, ...] | None:
    """The CDI names (``--device nvidia.com/gpu=...``) the new container asks for, or None for ``--gpus``.

    A recreate keeps the container's style: a container that asked for its GPUs through CDI is given
    every expected GPU through CDI again (its other CDI devices kept), one that used ``--gpus`` keeps
    ``--gpus``. A launch, or a container without a GPU request, uses CDI only where the engine's probe
    found that it gives GPUs through CDI alone. Every expected GPU of the host is ``nvidia.com/gpu=all``
    (every spec ``nvidia-ctk cdi generate`` writes has it); fewer are named one by one, in the naming
    the old request used (index ``0``, type-index ``gpu0``, or UUID), since a spec holds only the
    naming strategies it was generated with.
    """
    if old is not None and any(r.wants_gpu for r in old.device_requests):
        if not container.uses_cdi(old):
            return None
    else:
        probe = host.docker.engine.probe if host.docker.engine else None
        if probe is None or not (probe.ok and probe.cdi):
            return None
    uuids = expected_uuids(host, profile)
    others = tuple(n for r in (old.device_requests if old else ()) for n in r.cdi_other_names)
    if not uuids or set(uuids) == {g.uuid for g in host.gpus}:
        return (f"{CDI_GPU_KIND}=all", *others)
    used = [n for r in (old.device_requests if old else ()) for n in r.cdi_gpu_names if n != "all"]
    index = {g.uuid: g.index for g in host.gpus}
    if any(n.isdigit() for n in used):
        names = [str(index[u]) for u in uuids]
    elif any(n.startswith("gpu") and n[3:].isdigit() for n in used):
        names = [f"gpu{index[u]}" for u in uuids]
    else:
        names = uuids
    return (*(f"{CDI_GPU_KIND}={n}" for n in names), *others)
