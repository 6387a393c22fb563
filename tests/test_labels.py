"""`gpuaccept labels RUN`: node labels a scheduler takes as they are (kubectl label node, node attributes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from gpuaccept import manifest
from gpuaccept.labels import value
from tests.conftest import HOSTS, ROOT
from tests.test_reason import claimed_accepted

# Kubernetes: a prefix (a DNS subdomain) / a name of at most 63 characters, a value of at most 63 characters of
# [A-Za-z0-9._-] beginning and ending with a letter or digit; "key-" removes the label.
LABEL = re.compile(r"^gpuaccept\.io/[a-z0-9]([-a-z0-9]*[a-z0-9])?(=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)|-)$")


def labels(folder, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpuaccept", "labels", str(folder), *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_a_replay_never_labels_a_node_accepted_at_and_a_failing_run_removes_the_label(run_suite):
    accepted = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    done = labels(accepted.run_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["gpuaccept.io/verdict=replay-accepted", "gpuaccept.io/profile=dual-p40",
                                        "gpuaccept.io/mode=replay", "gpuaccept.io/accepted-at-"]
    failed = labels(run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick").run_dir)
    assert failed.returncode == 1 and "gpuaccept.io/verdict=replay-not-accepted" in failed.stdout.splitlines()
    assert "gpuaccept.io/accepted-at-" in failed.stdout.splitlines()
    assert all(LABEL.match(line) for line in done.stdout.splitlines() + failed.stdout.splitlines())


def test_an_accepted_live_run_says_when_and_every_line_is_a_valid_label(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    record = json.loads((run.run_dir / "summary.json").read_text())
    record["run"].update(mode="live", finished_at="2026-12-08T05:27:00+01:00", profile={"name": "p40 / dual (lab)!"})
    (run.run_dir / "summary.json").write_text(json.dumps(record))
    manifest.write(run.run_dir)  # resealed: the folder verifies, its record is what is labelled
    done = labels(run.run_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["gpuaccept.io/verdict=accepted", "gpuaccept.io/profile=p40-dual-lab",
                                        "gpuaccept.io/mode=live", "gpuaccept.io/accepted-at=20261208T042700Z"]
    assert all(LABEL.match(line) for line in done.stdout.splitlines())


def test_a_folder_not_as_its_run_left_it_is_untrusted(run_suite):
    folder = claimed_accepted(run_suite)
    done = labels(folder)
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["gpuaccept.io/verdict=untrusted", "gpuaccept.io/accepted-at-"]
    assert labels(folder / "nowhere").returncode == 4


def test_a_record_resealed_with_a_verdict_of_no_kind_or_a_time_out_of_range_never_breaks_the_labels(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    record = json.loads((run.run_dir / "summary.json").read_text())
    record["run"].update(mode="live", finished_at="0001-01-01T00:00:00+01:00")
    (run.run_dir / "summary.json").write_text(json.dumps(record))
    manifest.write(run.run_dir)
    done = labels(run.run_dir)
    assert done.returncode == 0 and "gpuaccept.io/accepted-at-" in done.stdout.splitlines(), done.stderr
    record["verdict"] = []
    (run.run_dir / "summary.json").write_text(json.dumps(record))
    manifest.write(run.run_dir)
    done = labels(run.run_dir)
    assert done.returncode == 1 and "gpuaccept.io/verdict=untrusted" in done.stdout and "Traceback" not in done.stderr


def test_label_values_are_cut_to_what_kubernetes_takes():
    assert value("x" * 100) == "x" * 63 and value("-.a b.-") == "a-b" and value("\u00e9\u00e9") == "unknown"
    assert LABEL.match("gpuaccept.io/profile=" + value("_" + "a" * 70 + "_"))
