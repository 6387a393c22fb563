"""CTR-*: the Docker Engine, the NVIDIA toolkit and the Ollama container."""

from __future__ import annotations

import ipaddress

from gpuaccept import evidence as ev
from gpuaccept import ollama_env
from gpuaccept.checks.agreement import duplicates
from gpuaccept.checks.inventory import driver_fault
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped, warned
from gpuaccept.facts import CDI_GPU_KIND, ContainerFacts, DeviceRequest, EngineFacts, HostFacts
from gpuaccept.profile import Profile

OLLAMA_PORT = "11434/tcp"  # where Ollama listens inside its image (OLLAMA_HOST=0.0.0.0:11434)
GPU_ERROR = 'could not select device driver "" with capabilities: [[gpu]]'
TOOLKIT_FIX = ("install the NVIDIA Container Toolkit (nvidia-container-toolkit), run "
               "`nvidia-ctk runtime configure --runtime=docker`, then restart docker")
CDI_SPEC_FIX = "`nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (check with `nvidia-ctk cdi list`)"


def _engine(host: HostFacts, profile: Profile) -> EngineFacts | Verdict:
    if not profile.container.enabled:
        return skipped("the profile checks no container (container.enabled = false)")
    docker = host.docker
    if docker.engine is None:
        return not_evaluated(f"no Docker evidence: {docker.engine_missing}")
    return docker.engine


def _reachable_engine(host: HostFacts, profile: Profile) -> EngineFacts | Verdict:
    engine = _engine(host, profile)
    if isinstance(engine, Verdict):
        return engine
    if not engine.reachable:
        return not_evaluated("the Docker Engine is not reachable: see CTR-ENGINE")
    return engine


def _container(host: HostFacts, profile: Profile) -> ContainerFacts | Verdict:
    engine = _reachable_engine(host, profile)
    if isinstance(engine, Verdict):
        return engine
    docker = host.docker
    if docker.container is None:
        return not_evaluated(f"no container evidence: {docker.container_missing}")
    if not docker.container.exists:
        return not_evaluated(f"there is no container named {profile.container.name}: see CTR-RUNNING")
    return docker.container


def change_blocker(host: HostFacts, profile: Profile) -> str | None:
    """Why no container of the profile can be launched, started with its GPUs or recreated here, or None:
    the engine refuses GPU requests (CTR-TOOLKIT fails). ``--remediate`` refuses then (remedy/plan.py)."""
    if ctr_toolkit(host, profile).outcome == "fail":
        return "the engine cannot give containers GPUs"
    return None


def launch_hint(host: HostFacts, profile: Profile) -> str:
    """How to launch the profile's missing container, as far as this host allows it now."""
    c = profile.container
    launch = (f"`pytest acceptance/ --remediate` launches it ({c.image}, every expected GPU by UUID, volume "
              f"{c.volume}:{c.models_path}, API on {c.bind_address}:{c.port}, restart unless-stopped)")
    blocker = change_blocker(host, profile)
    if blocker:
        return f"fix CTR-TOOLKIT first ({blocker}, so `--remediate` will not launch it until then); then {launch}"
    return launch


def start_hint(host: HostFacts, profile: Profile) -> str:
    """How to start the profile's stopped container, as far as this host allows it now."""
    name = profile.container.name
    blocker = change_blocker(host, profile)
    if blocker:
        return (f"fix CTR-TOOLKIT first ({blocker}, so neither `docker start {name}` nor `--remediate` can start "
                f"it with its GPUs); then `docker start {name}`")
    return f"`docker start {name}` (or `pytest acceptance/ --remediate`)"


def ctr_engine(host: HostFacts, profile: Profile) -> Verdict:
    e = _engine(host, profile)
    if isinstance(e, Verdict):
        return e
    if not e.reachable:
        return failed(f"the Docker Engine is not reachable ({e.error})", "a reachable Docker Engine",
                      "dockerd is not running, DOCKER_HOST points elsewhere, or this user may not use the socket",
                      "start docker (`systemctl start docker`), or add the user to the docker group, or pass "
                      "--docker-host")
    return passed(f"Docker Engine {e.version} (API {e.api_version or '?'}) answers", "a reachable Docker Engine")


def ctr_toolkit(host: HostFacts, profile: Profile) -> Verdict:
    e = _reachable_engine(host, profile)
    if isinstance(e, Verdict):
        return e
    expected = "containers can be given GPUs (NVIDIA runtime hook or CDI)"
    runtimes = f"runtimes: {', '.join(e.runtimes) or 'none'}" + (
        f"; CDI spec dirs: {', '.join(e.cdi_spec_dirs)}" if e.cdi_spec_dirs else "")
    if e.probe is not None:
        p = e.probe
        if p.ok:
            refused = (f"; `--gpus all` failed ({p.gpus_error}): this engine gives GPUs through CDI only, so "
                       "containers need `--device nvidia.com/gpu=all`" if p.gpus_error else "")
            return passed(f"a probe container started with {p.request} and listed "
                          f"{p.output.count('UUID:')} GPU(s) ({runtimes}){refused}", expected)
        if p.cdi:
            return _cdi_probe_failed(p.gpus_error, p.request, p.error, expected)
        if GPU_ERROR in p.error:
            return failed(f"the engine refuses GPU requests: {GPU_ERROR}", expected,
                          "the NVIDIA Container Toolkit is not installed, or dockerd started before it was",
                          TOOLKIT_FIX)
        return failed(f"a probe container with --gpus all failed: {p.error}", expected,
                      "the NVIDIA Container Toolkit is installed but cannot set up the GPUs (driver not loaded, "
                      "or toolkit and driver out of step)", f"check `nvidia-smi` on the host, then {TOOLKIT_FIX}")
    container = host.docker.container
    if container is not None and container.running and any(r.wants_gpu for r in container.device_requests):
        # The engine already started a container with a GPU request: that is the probe's answer.
        return passed(f"container {container.name} runs with a GPU request ({runtimes})", expected)
    # A registered nvidia runtime alone is not proof: its hook may still fail to set up the GPUs.
    return not_evaluated(f"no GPU probe was run: {e.probe_missing} ({runtimes})")


def _cdi_probe_failed(gpus_error: str, request: str, error: str, expected: str) -> Verdict:
    """Both probes failed: `--gpus all`, then the CDI request on an engine that lists CDI spec dirs."""
    measured = f"a probe container with --gpus all failed: {gpus_error}; with CDI (`{request}`): {error}"
    # moby's own refusals: no driver for the request, or no CDI spec naming the device (cdi.InjectDevices).
    if "could not select device driver" in error or "unresolvable CDI devices" in error:
        if GPU_ERROR not in gpus_error:  # the runtime hook is there but failed: that is the fault to fix
            return failed(measured, expected, "the NVIDIA Container Toolkit is installed but cannot set up the GPUs "
                          "(driver not loaded, or toolkit and driver out of step); no CDI spec names nvidia.com/gpu",
                          f"check `nvidia-smi` on the host, then {TOOLKIT_FIX}")
        return failed(measured, expected, "neither the NVIDIA runtime hook nor a CDI spec naming nvidia.com/gpu "
                      "devices is installed", f"{TOOLKIT_FIX}; or, for CDI, {CDI_SPEC_FIX}")
    return failed(measured, expected, "the CDI spec names the GPUs but they cannot be set up: a spec generated "
                  "before a driver upgrade points at libraries that are gone, or the driver is not loaded",
                  f"check `nvidia-smi` on the host, then regenerate the CDI spec: {CDI_SPEC_FIX}")


RESTART_LOOP = 5  # restarts by the policy since the last start: a server that keeps crashing, not a reboot


def ctr_running(host: HostFacts, profile: Profile) -> Verdict:
    e = _reachable_engine(host, profile)
    if isinstance(e, Verdict):
        return e
    c, spec = host.docker.container, profile.container
    policies = " or ".join(spec.restart_policies)
    expected = f"container {spec.name} running, restart policy {policies}"
    if c is None:
        return not_evaluated(f"no container evidence: {host.docker.container_missing}")
    if not c.exists:
        return failed(f"there is no container named {spec.name}", expected,
                      "Ollama was never started in Docker here, or runs under another name (--container NAME)",
                      launch_hint(host, profile))
    if c.state_problem is not None:
        return not_evaluated(f"docker inspect's State of {spec.name} contradicts itself ({c.state_problem}): "
                             "an Engine never writes it so, so whether it runs is unknown")
    if not c.running:
        return failed(f"container {spec.name} is {c.status}", expected,
                      "it was stopped, or exited (read `docker logs " + spec.name + "`)",
                      start_hint(host, profile))
    if c.restart_count >= RESTART_LOOP:
        return failed(f"container {spec.name} runs, but its restart policy restarted it {c.restart_count} times",
                      expected + f", not restarted in a loop (fewer than {RESTART_LOOP} restarts)",
                      "the server crashes and Docker restarts it: a crash loop (bad GPU access, out of memory, a "
                      "broken model store)", f"read `docker logs {spec.name}` for the crash, fix it, then "
                      f"`docker restart {spec.name}` (the count starts again)")
    if c.restart_policy not in spec.restart_policies:
        return failed(f"container {spec.name} runs with restart policy {c.restart_policy}", expected,
                      "it will not come back after a reboot or a docker restart",
                      f"`docker update --restart unless-stopped {spec.name}` (or `pytest acceptance/ --remediate`)")
    return passed(f"container {spec.name} runs ({c.image}, restart {c.restart_policy})", expected)


def cdi_gpu_index(name: str, by_uuid: dict[str, int]) -> int | None:
    """The host GPU a CDI device name is, as `nvidia-ctk cdi generate` names them (pkg/nvcdi/namer.go):
    ``0`` (index strategy), ``gpu0`` (type-index), ``GPU-<uuid>`` (uuid). MIG slices (``0:1``, ``mig0:1``)
    are not a whole GPU, and an unknown name is no GPU of this host: both give None."""
    if name.isdigit():
        return int(name)
    if name.startswith("gpu") and name[3:].isdigit():
        return int(name[3:])
    return by_uuid.get(name)


def _cdi_device(token: str) -> str:
    """``nvidia.com/gpu=1`` -> ``1``: the nvidia runtime's CDI mode also reads qualified names."""
    kind, sep, name = token.partition("=")
    return name if sep and kind == CDI_GPU_KIND else token


def covered(c: ContainerFacts, host: HostFacts, default_runtime: str) -> tuple[set[int], str]:
    """Host GPU indexes the container's GPU request covers, and how the request reads."""
    count = len(host.gpus)
    by_uuid = {g.uuid: g.index for g in host.gpus}

    def resolve(ids: list[str]) -> set[int]:
        found = {cdi_gpu_index(_cdi_device(i.strip()), by_uuid) for i in ids}
        return {i for i in found if i is not None}

    gpu_requests: list[DeviceRequest] = [r for r in c.device_requests if r.wants_gpu]
    if gpu_requests:
        indexes: set[int] = set()
        words, cdi_names = [], []
        for r in gpu_requests:
            if r.is_cdi:
                names = r.cdi_gpu_names
                indexes |= set(range(count)) if "all" in names else resolve(list(names))
                cdi_names += [f"{CDI_GPU_KIND}={n}" for n in names]
            elif r.device_ids:
                indexes |= resolve(list(r.device_ids))
                words.append(f"device={','.join(r.device_ids)}")
            elif r.count < 0:
                indexes |= set(range(count))
                words.append("all")
            else:
                indexes |= set(range(min(r.count, count)))
                words.append(f"count={r.count}")
        parts = [f"--gpus {' + '.join(words)}"] if words else []
        parts += [" ".join(f"--device {n}" for n in cdi_names)] if cdi_names else []
        return indexes, " + ".join(parts)
    runtime = c.runtime or default_runtime
    if runtime == "nvidia":
        value = c.env_value("NVIDIA_VISIBLE_DEVICES")
        if value in ("all", f"{CDI_GPU_KIND}=all"):
            return set(range(count)), f"nvidia runtime with NVIDIA_VISIBLE_DEVICES={value}"
        if value and value not in ("none", "void"):
            return resolve(value.split(",")), f"nvidia runtime with NVIDIA_VISIBLE_DEVICES={value}"
        return set(), f"nvidia runtime with NVIDIA_VISIBLE_DEVICES={value or 'unset'}"
    return set(), "no GPU request (started without --gpus)"


def uses_cdi(c: ContainerFacts) -> bool:
    """The container asks for its GPUs through CDI (`--device nvidia.com/gpu=...`): fixes keep that style."""
    return any(r.wants_gpu and r.is_cdi for r in c.device_requests)


def _unresolved_cdi(c: ContainerFacts, host: HostFacts) -> list[str]:
    """CDI GPU names that are no whole GPU of this host (a MIG slice, a UUID from elsewhere, index 5 of 2)."""
    by_uuid = {g.uuid: g.index for g in host.gpus}
    unknown = []
    for name in (n for r in c.device_requests for n in r.cdi_gpu_names if n != "all"):
        index = cdi_gpu_index(name, by_uuid)
        if index is None or index >= len(host.gpus):
            unknown.append(f"{CDI_GPU_KIND}={name}")
    return unknown


def cdi_fix(host: HostFacts) -> str:
    """The CDI form of "every GPU": the ``all`` device every generated spec has, or each GPU by UUID."""
    per_gpu = " ".join(f"--device {CDI_GPU_KIND}={g.uuid}" for g in host.gpus)
    return f"`--device {CDI_GPU_KIND}=all`" + (f", or one `--device` per GPU (`{per_gpu}`)" if per_gpu else "")


def ctr_gpu_request(host: HostFacts, profile: Profile) -> Verdict:
    c = _container(host, profile)
    if isinstance(c, Verdict):
        return c
    want = profile.gpus.count
    expected = (f"a request covering all {want} expected GPUs (--gpus all, or device=<every UUID>, or CDI "
                f"--device {CDI_GPU_KIND}=all)")
    if not host.nvml.ok or not host.gpus:
        return not_evaluated("the host's GPUs are not known (see GPU-COUNT): cannot tell which GPUs to cover")
    indexes, how = covered(c, host, host.docker.engine.default_runtime if host.docker.engine else "")
    got = sorted(i for i in indexes if i < len(host.gpus))
    names = ", ".join(f"GPU{i}" for i in got) or "none"
    measured = f"GPU request covers {len(got)} of {len(host.gpus)} GPUs ({how}: {names})"
    if len(got) == len(host.gpus):
        short = f"; NVML sees only {len(host.gpus)} of {want} (see GPU-COUNT)" if len(host.gpus) < want else ""
        return passed(measured + short, expected)
    missing = [g for g in host.gpus if g.index not in got]
    measured += "; missing " + ", ".join(f"GPU{g.index} ({g.uuid})" for g in missing)
    keep = " (`pytest acceptance/ --remediate` does this for a container the suite manages)"
    if uses_cdi(c):
        unknown = _unresolved_cdi(c, host)
        cause = "the CDI `--device` names too few GPUs (each name is one GPU: `nvidia.com/gpu=0` is GPU0 only; " \
                "`nvidia.com/gpu=all` is every GPU)" + (
                    f"; {', '.join(unknown)} names no whole GPU of this host" if unknown else "")
        return failed(measured, expected, cause,
                      f"recreate it with {cdi_fix(host)}, keeping the model volume{keep}")
    cause = ("the container was started without `--gpus` (or a CDI `--device nvidia.com/gpu=all`)" if not got else
             "`--gpus` named too few GPUs (an unquoted `--gpus device=0,1` becomes count=1; `--gpus 1` is one GPU)")
    return failed(measured, expected, cause,
                  "recreate it with `--gpus all` or `--gpus '\"device=<UUIDs>\"'`, keeping the model volume" + keep)


def ctr_sees_gpus(host: HostFacts, profile: Profile) -> Verdict:
    c = _container(host, profile)
    if isinstance(c, Verdict):
        return c
    fault = driver_fault(host)
    if fault:
        return fault
    want = profile.gpus.count
    host_uuids = {g.uuid for g in host.gpus}
    expected = f"{want} GPU(s), the host's UUIDs"
    if not c.running:
        return not_evaluated(f"container {c.name} is not running: see CTR-RUNNING")
    fix = ("recreate the container with `--gpus all` (and the NVIDIA runtime hook installed); after a "
           "`systemctl daemon-reload` with toolkit < 1.18 the devices drop out: restart the container")
    if uses_cdi(c):
        # CDI puts the device nodes in the container's own spec, so a daemon-reload does not drop them.
        fix = (f"recreate the container with {cdi_fix(host)}; a CDI spec generated before a driver upgrade or "
               f"a card change is stale: {CDI_SPEC_FIX}")
    if c.gpus_seen_error is not None:
        return failed(f"`nvidia-smi -L` failed in container {c.name}: {c.gpus_seen_error}", expected,
                      "the container got no GPUs: started without a GPU request, or the NVIDIA runtime was not used",
                      fix)
    if c.gpus_seen is None:
        return not_evaluated(f"no in-container GPU list: {c.gpus_seen_missing}")
    seen = {g.uuid for g in c.gpus_seen}
    measured = f"container {c.name} sees {len(c.gpus_seen)} GPU(s)" + (
        f" ({', '.join(g.uuid for g in c.gpus_seen)})" if c.gpus_seen else "")
    listed = [g.uuid for g in c.gpus_seen]
    twice = sorted({u for u in listed if listed.count(u) > 1})
    if twice:
        return not_evaluated(f"{measured}: it lists {', '.join(twice)} more than once, which no real `nvidia-smi -L` "
                             f"does ({ev.CONTAINER_SMI} was edited or pieced together)")
    if not host.nvml.ok:
        if len(c.gpus_seen) == want:
            return passed(measured + "; host UUIDs unknown (see GPU-COUNT)", expected)
        return failed(measured, expected, "the container's GPU request is too narrow", fix)
    if not host.gpus:
        return not_evaluated("NVML sees no GPU on the host (see GPU-COUNT): nothing to compare with")
    host_problem = duplicates(host.gpus, host.nvml.source)
    if host_problem:
        return not_evaluated(f"{measured}: {host_problem}; see GPU-COUNT")
    if seen == host_uuids and len(c.gpus_seen) in (want, len(host.gpus)):
        short = f"; NVML sees only {len(host.gpus)} of {want} (see GPU-COUNT)" if len(host.gpus) < want else ""
        return passed(measured + ", the host's" + short, expected)
    missing = sorted(host_uuids - seen)
    foreign = sorted(seen - host_uuids)
    detail = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                     foreign and f"not on this host: {', '.join(foreign)}"]))
    return failed(f"{measured}: {detail}", expected,
                  "the GPU request or NVIDIA_VISIBLE_DEVICES names too few GPUs, or the devices were lost", fix)


def _hidden_by_env(c: ContainerFacts, host: HostFacts) -> list[tuple[str, str]]:
    """(problem, fix) for each visible-devices variable of the container that hides an expected GPU."""
    found = []
    indexes, _ = covered(c, host, host.docker.engine.default_runtime if host.docker.engine else "")
    given = [g for g in host.gpus if g.index in indexes] or list(host.gpus)
    value = c.env_value("CUDA_VISIBLE_DEVICES")
    if value is not None:
        shown, note = ollama_env.visible(value, given)
        hidden = [g for g in host.gpus if g not in shown]
        if hidden:
            names = ", ".join(f"GPU{g.index} {g.name or ''} ({g.uuid})".replace("  ", " ") for g in hidden)
            found.append((f"CUDA_VISIBLE_DEVICES={value} hides {names} from Ollama" + (f" ({note})" if note else ""),
                          "remove CUDA_VISIBLE_DEVICES (the GPU request already chooses the GPUs)"))
    value = c.env_value("NVIDIA_VISIBLE_DEVICES")
    # With a GPU request (--gpus) the engine sets NVIDIA_VISIBLE_DEVICES itself, after the container's own.
    if value is not None and not any(r.wants_gpu for r in c.device_requests):
        runtime = c.runtime or (host.docker.engine.default_runtime if host.docker.engine else "")
        left_out = [g for g in host.gpus if g.index not in indexes]
        if runtime == "nvidia" and left_out:
            names = ", ".join(f"GPU{g.index} ({g.uuid})" for g in left_out)
            found.append((f"NVIDIA_VISIBLE_DEVICES={value} leaves {names} out of the container (see CTR-GPU-REQUEST)",
                          "set NVIDIA_VISIBLE_DEVICES=all or start it with `--gpus all`"))
    return found


def ctr_config(host: HostFacts, profile: Profile) -> Verdict:
    c = _container(host, profile)
    if isinstance(c, Verdict):
        return c
    spec = profile.container
    version = host.ollama.version or host.ollama.log_version or None
    problems, fixes, notes = [], [], []
    for name, value in c.env:
        advice = ollama_env.advice(name, version)
        if advice:
            problems.append(advice)
            fixes.append(f"remove {name}")
            continue
        bad = ollama_env.value_problem(name, value, version)
        if bad is not None:
            (problems if bad[0] == "fail" else notes).append(bad[1])
            if bad[0] == "fail":
                fixes.append(f"give {name} a value Ollama parses")
    if host.gpus:
        for problem, fix in _hidden_by_env(c, host):
            problems.append(problem)
            fixes.append(fix)
    elif c.env_value("CUDA_VISIBLE_DEVICES") is not None:
        notes.append("CUDA_VISIBLE_DEVICES is set but NVML lists no GPU here, so which GPUs it hides is unknown "
                     "(see GPU-COUNT)")
    library = (c.env_value("OLLAMA_LLM_LIBRARY") or "").strip().lower()
    major = profile.ollama.compute_capability.split(".")[0]
    if library and (library.startswith("cpu") or (library == "cuda_v13" and major.isdigit() and int(major) < 7)):
        # A real Ollama setting, but forcing the CPU, or the CUDA 13 runner that has no code for compute 6.x,
        # keeps the model off these GPUs.
        problems.append(f"OLLAMA_LLM_LIBRARY={library} forces a runner that cannot use these GPUs (compute "
                        f"{profile.ollama.compute_capability})")
        fixes.append("remove OLLAMA_LLM_LIBRARY (Ollama picks the runner that fits the cards)")
    if spec.spread and not ollama_env.truthy(c.env_value("OLLAMA_SCHED_SPREAD")):
        problems.append("OLLAMA_SCHED_SPREAD is not set, so a model that fits one card stays on one card")
        fixes.append("set OLLAMA_SCHED_SPREAD=1")
    models = c.env_value("OLLAMA_MODELS") or f"{spec.models_path.rstrip('/')}/models"
    store = c.stores(models)
    if not store:
        problems.append(f"the model store {models} is not on a volume or bind mount (models are lost with the "
                        "container)")
        fixes.append(f"mount a named volume at {spec.models_path} (`-v {spec.volume}:{spec.models_path}`)")
    port = OLLAMA_PORT
    if c.network_mode != "host" and c.ports_problem is None and not any(p.container_port == port for p in c.ports):
        problems.append(f"the API port {port} is not published")
        fixes.append(f"publish it (`-p {spec.bind_address}:{spec.port}:11434`)")
    reader = f"Ollama {version}" if version else "current Ollama (version unknown)"
    expected = (f"only variables {reader} reads, with values it parses, none hiding a GPU; a persistent model store, "
                "the API port published") + (", OLLAMA_SCHED_SPREAD=1" if spec.spread else "")
    if problems:
        return failed("; ".join(problems + notes), expected,
                      "settings copied from advice for other tools or other Ollama versions, or a container started "
                      "by hand", "recreate the container: " + "; ".join(fixes)
                      + " (`pytest acceptance/ --remediate` keeps the models)")
    where = ", ".join(f"{m.type} {m.source}" for m in store)
    measured = f"{len(c.env)} variables, models on {where}"
    if c.ports_problem is not None and c.network_mode != "host":
        return not_evaluated(f"{measured}; whether the API port {port} is published is not known: "
                             f"docker inspect of {c.name} contradicts itself ({c.ports_problem})")
    if notes:
        return warned(f"{measured}; " + "; ".join(notes), expected, "a value Ollama reads differently than written",
                      "write booleans as 1 or 0, OLLAMA_DEBUG as 0, 1 or 2")
    return passed(measured, expected)


def _everywhere(address: str) -> bool:
    if address in ("", "*"):
        return True
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def ctr_exposure(host: HostFacts, profile: Profile) -> Verdict:
    c = _container(host, profile)
    if isinstance(c, Verdict):
        return c
    spec = profile.container
    allowed = spec.allowed_bind_addresses
    expected = f"API bound to {' or '.join(allowed)} (container.allowed_bind_addresses)"
    port = OLLAMA_PORT
    if c.network_mode == "host":
        host_value = c.env_value("OLLAMA_HOST") or "0.0.0.0:11434"
        address = host_value.split("://")[-1].rsplit(":", 1)[0].strip("[]")
        bindings = [address]
        how = f"host network, OLLAMA_HOST={host_value}"
    elif c.ports_problem is not None:
        return not_evaluated(f"where the API is published is not known: docker inspect of {c.name} contradicts "
                             f"itself ({c.ports_problem})")
    else:
        bindings = [p.host_ip for p in c.ports if p.container_port == port]
        how = ", ".join(dict.fromkeys(  # "" and 0.0.0.0 are the same address; asked and published may repeat
            f"{p.host_ip or '0.0.0.0'}:{p.host_port}" for p in c.ports if p.container_port == port))
    if not bindings:
        return skipped(f"the API port {port} is not published: see CTR-CONFIG")
    open_to_all = [b for b in bindings if _everywhere(b) and not any(_everywhere(a) for a in allowed)]
    elsewhere = [b for b in bindings if not _everywhere(b) and b not in allowed]
    if not open_to_all and not elsewhere:
        return passed(f"API published on {how}", expected)
    measured = f"the Ollama API is published on {how}" + (" (every interface)" if open_to_all else "")
    return failed(measured, expected,
                  "Ollama has no authentication: anyone who reaches this port can run models, pull and delete them",
                  f"publish on loopback (`-p {spec.bind_address}:{spec.port}:11434`) or put a proxy with "
                  "authentication in front; to allow an address on purpose, add it to container.allowed_bind_addresses")
