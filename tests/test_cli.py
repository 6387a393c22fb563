"""The ``gpuaccept`` console script as a new user meets it, run from a folder that is not the repository."""

from __future__ import annotations

import os
import subprocess
import sys

from gpuaccept import summary
from gpuaccept.cli import SUITE_ENV
from gpuaccept.run_options import TIER_HELP
from tests.conftest import HOSTS

SCRIPT = os.path.join(os.path.dirname(sys.executable), "gpuaccept")  # installed beside the interpreter by pip


def gpuaccept(*args: str, cwd, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", SUITE_ENV)}
    return subprocess.run([SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**clean, "COLUMNS": "100", **(env or {})})


def test_help_opens_with_the_options_the_tiers_and_the_exit_codes_then_the_commands(tmp_path, registered_options):
    from fixtures.options import TIERS

    done = gpuaccept("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    commands_at = text.index("\n  COMMAND")
    for name, real in registered_options.items():  # every option pytest registers, before the commands
        at = text.find(f"\n  {name} {real.metavar}".rstrip() if real.metavar else f"\n  {name} ")
        assert 0 < at < commands_at, name
        if real.ini:
            assert f"[ini {real.ini}]" in text, name
    assert set(TIER_HELP) == set(TIERS)
    for tier in (*TIERS, " or ".join(TIERS)):
        shown = f"-m {tier}" if " " not in tier else f'-m "{tier}"'
        assert 0 < text.index(shown) < commands_at, tier
    for verdict, code in summary.EXIT.items():
        assert f"\n  {code} {verdict} " in text[:commands_at], verdict
    codes = [line.split()[0] for line in text[text.index("exit status of a run"):commands_at].splitlines()[1:]
             if line[:3].strip().isdigit()]
    assert codes == [str(c) for c in range(8)]
    assert text.index("run the acceptance suite") > commands_at and text.index("check a run folder") > commands_at


def test_run_from_another_folder_is_the_acceptance_suite(tmp_path):
    reports = tmp_path / "reports"
    done = gpuaccept("run", "--replay", os.path.relpath(HOSTS / "dual-p40-x8-link", tmp_path), "-m", "quick",
                     "--report-dir", "reports", cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert "REPLAY" in last and "NOT ACCEPTED" in last and last.endswith("exit status 1"), last
    (run,) = [p for p in reports.iterdir() if not p.is_symlink()]
    assert run.name.endswith("-replay") and (run / "summary.json").is_file()


def test_run_stops_with_a_usage_error_for_a_mistyped_tier_and_for_a_missing_suite(tmp_path):
    typo = gpuaccept("run", "-m", "quik", "--replay", str(HOSTS / "dual-p40"), "--report-dir", str(tmp_path / "r"),
                     cwd=tmp_path)
    assert typo.returncode == 4 and "quik is not a tier" in typo.stderr and "quick, load" in typo.stderr, typo.stderr
    assert not (tmp_path / "r").exists()
    empty = tmp_path / "not-a-checkout"
    empty.mkdir()
    lost = gpuaccept("run", cwd=tmp_path, env={SUITE_ENV: str(empty)})
    assert lost.returncode == 4 and f"{SUITE_ENV}={empty}" in lost.stderr and "pip install -e ." in lost.stderr


def test_no_command_prints_the_help_as_a_usage_error(tmp_path):
    done = gpuaccept(cwd=tmp_path)
    assert done.returncode == 4 and "acceptance options" in done.stdout and "verify" in done.stdout


def test_python_dash_m_is_the_same_command_from_any_folder(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "gpuaccept", "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=clean)
    assert done.returncode == 0 and "--sign-key PATH" in done.stdout and "-m quick" in done.stdout
