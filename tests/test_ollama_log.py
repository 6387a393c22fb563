"""The Ollama log parser over every real log format in tests/data/captures/ollama-logs."""

from __future__ import annotations

from gpuaccept.parse.ollama_log import parse_env_map, parse_ollama_log
from gpuaccept.profile import load as load_profile
from gpuaccept.sources.docker_engine import _logs, started_at
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


def test_only_the_last_server_start_is_read():
    # A real journal with two starts: the first one's Vulkan discovery line is not the running server's.
    parsed = log("pascal-5gpu-two-starts-cuda_v13-skip-ollama-0.32.x.log")
    assert parsed.starts == 2
    assert parsed.devices == () and not parsed.discovered
    assert [(s.device, s.cc, s.runner) for s in parsed.skipped] == [("Quadro P4000", "610", "cuda_v13")]
    assert {"cuda_v12", "cuda_v13"} <= set(parsed.runners)
    # llama.cpp's per-runner lists are read, never taken for the discovery: the last one is cuda_v12's.
    assert [(d.description, d.compute, d.runner) for d in parsed.ggml_devices] == [("Quadro P4000", "6.1", "cuda_v12")]


def test_a_systemd_restart_before_the_server_config_is_one_start():
    parsed = log("p40-m6000-journal-boot-marker-server-config-ollama-0.3.x.log")
    assert parsed.starts == 1 and parsed.server_env["OLLAMA_SCHED_SPREAD"] == "false"


def test_config_then_listening_is_one_start():
    parsed = log("docker-server-config-listening-ollama-0.3.12.log")
    assert parsed.starts == 1 and parsed.version == "0.3.12" and parsed.server_env["OLLAMA_INTEL_GPU"] == "false"


def test_a_second_config_line_after_discovery_starts_again():
    first = (CAPTURES / "ollama-logs" / "mixed-5gpu-incl-p40-inference-compute-ollama-0.5.1.log").read_text()
    second = (CAPTURES / "ollama-logs" / "docker-server-config-listening-ollama-0.3.12.log").read_text()
    parsed = parse_ollama_log(first + second)
    assert parsed.starts == 2 and parsed.devices == () and parsed.version == "0.3.12"
    assert parse_ollama_log(second + first).devices[3].card == "Tesla P40"


def test_older_llama_cpp_forms():
    parsed = log("llamacpp-old-llm_load_tensors-cuda0-buffer-size-a6000.txt")
    assert parsed.model_mib == {"CPU": 499.5, "CUDA0": 17284.05}  # KV, compute and output buffers are not weights
    assert parsed.offloaded == (62, 62)
    assert [(d.description, d.compute) for d in parsed.ggml_devices] == [("NVIDIA RTX A6000", "8.6")]
    listed = log("llamacpp-list-devices-rtx3090-plus-3x-p40.txt").ggml_devices
    assert [d.description for d in listed].count("Tesla P40") == 3 and listed[1].compute == "6.1"


def test_docker_logs_are_read_from_the_current_start_only():
    assert started_at("2026-11-25T19:01:07.123456789Z") == 1795633267
    assert started_at("2026-11-25T20:01:07+01:00") == 1795633267
    assert started_at("0001-01-01T00:00:00Z") is None and started_at("") is None

    class Api:
        def logs(self, container_id, **kwargs):
            self.kwargs = kwargs
            return (chunk for chunk in [b"log"])

    client = type("Client", (), {"api": Api()})()
    spec = load_profile("dual-p40").container
    assert _logs(client, {"Id": "id", "State": {"StartedAt": "2026-11-25T19:01:07.5Z"}}, spec) == "log"
    assert client.api.kwargs["since"] == 1795633267
    _logs(client, {"Id": "id", "State": {"StartedAt": "0001-01-01T00:00:00Z"}}, spec)
    assert client.api.kwargs["since"] is None
