"""CTR-CONFIG by the deployed Ollama version: the variables each release reads and how it parses their values."""

from __future__ import annotations

import dataclasses

import pytest

from gpuaccept import ollama_env
from gpuaccept import profile as profiles
from gpuaccept.checks import container
from gpuaccept.data.ollama_envconfig import RELEASES
from gpuaccept.evidence import Evidence
from gpuaccept.parse.ollama_log import parse_ollama_log
from gpuaccept.sources.build import build_facts
from tests.conftest import CAPTURES, HOSTS

PROFILE = profiles.load("dual-p40")


def facts(version: str, *env: str, log_version: str = ""):
    """The bundled dual-p40 host, its container given ``env`` and its Ollama answering ``version``."""
    base = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="replay", source="test")
    c = base.docker.container
    c = dataclasses.replace(c, env=c.env + tuple(tuple(e.split("=", 1)) for e in env))
    ollama = dataclasses.replace(base.ollama, version=version, log_version=log_version)
    return dataclasses.replace(base, docker=dataclasses.replace(base.docker, container=c), ollama=ollama)


def test_a_real_server_reads_every_variable_it_lists():
    # A real 0.3.12 container's own list of the variables it runs with (its server config line).
    parsed = parse_ollama_log((CAPTURES / "ollama-logs" / "docker-server-config-listening-ollama-0.3.12.log").read_text())
    names = [n for n in parsed.server_env if n.startswith("OLLAMA_")]
    assert len(names) >= 15 and "OLLAMA_INTEL_GPU" in names and "OLLAMA_TMPDIR" in names
    assert all(ollama_env.reads(n, parsed.version) for n in names), [n for n in names if not ollama_env.reads(n, "0.3.12")]


@pytest.mark.parametrize(("name", "version", "reads"), [
    ("OLLAMA_NEW_ENGINE", "0.12.3", True), ("OLLAMA_NEW_ENGINE", "0.24.0", True),
    ("OLLAMA_NEW_ENGINE", "0.30.0", False), ("OLLAMA_NEW_ENGINE", "0.5.11", False),
    ("OLLAMA_MULTIUSER_CACHE", "0.24.0", True), ("OLLAMA_MULTIUSER_CACHE", "0.32.1", False),
    ("OLLAMA_INTEL_GPU", "0.12.10", True), ("OLLAMA_INTEL_GPU", "0.12.11", False),
    ("OLLAMA_CLOUD_BASE_URL", "0.17.7", False), ("OLLAMA_CLOUD_BASE_URL", "0.18.0", True),
    ("OLLAMA_SCHED_SPREAD", "0.33.0", True),  # newer than the table: judged as its last release
    ("OLLAMA_MAX_VRAM", "0.3.0", False), ("OLLAMA_MAX_VRAM", "0.5.7", True),  # not read by 0.2.8 - 0.3.1
])
def test_the_table_follows_the_release_tags(name, version, reads):
    assert ollama_env.reads(name, version) is reads


def test_release_of_a_development_build():
    assert str(ollama_env.release("0.5.2-rc3-0-g581a4a5-dirty")) == "0.5.2"
    assert ollama_env.reads("OLLAMA_NEW_ENGINE", "not-a-version") is None


def test_a_variable_read_by_one_version_and_not_another():
    assert container.ctr_config(facts("0.12.3", "OLLAMA_NEW_ENGINE=1"), PROFILE).outcome == "pass"
    verdict = container.ctr_config(facts("0.32.1", "OLLAMA_NEW_ENGINE=1"), PROFILE)
    assert verdict.outcome == "fail"
    assert "OLLAMA_NEW_ENGINE is not read by Ollama 0.32.1: removed in 0.30.0" in verdict.message
    assert "made up" not in verdict.message and "not an Ollama setting" not in verdict.message
    verdict = container.ctr_config(facts("0.12.3", "OLLAMA_CLOUD_BASE_URL=https://example.invalid"), PROFILE)
    assert verdict.outcome == "fail" and "not read by Ollama 0.12.3: added in 0.18.0" in verdict.message
    assert container.ctr_config(facts("0.32.1", "OLLAMA_CLOUD_BASE_URL=https://example.invalid"), PROFILE).outcome == "pass"


def test_the_log_version_stands_in_for_an_api_that_does_not_answer():
    verdict = container.ctr_config(facts("", "OLLAMA_INTEL_GPU=1", log_version="0.30.0"), PROFILE)
    assert "OLLAMA_INTEL_GPU is not read by Ollama 0.30.0: removed in 0.12.11" in verdict.message
    # No version at all: a name the newest release still reads passes, a removed one is named as such.
    assert ollama_env.advice("OLLAMA_SCHED_SPREAD") is None
    assert "not read by current Ollama (read from 0.5.12, removed in 0.30.0)" in ollama_env.advice("OLLAMA_NEW_ENGINE")


def test_made_up_variables_keep_their_advice():
    verdict = container.ctr_config(facts("0.12.3", "OLLAMA_GPU_LAYERS=99", "OLLAMA_NUM_GPU=2"), PROFILE)
    assert verdict.outcome == "fail"
    assert "OLLAMA_GPU_LAYERS is not an Ollama setting" in verdict.message and "num_gpu" in verdict.message
    assert "OLLAMA_NUM_GPU is not an Ollama setting" in verdict.message and "--gpus" in verdict.message
    assert "OLLAMA_FOO is not a variable any Ollama release reads" in ollama_env.advice("OLLAMA_FOO", "0.32.1")


def test_a_bad_boolean_says_what_ollama_makes_of_it():
    verdict = container.ctr_config(facts("0.32.1", "OLLAMA_FLASH_ATTENTION=off"), PROFILE)
    assert verdict.outcome == "fail"
    assert "counts any other non-empty value as TRUE, so OLLAMA_FLASH_ATTENTION is ON" in verdict.message
    verdict = container.ctr_config(facts("0.32.1", "OLLAMA_SCHED_SPREAD=yes"), PROFILE)  # meant on, and on it is
    assert verdict.outcome == "warn" and "write 1 or 0" in verdict.message
    assert container.ctr_config(facts("0.32.1", "OLLAMA_NOPRUNE=TRUE"), PROFILE).outcome == "pass"


@pytest.mark.parametrize(("setting", "words"), [
    ("OLLAMA_KEEP_ALIVE=1d", "uses its default (5m)"),  # Go durations stop at hours
    ("OLLAMA_GPU_OVERHEAD=1GiB", "a plain number of bytes"),
    ("OLLAMA_NUM_PARALLEL=-1", "uses its default (1)"),
    ("OLLAMA_CONTEXT_LENGTH=32k", "uses its default (0 (4k/32k/256k by VRAM))"),
])
def test_numbers_and_durations_ollama_cannot_parse_fail_naming_the_default(setting, words):
    verdict = container.ctr_config(facts("0.32.1", setting), PROFILE)
    assert verdict.outcome == "fail" and words in verdict.message, verdict.message
    assert "ignores it" in verdict.message


@pytest.mark.parametrize("setting", ["OLLAMA_KEEP_ALIVE=-1", "OLLAMA_KEEP_ALIVE=3600", "OLLAMA_KEEP_ALIVE=1h30m",
                                     "OLLAMA_LOAD_TIMEOUT=10m", "OLLAMA_GPU_OVERHEAD=536870912", "OLLAMA_DEBUG=2"])
def test_values_ollama_parses_pass(setting):
    assert container.ctr_config(facts("0.32.1", setting), PROFILE).outcome == "pass"


def test_defaults_follow_the_version():
    assert ollama_env.default("OLLAMA_NUM_PARALLEL", "0.9.0") == "0 (auto)"
    assert ollama_env.default("OLLAMA_CONTEXT_LENGTH", "0.6.7") == "4096"


def test_a_cuda_visible_devices_that_hides_an_expected_gpu_fails_naming_it():
    base = facts("0.32.1")
    gpu0, gpu1 = base.gpu(0), base.gpu(1)
    for value in ("0", gpu0.uuid, f"{gpu0.uuid[:10]},7,1"):
        verdict = container.ctr_config(facts("0.32.1", f"CUDA_VISIBLE_DEVICES={value}"), PROFILE)
        assert verdict.outcome == "fail", value
        assert f"hides GPU1 {gpu1.name} ({gpu1.uuid})" in verdict.message
    assert "'7' names no GPU" in verdict.message
    assert container.ctr_config(facts("0.32.1", "CUDA_VISIBLE_DEVICES=1,0"), PROFILE).outcome == "pass"
    verdict = container.ctr_config(facts("0.32.1", "CUDA_VISIBLE_DEVICES="), PROFILE)
    assert "hides GPU0" in verdict.message and "an empty value hides every GPU" in verdict.message


def test_nvidia_visible_devices_of_the_nvidia_runtime_that_leaves_a_gpu_out_fails():
    base = facts("0.32.1", "NVIDIA_VISIBLE_DEVICES=0")
    c = dataclasses.replace(base.docker.container, device_requests=(), runtime="nvidia")
    host = dataclasses.replace(base, docker=dataclasses.replace(base.docker, container=c))
    verdict = container.ctr_config(host, PROFILE)
    assert verdict.outcome == "fail" and f"leaves GPU1 ({host.gpu(1).uuid}) out" in verdict.message
    # With --gpus the engine's own NVIDIA_VISIBLE_DEVICES wins: the bundled image's NVIDIA_VISIBLE_DEVICES=all is fine.
    assert container.ctr_config(facts("0.32.1"), PROFILE).outcome == "pass"


def test_every_name_in_the_table_is_an_ollama_name_with_ordered_spans():
    for name, spans in RELEASES.items():
        assert name.startswith("OLLAMA_") and spans
        bounds = [ollama_env.release(v) for first, gone in spans for v in (first, gone) if v]
        assert bounds == sorted(bounds), name
