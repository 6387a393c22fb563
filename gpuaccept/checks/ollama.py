"""OLL-API, OLL-GPUS-DETECTED, OLL-MODEL: the Ollama server answers, found every GPU, has the model."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from gpuaccept import evidence as ev
from gpuaccept.checks.inventory import driver_fault
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped
from gpuaccept.facts import HostFacts, OllamaFacts, find_model
from gpuaccept.profile import Profile

# A trouble line in the server log -> (likely cause, fix).
TROUBLE = {
    "no nvidia devices detected": (
        "the container was given no GPU (see CTR-SEES-GPUS), or the NVIDIA runtime was not used",
        "recreate the container with `--gpus all` (`pytest acceptance/ --remediate` for a managed one)"),
    "NVIDIA driver too old": (
        "the host driver is older than this Ollama needs for compute capability 6.1 (see DRV-VERSION)",
        "install the R580 driver (>= 570, < 590 for Pascal) and reboot"),
    "skipping CUDA device": (
        "this Ollama build's CUDA runner has no code for compute capability 6.1 (a cuda_v13-only build)",
        "pin an Ollama image that ships the cuda_v12 runner (the profile's container.image), or set "
        "OLLAMA_LLM_LIBRARY=cuda_v12"),
    "failed to initialize CUDA": (
        "CUDA could not start in the container (driver and library out of step after an upgrade)",
        "reboot the host, then restart the container"),
}


def api_or_verdict(host: HostFacts, profile: Profile) -> OllamaFacts | Verdict:
    """The Ollama facts, or the skip every OLL requirement but OLL-API takes when there are none."""
    if not profile.ollama.enabled:
        return skipped("the profile checks no Ollama server (ollama.enabled = false)")
    o = host.ollama
    if o.reachable is None:
        return not_evaluated(f"no Ollama API evidence: {o.missing}")
    if not o.reachable:
        return not_evaluated("the Ollama API does not answer: see OLL-API")
    return o


# Ollama is at 0.x; a major version this high is not a release but a made-up or corrupted string.
_IMPLAUSIBLE_MAJOR = 10


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


def api(host: HostFacts, profile: Profile) -> Verdict:
    spec = profile.ollama
    if not spec.enabled:
        return skipped("the profile checks no Ollama server (ollama.enabled = false)")
    o = host.ollama
    expected = f"the API answers at {spec.url}, version >= {spec.min_version} (profile ollama.min_version)"
    if o.reachable is None:
        return not_evaluated(f"no Ollama API evidence: {o.missing}")
    if not o.reachable:
        return failed(f"the Ollama API does not answer ({o.error})", expected,
                      "the container is stopped, or publishes another port or address",
                      f"`docker start {profile.container.name}` (see CTR-RUNNING), or point the suite at the API "
                      "with --ollama-url")
    version = real_version(o.version)
    if isinstance(version, str):
        return not_evaluated(f"{ev.OLLAMA_VERSION} version {o.version!r}: {version}")
    other = log_of_another_server(o)
    if other is not None:
        return not_evaluated(other)
    if version < Version(spec.min_version):
        return failed(f"Ollama {o.version} answers", expected, f"this Ollama predates {spec.min_version}",
                      f"use the profile's image ({profile.container.image}) and recreate the container")
    return passed(f"Ollama {o.version} answers at {spec.url}", expected)


def gpus_detected(host: HostFacts, profile: Profile) -> Verdict:
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
    # Up to 0.24 the ids are GPU UUIDs: then they must be this host's cards.
    foreign = sorted(d.id for d in cuda if d.id.startswith("GPU-") and host.gpus
                     and d.id not in {g.uuid for g in host.gpus})
    if foreign:
        return failed(f"{measured}: {', '.join(foreign)} is not a GPU of this host", expected,
                      "the log is from another machine or an earlier set of cards",
                      "restart the container so the server discovers this host's GPUs")
    wrong = [d for d in cuda if d.compute and d.compute != spec.compute_capability]
    runners = [d for d in cuda if d.runner and d.runner != spec.cuda_runner]
    if len(cuda) == want and not wrong and not runners:
        # A log of another start cannot show that the server answering now found every GPU; the faults below
        # are still reported, as the log shows them.
        other = log_of_another_server(o)
        return passed(measured, expected) if other is None else not_evaluated(other)
    for needle, (cause, fix) in TROUBLE.items():
        lines = [t for t in o.trouble if needle in t]
        if lines:
            return failed(f"{measured}; the log says: {lines[-1]}", expected, cause, fix)
    if runners:
        return failed(measured, expected, f"the server chose {runners[0].runner} for these cards",
                      f"set OLLAMA_LLM_LIBRARY={spec.cuda_runner} or pin an image whose {spec.cuda_runner} runner works")
    if not cuda:
        return failed(f"{measured}: it runs on the CPU", expected,
                      "the server saw no usable GPU when it started (see CTR-SEES-GPUS and DRV-VERSION)",
                      "fix the container's GPU access, then restart the container so Ollama discovers again")
    return failed(measured, expected, "the server started with fewer GPUs than the host has (a narrow GPU request, "
                  "CUDA_VISIBLE_DEVICES, or a GPU that failed to initialise)",
                  "fix CTR-GPU-REQUEST / GPU-COUNT, then restart the container")


def model(host: HostFacts, profile: Profile) -> Verdict:
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
