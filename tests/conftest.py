"""Helpers for the suite's own tests: run the real acceptance suite in a subprocess and read its JUnit."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOSTS = ROOT / "fixtures" / "hosts"
CAPTURES = Path(__file__).parent / "data" / "captures"

pytest_plugins = ["pytester"]

# The self-tests spend most of their time in subprocesses and Docker Engines, and a third of it waiting on
# stand-ins that stream tokens and soak in real time: they run on one xdist worker per CPU core and one more
# (on 2 cores: 3 workers 5:07, 2 workers 6:28, 4 workers 5:42) unless the command line says otherwise
# (-n N, -n 0 for one process, or -p no:xdist).
WORKERS_ENV = "GPUACCEPT_SELFTEST_WORKERS"  # a number of workers instead of one per core


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    option = config.option
    if getattr(option, "numprocesses", None) is not None or getattr(option, "dist", "no") != "no" \
            or option.collectonly or getattr(option, "usepdb", False) or getattr(option, "distload", False):
        return
    wanted = os.environ.get(WORKERS_ENV, "")
    option.numprocesses = int(wanted) if wanted.isdigit() else max(2, os.cpu_count() or 1) + 1


@pytest.fixture(scope="session", autouse=True)
def _compiled_once(tmp_path_factory: pytest.TempPathFactory):
    """The suite runs in a few hundred subprocesses: each would compile every module again where
    PYTHONDONTWRITEBYTECODE is set. Their bytecode goes to one cache of this session's (never into the
    checkout or site-packages), so each module compiles once per worker."""
    cache = tmp_path_factory.getbasetemp() / "pycache"
    saved = {name: os.environ.get(name) for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _one_test_at_a_time_on_the_engines(request: pytest.FixtureRequest):
    """Tests on the private Docker Engines empty them of every container: whichever worker (or a second
    `pytest tests/` sharing the engines) runs one, holds the engines' lock for the whole test."""
    if "engines" not in request.fixturenames:
        yield
        return
    engines = request.getfixturevalue("engines")
    lock = Path(engines["toolkit"].folder).parent / "selftests.lock"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Case:
    name: str
    requirement: str | None
    outcome: str  # passed, failed, skipped, error
    message: str
    properties: dict


@dataclass
class SuiteRun:
    ret: int
    stdout: str
    stderr: str
    run_dir: Path | None
    cases: list[Case]

    def outcomes(self) -> dict[str, set[str]]:
        """requirement ID -> the set of outcomes of its cases."""
        result: dict[str, set[str]] = {}
        for case in self.cases:
            result.setdefault(case.requirement or "?", set()).add(case.outcome)
        return result

    def failing(self) -> set[str]:
        return {rid for rid, outs in self.outcomes().items() if "failed" in outs or "error" in outs}

    def messages(self, requirement: str) -> str:
        return "\n".join(c.message for c in self.cases if c.requirement == requirement)


def read_junit(path: Path) -> list[Case]:
    cases = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = tc.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (node.get("message") or "") + "\n" + (node.text or "")
        cases.append(Case(tc.get("name"), props.get("requirement"), outcome, message, props))
    return cases


# The machine's own services are never a self-test's: these commands answer as if absent, unless a test puts
# a stand-in of its own first on PATH (tests/test_persistence.py's systemctl).
HOST_STAND_INS = ("systemctl", "journalctl", "nvidia-smi", "nvidia-ctk", "nvidia-persistenced")
ABSENT = '#!/bin/sh\necho "$(basename "$0"): not on this test host (a self-test keeps off the machine\'s own)" >&2\nexit 127\n'


def hermetic_env(folder: Path) -> dict[str, str]:
    """The variables that keep a live run of the suite off this machine's Docker Engine, systemd and NVIDIA
    commands: no Docker socket but a missing one in ``folder`` (tests name their private engine with
    --docker-host) and the commands above absent. NVML is tests.fakes.nvml_plugin's (never the machine's)."""
    bin_dir = folder / "host-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in HOST_STAND_INS:
        (bin_dir / name).write_text(ABSENT)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "DOCKER_HOST": f"unix://{folder}/no-engine.sock"}


def hermetic(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in hermetic_env(folder).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def run_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Run ``pytest acceptance/`` of this repository in a subprocess, reports under the test's tmp dir,
    off the machine's own Docker Engine, systemd and NVIDIA stack (``hermetic``)."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    hermetic(pytester.path, monkeypatch)

    def _run(*args: str, timeout: float = 120) -> SuiteRun:
        reports = pytester.path / "reports"
        def folders() -> set[Path]:  # run folders only: reports/latest is a link to one of them
            return {p for p in reports.iterdir() if not p.is_symlink()} if reports.exists() else set()

        before = folders()
        result = pytester.run(sys.executable, "-m", "pytest", str(ROOT / "acceptance"), f"--rootdir={ROOT}",
                              "-c", str(ROOT / "pyproject.toml"), "--report-dir", str(reports),
                              "-p", "tests.fakes.nvml_plugin", *args,
                              timeout=timeout)
        created = sorted(folders() - before)
        run_dir = created[-1] if created else None
        junit = run_dir / "junit.xml" if run_dir else None
        cases = read_junit(junit) if junit and junit.exists() else []
        return SuiteRun(result.ret, result.stdout.str(), result.stderr.str(), run_dir, cases)

    return _run


STANDIN_PROFILE = ROOT / "tests" / "data" / "profiles" / "dual-p40-standin.toml"
STANDIN_PORT = 21434  # the port that profile names: replaced by a free one wherever a test publishes it


def free_port() -> int:
    """A port no one uses now, from the kernel: two self-test runs on one machine never share one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def standin_profile_text(port: int) -> str:
    """The stand-in profile with its container's published port and its Ollama URL on ``port``."""
    text = STANDIN_PROFILE.read_text()
    return text.replace(f"port = {STANDIN_PORT}", f"port = {port}").replace(
        f"http://127.0.0.1:{STANDIN_PORT}", f"http://127.0.0.1:{port}")


@pytest.fixture(scope="session")
def engines():
    """Real Docker Engines (tests/engine): CI's (GPUACCEPT_TEST_ENGINES), else started here, else skip."""
    from tests.engine import daemons, image

    given = os.environ.get("GPUACCEPT_TEST_ENGINES")
    if given:
        yield daemons.load(Path(given))
        return
    why = daemons.missing() or image.available()
    if why:
        message = f"no Docker Engine for the container tests: {why}"
        if os.environ.get("GPUACCEPT_REQUIRE_DOCKER"):
            pytest.fail(message + " (GPUACCEPT_REQUIRE_DOCKER is set)", pytrace=False)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="gpuat-", dir="/tmp"))  # short: unix socket paths are limited
    try:
        yield daemons.start_all(base)
    finally:
        try:
            daemons.stop_all(base)
        finally:  # the engines' sockets, data and exec roots: nothing of them outlives the session
            remove_unless_mounted(base)


def remove_unless_mounted(folder: Path) -> None:
    """Remove a folder, unless something is still mounted inside it (rmtree would delete through the mount)."""
    with open("/proc/mounts") as handle:
        if any(line.split()[1].startswith(f"{folder}/") for line in handle):
            return
    shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Registered:
    metavar: str  # "" for a flag
    ini: str  # its ini twin, "" if none


@pytest.fixture(scope="session")
def registered_options(tmp_path_factory) -> dict[str, Registered]:
    """The acceptance options as pytest itself lists them (``pytest -p fixtures.options --help``), with their
    ini twins: the ground truth the README and ``gpuaccept --help`` are checked against."""
    env = {**os.environ, "COLUMNS": "1000"}  # one line per option and per ini key
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "fixtures.options", "--help"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path_factory.mktemp("help"), env=env)
    assert done.returncode == 0, done.stderr
    group = done.stdout.split("GPU server acceptance:\n", 1)[1].split("\n\n", 1)[0]
    options = {m.group(1): m.group(2) or "" for m in re.finditer(r"^  (--[\w-]+)(?:=(\S+))?", group, re.MULTILINE)}
    twins = {m.group(2): m.group(1) for m in re.finditer(
        r"^  (\w+) \(string\):[^\n]*(?:\n {20,}[^\n]*)?\(ini twin of (--[\w-]+)\)", done.stdout, re.MULTILINE)}
    assert options and twins, done.stdout[-3000:]
    return {name: Registered(metavar, twins.get(name, "")) for name, metavar in options.items()}
