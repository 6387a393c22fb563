"""metrics.prom in every host folder, read with prometheus_client's own parser (the format monitoring reads).

Its samples follow the verdicts: a healthy and a failing replay differ exactly where their outcomes do; a
figure is exported only where the requirement that judges it came to a verdict on that GPU; a replay says
so in gpuaccept_run_info and never reaches node_exporter's textfile collector.
"""

from __future__ import annotations

import shutil

import pytest

from gpuaccept.report.metrics import exposition
from tests.conftest import HOSTS
from tests.extras import require


def samples(text: str) -> dict[tuple[str, tuple], float]:
    require("prometheus")
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in found, key  # one sample per name and labels
            found[key] = s.value
    return found


def outcome(found: dict, requirement: str, gpu: str = "") -> str:
    (name,) = [dict(k[1])["outcome"] for k, v in found.items()
               if k[0] == "gpuaccept_requirement" and v == 1 and dict(k[1])["requirement"] == requirement
               and dict(k[1])["gpu"] == gpu]
    return name


def test_a_healthy_and_a_failing_run_differ_exactly_where_their_verdicts_do(run_suite):
    healthy = run_suite("--replay", str(HOSTS / "dual-p40"))
    narrowed = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    good = samples((healthy.run_dir / "metrics.prom").read_text())
    bad = samples((narrowed.run_dir / "metrics.prom").read_text())
    assert good[("gpuaccept_run_verdict", (("verdict", "ACCEPTED"),))] == 1
    assert bad[("gpuaccept_run_verdict", (("verdict", "NOT ACCEPTED"),))] == 1
    assert bad[("gpuaccept_run_verdict", (("verdict", "ACCEPTED"),))] == 0
    assert good[("gpuaccept_run_exit_status", ())] == 0 and bad[("gpuaccept_run_exit_status", ())] == 1
    differ = {dict(k[1])["requirement"] + "/" + dict(k[1])["gpu"] for k in good
              if k[0] == "gpuaccept_requirement" and good[k] != bad.get(k)}
    assert differ == {"PCIE-WIDTH/1"}
    assert outcome(bad, "PCIE-WIDTH", "1") == "fail" and outcome(bad, "PCIE-WIDTH", "0") == "pass"
    assert outcome(good, "GPU-COUNT") == "pass"
    # Figures, units in their names: the link that fell is the one that says x8.
    assert good[("gpuaccept_pcie_link_width_lanes", (("gpu", "1"),))] == 16
    assert bad[("gpuaccept_pcie_link_width_lanes", (("gpu", "1"),))] == 8
    assert good[("gpuaccept_gpu_memory_total_bytes", (("gpu", "0"),))] == 23040 * 2**20
    assert good[("gpuaccept_ollama_generation_tokens_per_second", ())] == pytest.approx(10.9)
    info = [dict(k[1]) for k in good if k[0] == "gpuaccept_run_info"]
    assert info[0]["mode"] == "replay" and info[0]["profile"] == "dual-p40" and info[0]["host"] == "dual-p40"
    # The folder's manifest covers the file.
    assert "metrics.prom" in (healthy.run_dir / "MANIFEST.sha256").read_text()


def test_a_figure_whose_requirement_was_not_evaluated_is_not_exported(run_suite, tmp_path):
    evidence = tmp_path / "no-benchmark"
    shutil.copytree(HOSTS / "dual-p40", evidence)
    (evidence / "benchmark.json").write_text("{")  # damaged: the load tier's requirements are not evaluated
    run = run_suite("--replay", str(evidence))
    found = samples((run.run_dir / "metrics.prom").read_text())
    assert outcome(found, "OLL-THROUGHPUT") == "not_evaluated"
    assert not [k for k in found if k[0].startswith("gpuaccept_ollama_")]
    assert ("gpuaccept_pcie_link_width_lanes", (("gpu", "0"),)) in found


def test_label_values_from_hosts_and_options_are_escaped():
    record = {"verdict": "ACCEPTED", "run": {"host": 'gpu"01\\\n<b>', "exit_status": 0, "finished_at": "nonsense",
                                             "profile": {"name": "p\u00e9"}},
              "requirements": {"GPU-COUNT": {"cases": [{"id": "test_gpu_count", "outcome": "pass"}]},
                               "PCIE-WIDTH": {"cases": [{"id": "test_pcie_width[gpu1]", "outcome": "made-up"}]}}}
    found = samples(exposition(record, None))
    (info,) = [dict(k[1]) for k in found if k[0] == "gpuaccept_run_info"]
    assert info["host"] == 'gpu"01\\\n<b>' and info["profile"] == "p\u00e9"
    assert outcome(found, "PCIE-WIDTH", "1") == "made-up"  # an outcome it does not know is still said
    assert ("gpuaccept_run_finished_timestamp_seconds", ()) not in found


def test_prometheus_textfile_gets_a_live_runs_metrics_and_refuses_a_replay(run_suite, tmp_path):
    collector = tmp_path / "textfile"
    collector.mkdir()
    refused = run_suite("--replay", str(HOSTS / "dual-p40"), "--prometheus-textfile", str(collector))
    assert refused.ret == 4 and "a replay's metrics are another run's" in refused.stderr
    assert list(collector.iterdir()) == []
    link = tmp_path / "link"
    link.symlink_to(collector)
    gone = run_suite("-m", "quick", "--prometheus-textfile", str(link))
    assert gone.ret == 4 and "is not a folder" in gone.stderr
    live = run_suite("-m", "quick", "--prometheus-textfile", str(collector))  # this machine: no NVML here
    assert [p.name for p in collector.iterdir()] == ["gpuaccept.prom"]
    assert (collector / "gpuaccept.prom").read_text() == (live.run_dir / "metrics.prom").read_text()
    found = samples((collector / "gpuaccept.prom").read_text())
    assert found[("gpuaccept_run_verdict", (("verdict", "ACCEPTED"),))] == 0
    assert [dict(k[1])["mode"] for k in found if k[0] == "gpuaccept_run_info"] == ["live"]
