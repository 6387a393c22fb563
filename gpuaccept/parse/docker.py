"""Docker evidence -> container facts: ``docker info``, ``docker inspect``, the GPU probe record and
``nvidia-smi -L`` run inside the container. Field names as the Engine API spells them."""

from __future__ import annotations

import re
from typing import Any

from gpuaccept.facts import ContainerFacts, ContainerGpu, DeviceRequest, EngineFacts, GpuProbe, Mount, PortBinding

MANAGED_LABEL = "io.gpuaccept.managed"
_SMI_LINE = re.compile(r"^GPU (\d+): (.+?) \(UUID: (\S+)\)\s*$")


def parse_info(info: dict[str, Any]) -> EngineFacts:
    """``docker info --format '{{json .}}'``; an unreachable engine leaves only ``ServerErrors``."""
    errors = info.get("ServerErrors") or []
    if errors or not info.get("ServerVersion"):
        return EngineFacts(reachable=False, error="; ".join(errors) or "docker info holds no ServerVersion")
    return EngineFacts(
        reachable=True,
        version=info.get("ServerVersion", ""),
        api_version=info.get("ApiVersion", ""),  # not part of docker info; the suite adds it
        runtimes=tuple(sorted(info.get("Runtimes") or {})),
        default_runtime=info.get("DefaultRuntime", ""),
        cdi_spec_dirs=tuple(info.get("CDISpecDirs") or ()),
    )


def parse_probe(record: dict[str, Any]) -> GpuProbe:
    return GpuProbe(ok=bool(record.get("ok")), image=record.get("image", ""), error=record.get("error", ""),
                    output=record.get("output", ""), request=record.get("request") or "--gpus all",
                    gpus_error=record.get("gpus_error", ""))


def state_contradiction(state: dict[str, Any]) -> str | None:
    """Where ``docker inspect``'s State contradicts itself. Docker derives Status from the flags
    (moby container/state.go StateString: running unless Paused or Restarting, dead, created, exited),
    and starting a container clears ExitCode and OOMKilled and sets its Pid (SetRunning); a State that
    breaks those rules was not written by an Engine, so nothing is judged on it."""
    status = state.get("Status")
    if status is None:
        return None
    flags = {key: state[key] for key in ("Running", "Paused", "Restarting", "Dead", "OOMKilled") if key in state}
    found = []
    if status == "running":
        found += ["Running: false"] if flags.get("Running") is False else []
        found += [f"{key}: true" for key in ("Paused", "Restarting", "Dead", "OOMKilled") if flags.get(key) is True]
        if state.get("ExitCode") not in (None, 0):
            found.append(f"ExitCode: {state['ExitCode']}")
        if state.get("Pid") == 0:
            found.append("Pid: 0")
        # An Engine always writes both: a running State without them was not written by one.
        found += [f"no {key}" for key in ("Running", "Pid") if key not in state]
    elif status in ("exited", "created", "dead") and flags.get("Running") is True:
        found.append("Running: true")
    elif status == "paused" and (flags.get("Running") is False or flags.get("Paused") is False):
        found.append(f"Running: {str(flags.get('Running')).lower()}, Paused: {str(flags.get('Paused')).lower()}")
    elif status == "restarting" and flags.get("Restarting") is False:
        found.append("Restarting: false")
    return f"Status: {status} with {', '.join(found)}" if found else None


def parse_inspect(items: list[dict[str, Any]], name: str) -> ContainerFacts:
    """``docker inspect NAME``: a list of one container, or ``[]`` when there is none of that name."""
    if not items:
        return ContainerFacts(name=name, exists=False)
    c = items[0]
    host = c.get("HostConfig") or {}
    config = c.get("Config") or {}
    env = []
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        env.append((key, value))
    requests = tuple(
        DeviceRequest(driver=r.get("Driver") or "", count=int(r.get("Count") or 0),
                      device_ids=tuple(r.get("DeviceIDs") or ()),
                      capabilities=tuple(tuple(group) for group in (r.get("Capabilities") or ())))
        for r in host.get("DeviceRequests") or ())
    mounts = tuple(Mount(type=m.get("Type", ""), source=m.get("Name") or m.get("Source", ""),
                         destination=m.get("Destination", "")) for m in c.get("Mounts") or ())
    # What was asked (HostConfig.PortBindings) and what the engine did (NetworkSettings.Ports, a running
    # container's): both count, so a binding on every interface in either is seen.
    actual = (c.get("NetworkSettings") or {}).get("Ports") or {}
    ports = tuple(dict.fromkeys(
        PortBinding(container_port=port, host_ip=b.get("HostIp", ""), host_port=b.get("HostPort", ""))
        for source in (host.get("PortBindings") or {}, actual if isinstance(actual, dict) else {})
        for port, bindings in sorted(source.items()) for b in bindings or () if isinstance(b, dict)))
    return ContainerFacts(
        name=(c.get("Name") or name).lstrip("/"),
        exists=True,
        id=c.get("Id", "")[:12],
        image=config.get("Image", ""),
        status=(c.get("State") or {}).get("Status", ""),
        state_problem=state_contradiction(c.get("State") or {}),
        restart_count=int(c.get("RestartCount") or 0),
        restart_policy=(host.get("RestartPolicy") or {}).get("Name", "") or "no",
        managed=(config.get("Labels") or {}).get(MANAGED_LABEL) == "true",
        runtime=host.get("Runtime", ""),
        network_mode=host.get("NetworkMode", ""),
        env=tuple(env),
        device_requests=requests,
        mounts=mounts,
        ports=ports,
    )


def parse_container_smi(text: str) -> tuple[tuple[ContainerGpu, ...] | None, str | None]:
    """``nvidia-smi -L`` in the container -> (GPUs, None), or (None, the error it printed)."""
    gpus = []
    for line in text.splitlines():
        match = _SMI_LINE.match(line.strip())
        if match:
            gpus.append(ContainerGpu(int(match.group(1)), match.group(2), match.group(3)))
    if gpus or "No devices were found" in text:
        return tuple(gpus), None
    first = next((line.strip() for line in text.splitlines() if line.strip()), "no output")
    return None, first
