"""Profile loading and validation, directly and as the suite's command line sees it."""

from __future__ import annotations

import json

import pytest

from gpuaccept import profile
from gpuaccept.profile import ProfileError
from tests.conftest import HOSTS

GOOD = (profile.BUNDLED / "dual-p40.toml").read_text()


def test_bundled_profiles_load():
    assert profile.bundled_names() == ["dual-p40", "single-h100"]
    p40 = profile.load("dual-p40")
    assert (p40.gpus.count, p40.pci_device_id, p40.driver.below_version, p40.pcie.bar1_min_mib) == (
        2, 0x1B38, "590", 32768)
    h100 = profile.load("single-h100")
    assert (h100.gpus.count, h100.pcie.generation, h100.driver.min_version) == (1, 5, "550")


@pytest.mark.parametrize(("edit", "words"), [
    (lambda t: t.replace("count = 2", "count = 2\ncolor = 'red'"), ["unknown key gpus.color"]),
    (lambda t: t.replace("count = 2", 'count = "two"'), ["gpus.count must be int", "str"]),
    (lambda t: t.replace('min_version = "570"', 'min_version = "600"'), ["driver.min_version (600)", "below_version"]),
    (lambda t: t.replace("width = 16", "width = 12"), ["pcie.width = 12 is not one of"]),
    (lambda t: t.replace("memory_mib_ecc_on = 23040", "memory_mib_ecc_on = 30000"), ["memory_mib_ecc_on"]),
    (lambda t: t.replace("[gpus]", "[gpus]\n[gpus]"), ["not valid TOML"]),
    (lambda t: t + '\n[waivers]\nGPU-NOPE = "x"\n', ["waivers.GPU-NOPE"]),
    # a floor that makes its requirement pass whatever it measures
    (lambda t: t + "\n[ollama]\nmin_gpu_memory_gib = 0\n", ["ollama.min_gpu_memory_gib"]),
    (lambda t: t + "\n[ollama]\nbalance_min_ratio = 0.0\n", ["ollama.balance_min_ratio"]),
])
def test_invalid_profiles_name_file_and_key(tmp_path, edit, words):
    path = tmp_path / "site.toml"
    path.write_text(edit(GOOD))
    with pytest.raises(ProfileError) as err:
        profile.load(str(path))
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message


def test_missing_profile_lists_the_bundled_ones():
    with pytest.raises(ProfileError, match="bundled: dual-p40, single-h100"):
        profile.load("no-such-profile")


def test_bad_profile_is_a_usage_error_without_traceback(run_suite, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("count = 2", "count = 0"))
    run = run_suite("--profile", str(path), "--replay", str(HOSTS / "dual-p40"))
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "gpus.count = 0 is below its minimum 1" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_precedence_cli_over_ini_over_profile(run_suite, pytester):
    # The profile says 2 GPUs; the ini says 1; the command line says 2 again.
    ini = pytester.makeini("[pytest]\nexpect_gpus = 1\n")
    from tests.conftest import ROOT
    args = ["--replay", str(HOSTS / "dual-p40")]
    run = run_suite(*args, "-o", "expect_gpus=1")
    assert "GPU-COUNT" in run.failing() and "expected 1 GPU(s)" in run.messages("GPU-COUNT")
    run = run_suite(*args, "-o", "expect_gpus=1", "--expect-gpus", "2")
    assert "GPU-COUNT" not in run.failing()
    assert ini.exists() and ROOT.exists()


def test_profile_by_path_and_a_waiver(run_suite, tmp_path):
    path = tmp_path / "waived.toml"
    path.write_text(GOOD + '\n[waivers]\nGPU-IDENTICAL = "VBIOS difference accepted by the vendor, ticket 42"\n')
    run = run_suite("--profile", str(path), "--replay", str(HOSTS / "dual-p40-vbios-differs"))
    assert run.ret == 0
    assert "ticket 42" in run.messages("GPU-IDENTICAL")


def test_a_waiver_covers_only_the_cases_that_would_fail(run_suite, tmp_path):
    """PCIE-WIDTH waived on a host where only GPU1 runs at x8: GPU0 keeps its pass, GPU1 alone is waived."""
    path = tmp_path / "waived.toml"
    path.write_text(GOOD + '\n[waivers]\nPCIE-WIDTH = "riser limited to x8, ticket 43"\n')
    run = run_suite("--profile", str(path), "--replay", str(HOSTS / "dual-p40-x8-link"))
    width = {c.name: c.outcome for c in run.cases if c.requirement == "PCIE-WIDTH"}
    assert width == {"test_pcie_width[gpu0]": "passed", "test_pcie_width[gpu1]": "skipped"}, width  # JUnit: xfail
    record = json.loads((run.run_dir / "summary.json").read_text())
    cases = {c["id"]: c["outcome"] for c in record["requirements"]["PCIE-WIDTH"]["cases"]}
    assert cases == {"test_pcie_width[gpu0]": "pass", "test_pcie_width[gpu1]": "xfail"}, cases
    assert "1 waived, 47 passed" in run.stdout
    assert "ticket 43" in run.messages("PCIE-WIDTH") and "x8" in run.messages("PCIE-WIDTH")
