"""A live collection: NVML snapshot plus host commands, as an Evidence set ready to save and build."""

from __future__ import annotations

import datetime
import json
import socket

import gpuaccept
from gpuaccept import evidence as ev
from gpuaccept.profile import ContainerSpec
from gpuaccept.sources import host as host_commands
from gpuaccept.sources.docker_engine import collect_docker
from gpuaccept.sources.nvml import snapshot_with_timeout


def collect_live(host, timeout_s: float, container: ContainerSpec | None = None) -> ev.Evidence:
    """Collect every evidence file from this machine; never raises for an expected condition.

    ``container``: the Ollama container to look at; None (or a profile without one) skips Docker.
    """
    files: dict[str, str] = {ev.NVML: json.dumps(snapshot_with_timeout(timeout_s), indent=2, sort_keys=True)}
    absent: dict[str, str] = {}
    commands: dict[str, str] = {ev.NVML: "NVML snapshot (nvidia-ml-py)"}
    for name in host_commands.COMMANDS:
        if name == ev.SYSFS_PCI and ev.LSPCI in files:
            continue  # lspci already gave the same devices with more detail
        outcome = host_commands.collect(host, name, timeout_s)
        commands[name] = outcome.command
        if outcome.text is None:
            absent[name] = outcome.reason or "not collected"
        else:
            files[name] = outcome.text
    if container is not None and container.enabled:
        docker_files, docker_absent, docker_commands = collect_docker(container)
        files.update(docker_files)
        absent.update(docker_absent)
        commands.update(docker_commands)
    meta = {
        "hostname": socket.gethostname(),
        "captured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "suite_version": gpuaccept.__version__,
        "mode": "live",
        "commands": commands,
    }
    if container is not None and container.enabled:
        meta["container"] = container.name
    return ev.Evidence(files=files, absent=absent, meta=meta)
