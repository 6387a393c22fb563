"""Always a report, never a false one: runs stopped by a signal or a kill, and run folders that cannot be written.

The real suite runs in a subprocess. A slow step holds it where the signal is to land: a host command that
sleeps (session start, live, with the simulated NVML), the Ollama stand-in streaming slowly (the
benchmark), or a plugin that sleeps inside one test (the tests). Before each, a complete replay run makes
``reports/latest``, which must still point at it afterwards. Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import HOSTS, ROOT, hermetic_env

NVML = HOSTS / "dual-p40" / "nvml.json"
STANDIN_PROFILE = str(ROOT / "tests" / "data" / "profiles" / "dual-p40-standin.toml")

# A test that takes its time: says it has started, then sleeps (ended by the signal, or by the deadline).
SLOW_TEST_PLUGIN = """
import os, time

def pytest_runtest_call(item):
    if item.nodeid.endswith(os.environ["SLOW_TEST"]):
        with open(os.environ["SLOW_MARK"], "w") as mark:
            mark.write("started")
        time.sleep(60)
"""

# A host command that hangs: writes its PID (kept by exec) so the test can end it, then sleeps.
HANGING_LSPCI = """#!/bin/sh
echo $$ > "$SLOW_MARK"
exec sleep 60
"""


def _folders(reports: Path) -> set[Path]:
    return {p for p in reports.iterdir() if p.is_dir() and not p.is_symlink()} if reports.exists() else set()


def _command(reports: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", str(ROOT / "acceptance"), f"--rootdir={ROOT}", "-c",
            str(ROOT / "pyproject.toml"), "--report-dir", str(reports), "-p", "tests.fakes.nvml_plugin", *args]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "slow_test.py").write_text(SLOW_TEST_PLUGIN)
    return {**os.environ, **hermetic_env(tmp_path), "PYTHONPATH": os.pathsep.join([str(ROOT), str(plugins)]),
            "SLOW_MARK": str(tmp_path / "slow-step-started"), **extra}


def complete_run(tmp_path: Path, reports: Path) -> Path:
    """A replay that runs to its end: it becomes reports/latest."""
    before = _folders(reports)
    done = subprocess.run(_command(reports, "--replay", str(HOSTS / "dual-p40")), cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:]
    (folder,) = _folders(reports) - before
    assert (reports / "latest").resolve() == folder.resolve()
    return folder


def stopped_run(tmp_path: Path, reports: Path, args: list[str], sig: int, env: dict[str, str] | None = None,
                ready=None) -> tuple[int, str, Path]:
    """Start the suite, wait for its slow step, send ``sig``; the exit status, the output and the new folder."""
    mark = tmp_path / "slow-step-started"
    mark.unlink(missing_ok=True)
    before = _folders(reports)
    proc = subprocess.Popen(_command(reports, *args), cwd=tmp_path, env=env or _env(tmp_path), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (ready() if ready else mark.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.communicate(timeout=30)[0]
                pytest.fail(f"the slow step was never reached (exit {proc.returncode}):\n{out[-3000:]}")
            time.sleep(0.1)
        time.sleep(0.3)  # inside the slow step, not on its first line
        proc.send_signal(sig)
        out = proc.communicate(timeout=90)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        _end_hanging_command(mark)
    (folder,) = _folders(reports) - before
    return proc.returncode, out, folder


def _end_hanging_command(mark: Path) -> None:
    """The hanging lspci runs in its own process group (under `timeout`): end it by the PID it wrote."""
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(mark.read_text().strip()), signal.SIGKILL)


class _Page(HTMLParser):
    """report.html as a browser would see its static part: text, and the class attributes of elements."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.text: list[str] = []
        self.classes: list[str] = []
        self.title = ""
        self._in_title = False
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        self._in_title = tag == "title"
        self.classes += [v or "" for k, v in attrs if k == "class"]

    def handle_data(self, data):
        if self._in_title:
            self.title += data
            self._in_title = False
        self.text.append(data)

    def body(self) -> str:
        return " ".join(" ".join(self.text).split())


def assert_interrupted(rc: int, out: str, folder: Path, reports: Path, previous: Path, reason: str, phase: str) -> dict:
    assert rc == 2, out[-3000:]
    assert "Traceback" not in out and "INTERNALERROR" not in out, out[-3000:]
    told = [line for line in out.splitlines() if line.startswith("gpuaccept verdict: INTERRUPTED by ")]
    assert len(told) == 1 and reason in told[0] and "reports/latest still points at" in told[0], out[-3000:]
    record = json.loads((folder / "summary.json").read_text())
    assert record["verdict"] == "INTERRUPTED" and record["run"]["exit_status"] == 2
    assert reason in record["interruption"]["reason"] and phase in record["interruption"]["phase"], record
    page = _Page(folder / "report.html")
    assert page.title.startswith("INTERRUPTED") or "GPU acceptance: INTERRUPTED" in page.title, page.title
    assert "gpuaccept-unfinished" in page.classes
    assert "INTERRUPTED: this run did not finish, it is not an acceptance verdict" in page.body()
    assert (reports / "latest").resolve() == previous.resolve(), "an interrupted run became reports/latest"
    return record


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_collecting_evidence_at_session_start(tmp_path, sig):
    reports = tmp_path / "reports"
    previous = complete_run(tmp_path, reports)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lspci").write_text(HANGING_LSPCI)
    (bin_dir / "lspci").chmod(0o755)
    env = _env(tmp_path, PATH=f"{bin_dir}{os.pathsep}{hermetic_env(tmp_path)['PATH']}", GPUACCEPT_FAKE_NVML=str(NVML))
    rc, out, folder = stopped_run(tmp_path, reports, ["-p", "tests.fakes.nvml_plugin", "-m", "quick", "--collect-timeout",
                                                      "90", "--docker-host", f"unix://{tmp_path}/none.sock"], sig, env)
    record = assert_interrupted(rc, out, folder, reports, previous, signal.Signals(sig).name,
                                "at session start, collecting the evidence")
    assert record["requirements"] == {} and record["run"]["mode"] == "live"
    # pytest-html never got to write its report: the stand-in page says what happened
    assert "Stopped: " in _Page(folder / "report.html").body()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_during_the_tests(tmp_path, sig):
    reports = tmp_path / "reports"
    previous = complete_run(tmp_path, reports)
    env = _env(tmp_path, SLOW_TEST="test_pcie_width[gpu0]")
    rc, out, folder = stopped_run(tmp_path, reports, ["-p", "slow_test", "--replay", str(HOSTS / "dual-p40")], sig, env)
    record = assert_interrupted(rc, out, folder, reports, previous, signal.Signals(sig).name,
                                "running the tests (at acceptance/test_pcie.py::test_pcie_width[gpu0])")
    # What was judged before the signal is kept, and nothing after it is claimed.
    assert record["requirements"]["GPU-COUNT"]["outcome"] == "pass"
    cut = record["requirements"]["PCIE-WIDTH"]
    assert cut["outcome"] == "not_evaluated" and [c["id"] for c in cut["cases"]] == ["test_pcie_width[gpu0]"]
    assert "interrupted" in cut["cases"][0]["message"]
    assert "PWR-LIMIT" not in record["requirements"]
    page = (folder / "report.html").read_text()
    # pytest-html's own report, with the banner before the requirement table
    assert "data-jsonblob" in page and page.index("gpuaccept-unfinished") < page.index("<table style=")
    # The interrupted folder is sealed as it was left: verify passes on it.
    verify = subprocess.run([sys.executable, "-m", "gpuaccept", "verify", str(folder)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout


def test_sigterm_during_the_benchmark(tmp_path, monkeypatch):
    from tests.fakes.ollama_server import OllamaStandIn, Scenario
    from tests.test_load_tier import P40_MIB

    reports = tmp_path / "reports"
    previous = complete_run(tmp_path, reports)
    state = tmp_path / "gpu-state.json"
    env = _env(tmp_path, GPUACCEPT_FAKE_NVML=str(NVML), GPUACCEPT_FAKE_NVML_LIVE=str(state))

    def generating() -> bool:  # the stand-in marks the GPUs busy while it streams tokens
        with contextlib.suppress(OSError, ValueError):
            return any(g["util_pct"] > 0 for g in json.loads(state.read_text())["gpus"])
        return False

    with OllamaStandIn(P40_MIB, state, Scenario(chunk_s=0.5)) as standin:
        rc, out, folder = stopped_run(tmp_path, reports, ["-p", "tests.fakes.nvml_plugin", "--profile", STANDIN_PROFILE,
                                                          "--ollama-url", standin.url, "--docker-host",
                                                          f"unix://{tmp_path}/none.sock"], signal.SIGTERM, env,
                                      ready=generating)
    assert_interrupted(rc, out, folder, reports, previous, "SIGTERM", "benchmark")
    assert not (folder / "evidence" / "benchmark.json").exists()


def test_a_killed_run_leaves_a_folder_that_says_it_did_not_finish(tmp_path):
    reports = tmp_path / "reports"
    previous = complete_run(tmp_path, reports)
    env = _env(tmp_path, SLOW_TEST="test_pcie_width[gpu0]")
    rc, out, folder = stopped_run(tmp_path, reports, ["-p", "slow_test", "--replay", str(HOSTS / "dual-p40")],
                                  signal.SIGKILL, env)
    assert rc == -signal.SIGKILL
    record = json.loads((folder / "summary.json").read_text())
    assert record["verdict"] == "INTERRUPTED" and record["run"]["exit_status"] == 2
    assert record["interruption"]["reason"].startswith("not finished") and record["requirements"] == {}
    assert "running the tests" in record["interruption"]["phase"]
    page = _Page(folder / "report.html")
    assert "gpuaccept-unfinished" in page.classes and "did not finish" in page.body()
    assert not (folder / "MANIFEST.sha256").exists()
    assert (reports / "latest").resolve() == previous.resolve()
    verify = subprocess.run([sys.executable, "-m", "gpuaccept", "verify", str(folder)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert verify.returncode != 0


def _one_clear_line(out: str) -> None:
    assert "Traceback" not in out and "INTERNALERROR" not in out, out[-3000:]


def run_replay(tmp_path: Path, reports: Path, evidence: Path = HOSTS / "dual-p40") -> subprocess.CompletedProcess:
    return subprocess.run(_command(reports, "--replay", str(evidence)), cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=180)


def test_a_report_dir_that_is_a_file_is_a_usage_error(tmp_path):
    target = tmp_path / "reports"
    target.write_text("not a folder")
    done = run_replay(tmp_path, target)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    _one_clear_line(done.stdout + done.stderr)
    assert f"--report-dir {target}: cannot create a run folder there" in done.stderr
    assert target.read_text() == "not a folder"


@contextlib.contextmanager
def tmpfs(where: Path, options: str):
    where.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                                 text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"cannot mount a tmpfs here: {err}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def test_a_read_only_report_dir_is_a_usage_error(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as reports:
        done = run_replay(tmp_path, reports)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    _one_clear_line(done.stdout + done.stderr)
    assert "cannot create a run folder there: Read-only file system" in done.stderr


# 4 kB: the run folder is made, its first record is not (it is removed again); 64 kB: room for the
# run folder's first record, not for the evidence (about 80 kB) at session start.
@pytest.mark.parametrize("size", ["4k", "64k"])
def test_a_full_disk_at_the_start_is_a_usage_error(tmp_path, size):
    with tmpfs(tmp_path / "full", f"size={size}") as reports:
        done = run_replay(tmp_path, reports)
        left = _folders(reports)
        records = [json.loads((folder / "summary.json").read_text()) for folder in left]
        assert not (reports / "latest").exists()
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    _one_clear_line(done.stdout + done.stderr)
    assert (done.stdout + done.stderr).count("cannot write the run folder") == 1, done.stderr
    assert "ERROR: cannot write the run folder: " in done.stderr and "No space left on device" in done.stderr
    assert len(left) == (0 if size == "4k" else 1)
    assert all(r["verdict"] != "ACCEPTED" and r["run"]["exit_status"] != 0 for r in records)


def test_a_disk_that_fills_while_the_report_is_written(tmp_path):
    # Room for the evidence and junit.xml (about 120 kB without the benchmark's and the diag tier's samples),
    # not for report.html.
    quick = tmp_path / "quick-evidence"
    shutil.copytree(HOSTS / "dual-p40", quick, ignore=shutil.ignore_patterns("benchmark.json", "diag.json"))
    with tmpfs(tmp_path / "full", "size=256k") as reports:
        done = run_replay(tmp_path, reports, quick)
        (folder,) = _folders(reports)
        record = json.loads((folder / "summary.json").read_text())
        page = _Page(folder / "report.html")
        assert not (reports / "latest").exists()
    out = done.stdout + done.stderr
    assert done.returncode == 7, out[-3000:]
    _one_clear_line(out)
    lines = [line for line in out.splitlines() if "could not be written" in line]
    assert len(lines) == 1 and "No space left on device" in lines[0], out[-3000:]
    assert record["run"]["exit_status"] == 7 and "No space left on device" in record["record_error"]
    # No partial pytest-html page that looks like a finished run: the stand-in says what happened.
    assert "NOT RECORDED: this run's folder could not be written" in page.body()
