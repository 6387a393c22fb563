"""A stand-in Ollama server: the subset of the API the suite uses, answers shaped like the real ones.

Shapes follow the captures in tests/data/captures/ollama-api (``/api/tags``, ``/api/ps``, streamed and
final ``/api/generate`` objects, ``{"error": ...}``), so the official ``ollama`` client parses them.
It "loads" a model onto the simulated GPUs by Ollama's rule (domain facts §5): one card when the model
fits one and spreading is off; every card with ``OLLAMA_SCHED_SPREAD`` or when it does not fit. As it
loads, runs and unloads, it writes the GPUs' state (runner process memory, utilization, link,
temperature, power) to the file the simulated NVML reads, so the suite's sampler sees the placement.
Scenarios: spread or not, CPU spill, slow generation, HTTP 500s, a stream that stalls, a missing model,
and a misbehaving server on chosen paths (``bad``): one that trickles its answer a byte at a time, never
ends its body, announces a 2 GiB body, or floods an endless one.

As Ollama does, it streams at the rate its durations report (``total_duration`` is the time the request
took), reloads the runner when a request's ``num_ctx`` differs from the loaded one's (server/sched.go), and
logs ``offloaded N/65 layers to GPU`` for each load (``log``). The runner's /proc entry (name, command
line, cgroup) is written under ``proc/`` beside the GPU state file while the model is loaded, for the
suite's tie of GPU memory to the Ollama container. Faults of what was benchmarked: a reload during a run,
per-process memory NVML cannot report, a runner outside the container's cgroup, an unrelated process that
appears with the model, durations that disagree with the wall clock, text that differs between runs,
and /api/ps claiming the whole model on GPU while layers stayed on the CPU.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GIB = 1024
RUNNER_PID = 48213  # the host PID NVML reports for the model runner (constructed)
# qwen3:32b Q4_K_M: about 20 GB on disk (the Ollama library's listing); loaded with a 4k context it
# needs about 20.3 GiB (weights, KV cache, compute buffers). Constructed: no capture holds these.
QWEN3_32B = {"name": "qwen3:32b", "model": "qwen3:32b", "modified_at": "2026-11-20T09:12:44.118235907Z",
             "size": 20_202_000_000, "digest": hashlib.sha256(b"qwen3:32b").hexdigest(),
             "details": {"parent_model": "", "format": "gguf", "family": "qwen3", "families": ["qwen3"],
                         "parameter_size": "32.8B", "quantization_level": "Q4_K_M"}}
LOADED_MIB = 20.3 * GIB  # at a 4096-token context
KV_MIB_PER_4K = 1024.0  # qwen3:32b's KV cache: 64 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes x 4096
LAYERS = 65  # 64 blocks and the output layer, as `offloaded 65/65 layers to GPU` counts them
CONTAINER_ID = hashlib.sha256(b"ollama-standin").hexdigest()  # constructed
INTRUDER_PID = 51234  # an unrelated process (another user's job) that starts with the model


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Scenario:
    spread: bool = True  # OLLAMA_SCHED_SPREAD as the server runs with it
    version: str = "0.32.1"
    models: list[dict[str, Any]] = field(default_factory=lambda: [QWEN3_32B])
    tokens_per_s: float = 10.9  # what eval_duration says (about 64 % of the 2x P40 ceiling)
    cpu_mib: float = 0.0  # part of the model left on the CPU (CPU spill)
    fail_generate: int = 0  # HTTP status for every prompt (e.g. 500)
    stall_after: int | None = None  # chunks before the stream stalls
    load_ns: int = 9_800_000_000
    pcie_gen_under_load: int = 3
    temp_c: float = 67.0
    power_w: float = 160.0
    throttle: int = 0
    chunk_s: float | None = None  # wall time between streamed tokens (None: 1 / tokens_per_s)
    default_ctx: int = 2048  # the runner's num_ctx when a load names none
    reload_on_run: int = 0  # this prompted generate (1 = the first warm-up run) finds its runner gone: reload
    reload_s: float = 0.6
    process_mib_unknown: bool = False  # NVML gives no per-process memory (NVML_VALUE_NOT_AVAILABLE)
    runner_name: str = "llama-server"  # Ollama 0.30+; "ollama" (with `runner` in the command line) before
    runner_cgroup: str | None = None  # None: the container's own docker scope
    container_id: str = CONTAINER_ID
    intruder_mib: float = 0.0  # an unrelated process that appears on GPU1 with the model
    clock_scale: float = 1.0  # reported durations = the real ones x this (1: consistent with the wall clock)
    vary_text_run: int = 0  # this prompted generate changes one token of its text (a corrupted run)
    ps_claims_all: bool = False  # /api/ps says size_vram == size even with layers on the CPU (0.30 fallback)
    bad: str = ""  # "trickle", "endless", "huge" (Content-Length 2 GiB) or "flood" (no length, as fast as it goes)
    bad_paths: tuple[str, ...] = ("/api/version",)
    trickle_s: float = 1.0  # between two bytes of a trickled answer: less than any per-read timeout
    overrun: int = 0  # tokens streamed past num_predict: a server that does not count them (real Ollama never)
    answers: str = "right"  # "right", "wrong" (17 x 23 = 371) or "gibberish" (every text: a stuck token)
    think_block: bool = False  # the reply begins with an empty <think></think>, as qwen3 gave before think=false


# What the model replies to the questions it knows (its own table: a question the suite asks that is not here
# gets "I do not know.", so a changed question fails a test instead of passing by construction).
KNOWN = {
    "What is 17 multiplied by 23? Reply with the number only.": "391",
    "List the whole numbers from 1 to 12 in order, separated by commas. Reply with the list only.":
        "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12",
    "What is the capital city of France? Reply with one word.": "Paris",
    "Spell the word 'stressed' backwards. Reply with the reversed word only.": "desserts",
}
# A stuck decoder's output: the repeated token of ggml-org/llama.cpp#14228 (a Command-A finetune, 3x P40,
# split mode row): "Tạng Tạng Tạng ..."
STUCK_TOKEN = " Tạng"


class OllamaStandIn:
    def __init__(self, gpu_total_mib: list[float], state_file: Path, scenario: Scenario,
                 visible: list[int] | None = None, port: int = 0, address: str = "127.0.0.1") -> None:
        """``visible``: host indexes of the GPUs this server was given (all by default)."""
        self.gpu_total = gpu_total_mib
        self.visible = list(range(len(gpu_total_mib))) if visible is None else visible
        self.state_file = state_file
        self.scenario = scenario
        self.loaded: dict[int, float] | None = None  # GPU index -> MiB of the model
        self.ctx = 0  # the loaded runner's num_ctx
        self.prompted = 0  # generate calls with a prompt so far
        self.log: list[str] = []  # the server log's load lines
        self.echo_log = False  # print them too, as a container's server does for `docker logs`
        self.lock = threading.Lock()
        self.closing = threading.Event()  # ends the answers that would otherwise never end
        self.server = ThreadingHTTPServer((address, port), self._handler())
        self.url = f"http://{address}:{self.server.server_address[1]}"
        self._write(busy=False)

    def __enter__(self) -> OllamaStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    # --- placement, as Ollama decides it --------------------------------------------------------
    def size_mib(self) -> float:
        return LOADED_MIB + (self.ctx - 4096) / 4096 * KV_MIB_PER_4K

    def load(self, ctx: int) -> None:
        """Under the lock: start a runner with this context, place it, log it, give it a /proc entry."""
        self.ctx = ctx
        self.loaded = self.place()
        on_gpu = sum(self.loaded.values())
        layers = round(LAYERS * min(1.0, on_gpu / self.size_mib())) if on_gpu else 0
        self.log.append(f'time={now()} level=INFO source=server.go:1290 msg="llama-server: load_tensors: '
                        f'offloaded {layers}/{LAYERS} layers to GPU"')
        if self.echo_log:
            print(self.log[-1], flush=True)
        self._proc(loaded=True)
        self._write(busy=False)

    def _proc(self, loaded: bool) -> None:
        s = self.scenario
        root = self.state_file.parent / "proc"
        cgroup = s.runner_cgroup if s.runner_cgroup is not None else f"0::/system.slice/docker-{s.container_id}.scope"
        entries = {RUNNER_PID: (s.runner_name, f"/usr/lib/ollama/{s.runner_name} --model /root/.ollama/models/"
                                               f"blobs/sha256-{QWEN3_32B['digest'][:12]} --port 38141", cgroup),
                   INTRUDER_PID: ("python3", "python3 train.py", "0::/user.slice/user-1000.slice/session-3.scope")}
        for pid, (comm, cmdline, group) in entries.items():
            folder = root / str(pid)
            live = loaded and (pid == RUNNER_PID or s.intruder_mib)
            if live:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "comm").write_text(comm + "\n")
                (folder / "cmdline").write_text(cmdline.replace(" ", "\0") + "\0")
                (folder / "cgroup").write_text(group + "\n")
            else:
                for name in ("comm", "cmdline", "cgroup"):
                    (folder / name).unlink(missing_ok=True)

    def place(self) -> dict[int, float]:
        if not self.visible:  # no GPU: Ollama runs the model on the CPU
            return {}
        on_gpu = self.size_mib() - self.scenario.cpu_mib
        free = {i: self.gpu_total[i] - 400 for i in self.visible}  # Ollama keeps a minimum free per GPU
        first = self.visible[0]
        if not self.scenario.spread and on_gpu <= free[first]:
            return {first: on_gpu}
        if on_gpu > sum(free.values()):  # does not fit: the rest stays on the CPU
            on_gpu = sum(free.values())
        return dict.fromkeys(self.visible, on_gpu / len(self.visible))

    def _write(self, busy: bool) -> None:
        gpus = []
        for i in range(len(self.gpu_total)):
            mib = (self.loaded or {}).get(i, 0.0)
            active = busy and mib > 0
            processes = [[RUNNER_PID, None if self.scenario.process_mib_unknown else mib]] if mib else []
            if self.scenario.intruder_mib and self.loaded and i == len(self.gpu_total) - 1:
                processes.append([INTRUDER_PID, self.scenario.intruder_mib])
            used = mib + sum(m or 0 for pid, m in processes if pid == INTRUDER_PID)
            gpus.append({"index": i, "mem_used_mib": used, "processes": processes,
                         "util_pct": (95.0 / len(self.loaded)) if active and self.loaded else 0.0,
                         "pcie_gen": self.scenario.pcie_gen_under_load if active else 1,
                         "temp_c": self.scenario.temp_c if active else 31.0,
                         "power_w": self.scenario.power_w if active else 51.0,
                         "throttle": self.scenario.throttle if active else 0})
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"gpus": gpus}))
        tmp.replace(self.state_file)

    # --- HTTP ---------------------------------------------------------------------------------------
    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                s = standin.scenario
                if s.bad and self.path in s.bad_paths:
                    standin.misbehave(self)
                elif self.path == "/api/version":
                    self._json(200, {"version": s.version})
                elif self.path == "/api/tags":
                    self._json(200, {"models": s.models})
                elif self.path == "/api/ps":
                    self._json(200, {"models": standin.ps()})
                else:
                    self._json(404, {"error": "404 page not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if standin.scenario.bad and self.path in standin.scenario.bad_paths:
                    standin.misbehave(self)
                elif self.path == "/api/generate":
                    standin.generate(self, body)
                elif self.path == "/api/pull":
                    standin.pull(self, body)
                else:
                    self._json(404, {"error": "404 page not found"})

        return Handler

    def misbehave(self, h: BaseHTTPRequestHandler) -> None:
        """A 200 whose body never completes in time, or is far too large; ends when the client goes away."""
        s = self.scenario
        body = json.dumps({"version": s.version, "models": []}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        if s.bad == "trickle":
            h.send_header("Content-Length", str(len(body)))
        elif s.bad == "huge":
            h.send_header("Content-Length", str(2 * 1024**3))
        h.end_headers()
        try:
            if s.bad == "trickle":
                for i in range(len(body)):
                    h.wfile.write(body[i:i + 1])
                    h.wfile.flush()
                    if self.closing.wait(s.trickle_s):
                        return
            elif s.bad == "endless":  # a body with no length that never ends: a little every 0.2 s
                h.wfile.write(body[:-1])
                while not self.closing.wait(0.2):
                    h.wfile.write(b" " * 64)
                    h.wfile.flush()
            else:  # huge, flood: as fast as the socket takes it
                block = b" " * (1024 * 1024)
                for _ in range(2048):
                    if self.closing.is_set():
                        return
                    h.wfile.write(block)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def model(self, name: str) -> dict[str, Any] | None:
        return next((m for m in self.scenario.models if m["model"] == name), None)

    def ps(self) -> list[dict[str, Any]]:
        if self.loaded is None:
            return []
        m = self.model("qwen3:32b") or QWEN3_32B
        size = int(self.size_mib() * 2**20)
        vram = size if self.scenario.ps_claims_all else \
            int(min(sum(self.loaded.values()), self.size_mib() - self.scenario.cpu_mib) * 2**20)
        return [{**m, "size": size, "size_vram": vram, "context_length": self.ctx,
                 "expires_at": "2026-11-25T20:00:00.000000000Z"}]

    def generate(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        s = self.scenario
        name = body.get("model", "")
        if self.model(name) is None:
            h._json(404, {"error": f"model '{name}' not found"})
            return
        base = {"model": name, "created_at": now()}
        started = time.monotonic()
        ctx = int((body.get("options") or {}).get("num_ctx") or s.default_ctx)
        if not body.get("prompt"):
            if body.get("keep_alive") == 0:
                with self.lock:
                    self.loaded = None
                    self._proc(loaded=False)
                    self._write(busy=False)
                h._json(200, {**base, "response": "", "done": True, "done_reason": "unload"})
                return
            with self.lock:
                self.load(ctx)
            h._json(200, {**base, "response": "", "done": True, "done_reason": "load",
                          "total_duration": s.load_ns + 1_000_000, "load_duration": s.load_ns})
            return
        if s.fail_generate:
            h._json(s.fail_generate, {"error": "llama runner process has terminated: exit status 2"})
            return
        with self.lock:
            self.prompted += 1
            run = self.prompted
            # A runner with another context is replaced (server/sched.go needsReload); so is a lost one.
            reload = self.loaded is None or ctx != self.ctx or run == s.reload_on_run
            if reload:
                time.sleep(s.reload_s)
                self.load(ctx)
            self._write(busy=True)
        load_s = time.monotonic() - started
        n = int((body.get("options") or {}).get("num_predict", 64))
        time.sleep(0.02)  # prompt evaluation
        h.send_response(200)
        h.send_header("Content-Type", "application/x-ndjson")
        h.end_headers()
        tokens = self._reply(body.get("prompt", ""), run, n)
        n = len(tokens)
        try:
            for i in range(n + s.overrun):
                if s.stall_after is not None and i == s.stall_after:
                    time.sleep(3600)  # the client's read timeout must end this, not the server
                token = tokens[i] if i < n else f" w{i}"
                h.wfile.write(json.dumps({**base, "created_at": now(), "response": token, "done": False}).encode()
                              + b"\n")
                h.wfile.flush()
                time.sleep(s.chunk_s if s.chunk_s is not None else 1 / s.tokens_per_s)
            scale = s.clock_scale * 1e9
            final = {**base, "created_at": now(), "response": "", "done": True,
                     "done_reason": "stop" if "Reply with" in body.get("prompt", "") else "length",
                     "total_duration": int((time.monotonic() - started) * scale), "load_duration": int(load_s * scale),
                     "prompt_eval_count": 41, "prompt_eval_duration": int(0.02 * scale), "eval_count": n,
                     "eval_duration": int(n / s.tokens_per_s * scale)}
            h.wfile.write(json.dumps(final).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self.lock:
                self._write(busy=False)

    def _reply(self, prompt: str, run: int, n: int) -> list[str]:
        """The streamed tokens: a known question's answer (then the model stops), else the benchmark's text."""
        s = self.scenario
        if s.answers == "gibberish":
            # A stuck decoder runs on to num_predict; past the benchmark's own length (8 here, already past
            # the checks' REPEAT_LIMIT) the words change nothing but the seconds each self-test waits.
            return [STUCK_TOKEN] * min(n, 8)
        if prompt in KNOWN or "Reply with" in prompt:  # a question, known or not
            answer = KNOWN.get(prompt, "I do not know.")
            if s.answers == "wrong" and answer == "391":
                answer = "371"
            text = ("<think>\n\n</think>\n\n" if s.think_block else "") + answer
            return [text[i:i + 6] for i in range(0, len(text), 6)][:n]  # a few characters a token
        return [f" x{i}" if run == s.vary_text_run and i == n // 2 else f" w{i}" for i in range(n)]

    def pull(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        name = body.get("model") or body.get("name", "")
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        h.send_response(200)
        h.send_header("Content-Type", "application/x-ndjson")
        h.end_headers()
        for line in ({"status": "pulling manifest"},
                     {"status": f"pulling {digest[7:19]}", "digest": digest, "total": 20_202_000_000},
                     {"status": f"pulling {digest[7:19]}", "digest": digest, "total": 20_202_000_000,
                      "completed": 20_202_000_000},
                     {"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}):
            h.wfile.write(json.dumps(line).encode() + b"\n")
        if self.model(name) is None:
            self.scenario.models.append({**QWEN3_32B, "name": name, "model": name})


def main(argv: list[str] | None = None) -> None:
    """Run as a container's server: GPUs from the container's own ``nvidia-smi -L``, spreading from its
    ``OLLAMA_SCHED_SPREAD``, both as Ollama would see them; GPU state written for the host's NVML stand-in."""
    import argparse
    import os
    import re
    import signal
    import subprocess
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--host-gpus", required=True, help="UUID=MiB,... in the host's NVML order")
    parser.add_argument("--port", type=int, default=11434)
    args = parser.parse_args(argv)
    host = [item.split("=") for item in args.host_gpus.split(",")]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        listing = ""  # no nvidia-smi: the container was given no GPU
    visible = [i for i, (uuid, _) in enumerate(host) if f"UUID: {uuid})" in listing]
    spread = os.environ.get("OLLAMA_SCHED_SPREAD", "").strip() not in ("", "0", "f", "F", "false", "FALSE", "False")
    try:  # the container's own id: docker bind-mounts /etc/hostname from containers/<id>/
        mounts = Path("/proc/self/mountinfo").read_text()
    except OSError:
        mounts = ""
    found = re.search(r"/containers/([0-9a-f]{64})/", mounts)
    scenario = Scenario(spread=spread, container_id=found.group(1)) if found else Scenario(spread=spread)
    server = OllamaStandIn([float(m) for _, m in host], Path(args.state), scenario,
                           visible=visible, port=args.port, address="0.0.0.0")
    server.echo_log = True
    stamp = now()
    env = f"CUDA_VISIBLE_DEVICES:{os.environ.get('CUDA_VISIBLE_DEVICES', '')} OLLAMA_SCHED_SPREAD:{str(spread).lower()}"
    print(f'time={stamp} level=INFO source=routes.go:1311 msg="server config" env="map[{env}]"', flush=True)
    print(f'time={stamp} level=INFO source=routes.go:1364 msg="Listening on [::]:{args.port} '
          f'(version {server.scenario.version})"', flush=True)
    for n in range(len(visible)):  # numbered inside the container, as Ollama 0.30+ logs them
        print(f'time={stamp} level=INFO source=types.go:42 msg="inference compute" id={n} filter_id={n} '
              f'library=CUDA compute=6.1 name=CUDA{n} description="Tesla P40" libdirs=ollama,cuda_v12', flush=True)
    # As PID 1 the default SIGTERM action is ignored: stop on it as Ollama does, or `docker stop` waits.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.server.serve_forever()


if __name__ == "__main__":
    main()
