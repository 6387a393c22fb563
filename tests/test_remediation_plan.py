"""Remediation that needs no Docker: persistence mode through the simulated NVML, and the plan's rules."""

from __future__ import annotations

import json

from gpuaccept import profile as profiles
from gpuaccept.checks import container
from gpuaccept.checks import ollama as ollama_checks
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
    # This machine has no systemd: whether persistence survives a reboot is unknown (not evaluated, a skip),
    # and without nvidia-persistenced's unit the plan falls back to NVML, saying a reboot undoes it.
    planned = run_suite("-p", "tests.fakes.nvml_plugin", "-m", "quick", "-k", "persistence")
    assert planned.outcomes()["GPU-PERSISTENCE"] == {"skipped", "failed"}
    assert "would enable persistence mode on GPU1 (0000:03:00.0)" in planned.messages("GPU-PERSISTENCE")
    fixed = run_suite("-p", "tests.fakes.nvml_plugin", "-k", "persistence", "--remediate")
    assert fixed.outcomes()["GPU-PERSISTENCE"] == {"skipped"}, fixed.stdout[-2000:]
    assert "persistence mode is on" in fixed.messages("GPU-PERSISTENCE")
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
    assert [(a.kind, a.status) for a in actions] == [("persistenced", "refused")]
    assert "Needs root" in actions[0].describe()


def test_persistence_is_made_to_last_and_without_the_daemon_the_plan_says_it_will_not(tmp_path):
    evidence = Evidence.read(HOSTS / "dual-p40")
    evidence.files["nvml.json"] = _persistence_off(tmp_path).read_text()
    evidence.files["nvidia-persistenced.txt"] = "LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n"
    (action,) = plan(build_facts(evidence, mode="live", source="live"), profiles.load("dual-p40"), is_root=True)
    assert (action.kind, action.target, action.status) == ("persistenced", "nvidia-persistenced.service", "planned")
    assert "persistence is off on GPU1 (0000:03:00.0)" in action.describe()
    evidence.files["nvidia-persistenced.txt"] = "LoadState=not-found\n"
    (action,) = plan(build_facts(evidence, mode="live", source="live"), profiles.load("dual-p40"), is_root=True)
    assert (action.kind, action.target) == ("persistence", "GPU1 (0000:03:00.0)")
    assert "does not survive a reboot" in action.describe()
    # On now, but only until the next reboot: the daemon is enabled, nothing else changes.
    snap = json.loads(evidence.files["nvml.json"])
    snap["gpus"][1]["persistence_mode"] = True
    evidence.files["nvml.json"] = json.dumps(snap)
    evidence.files["nvidia-persistenced.txt"] = "LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n"
    (action,) = plan(build_facts(evidence, mode="live", source="live"), profiles.load("dual-p40"), is_root=True)
    assert action.kind == "persistenced" and "lost at the next reboot" in action.reason


def test_a_healthy_machine_plans_nothing():
    facts = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="live", source="live")
    assert plan(facts, profiles.load("dual-p40")) == []


def test_broken_gpu_support_blocks_container_changes():
    facts = build_facts(Evidence.read(HOSTS / "dual-p40-no-toolkit"), mode="live", source="live")
    actions = plan(facts, profiles.load("dual-p40"), force=True)
    assert [(a.kind, a.status) for a in actions] == [("launch", "refused")]
    assert "CTR-TOOLKIT" in actions[0].describe()
    # The refusal reaches the failures it leaves standing, and their own fixes say what blocks the launch.
    assert set(actions[0].requirements) == {"CTR-TOOLKIT", "CTR-RUNNING", "OLL-API"}
    p40 = profiles.load("dual-p40")
    for verdict in (container.ctr_running(facts, p40), ollama_checks.oll_api(facts, p40)):
        fix = verdict.message.split("Fix:", 1)[1]
        assert fix.lstrip().startswith("fix CTR-TOOLKIT first (the engine cannot give containers GPUs, so `--remediate` "
                                       "will not launch it until then)"), verdict.message


def test_a_stopped_container_on_an_engine_that_refuses_gpus_is_not_offered_a_plain_start():
    evidence = Evidence.read(HOSTS / "dual-p40-no-toolkit")
    inspect = json.loads(Evidence.read(HOSTS / "dual-p40").files["docker-inspect.json"])
    inspect[0]["State"].update({"Status": "exited", "Running": False, "Pid": 0, "ExitCode": 1})
    evidence.files["docker-inspect.json"] = json.dumps(inspect)
    facts = build_facts(evidence, mode="live", source="live")
    p40 = profiles.load("dual-p40")
    assert container.ctr_toolkit(facts, p40).outcome == "fail"
    verdict = container.ctr_running(facts, p40)
    assert verdict.outcome == "fail" and "neither `docker start ollama` nor `--remediate`" in verdict.message
    assert "(or `pytest acceptance/ --remediate`)" not in verdict.message
    actions = plan(facts, p40, force=True)
    assert [(a.kind, a.status) for a in actions] == [("recreate", "refused")]
    assert "CTR-RUNNING" in actions[0].requirements
