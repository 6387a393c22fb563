"""Remediation that needs no Docker: persistence mode through the simulated NVML, and the plan's rules."""

from __future__ import annotations

import json

from gpuaccept import profile as profiles
from gpuaccept.evidence import Evidence
from gpuaccept.remedy.plan import plan
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS


def _persistence_off(tmp_path):
    snap = json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())
    snap["gpus"][1]["persistence_mode"] = False
    path = tmp_path / "nvml.json"
    path.write_text(json.dumps(snap))
    return path


def test_persistence_is_enabled_through_nvml_and_recorded(run_suite, monkeypatch, tmp_path):
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(_persistence_off(tmp_path)))
    planned = run_suite("-p", "tests.fakes.nvml_plugin", "-m", "quick", "-k", "persistence")
    assert planned.outcomes()["GPU-PERSISTENCE"] == {"passed", "failed"}
    assert "would enable persistence mode on GPU1 (0000:03:00.0)" in planned.messages("GPU-PERSISTENCE")
    fixed = run_suite("-p", "tests.fakes.nvml_plugin", "-k", "persistence", "--remediate")
    assert fixed.outcomes()["GPU-PERSISTENCE"] == {"passed"}, fixed.stdout[-2000:]
    record = json.loads((fixed.run_dir / "remediation.json").read_text())
    persistence = [a for a in record["actions"] if a["kind"] == "persistence"]
    assert [(a["target"], a["status"], a["before"], a["after"]) for a in persistence] == [
        ("GPU1 (0000:03:00.0)", "done", "off", "on")]
    before = json.loads((fixed.run_dir / "evidence-before-remediation" / "nvml.json").read_text())
    after = json.loads((fixed.run_dir / "evidence" / "nvml.json").read_text())
    assert (before["gpus"][1]["persistence_mode"], after["gpus"][1]["persistence_mode"]) == (False, True)


def test_plan_refuses_persistence_without_root(tmp_path):
    evidence = Evidence.read(HOSTS / "dual-p40")
    evidence.files["nvml.json"] = _persistence_off(tmp_path).read_text()
    # nvidia-persistenced installed but stopped and disabled: nothing holds the GPUs.
    evidence.files["nvidia-persistenced.txt"] = "LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n"
    facts = build_facts(evidence, mode="live", source="live")
    actions = plan(facts, profiles.load("dual-p40"), is_root=False)
    assert [(a.kind, a.status) for a in actions] == [("persistence", "refused")]
    assert "Needs root" in actions[0].describe()


def test_a_healthy_machine_plans_nothing():
    facts = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="live", source="live")
    assert plan(facts, profiles.load("dual-p40")) == []


def test_broken_gpu_support_blocks_container_changes():
    facts = build_facts(Evidence.read(HOSTS / "dual-p40-no-toolkit"), mode="live", source="live")
    actions = plan(facts, profiles.load("dual-p40"), force=True)
    assert [(a.kind, a.status) for a in actions] == [("launch", "refused")]
    assert "CTR-TOOLKIT" in actions[0].describe()
