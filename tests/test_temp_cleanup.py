"""Nothing the suite or its self-tests create outlives them in the temporary folder.

Each run gets a TMPDIR of its own (other test runs share /tmp on the same machine), and pytest's own basetemp
is placed outside it: whatever is left in TMPDIR afterwards was created and not removed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import HOSTS, ROOT


def _env(tmpdir) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "TMPDIR": str(tmpdir)}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_acceptance_run_without_a_run_folder_removes_its_evidence_copy(tmp_path, workers):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    done = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "acceptance"), "--collect-only", "-q",
                           "--replay", str(HOSTS / "dual-p40"), *workers], cwd=ROOT, env=_env(tmpdir),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "tests collected" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert sorted(p.name for p in tmpdir.iterdir()) == []


def test_self_tests_leave_nothing_in_the_temporary_folder(tmp_path):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    chosen = ["tests/test_host_info.py::test_report_environment_describes_the_evidence_host_and_labels_the_suite_machine[xdist]",
              "tests/test_cli.py::test_run_from_another_folder_is_the_acceptance_suite",
              "tests/test_verify.py::test_console_script_verifies_from_any_folder"]
    done = subprocess.run([sys.executable, "-m", "pytest", *chosen, "-q", "-p", "no:cacheprovider",
                           f"--basetemp={tmp_path / 'basetemp'}", f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, env=_env(tmpdir), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert sorted(p.name for p in tmpdir.iterdir()) == []
