"""GPU-PERSISTENCE: on now, and kept across reboots (nvidia-persistenced enabled at boot)."""

from __future__ import annotations

import json

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import cards
from gpuaccept.evidence import Evidence
from gpuaccept.parse.systemd import parse_systemctl_show
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

P40 = profiles.load("dual-p40")
# `systemctl show nvidia-persistenced -p LoadState` of a host without the unit (openSUSE/supportutils#182).
NOT_FOUND = "LoadState=not-found\n"


def unit(load="loaded", file_state="enabled", active="active", sub="running") -> str:
    return f"LoadState={load}\nActiveState={active}\nSubState={sub}\nUnitFileState={file_state}\n"


def judge(unit_text: str | None, mode: bool | None = True):
    evidence = Evidence.read(HOSTS / "dual-p40")
    if unit_text is None:
        evidence.files.pop("nvidia-persistenced.txt")
    else:
        evidence.files["nvidia-persistenced.txt"] = unit_text
    snap = json.loads(evidence.files["nvml.json"])
    snap["gpus"][0]["persistence_mode"] = mode
    evidence.files["nvml.json"] = json.dumps(snap)
    return cards.gpu_persistence(build_facts(evidence, mode="replay", source="test"), 0, P40)


@pytest.mark.parametrize(("text", "mode", "outcome", "words"), [
    (unit(), True, "pass", "survives a reboot"),
    (unit(file_state="disabled", active="inactive", sub="dead"), True, "warn", "lost at the next reboot"),
    (NOT_FOUND, True, "warn", "not installed (LoadState=not-found)"),
    (None, True, "not_evaluated", "survives a reboot is unknown"),
    (unit(file_state="disabled", active="inactive", sub="dead"), False, "fail", "installed but not enabled"),
    (unit(active="inactive", sub="dead"), False, "fail", "enabled but not running"),
    (NOT_FOUND, False, "fail", "install the driver's nvidia-persistenced"),
    # The daemon started with --no-persistence-mode holds the GPU while NVML shows the mode off: NVIDIA's way.
    (unit(), False, "pass", "nvidia-persistenced holds the GPU"),
])
def test_persistence_now_and_after_a_reboot(text, mode, outcome, words):
    verdict = judge(text, mode)
    assert verdict.outcome == outcome and words in verdict.message, verdict.message


def test_static_units_do_not_count_as_started_at_boot_and_garbage_is_unreadable():
    assert not parse_systemctl_show(unit(file_state="static")).starts_at_boot
    with pytest.raises(ValueError):
        parse_systemctl_show("Unit nvidia-persistenced.service could not be found.\n")
    verdict = judge("garbage\n")
    assert verdict.outcome == "not_evaluated" and "evidence unreadable: nvidia-persistenced.txt" in verdict.message


FAKE_SYSTEMCTL = """#!/bin/sh
# A stand-in systemctl: `show` prints the unit state kept in $STATE; `enable --now` enables and starts it.
case "$1" in
  show) cat "$STATE" ;;
  enable) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nUnitFileState=enabled\\n' > "$STATE";
          echo "$*" >> "$STATE.calls" ;;
  *) exit 1 ;;
esac
"""


def test_remediation_enables_the_daemon_at_boot_and_records_it(run_suite, monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    state = tmp_path / "unit-state"
    state.write_text(unit(file_state="disabled", active="inactive", sub="dead"))
    snap = json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())
    snap["gpus"][1]["persistence_mode"] = False
    (tmp_path / "nvml.json").write_text(json.dumps(snap))
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(tmp_path / "nvml.json"))
    monkeypatch.setenv("STATE", str(state))
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    planned = run_suite("-p", "tests.fakes.nvml_plugin", "-m", "quick", "-k", "persistence")
    assert "would enable at boot and start nvidia-persistenced.service" in planned.messages("GPU-PERSISTENCE")
    assert not (tmp_path / "unit-state.calls").exists()  # a plan changes nothing
    fixed = run_suite("-p", "tests.fakes.nvml_plugin", "-m", "quick", "-k", "persistence", "--remediate")
    assert fixed.outcomes()["GPU-PERSISTENCE"] == {"passed"}, fixed.stdout[-2000:]
    assert (tmp_path / "unit-state.calls").read_text() == "enable --now nvidia-persistenced\n"
    record = json.loads((fixed.run_dir / "remediation.json").read_text())
    (action,) = [a for a in record["actions"] if a["kind"] == "persistenced"]
    assert action["status"] == "done" and "survives a reboot" in action["detail"]
    again = run_suite("-p", "tests.fakes.nvml_plugin", "-m", "quick", "-k", "persistence", "--remediate")
    assert json.loads((again.run_dir / "remediation.json").read_text())["actions"] == []
