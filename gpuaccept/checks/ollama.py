"""OLL-API, OLL-GPUS-DETECTED, OLL-MODEL: the Ollama server answers, found every GPU, has the model."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from gpuaccept import evidence as ev
from gpuaccept import ollama_env
from gpuaccept.checks.container import covered, launch_hint, start_hint
from gpuaccept.checks.inventory import driver_fault
from gpuaccept.checks.server_identity import other_server
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped
from gpuaccept.facts import HostFacts, OllamaFacts, find_model
from gpuaccept.parse.ollama_log import parse_skip
from gpuaccept.profile import Profile

# A trouble line in the server log -> (likely cause, fix).
TROUBLE = {
    "no nvidia devices detected": (
        "the container was given no GPU (see CTR-SEES-GPUS), or the NVIDIA runtime was not used",
        "recreate the container with `--gpus all` (`pytest acceptance/ --remediate` for a managed one)"),
    "NVIDIA driver too old": (
        "the host driver is older than this Ollama needs for compute capability 6.1 (see DRV-VERSION)",
        "install the R580 driver (>= 570, < 590 for Pascal) and reboot"),
    "failed to initialize CUDA": (
        "CUDA could not start in the container (driver and library out of step after an upgrade)",
        "reboot the host, then restart the container"),
    "unable to load cuda driver library": (
        "the container has no usable libcuda (the NVIDIA runtime did not mount the driver)",
        "recreate the container with `--gpus all` (NVIDIA Container Toolkit installed, see CTR-TOOLKIT)"),
    "CUDA GPU is too old": (
        "this Ollama build has no code for the card's compute capability",
        "use the profile's image (an Ollama whose CUDA runner supports the card)"),
}
_VISIBLE = ("CUDA_VISIBLE_DEVICES",)

def api_or_verdict(host: HostFacts, profile: Profile) -> OllamaFacts | Verdict:
    """The Ollama facts, or the skip every OLL requirement but OLL-API takes when there are none."""
    if not profile.ollama.enabled:
        return skipped("the profile checks no Ollama server (ollama.enabled = false)")
    o = host.ollama
    if o.reachable is None:
        return not_evaluated(f"no Ollama API evidence: {o.missing}")
    if not o.reachable:
        return not_evaluated("the Ollama API does not answer: see OLL-API")
    if other_server(host) is not None:
        return not_evaluated("the API that answers is not the managed container's: see OLL-API")
    return o


# Ollama is at 0.x; a major version this high is not a release but a made-up or corrupted string.
_IMPLAUSIBLE_MAJOR = 10


def _api_down(host: HostFacts, profile: Profile) -> tuple[str, str]:
    """Why the API may not answer and what to do, as far as the container's evidence shows it."""
    name, c = profile.container.name, host.docker.container
    if c is None or (host.docker.engine is not None and not host.docker.engine.reachable):
        return ("no container evidence says why (see CTR-ENGINE and CTR-RUNNING)",
                "make the Docker Engine reachable, or point the suite at the API with --ollama-url")
    if not c.exists:
        return (f"there is no container named {name} (see CTR-RUNNING)",
                f"{launch_hint(host, profile)}, or point the suite at the API with --ollama-url")
    if not c.running:
        return (f"the container {name} is {c.status or 'not running'} (see CTR-RUNNING)",
                f"{start_hint(host, profile)} (see CTR-RUNNING)")
    return (f"the container {name} runs, but nothing answers at {profile.ollama.url}: it publishes another port or "
            "address, or the server inside failed (see CTR-CONFIG and `docker logs " + name + "`)",
            "point the suite at the container's published port with --ollama-url, or read the container's log")


def real_version(text: str) -> Version | str:
    """The release ``text`` names, or why it names none: Ollama's development builds say 0.0.0."""
    try:
        version = Version(text)
    except (InvalidVersion, TypeError):
        return "not a version number"
    if version == Version("0.0.0"):
        return "a development build: its version is unknown"
    if version.epoch or version.major >= _IMPLAUSIBLE_MAJOR:
        return f"not a plausible Ollama release (major version {version.major}, epoch {version.epoch})"
    return version


def log_of_another_server(o: OllamaFacts) -> str | None:
    """The API and the server log both name a version, and not the same one."""
    if not (o.reachable and o.version and o.log_version):
        return None
    api_v, log_v = real_version(o.version), real_version(o.log_version)
    same = api_v == log_v if isinstance(api_v, Version) and isinstance(log_v, Version) else o.version == o.log_version
    if same:
        return None
    return (f"the API says Ollama {o.version!r}, the server log ({ev.OLLAMA_LOG}) says {o.log_version!r}: "
            "the log is of another server or an earlier start")


def oll_api(host: HostFacts, profile: Profile) -> Verdict:
    spec = profile.ollama
    if not spec.enabled:
        return skipped("the profile checks no Ollama server (ollama.enabled = false)")
    o = host.ollama
    expected = f"the API answers at {spec.url}, version >= {spec.min_version} (profile ollama.min_version)"
    if o.reachable is None:
        return not_evaluated(f"no Ollama API evidence: {o.missing}")
    if not o.reachable:
        cause, fix = _api_down(host, profile)
        asked = f" at {o.url}" if o.url else ""
        return failed(f"the Ollama API does not answer{asked} ({o.error})", expected, cause, fix)
    other = other_server(host)
    if other is not None:
        return not_evaluated(other)
    version = real_version(o.version)
    if isinstance(version, str):
        return not_evaluated(f"{ev.OLLAMA_VERSION} version {o.version!r}: {version}")
    other = log_of_another_server(o)
    if other is not None:
        return not_evaluated(other)
    if version < Version(spec.min_version):
        return failed(f"Ollama {o.version} answers", expected, f"this Ollama predates {spec.min_version}",
                      f"use the profile's image ({profile.container.image}) and recreate the container")
    # The URL the evidence was asked at (a replay's profile may name another): the one that answered.
    where = o.url or f"{spec.url} (the profile's URL: the evidence does not record where it asked)"
    return passed(f"Ollama {o.version} answers at {where}", expected)


def _gpu_names(gpus) -> str:
    return ", ".join(f"GPU{g.index} ({g.uuid})" for g in gpus)


def _container_gpus(host: HostFacts) -> list:
    """The host GPUs the container was given, in the order CUDA numbers them inside it (PCI order)."""
    c = host.docker.container
    if c is None or not c.exists or not host.gpus:
        return list(host.gpus)
    indexes, _ = covered(c, host, host.docker.engine.default_runtime if host.docker.engine else "")
    return [g for g in host.gpus if g.index in indexes] or list(host.gpus)


def _narrowing(host: HostFacts, expected: list) -> tuple[str, str] | None:
    """(what narrowed, which expected GPUs it hides) for a CUDA_VISIBLE_DEVICES that hides an expected GPU."""
    o, c = host.ollama, host.docker.container
    server = dict(o.server_env)
    for name in _VISIBLE:
        # The server config line shows what the server ran with; it prints an unset variable as empty.
        value, where = server.get(name) or None, "the server config line of the log"
        if value is None and c is not None and c.env_value(name) is not None:
            value, where = c.env_value(name), "the container's environment"
        if value is None:
            continue
        shown, note = ollama_env.visible(value, _container_gpus(host))
        hidden = [g for g in expected if g not in shown]
        if hidden:
            return f"{name}={value} ({where}){': ' + note if note else ''}", _gpu_names(hidden)
    return None


def oll_gpus_detected(host: HostFacts, profile: Profile) -> Verdict:
    # Judged from the server log alone: a server that discovered no GPU may also be one that is down.
    if not profile.ollama.enabled:
        return skipped("the profile checks no Ollama server (ollama.enabled = false)")
    fault = driver_fault(host)
    if fault:
        return fault
    o = host.ollama
    spec, want = profile.ollama, profile.gpus.count
    expected = f"{want} CUDA devices, compute {spec.compute_capability}, runner {spec.cuda_runner}"
    if o.devices is None:
        return not_evaluated(f"no Ollama server log: {o.log_missing}")
    cuda = [d for d in o.devices if d.library.lower() == "cuda"]
    listed = ", ".join(f"{d.id} {d.card} compute={d.compute or '?'} {d.runner or ''}".strip() for d in cuda) or "none"
    measured = f"Ollama {o.log_version or o.version} discovered {len(cuda)} CUDA device(s) ({listed})"
    if o.log_starts > 1:
        measured += f", judged by the last of the {o.log_starts} server starts in the log"
    skips = [s for t in o.trouble if (s := parse_skip(t)) is not None]
    # Up to 0.24 the ids are GPU UUIDs: then they must be this host's cards.
    foreign = sorted(d.id for d in cuda if d.id.startswith("GPU-") and host.gpus
                     and d.id not in {g.uuid for g in host.gpus})
    if foreign:
        return failed(f"{measured}: {', '.join(foreign)} is not a GPU of this host", expected,
                      "the log is from another machine or an earlier set of cards",
                      "restart the container so the server discovers this host's GPUs")
    # Compute capability alone does not tell the cards apart (a GTX 1080 Ti and a P40 are both 6.1): the
    # name CUDA reports must be the profile's card too.
    wrong = [d for d in cuda if (d.compute and d.compute != spec.compute_capability)
             or (d.card and profile.gpus.name and d.card != profile.gpus.name)]
    runners = [d for d in cuda if d.runner and d.runner != spec.cuda_runner]
    if len(cuda) == want and not wrong and not runners:
        if skips:
            # From 0.30 every runner folder is tried; cuda_v13 has no code for compute 6.x and says so first.
            measured += (f"; the {len(skips)} `skipping CUDA device` line(s) of {skips[0].runner or 'another runner'} "
                         f"before it are normal: that runner has no code for compute {spec.compute_capability}")
        # A log of another server than the one answering now cannot show that it found every GPU.
        other = log_of_another_server(o) or _log_of_another_driver(host, o)
        return passed(measured, expected) if other is None else not_evaluated(other)
    if len(cuda) > want:
        return failed(measured, expected, f"the server found more CUDA devices than the profile's {want}",
                      "give the container only the expected GPUs, or set the profile's gpus.count")
    if len(cuda) == want and wrong:
        return failed(measured, expected + f", each a {profile.gpus.name} (profile gpus.name)",
                      f"{wrong[0].card or wrong[0].id} (compute {wrong[0].compute or '?'}) is not the profile's card "
                      "(see GPU-MODEL)", "install the profile's cards, or run the suite with the profile for these")
    if cuda:  # some found: what narrowed the set comes first
        return _fewer(host, o, measured, expected, want, skips, runners, spec)
    # none found: the log's own complaint names the cause first
    vulkan = [d for d in o.devices if d.library.lower() == "vulkan"]
    measured += f" ({', '.join(d.card for d in vulkan)} on Vulkan)" if vulkan else ": it runs on the CPU"
    return (_trouble_verdict(o, measured, expected)
            or _fewer(host, o, measured, expected, want, skips, runners, spec, cpu=True))


def _log_of_another_driver(host: HostFacts, o) -> str | None:
    """The server saw CUDA driver X.Y (its ``inference compute`` lines); NVML reports the host's. Another
    version means the log is not of this host's driver (a log from before a driver change, or edited)."""
    seen = sorted({d.driver for d in o.devices or () if d.driver})
    host_cuda = host.driver.cuda_driver_version
    if not seen or not host_cuda:
        return None
    if seen != [host_cuda] and not all(v.split(".")[:2] == host_cuda.split(".")[:2] for v in seen):
        return (f"{ev.OLLAMA_LOG} says the server saw CUDA driver {', '.join(seen)}, but NVML reports CUDA "
                f"{host_cuda} (driver {host.driver.nvml_version or '?'}): the log is not of this driver")
    return None


def _trouble_verdict(o, measured: str, expected: str) -> Verdict | None:
    for needle, (cause, fix) in TROUBLE.items():
        lines = [t for t in o.trouble if needle in t]
        if lines:
            return failed(f"{measured}; the log says: {lines[-1]}", expected, cause, fix)
    return None


def _fewer(host: HostFacts, o, measured: str, expected: str, want: int, skips, runners, spec,
           cpu: bool = False) -> Verdict:
    want_gpus = list(host.gpus)
    if want_gpus and (narrow := _narrowing(host, want_gpus)) is not None:
        how, hidden = narrow
        return failed(f"{measured}; {how} hides {hidden}", expected,
                      f"the server only sees the GPUs CUDA_VISIBLE_DEVICES lets through, so {hidden} is never used",
                      "remove CUDA_VISIBLE_DEVICES from the container (or list every GPU by UUID) and recreate it "
                      "(`pytest acceptance/ --remediate` for a managed one)")
    c = host.docker.container
    if want_gpus and c is not None and c.exists:
        indexes, how = covered(c, host, host.docker.engine.default_runtime if host.docker.engine else "")
        left_out = [g for g in want_gpus if g.index not in indexes]
        if left_out:
            return failed(f"{measured}; the container was given {how}, leaving out {_gpu_names(left_out)}",
                          expected, "the container's GPU request names too few GPUs (see CTR-GPU-REQUEST)",
                          "recreate it with `--gpus all` (`pytest acceptance/ --remediate` for a managed one)")
    if (found := _trouble_verdict(o, measured, expected)) is not None:
        return found
    others = [r for r in o.runners_seen if r != spec.cuda_runner]
    if skips and spec.cuda_runner not in o.runners_seen:
        return failed(f"{measured}; {skips[0].runner or 'a runner'} skipped {skips[0].device} (cc={skips[0].cc}) and "
                      f"no {spec.cuda_runner} runner appears in the log", expected,
                      f"this image seems to ship no {spec.cuda_runner} runner ({', '.join(others) or 'none'} only), and "
                      f"{skips[0].runner or 'the runner it has'} has no code for compute {spec.compute_capability}",
                      f"use the profile's image ({spec.cuda_runner} included); `docker exec <container> ls "
                      f"/usr/lib/ollama` lists the runners, OLLAMA_DEBUG=1 logs each runner's discovery")
    if runners:
        return failed(measured, expected, f"the server chose {runners[0].runner} for these cards",
                      f"set OLLAMA_LLM_LIBRARY={spec.cuda_runner} or pin an image whose {spec.cuda_runner} runner works")
    vulkan = [d for d in o.devices if d.library.lower() == "vulkan"]
    if vulkan:
        return failed(measured, expected, f"no CUDA runner took {vulkan[0].card}, so Ollama fell back to Vulkan "
                      "(slower; the card's CUDA discovery failed or was skipped)",
                      f"set OLLAMA_DEBUG=1 and restart to see each runner's discovery; use the profile's image "
                      f"({spec.cuda_runner} included) with the profile's driver")
    if cpu:
        return failed(measured, expected,
                      "the server saw no usable GPU when it started (see CTR-SEES-GPUS and DRV-VERSION)",
                      "fix the container's GPU access, then restart the container so Ollama discovers again")
    if host.gpus and len(host.gpus) < want:
        return failed(measured, expected, f"the host's driver itself sees only {len(host.gpus)} of {want} GPUs "
                      "(see GPU-COUNT and GPU-PCI-COUNT)", "fix GPU-COUNT first, then restart the container so Ollama "
                      "discovers again")
    if not want_gpus or c is None or not c.exists:  # nothing shows what the server was given, or why
        what = "no NVML inventory" if not want_gpus else "no container evidence"
        return failed(measured, expected, f"not known: {what} to say why (see GPU-COUNT and CTR-GPU-REQUEST)",
                      "fix what those report, then restart the server so Ollama discovers again")
    return failed(measured, expected, "every GPU was given to the container, yet the server found fewer: a card failed "
                  "to initialise in CUDA (see GPU-XID and the DRV requirements)",
                  "fix what those report, then restart the container so Ollama discovers again")


def oll_model(host: HostFacts, profile: Profile) -> Verdict:
    o = api_or_verdict(host, profile)
    if isinstance(o, Verdict):
        return o
    name = profile.ollama.model
    expected = f"{name} installed (profile ollama.model)"
    if o.models is None:
        return not_evaluated(f"the installed models are not known: {o.models_missing}")
    found = find_model(o.models, name)
    if found is None:
        others = ", ".join(m.name for m in o.models) or "none"
        return failed(f"{name} is not installed (installed: {others})", expected,
                      "the model was never pulled here, or the model store is not the container's volume",
                      f"`docker exec {profile.container.name} ollama pull {name}` (or `pytest acceptance/ --remediate`)")
    details = ", ".join(filter(None, [f"{found.size / 1e9:.1f} GB", found.parameter_size, found.quantization]))
    return passed(f"{name} is installed ({details})", expected)
