"""Evidence from a remote server, through its testinfra ``host`` (ssh, docker, ansible...): the same files a
live run saves, so a fleet host's folder replays like any run folder.

Nothing runs on the server but what it already has: the GPUs come from ``nvidia-smi -q -x`` (the parser
replays use) instead of NVML, which reads only the machine it runs on; lspci, /proc, the kernel log and
lsmod go through the same commands as a local run (gpuaccept.sources.host); the Docker Engine is asked
through ``docker`` commands on the server. The Ollama API is asked from the control node only where the
host's profile gives an address the control node can reach; the benchmark is never run (its sampler reads
NVML on the machine it runs on), so the load tier is not evaluated, with the reason.
"""

from __future__ import annotations

import datetime
import ipaddress
import shlex
import urllib.parse

import gpuaccept
from gpuaccept import evidence as ev
from gpuaccept.errors import SourceError
from gpuaccept.profile import ContainerSpec, OllamaSpec
from gpuaccept.sources import host as host_commands
from gpuaccept.sources.deadline import DeadlineExceeded, within
from gpuaccept.sources.live import HOST_SLACK_S, gather, journal_log

NVML_REMOTE = ("NVML reads only the machine it runs on: on a remote host the GPUs come from nvidia-smi -q -x "
               f"({ev.SMI_XML})")
BENCHMARK_REMOTE = ("the load tier's benchmark samples the GPUs through NVML on the machine it runs on, so it does "
                    "not run against a remote host: run the suite on the server itself for the load tier")
DIAG_REMOTE = ("the diag tier drives the cards through CUDA on the machine it runs on, so it does not run against a "
               "remote host: run `pytest acceptance/ -m diag` on the server itself")
PROBE_MARK = "gpuaccept-reachable"


class Unreachable(SourceError):
    """The host did not answer a trivial command: no evidence can be had from it."""


def probe(host, timeout_s: float) -> str:
    """The host's name, or Unreachable with the connection's own words, within the connection timeout."""
    command = f"echo {PROBE_MARK}; cat /proc/sys/kernel/hostname 2>/dev/null || hostname"
    limit = timeout_s + HOST_SLACK_S
    try:
        result = within(limit, "probing the host", lambda: host_commands.run(host, command, timeout_s, 4096))
    except DeadlineExceeded:
        raise Unreachable(f"no answer within {limit:g} s") from None
    except Exception as err:  # the backend's own failure (a paramiko or docker error): its words are the reason
        raise Unreachable(host_commands.connection_words(err)) from None
    lines = result.stdout.splitlines()
    if result.rc != 0 or not lines or lines[0].strip() != PROBE_MARK:
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise Unreachable(f"a trivial command (echo) through the connection exited {result.rc}"
                          + (f": {said[0][:300]}" if said else ""))
    return lines[1].strip() if len(lines) > 1 else ""


def loopback(url: str) -> bool:
    """Whether ``url`` names the machine that asks it: the server's own loopback seen from the control node."""
    name = urllib.parse.urlsplit(url).hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _docker(host, timeout_s: float, container: ContainerSpec, files: dict, absent: dict, commands: dict) -> None:
    name = shlex.quote(container.name)
    gather(host, timeout_s, ((ev.DOCKER_INFO, ("docker info --format '{{json .}}'",)),
                              (ev.DOCKER_INSPECT, (f"docker inspect {name}",))), files, absent, commands)
    absent[ev.DOCKER_PROBE] = ("the GPU probe container (docker run --gpus all) is not started on a remote host: "
                               "the suite changes nothing there")
    if ev.DOCKER_INSPECT not in files:
        why = f"docker inspect {container.name} gave nothing ({absent.get(ev.DOCKER_INSPECT, '')})"
        absent.setdefault(ev.CONTAINER_SMI, why)
        absent.setdefault(ev.OLLAMA_LOG, why)
        return
    gather(host, timeout_s, ((ev.CONTAINER_SMI, (f"docker exec {name} nvidia-smi -L",)),
                              (ev.OLLAMA_LOG, (f"docker logs {name} 2>&1",))), files, absent, commands)


def _ollama(ollama: OllamaSpec, files: dict, absent: dict, commands: dict) -> None:
    if loopback(ollama.url):
        why = (f"the profile's ollama.url {ollama.url} is the server's own loopback, which the control node cannot "
               "reach: give the server's address (ollama.url) in this host's profile to check its API")
        absent[ev.OLLAMA_VERSION] = absent[ev.OLLAMA_TAGS] = absent[ev.OLLAMA_PS] = why
    else:
        from gpuaccept.sources.ollama_api import collect_ollama  # the ollama client is heavy: only when asked

        api_files, api_absent, api_commands = collect_ollama(ollama)
        files.update(api_files)
        absent.update(api_absent)
        commands.update(api_commands)
    absent[ev.BENCHMARK] = BENCHMARK_REMOTE


def collect_remote(host, spec: str, timeout_s: float, container: ContainerSpec | None = None,
                   ollama: OllamaSpec | None = None) -> ev.Evidence:
    """Every evidence file a remote host can give; raises Unreachable when it answers nothing at all."""
    hostname = probe(host, timeout_s)
    files: dict[str, str] = {}
    absent: dict[str, str] = {ev.NVML: NVML_REMOTE, ev.DIAG: DIAG_REMOTE}
    commands: dict[str, str] = {}
    gather(host, timeout_s, ((name, None) for name in host_commands.COMMANDS), files, absent, commands)
    if container is not None and container.enabled:
        _docker(host, timeout_s, container, files, absent, commands)
    if ollama is not None and ollama.enabled:
        journal_log(host, timeout_s, files, absent, commands)
        _ollama(ollama, files, absent, commands)
    meta = {"hostname": hostname or spec, "captured_at": _now(), "suite_version": gpuaccept.__version__,
            "mode": "live", "commands": commands, "fleet_host": spec}
    if container is not None and container.enabled:
        meta["container"] = container.name
    return ev.Evidence(files=files, absent=absent, meta=meta)


def unreachable_evidence(spec: str, reason: str) -> ev.Evidence:
    """What is saved for a host that did not answer: no file, every one absent for the same reason."""
    why = f"host unreachable: {reason}"
    return ev.Evidence(files={}, absent=dict.fromkeys(ev.KNOWN, why),
                       meta={"hostname": spec, "captured_at": _now(), "suite_version": gpuaccept.__version__,
                             "mode": "live", "fleet_host": spec, "unreachable": reason, "commands": {}})


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

