"""The Ollama log parser over every real log format in tests/data/captures/ollama-logs."""

from __future__ import annotations

from gpuaccept.parse.ollama_log import parse_env_map, parse_ollama_log
from tests.conftest import CAPTURES


def log(name: str):
    return parse_ollama_log((CAPTURES / "ollama-logs" / name).read_text())


def test_old_discovery_lines_with_uuid_ids_and_variant():
    parsed = log("mixed-5gpu-incl-p40-inference-compute-ollama-0.5.1.log")
    p40 = [d for d in parsed.devices if d.card == "Tesla P40"]
    assert len(parsed.devices) == 4 and len(p40) == 1
    assert (p40[0].compute, p40[0].runner, p40[0].is_cuda) == ("6.1", "cuda_v12", True)
    assert p40[0].id.startswith("GPU-")


def test_no_devices_detected_in_docker():
    parsed = log("docker-no-nvidia-devices-detected-ollama-0.3.10.log")
    assert parsed.version == "0.3.10" and parsed.devices == ()
    assert any("no nvidia devices detected" in t for t in parsed.trouble)


def test_server_config_of_the_journal_format():
    parsed = log("p40-m6000-journal-boot-marker-server-config-ollama-0.3.x.log")
    assert parsed.server_env["OLLAMA_SCHED_SPREAD"] == "false"
    assert parsed.server_env["OLLAMA_HOST"] == "http://0.0.0.0:11434"
    assert parsed.server_env["CUDA_VISIBLE_DEVICES"] == ""
    assert parsed.server_env["OLLAMA_ORIGINS"].startswith("[http://localhost")


def test_model_weights_per_cuda_device():
    parsed = log("2gpu-model-weights-cuda0-cuda1-new-engine.log")
    assert parsed.offloaded == (41, 41)
    assert round(parsed.model_mib["CUDA0"]) == round(11.5 * 1024) and round(parsed.model_mib["CUDA1"]) == round(11.9 * 1024)
    assert parsed.model_mib["CPU"] == 680.0


def test_layer_split_of_the_llama_engine():
    parsed = log("4gpu-layers-split-11x4-offload.log")
    assert parsed.layer_split == (11, 11, 11, 11)


def test_compute_and_output_buffers_are_not_model_weights():
    parsed = log("p40-m6000-runner-started-ollama-0.3.x.log")
    assert parsed.model_mib == {}


def test_env_map_values_may_be_empty_or_bracketed():
    env = parse_env_map("A: B:x OLLAMA_ORIGINS:[http://a http://b] C:1")
    assert env == {"A": "", "B": "x", "OLLAMA_ORIGINS": "[http://a http://b]", "C": "1"}
