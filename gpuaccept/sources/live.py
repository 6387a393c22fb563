"""A live collection: NVML snapshot plus host commands, as an Evidence set ready to save and build.

Every source runs under a deadline of its own (NVML, each host command, the Docker Engine, each Ollama
call), so the whole collection has a bound, their sum, and a source that hangs becomes a reason in
``absent`` instead of a run that never writes its report. The benchmark is bounded call by call (the
load and each generation within ``load_timeout_s``, its other calls within ``api_timeout_s``) and runs
on this thread, so Ctrl-C still unloads the model on its way out.
"""

from __future__ import annotations

import datetime
import json
import socket
import threading
from collections.abc import Callable

import gpuaccept
from gpuaccept import evidence as ev
from gpuaccept.facts import find_model
from gpuaccept.profile import ContainerSpec, OllamaSpec
from gpuaccept.sources import host as host_commands
from gpuaccept.sources.build import model_from_api
from gpuaccept.sources.deadline import DeadlineExceeded, within

# Beyond each command's own `timeout`: a command whose output stays open (a child it left behind)
# would keep testinfra reading for ever.
HOST_SLACK_S = 5


def host_command(host, name: str, timeout_s: float, commands: tuple[str, ...] | None = None,
                 first: host_commands.Result | None = None) -> host_commands.Outcome:
    """``host.collect`` for one evidence file, abandoned (with a reason) past its commands' timeouts.
    ``first``: what its first command gave in a batch (only the others are left to run here)."""
    tried = commands or host_commands.COMMANDS[name]
    limit = (timeout_s + HOST_SLACK_S) * max(len(tried) - (first is not None), 1)
    try:
        return within(limit, f"collecting {name}", lambda: host_commands.collect(host, name, timeout_s, commands, first))
    except DeadlineExceeded:
        return host_commands.Outcome(None, f"`{tried[-1]}` did not end within {limit:g} s (its output stayed open)",
                                     tried[-1])
    except Exception as err:  # noqa: BLE001 - the connection failed (ssh exited 255, the container went away)
        return host_commands.Outcome(None, f"the connection failed while collecting {name}: "
                                           f"{host_commands.connection_words(err)}", tried[-1])


def _first_answers(host, timeout_s: float, asks: list) -> dict[str, host_commands.Result]:
    """The first command of each file, run in one batch (one call of the connection for all): {} where the
    batch cannot be split, or does not end within three deadlines; each is then run alone."""
    firsts = [(name, (tried or host_commands.COMMANDS[name])[0]) for name, tried in asks
              if name != ev.SYSFS_PCI]  # lspci's fallback runs only where lspci gave nothing
    if len(firsts) < 2:
        return {}
    # Room for up to three commands that use their whole timeout (nvidia-smi hung: topo and -q -x): past that,
    # a batch is given up and each command runs alone under its own deadline, so one command whose detached
    # child keeps its output open costs this limit once, not the sum of every command's.
    limit = (timeout_s + HOST_SLACK_S) * min(len(firsts), 3)
    try:
        results = within(limit, "collecting the host's files",
                         lambda: host_commands.run_many(host, [command for _, command in firsts], timeout_s))
    except Exception:  # noqa: BLE001 - a deadline or the backend's own failure: each command alone says which
        return {}
    return dict(zip((name for name, _ in firsts), results, strict=True)) if results is not None else {}


def gather(host, timeout_s: float, asks, files: dict[str, str], absent: dict[str, str], commands: dict[str, str]) -> None:
    """Each evidence file of ``asks`` ((name, commands), None for its usual ones) into ``files``, or into
    ``absent`` with the reason; the command that answered (or last failed) into ``commands``."""
    asks = list(asks)
    firsts = _first_answers(host, timeout_s, asks)
    for name, tried in asks:
        if name == ev.SYSFS_PCI and ev.LSPCI in files:
            continue  # lspci already gave the same devices with more detail
        outcome = host_command(host, name, timeout_s, tried, firsts.get(name))
        commands[name] = outcome.command
        if outcome.text is None:
            absent[name] = outcome.reason or "not collected"
        else:
            files[name] = outcome.text


def journal_log(host, timeout_s: float, files: dict[str, str], absent: dict[str, str], commands: dict[str, str]) -> None:
    """An Ollama installed as a systemd service (not in Docker) logs to the journal: read there when no
    container gave the server log, and say why when the journal has no Ollama start-up either."""
    if ev.OLLAMA_LOG in files:
        return
    outcome = host_command(host, ev.OLLAMA_LOG, timeout_s, host_commands.FALLBACKS[ev.OLLAMA_LOG])
    if outcome.text is not None and "inference compute" in outcome.text:
        files[ev.OLLAMA_LOG] = outcome.text
        commands[ev.OLLAMA_LOG] = outcome.command
        absent.pop(ev.OLLAMA_LOG, None)
    else:
        journal = outcome.reason or "the journal holds no Ollama start-up"
        absent[ev.OLLAMA_LOG] = f"{absent[ev.OLLAMA_LOG]}; {journal}" if ev.OLLAMA_LOG in absent else journal


def collect_live(host, timeout_s: float, container: ContainerSpec | None = None, ollama: OllamaSpec | None = None,
                 benchmark: Callable[[], dict] | None = None, diag: Callable[[threading.Event], dict] | None = None,
                 diag_limit_s: float = 0.0, later: str = "") -> ev.Evidence:
    """Collect every evidence file from this machine; never raises for an expected condition.

    ``container``: the Ollama container to look at; ``ollama``: the Ollama API to ask; None (or a profile
    that disables them) skips them. ``benchmark``: runs the load tier's benchmark, when that tier is selected;
    ``diag``: runs the diag tier (before the benchmark, on otherwise idle cards), abandoned after ``diag_limit_s``.
    ``later``: why a selected tier does not run in this collection (remediation first: a later one runs it).
    """
    from gpuaccept.sources.nvml import snapshot_with_timeout  # NVML's library: loaded where NVML is read

    files: dict[str, str] = {ev.NVML: json.dumps(snapshot_with_timeout(timeout_s), indent=2, sort_keys=True)}
    absent: dict[str, str] = {}
    commands: dict[str, str] = {ev.NVML: "NVML snapshot (nvidia-ml-py)"}
    gather(host, timeout_s, ((name, None) for name in host_commands.COMMANDS), files, absent, commands)
    commands[ev.DIAG] = "the suite's diag tier (cuda-bindings + NVML sampler + sysfs AER counters)"
    if diag is None:
        absent[ev.DIAG] = later or "the diag tier was not selected (it runs with -m diag)"
    else:
        files[ev.DIAG] = json.dumps(_bounded_diag(diag, diag_limit_s), indent=1, sort_keys=True)
    # Imported here: the Docker SDK and the ollama client (pydantic, httpx) cost a replay ~0.3 s to import.
    from gpuaccept.sources.docker_engine import collect_docker
    from gpuaccept.sources.ollama_api import collect_ollama

    if ollama is not None and ollama.enabled:
        api_files, api_absent, api_commands = collect_ollama(ollama)
        files.update(api_files)
        absent.update(api_absent)
        commands.update(api_commands)
        commands[ev.BENCHMARK] = "the suite's benchmark (ollama client + NVML sampler)"
        why_not = (later or "the load tier was not selected (-m quick)") if benchmark is None else \
            _no_benchmark(files, absent, ollama)
        if why_not is not None:
            absent[ev.BENCHMARK] = f"{why_not}, so no benchmark ran"
        else:
            files[ev.BENCHMARK] = json.dumps(benchmark(), indent=1, sort_keys=True)
    # After the benchmark: the server log then holds the benchmark's own load (`offloaded N/M layers`).
    if container is not None and container.enabled:
        docker_files, docker_absent, docker_commands = collect_docker(container)
        files.update(docker_files)
        absent.update(docker_absent)
        commands.update(docker_commands)
    if ollama is not None and ollama.enabled:
        journal_log(host, timeout_s, files, absent, commands)
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


def _bounded_diag(diag: Callable[[threading.Event], dict], limit_s: float) -> dict:
    """The diag tier's record; past its deadline (a GPU that stopped answering) a record saying so.

    Interrupted (Ctrl-C, a signal) or out of time, the tier is told to stop: its cards go idle within a soak
    round instead of burning on after the run has ended or while the next collector runs."""
    stop = threading.Event()
    try:
        return within(limit_s, "the diag tier", lambda: diag(stop))
    except DeadlineExceeded:
        stop.set()
        return {"schema": 1, "error": f"the diag tier did not finish within {limit_s:g} s: a GPU or the driver "
                                      "stopped answering (see GPU-XID and the kernel log)"}
    except BaseException:
        stop.set()
        raise


def _no_benchmark(files: dict[str, str], absent: dict[str, str], ollama: OllamaSpec) -> str | None:
    """Why the benchmark cannot run, or None. The answers are the server's: read defensively, so a malformed
    one stops the benchmark with a reason instead of the collection with a traceback."""
    try:
        version = json.loads(files[ev.OLLAMA_VERSION])
        if not isinstance(version, dict) or "version" not in version:
            return "the Ollama API did not answer (see OLL-API)"
        if ev.OLLAMA_TAGS not in files:
            return f"the installed models are not known ({absent.get(ev.OLLAMA_TAGS, 'no answer')})"
        listed = json.loads(files[ev.OLLAMA_TAGS]).get("models")
        models = tuple(model_from_api(m) for m in listed if isinstance(m, dict)) if isinstance(listed, list) else ()
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        return f"the Ollama API's answers could not be read ({type(err).__name__}: {err})"
    if find_model(models, ollama.model) is None:
        return f"{ollama.model} is not installed (see OLL-MODEL)"
    return None
