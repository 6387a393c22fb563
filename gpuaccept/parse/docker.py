"""Docker evidence -> container facts: ``docker info``, ``docker inspect``, the GPU probe record and
``nvidia-smi -L`` run inside the container. Field names as the Engine API spells them."""

from __future__ import annotations

import datetime
import ipaddress
import json
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
        pid = state.get("Pid")
        if "Pid" in state and (not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0):
            found.append(f"Pid: {json.dumps(pid)}")
        # Starting clears the error (SetRunning) and stamps StartedAt; FinishedAt is the last stop's, before it.
        if state.get("Error"):
            found.append(f"Error: {json.dumps(state['Error'])[:120]}")
        started, finished = _moment(state.get("StartedAt")), _moment(state.get("FinishedAt"))
        if "StartedAt" in state and (started is None or started.year <= 1):
            found.append(f"StartedAt: {json.dumps(state.get('StartedAt'))[:60]}")
        elif started is not None and finished is not None and finished.year > 1 and finished > started:
            found.append(f"FinishedAt {state['FinishedAt']} after StartedAt {state['StartedAt']}")
        # An Engine always writes both: a running State without them was not written by one.
        found += [f"no {key}" for key in ("Running", "Pid") if key not in state]
    elif status in ("exited", "created", "dead") and flags.get("Running") is True:
        found.append("Running: true")
    elif status == "paused" and (flags.get("Running") is False or flags.get("Paused") is False):
        found.append(f"Running: {str(flags.get('Running')).lower()}, Paused: {str(flags.get('Paused')).lower()}")
    elif status == "restarting" and flags.get("Restarting") is False:
        found.append("Restarting: false")
    return f"Status: {status} with {', '.join(found)}" if found else None


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _moment(value: Any) -> datetime.datetime | None:
    """An Engine's RFC 3339 time (nanoseconds, ``Z``) as a datetime; None where it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.datetime.fromisoformat(_FRACTION.sub(r"\1", value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _bindings(source: Any) -> dict[str, list[dict]]:
    """``{"11434/tcp": [{"HostIp": ..., "HostPort": ...}]}`` with the entries that are no binding left out."""
    if not isinstance(source, dict):
        return {}
    return {port: [b for b in bindings if isinstance(b, dict)] for port, bindings in source.items()
            if isinstance(port, str) and isinstance(bindings, list)}


def _address(text: str):
    """An address as the Engine may spell it ([::1], 0:0:0:0:0:0:0:1, ::ffff:127.0.0.1): one value, or the
    text itself where it is no address."""
    text = text.strip().strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    return getattr(address, "ipv4_mapped", None) or address


def _port_fits(asked: str, bound: str) -> bool:
    """An asked host port (``11434``, a range ``18000-18010``, empty or 0: any) and the one bound."""
    if asked in ("", "0"):
        return bound.isdigit()
    low, _, high = asked.partition("-")
    if not (low.isdigit() and (high.isdigit() or not high) and bound.isdigit()):
        return asked == bound
    return int(low) <= int(bound) <= int(high or low)


def _ip_fits(asked: str, bound: str) -> bool:
    """An asked host address ("" or an every-address: the daemon's default, which may be 127.0.0.1) and the
    one bound."""
    if asked.strip("[]") in ("", "0.0.0.0", "::"):
        return True
    return _address(asked) == _address(bound)


def _fits(asked: dict, bound: dict) -> bool:
    return _port_fits(str(asked.get("HostPort") or ""), str(bound.get("HostPort") or "")) and \
        _ip_fits(str(asked.get("HostIp") or ""), str(bound.get("HostIp") or ""))


def ports_contradiction(container: dict[str, Any]) -> str | None:
    """Where a running container's published ports (NetworkSettings.Ports, what the Engine bound) disagree
    with what it was created with (HostConfig.PortBindings): an Engine binds an asked host port (or one of
    an asked range) on the asked address or does not start the container, binds nothing more on it, and
    publishes nothing unasked unless PublishAllPorts. Where they disagree, which server listens on which
    host port is not known."""
    host = container.get("HostConfig") or {}
    state = container.get("State") or {}
    if state.get("Status") != "running" or host.get("NetworkMode") == "host":
        return None
    asked = _bindings(host.get("PortBindings"))
    bound = _bindings((container.get("NetworkSettings") or {}).get("Ports"))
    found = []
    for port, bindings in sorted(asked.items()):
        there = bound.get(port, [])
        for b in bindings:
            if not any(_fits(b, x) for x in there):
                found.append(f"{port} asked on {b.get('HostIp') or '*'}:{b.get('HostPort') or 'any port'}, not bound so")
        found += [f"{port} also bound on {x.get('HostIp') or '*'}:{x.get('HostPort')}, never asked" for x in there
                  if bindings and not any(_fits(b, x) for b in bindings)]
    if not host.get("PublishAllPorts"):
        found += [f"{port} bound on {', '.join(str(x.get('HostPort')) for x in bindings)} but never asked"
                  for port, bindings in sorted(bound.items()) if bindings and port not in asked]
    if not found:
        return None
    return ("HostConfig.PortBindings and NetworkSettings.Ports disagree: " + "; ".join(found[:4])
            + ("; ..." if len(found) > 4 else ""))


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
    # A running container's ports are what the Engine bound (NetworkSettings.Ports: an asked "" is the
    # daemon's default address there, which may be 127.0.0.1), checked against what was asked
    # (ports_contradiction); a stopped one's, what was asked (HostConfig.PortBindings).
    actual = _bindings((c.get("NetworkSettings") or {}).get("Ports"))
    running = (c.get("State") or {}).get("Status") == "running" and any(actual.values())
    sources = (actual,) if running else (_bindings(host.get("PortBindings")), actual)
    ports = tuple(dict.fromkeys(
        PortBinding(container_port=port, host_ip=str(b.get("HostIp", "")), host_port=str(b.get("HostPort", "")))
        for source in sources for port, bindings in sorted(source.items()) for b in bindings))
    return ContainerFacts(
        name=(c.get("Name") or name).lstrip("/"),
        exists=True,
        id=c.get("Id", "")[:12],
        image=config.get("Image", ""),
        status=(c.get("State") or {}).get("Status", ""),
        state_problem=state_contradiction(c.get("State") or {}),
        ports_problem=ports_contradiction(c),
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
