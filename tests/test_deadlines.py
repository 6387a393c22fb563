"""Never hang, never fill the memory: every external call has a total deadline and every answer a cap.

A trickling, endless or oversized HTTP answer (the Ollama stand-in's ``bad`` modes, and a raw socket
that trickles its status line), a benchmark stream that trickles tokens, a host command that prints for
ever or leaves its output open, and Engine streams that never end or block. Each case runs under a hard
guard of its own (a daemon thread joined with a limit, or the suite subprocess's timeout), so a
regression fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import testinfra

from gpuaccept import evidence as ev
from gpuaccept.profile import ContainerSpec
from gpuaccept.sources import docker_engine, host, live
from gpuaccept.sources.bounded_http import TooLarge, TooSlow, get_json
from tests.conftest import HOSTS, ROOT
from tests.fakes.ollama_server import OllamaStandIn, Scenario

PROFILE = str(ROOT / "tests" / "data" / "profiles" / "dual-p40-standin.toml")  # api_timeout_s 2, load_timeout_s 10
P40_MIB = [g["memory_total_mib"] for g in json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())["gpus"]]
LOAD = {"OLL-OFFLOAD", "OLL-SPREAD", "OLL-BALANCE", "OLL-THROUGHPUT", "OLL-LOAD-TIME", "GPU-THERMAL"}
MIB = 1024 * 1024


def guarded(limit_s: float, fn: Callable[[], Any]) -> tuple[Any, BaseException | None, float]:
    """(value, error, seconds) of ``fn()``, failing the test if it is still running after ``limit_s``."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # handed to the test
            box["error"] = err

    worker = threading.Thread(target=work, daemon=True)
    start = time.monotonic()
    worker.start()
    worker.join(limit_s)
    assert not worker.is_alive(), f"still running after {limit_s} s"
    return box.get("value"), box.get("error"), time.monotonic() - start


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def standin(tmp_path):
    def start(scenario: Scenario) -> OllamaStandIn:
        return OllamaStandIn(P40_MIB, tmp_path / "gpu-state.json", scenario)

    return start


# --- HTTP answers -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["trickle", "endless"])
def test_a_trickling_or_endless_answer_ends_at_the_total_deadline(standin, bad):
    deadline_s = 2.0  # the call's total deadline
    with standin(Scenario(bad=bad)) as server:
        _, error, seconds = guarded(15, lambda: get_json(f"{server.url}/api/version", deadline_s))
    assert isinstance(error, TooSlow), error
    assert f"no complete answer within {deadline_s:g} s" in str(error)
    assert "bytes of its body arrived" in str(error)  # the server did answer, only too slowly
    # It ended at its deadline, not at a read timeout: the trickle keeps every single read short, so an end
    # well before the deadline or long after it (beyond the watchdog's shutdown and the thread's join) fails.
    slack_s = 1.5
    assert deadline_s - slack_s < seconds < deadline_s + slack_s


@pytest.mark.parametrize("bad", ["huge", "flood"])
def test_an_oversized_answer_is_refused_and_memory_stays_flat(standin, bad):
    before = peak_rss_mib()
    with standin(Scenario(bad=bad)) as server:
        _, error, seconds = guarded(15, lambda: get_json(f"{server.url}/api/version", 10))
    assert isinstance(error, TooLarge), error
    expected = "announces 2147483648 bytes" if bad == "huge" else "larger than 16 MiB"
    assert expected in str(error)
    assert seconds < 5  # refused at the cap, not read until the deadline
    assert peak_rss_mib() - before < 100  # 2 GiB offered, at most the 16 MiB cap (and buffers) kept


def test_trickled_status_line_is_cut_by_the_watchdog():
    """Before any body: one byte of the status line every 0.5 s, each read well within httpx's timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
                if stop.wait(0.5):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/api/version"
        _, error, seconds = guarded(15, lambda: get_json(url, 2))
    finally:
        stop.set()
        listener.close()
        server.join(5)
    assert isinstance(error, TooSlow), error
    assert "no complete answer within 2 s (nothing of its body arrived" in str(error)
    assert seconds < 2 + 1.5


# --- the live suite against a misbehaving Ollama ----------------------------------------------------------

@pytest.fixture
def live_against(run_suite, monkeypatch, tmp_path, standin):
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML_LIVE", str(tmp_path / "gpu-state.json"))

    def run(scenario: Scenario, *args: str):
        with standin(scenario) as server:
            start = time.monotonic()
            result = run_suite("-p", "tests.fakes.nvml_plugin", "--profile", PROFILE, "--ollama-url", server.url,
                               "--docker-host", f"unix://{tmp_path}/no-docker.sock", *args, timeout=150)
            run.seconds = time.monotonic() - start
        assert "Traceback" not in result.stdout and "INTERNALERROR" not in result.stdout, result.stdout[-3000:]
        return result

    return run


def test_a_trickling_api_fails_oll_api_with_the_reason_and_the_run_ends(live_against):
    run = live_against(Scenario(bad="trickle"))
    saved = json.loads((run.run_dir / "evidence" / "ollama-version.json").read_text())
    assert "no complete answer within 2 s" in saved["error"], saved
    assert run.outcomes()["OLL-API"] == {"failed"}
    message = run.messages("OLL-API")
    assert "no complete answer within 2 s" in message and "--ollama-url" in message
    assert run.outcomes()["OLL-MODEL"] == {"skipped"} and "Not evaluated" in run.messages("OLL-MODEL")
    assert all(run.outcomes()[rid] == {"skipped"} for rid in LOAD)
    assert run.ret != 0
    assert live_against.seconds < 30, live_against.seconds  # unbounded, the trickle lasts 40 s


def test_an_endless_model_list_leaves_oll_model_not_evaluated(live_against):
    run = live_against(Scenario(bad="endless", bad_paths=("/api/tags",)), "-m", "quick")
    assert run.outcomes()["OLL-API"] == {"passed"}
    assert run.outcomes()["OLL-MODEL"] == {"skipped"}
    message = run.messages("OLL-MODEL")
    assert "Not evaluated" in message and "no complete answer within 2 s" in message, message
    assert run.ret != 0


def test_a_benchmark_that_trickles_tokens_ends_at_the_generation_deadline(live_against):
    # A token every 1.5 s: each within the 2 s per-read timeout, 8 of them past load_timeout_s (10 s),
    # and under the 8 tokens/s floor once 8 / 8 x 1.25 + 2 = 3.25 s pass after the first.
    run = live_against(Scenario(chunk_s=1.5))
    bench = json.loads((run.run_dir / "evidence" / "benchmark.json").read_text())
    assert bench["error"].startswith("warm-up run 1: still streaming 3.2 s after the first token"), bench["error"]
    assert "under the profile's floor of 8 tokens/s" in bench["error"]
    assert bench["runs"] == []
    assert "failed" in run.outcomes()["OLL-THROUGHPUT"] or run.outcomes()["OLL-THROUGHPUT"] == {"skipped"}
    assert "tokens/s by the wall clock: warm-up run 1 streamed" in run.messages("OLL-THROUGHPUT")
    assert "passed" not in run.outcomes()["OLL-THROUGHPUT"]
    assert run.ret != 0
    assert live_against.seconds < 40, live_against.seconds  # unbounded: 4 runs of 12 s


def test_a_generation_past_num_predict_is_stopped_at_once(live_against):
    """A server that streams on past num_predict (8): stopped after 8 + 4 chunks, not at 10 s a run."""
    run = live_against(Scenario(overrun=10**6))
    bench = json.loads((run.run_dir / "evidence" / "benchmark.json").read_text())
    assert bench["error"] == ("warm-up run 1: the stream went past 12 chunks, more than num_predict (8) allows: "
                              "stopped (a server that does not count tokens)"), bench["error"]
    assert "passed" not in run.outcomes()["OLL-THROUGHPUT"] and run.ret != 0
    assert "went past 12 chunks" in run.messages("OLL-THROUGHPUT")


def test_a_flooded_generate_answer_is_cut_at_the_cap(live_against):
    run = live_against(Scenario(bad="flood", bad_paths=("/api/generate",)))
    bench = json.loads((run.run_dir / "evidence" / "benchmark.json").read_text())
    assert "the answer is larger than 16 MiB" in bench["error"], bench["error"]
    assert "passed" not in run.outcomes()["OLL-THROUGHPUT"]


# --- host commands ----------------------------------------------------------------------------------------

def test_a_host_command_that_prints_for_ever_is_cut_by_size_with_flat_memory():
    local = testinfra.get_host("local://")
    before = peak_rss_mib()
    result, error, seconds = guarded(30, lambda: host.run(local, "yes", 20))
    assert error is None, error
    assert result.cut and len(result.stdout) == host.OUTPUT_MAX_BYTES
    assert seconds < 10  # stopped at the cap (SIGPIPE), not at the 20 s timeout
    # A few copies of the cap (the pipe's chunks, bytes, text), where `yes` prints GiBs in 20 s.
    assert peak_rss_mib() - before < 6 * host.OUTPUT_MAX_BYTES / MIB
    outcome, _, _ = guarded(30, lambda: host.collect(local, ev.DMESG, 20, ("yes",)))
    assert outcome.text is None
    assert outcome.reason.startswith("`yes` printed more than 32 MiB: cut there and not judged")


def test_a_host_command_that_prints_slowly_for_ever_ends_at_its_timeout():
    local = testinfra.get_host("local://")
    outcome, error, seconds = guarded(15, lambda: host.collect(local, ev.DMESG, 2, ("while :; do echo y; sleep 0.1; done",)))
    assert error is None and outcome.text is None
    assert "did not finish within 2 s" in outcome.reason
    assert seconds < 2 + 3


def test_a_host_command_that_leaves_its_output_open_is_abandoned():
    # The shell ends at once, but its background child keeps stdout open: testinfra would read on.
    local = testinfra.get_host("local://")
    outcome, error, seconds = guarded(20, lambda: live.host_command(local, ev.DMESG, 1, ("sleep 9 & echo started",)))
    assert error is None and outcome.text is None
    assert outcome.reason == "`sleep 9 & echo started` did not end within 6 s (its output stayed open)"
    assert seconds < 6 + 1.5


# --- Docker Engine streams (the SDK's own objects stood in for: they only need iteration and close) -------

class EngineStream:
    """A log or exec stream that never ends (``block``: after one chunk it blocks until closed)."""

    def __init__(self, chunk: bytes, block: bool = False) -> None:
        self.chunk, self.block = chunk, block
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        n = 0
        while not self.closed.is_set():
            n += 1
            yield self.chunk.replace(b"#", str(n).encode())
            if self.block:
                self.closed.wait(60)

    def close(self) -> None:
        self.closed.set()


def test_an_endless_container_log_keeps_its_head_and_tail_only():
    stream = EngineStream(b"line #\n")
    asked: dict[str, Any] = {}

    def logs(container_id: str, **kwargs: Any) -> EngineStream:
        asked.update(kwargs)
        return stream

    client = SimpleNamespace(api=SimpleNamespace(logs=logs))
    attrs = {"Id": "c0ffee", "State": {"StartedAt": "2026-11-25T18:02:11.481516172Z"}}
    spec = ContainerSpec(docker_timeout_s=1)
    text, error, seconds = guarded(10, lambda: docker_engine._logs(client, attrs, spec))
    assert error is None, error
    assert seconds < 1 + 1.5 and stream.closed.is_set()
    assert asked["since"] == 1795629731 and asked["follow"] is False
    assert text.startswith("line 1\nline 2\n")
    assert "bytes left out by gpuaccept" in text
    assert text.endswith("gpuaccept stopped reading this log after 1 s: its end is missing ...]\n")
    assert len(text.encode()) < docker_engine.LOG_HEAD_BYTES + docker_engine.LOG_TAIL_BYTES + 1024


@pytest.mark.parametrize("block", [False, True], ids=["prints-for-ever", "blocks"])
def test_docker_exec_output_is_bounded_in_size_and_time(block):
    stream = EngineStream(b"y\n" * 4096, block=block)
    client = SimpleNamespace(api=SimpleNamespace(exec_create=lambda *a, **k: {"Id": "e1"},
                                                 exec_start=lambda *a, **k: stream))
    text, error, seconds = guarded(10, lambda: docker_engine.exec_text(client, "c0ffee", ["nvidia-smi", "-L"], 1))
    assert error is None, error
    assert stream.closed.is_set() and seconds < 1 + 1.5
    if block:
        assert text.endswith("gpuaccept stopped reading after 1 s: the output is incomplete ...]\n")
    else:
        assert text.endswith("gpuaccept cut this output at 1 MiB ...]\n")
        assert len(text) < docker_engine.EXEC_MAX_BYTES + 200


@pytest.mark.docker
def test_a_container_flooding_its_log_is_read_within_the_deadline_on_a_real_engine(engines, monkeypatch):
    """The real SDK stream: 300,000 lines since the container's start, read for docker_timeout_s at most.

    On the engine without the toolkit: the other container tests empty the toolkit engine as they start."""
    from tests.engine.image import IMAGE

    client = engines["bare"].client()
    name = f"gpuaccept-flood-{uuid.uuid4().hex[:8]}"  # its own name: other tests' containers are left alone
    flood = "echo first-line; i=0; while [ $i -lt 300000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; sleep 60"
    container = client.containers.run(IMAGE, name=name, entrypoint=["sh", "-c", flood], detach=True)
    probe = uuid.uuid4().hex
    monkeypatch.setattr(docker_engine, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=probe)))
    try:
        time.sleep(3)
        spec = ContainerSpec(name=name, docker_host=engines["bare"].base_url, docker_timeout_s=3)
        value, error, seconds = guarded(120, lambda: docker_engine.collect_docker(spec))
        assert error is None, error
        files, absent, _ = value
        log = files[ev.OLLAMA_LOG]
        assert log.startswith("first-line\nline-0-")
        assert len(log.encode()) < docker_engine.LOG_HEAD_BYTES + docker_engine.LOG_TAIL_BYTES + 1024
        assert "bytes left out by gpuaccept" in log
        # Probe, inspect, logs and exec each within 3 s; the probe container is gone afterwards.
        assert seconds < 6 * 3 + 5, seconds
        assert "could not select device driver" in json.loads(files[ev.DOCKER_PROBE])["error"]
        assert not client.containers.list(all=True, filters={"name": f"gpuaccept-probe-{probe[:12]}"})
    finally:
        container.remove(force=True)
