"""Evidence and options are untrusted input: damaged, hostile or absurd values are never judged.

Each case copies the bundled healthy pair (fixtures/hosts/dual-p40), damages one file the way a broken
capture or a hostile hand would, replays it through the real suite and checks that the requirements
judged on that file are not evaluated (never passed), that the line names the file and why, and that
the run neither exits 0 nor shows a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from gpuaccept import evidence as ev
from gpuaccept.catalogue import CATALOGUE, EVIDENCE
from gpuaccept.facts import GpuFacts, GpuSample, from_dict
from gpuaccept.validate import Invalid, load_json
from tests.conftest import HOSTS, SuiteRun

SUITE_TIMEOUT = 90  # seconds: a replay takes a few; a read that blocks would be killed here


def healthy_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "evidence-copy"
    shutil.copytree(HOSTS / "dual-p40", folder)
    return folder


def edit_json(path: Path, change: Callable[[object], object]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def dependents(name: str) -> set[str]:
    """The requirements a bare run judges on ``name`` (the opt-in diag tier runs only with -m diag)."""
    return {rid for rid, files in EVIDENCE.items() if name in files and CATALOGUE[rid].tier != "diag"}


def assert_not_judged(run: SuiteRun, name: str, words: list[str], required: set[str]) -> None:
    """No requirement judged on ``name`` passes; those in ``required`` are not evaluated (a JUnit skip with
    verdict=not_evaluated) and say why in ``words``; the run is not accepted and shows no traceback."""
    output = run.stdout + run.stderr
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    assert run.ret not in (0, 3), output[-3000:]
    assert run.cases, output[-3000:]
    judged_on = dependents(name)
    assert required <= judged_on
    ran = {c.requirement for c in run.cases}
    for rid in judged_on:  # from a healthy copy: not evaluated, or not applicable (PWR-BUDGET without a PSU)
        if rid not in ran and CATALOGUE[rid].tier == "diag":
            continue  # the opt-in tier, left out of a bare run
        verdicts = {c.properties.get("verdict") for c in run.cases if c.requirement == rid}
        assert verdicts and verdicts <= {"not_evaluated", "skip"}, (rid, verdicts)
    for rid in required:
        cases = [c for c in run.cases if c.requirement == rid]
        assert cases and all(c.properties.get("verdict") == "not_evaluated" and c.outcome == "skipped"
                             for c in cases), (rid, [(c.outcome, c.properties.get("verdict")) for c in cases])
        for word in words:
            assert word in run.messages(rid), (rid, word, run.messages(rid))


def test_nan_in_nvml_is_named_and_judges_nothing(run_suite, tmp_path):
    folder = healthy_copy(tmp_path)
    nvml = folder / ev.NVML
    nvml.write_text(nvml.read_text().replace('"memory_total_mib": 23040', '"memory_total_mib": NaN'))
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert run.ret == 6 and run.failing() == set()
    assert_not_judged(run, ev.NVML, ["evidence unreadable: nvml.json gpus[0].memory_total_mib is NaN"],
                      {"GPU-COUNT", "GPU-MEMORY", "PCIE-WIDTH", "PWR-LIMIT", "DRV-VERSION", "CTR-SEES-GPUS"})


@pytest.mark.parametrize(("value", "words"), [
    ("24 GB", "gpus[1].memory_total_mib is a string ('24 GB'), expected a whole number"),
    (True, "gpus[1].memory_total_mib is a boolean (true), expected a whole number"),
    (23040.5, "gpus[1].memory_total_mib is a number (23040.5), expected a whole number"),
    (-1, "gpus[1].memory_total_mib is -1, outside the plausible range"),
    (10**9, "gpus[1].memory_total_mib is 1000000000, outside the plausible range"),
])
def test_wrong_typed_or_absurd_gpu_memory_is_not_evaluated(run_suite, tmp_path, value, words):
    folder = healthy_copy(tmp_path)

    def damage(snap):
        snap["gpus"][1]["memory_total_mib"] = value
        return snap

    edit_json(folder / ev.NVML, damage)
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert_not_judged(run, ev.NVML, [f"evidence unreadable: nvml.json {words}"], {"GPU-MEMORY", "PCIE-BAR1"})


def test_truncated_json_is_not_evaluated(run_suite, tmp_path):
    folder = healthy_copy(tmp_path)
    nvml = folder / ev.NVML
    text = nvml.read_text()
    nvml.write_text(text[: len(text) // 2])
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert run.ret == 6
    assert_not_judged(run, ev.NVML, ["evidence unreadable: nvml.json is not valid JSON"], {"GPU-COUNT"})


def test_docker_inspect_of_the_wrong_shape_is_not_evaluated(run_suite, tmp_path):
    folder = healthy_copy(tmp_path)
    edit_json(folder / ev.DOCKER_INSPECT, lambda items: items[0])  # the object instead of a list of it
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert run.ret == 6
    assert_not_judged(run, ev.DOCKER_INSPECT,
                      ["evidence unreadable: docker-inspect.json is an object, expected a list"],
                      {"CTR-RUNNING", "CTR-CONFIG", "CTR-EXPOSURE"})


@pytest.mark.parametrize(("change", "words"), [
    (lambda b: {**b, "samples": 5}, "benchmark.json samples is a number (5), expected a list"),
    (lambda b: {**b, "runs": [{**b["runs"][0], "eval_ns": "23 s"}]},
     "benchmark.json runs[0].eval_ns is a string ('23 s'), expected a whole number"),
    (lambda b: [b], "benchmark.json is a list of 1, expected an object"),
    (lambda b: {k: v for k, v in b.items() if k != "model"}, "benchmark.json model is missing"),
])
def test_benchmark_of_the_wrong_shape_is_not_evaluated(run_suite, tmp_path, change, words):
    folder = healthy_copy(tmp_path)
    edit_json(folder / ev.BENCHMARK, change)
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert run.ret == 6
    assert_not_judged(run, ev.BENCHMARK, [f"evidence unreadable: {words}"], {"OLL-SPREAD", "OLL-THROUGHPUT"})


@pytest.mark.parametrize(("content", "words"), [
    (b"", "no evidence: dmesg.txt is empty"),
    (b"  \n\n\t\n", "no evidence: dmesg.txt is empty"),
    (bytes(range(256)) * 40, "dmesg.txt holds no kernel log line"),
    ((HOSTS / "dual-p40" / ev.DMESG).read_text().encode("utf-16-le"), "looks like UTF-16 without a byte-order mark"),
])
def test_empty_or_garbage_kernel_log_is_not_nothing_found(run_suite, tmp_path, content, words):
    folder = healthy_copy(tmp_path)
    (folder / ev.DMESG).write_bytes(content)
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert run.ret == 6
    assert_not_judged(run, ev.DMESG, [words], {"GPU-XID"})


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_kernel_log_with_a_byte_order_mark_still_shows_its_xid(run_suite, tmp_path, encoding):
    folder = healthy_copy(tmp_path)
    text = (HOSTS / "dual-p40-xid-79" / ev.DMESG).read_text()
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # Python writes no mark for an explicit byte order
    (folder / ev.DMESG).write_bytes(data)
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert run.failing() == {"GPU-XID"} and run.ret == 1
    assert "Xid 79" in run.messages("GPU-XID")


def test_garbage_ollama_log_leaves_gpu_detection_not_evaluated(run_suite, tmp_path):
    folder = healthy_copy(tmp_path)
    (folder / ev.OLLAMA_LOG).write_text("\ufffd\ufffd PK\x03\x04 not a log at all\n" * 50)
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert run.ret == 6
    assert_not_judged(run, ev.OLLAMA_LOG, ["ollama-server.log holds no Ollama server log line"],
                      {"OLL-GPUS-DETECTED"})


def test_symlink_to_a_secret_is_never_read(run_suite, tmp_path):
    secret = tmp_path / "secret-outside-the-folder.txt"
    marker = "SECRET-MARKER-5f1c9a"
    # A valid kernel log with an Xid: read through the link, GPU-XID would fail and the marker be copied.
    xid = (HOSTS / "dual-p40-xid-79" / ev.DMESG).read_text()
    secret.write_text(f"[    1.000000] {marker}\n{xid}")
    folder = healthy_copy(tmp_path)
    (folder / ev.DMESG).unlink()
    (folder / ev.DMESG).symlink_to(secret)
    (folder / ev.LSMOD).unlink()
    (folder / ev.LSMOD).symlink_to("/etc/shadow")
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert_not_judged(run, ev.DMESG, ["evidence unreadable: dmesg.txt is a symlink (not followed)"], {"GPU-XID"})
    assert_not_judged(run, ev.LSMOD, ["evidence unreadable: lsmod.txt is a symlink (not followed)"], {"DRV-NOUVEAU"})
    assert run.run_dir is not None
    for path in run.run_dir.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path
    assert marker not in run.stdout + run.stderr
    assert not (run.run_dir / "evidence" / ev.DMESG).exists()
    assert not (run.run_dir / "evidence" / ev.LSMOD).exists()


def test_fifo_and_device_do_not_block_or_get_read(run_suite, tmp_path):
    folder = healthy_copy(tmp_path)
    (folder / ev.OLLAMA_LOG).unlink()
    os.mkfifo(folder / ev.OLLAMA_LOG)  # nobody writes: a blocking open or read would hang the run
    (folder / ev.PROC_VERSION).unlink()
    (folder / ev.PROC_VERSION).symlink_to("/dev/zero")
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert_not_judged(run, ev.OLLAMA_LOG, ["ollama-server.log is a FIFO, not a regular file"],
                      {"OLL-GPUS-DETECTED"})
    assert_not_judged(run, ev.PROC_VERSION, ["proc-driver-nvidia-version.txt is a symlink"],
                      {"DRV-KMOD-MATCH", "DRV-KMOD-FLAVOR"})


def test_reading_a_fifo_returns_at_once(tmp_path):
    folder = healthy_copy(tmp_path)
    (folder / ev.DMESG).unlink()
    os.mkfifo(folder / ev.DMESG)
    result: list[ev.Evidence] = []
    reader = threading.Thread(target=lambda: result.append(ev.Evidence.read(folder)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading an evidence folder blocked on a FIFO"
    assert "FIFO" in result[0].unreadable[ev.DMESG] and ev.DMESG not in result[0].files


def test_a_huge_file_is_refused_without_being_read(run_suite, tmp_path):
    folder = healthy_copy(tmp_path)
    with open(folder / ev.DMESG, "wb") as f:
        f.truncate(2**30)  # sparse: 1 GiB of zeros that takes no disk
    tracemalloc.start()
    try:
        read = ev.Evidence.read(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"reading the folder took {peak} bytes"
    assert "larger than the 64 MiB cap" in read.unreadable[ev.DMESG]
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert_not_judged(run, ev.DMESG, ["dmesg.txt is larger than the 64 MiB cap"], {"GPU-XID"})


def test_a_file_that_grows_past_the_cap_while_read_is_refused():
    # /proc files say they are empty (st_size 0) and then yield text: the read itself must stop at the cap.
    fd = os.open("/proc/self", os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(ev.Unusable, match="larger than"):
            ev.read_bounded(fd, "status", cap=16)
        assert len(ev.read_bounded(fd, "status", cap=1 << 20)) > 16
    finally:
        os.close(fd)


def test_a_folder_of_one_empty_file_is_incomplete(run_suite, tmp_path):
    folder = tmp_path / "one-empty-file"
    folder.mkdir()
    (folder / ev.DMESG).write_text("")
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert run.ret == 6 and "INCOMPLETE" in run.stdout
    assert "no evidence: dmesg.txt is empty" in run.messages("GPU-XID")
    assert all(c.properties.get("verdict") != "pass" for c in run.cases)


def test_a_bad_host_json_does_not_crash(run_suite, tmp_path):
    folder = healthy_copy(tmp_path)
    (folder / ev.HOST).write_text(json.dumps({"hostname": {"a": 1}, "absent": [1], "captured_at": 7,
                                              "unreadable": "x", "container": ["ollama"]}))
    read = ev.Evidence.read(folder)
    assert "hostname" not in read.meta and read.absent == {}
    assert "hostname is not a short printable string" in read.unreadable[ev.HOST]
    (folder / ev.HOST).write_text("[1, 2]")
    assert ev.Evidence.read(folder).unreadable[ev.HOST] == "evidence unreadable: host.json is not a JSON object"
    run = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    assert "Traceback" not in run.stdout + run.stderr
    # host.json names the URL the API was asked at: without it the answers cannot be tied to the running
    # managed container, so OLL-API (and what follows it) is not evaluated, and the run is INCOMPLETE.
    assert run.ret == 6 and "is not recorded" in run.messages("OLL-API"), run.stdout[-2000:]


def test_the_run_folder_evidence_replays_to_the_same_verdicts_on_workers(run_suite, tmp_path):
    folder = healthy_copy(tmp_path)
    (folder / ev.DMESG).unlink()
    (folder / ev.DMESG).symlink_to(HOSTS / "dual-p40" / ev.DMESG)
    (folder / ev.LSMOD).write_text("")
    serial = run_suite("--replay", str(folder), timeout=SUITE_TIMEOUT)
    parallel = run_suite("--replay", str(folder), "-n", "2", timeout=SUITE_TIMEOUT)
    assert sorted((c.name, c.outcome, c.message) for c in serial.cases) == sorted(
        (c.name, c.outcome, c.message) for c in parallel.cases)
    assert_not_judged(parallel, ev.DMESG, ["dmesg.txt is a symlink"], {"GPU-XID"})
    assert_not_judged(parallel, ev.LSMOD, ["no evidence: lsmod.txt is empty"], {"DRV-NOUVEAU"})


def test_saved_run_folder_whose_evidence_is_a_link_is_refused(run_suite, tmp_path):
    saved = tmp_path / "saved-run"
    saved.mkdir()
    (saved / "evidence").symlink_to(HOSTS / "dual-p40")
    run = run_suite("--replay", str(saved), timeout=SUITE_TIMEOUT)
    assert run.ret == 4 and "evidence is a symlink" in run.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--psu-watts", "nan"], "--psu-watts: 'nan' is not a finite number"),
    (["--psu-watts", "inf"], "--psu-watts: 'inf' is not a finite number"),
    (["--psu-watts", "-500"], "--psu-watts: '-500' must be between 1 and 100000"),
    (["--collect-timeout", "NaN"], "--collect-timeout: 'NaN' is not a finite number"),
    (["--collect-timeout", "1e999"], "--collect-timeout: '1e999' is not a finite number"),
    (["--expect-gpus", "nan"], "--expect-gpus: 'nan' is not a whole number"),
    (["--expect-gpus", "100000"], "--expect-gpus: '100000' must be between 1 and 64"),
    (["-o", "psu_watts=nan"], "ini psu_watts: 'nan' is not a finite number"),
])
def test_nan_and_absurd_options_are_usage_errors(run_suite, args, words):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), *args, timeout=SUITE_TIMEOUT)
    assert run.ret == 4, run.stdout[-2000:]
    assert words in run.stderr
    assert "Traceback" not in run.stdout + run.stderr


@pytest.mark.parametrize(("line", "replacement", "words"), [
    ("limit_w = 250", "limit_w = nan", "power.limit_w = nan is not a finite number"),
    ("psu_derating = 0.8", "psu_derating = inf", "power.psu_derating = inf is not a finite number"),
    ("limit_w = 250", "limit_w = 1e12", "power.limit_w = 1000000000000.0 is above its maximum"),
    ("memory_mib_ecc_off = 24576", "memory_mib_ecc_off = 9223372036854775807", "gpus.memory_mib_ecc_off"),
])
def test_nan_and_absurd_profile_numbers_are_usage_errors(run_suite, tmp_path, line, replacement, words):
    from gpuaccept import profile

    text = (profile.BUNDLED / "dual-p40.toml").read_text()
    assert line in text
    path = tmp_path / "site.toml"
    path.write_text(text.replace(line, replacement))
    run = run_suite("--profile", str(path), "--replay", str(HOSTS / "dual-p40"), timeout=SUITE_TIMEOUT)
    assert run.ret == 4 and words in run.stderr and "Traceback" not in run.stdout + run.stderr


def test_every_numeric_profile_key_has_a_range():
    import dataclasses
    import typing

    from gpuaccept import profile

    def numbers(cls, prefix=""):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                yield from numbers(hints[f.name], f"{prefix}{f.name}.")
            elif hints[f.name] in (int, float):
                yield f"{prefix}{f.name}", f.metadata

    unbounded = [key for key, rules in numbers(profile.Profile)
                 if "choices" not in rules and not ("min" in rules and "max" in rules)]
    assert unbounded == []


def test_from_dict_is_strict_and_names_the_path():
    good = json.loads((HOSTS / "dual-p40" / ev.NVML).read_text())["gpus"][0]
    assert from_dict(GpuFacts, good).memory_total_mib == 23040
    for key, value, words in [("power_enforced_limit_w", float("nan"), "is NaN"),
                              ("power_enforced_limit_w", float("inf"), "is Infinity"),
                              ("index", "1", "is a string"), ("index", False, "is a boolean"),
                              ("name", 7, "is a number"), ("ecc_enabled", 1, "expected true or false")]:
        with pytest.raises(Invalid, match=words) as err:
            from_dict(GpuFacts, {**good, key: value}, "gpus[3]")
        assert str(err.value).startswith(f"gpus[3].{key} ")
    with pytest.raises(Invalid, match=r"^index is missing$"):
        from_dict(GpuFacts, {"name": "Tesla P40"})
    with pytest.raises(Invalid, match=r"processes\[0\] is a list of 3, expected a list of 2"):
        from_dict(GpuSample, {"index": 0, "processes": [[1, 2.0, 3]]})
    with pytest.raises(Invalid, match=r"processes\[0\]\[0\] is a number \(1.5\), expected a whole number"):
        from_dict(GpuSample, {"index": 0, "processes": [[1.5, 2.0]]})
    assert from_dict(GpuSample, {"index": 0, "processes": [[1, 2]], "unknown": "ignored"}).processes == ((1, 2),)


def test_json_nan_infinity_and_overflow_are_refused_with_their_path():
    with pytest.raises(Invalid, match=r"^gpus\[1\]\.memory_total_mib is NaN$"):
        load_json('{"gpus": [{}, {"memory_total_mib": NaN}]}')
    with pytest.raises(Invalid, match=r"^a is -Infinity$"):
        load_json('{"a": -Infinity}')
    with pytest.raises(Invalid, match=r'^\["odd key"\]\[0\] is Infinity$'):
        load_json('{"odd key": [1e999]}')
    with pytest.raises(Invalid, match="nested too deeply"):
        load_json("[" * 100000 + "]" * 100000)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32"])
def test_text_is_decoded_by_its_byte_order_mark(encoding):
    text = "NVRM: Xid (PCI:0000:03:00): 79, GPU has fallen off the bus. — ü"
    assert ev.decode(text.encode(encoding)) == text
    assert ev.decode(b"caf\xe9") == "caf\ufffd"


def test_an_empty_pci_listing_is_an_answer_but_garbage_is_not(tmp_path):
    from gpuaccept.sources.build import build_facts

    folder = healthy_copy(tmp_path)
    (folder / ev.LSPCI).write_text("")  # what the collector writes when no NVIDIA function is on the bus
    facts = build_facts(ev.Evidence.read(folder), mode="replay", source="test")
    assert facts.pci.missing is None and facts.pci.devices == () and facts.unreadable == ()
    (folder / ev.LSPCI).write_text("lspci: Unable to load libkmod resources: error -2\n")
    facts = build_facts(ev.Evidence.read(folder), mode="replay", source="test")
    assert facts.pci.missing == "evidence unreadable: lspci-vvv.txt holds no PCI device line (lspci)"
    assert dict(facts.unreadable) == {ev.LSPCI: facts.pci.missing}


@pytest.mark.parametrize("name", sorted(p.name for p in HOSTS.iterdir() if p.is_dir()))
def test_the_checked_shapes_keep_everything_the_parsers_read(name):
    from gpuaccept import shapes
    from gpuaccept.parse.docker import parse_info, parse_inspect, parse_probe
    from gpuaccept.validate import conform

    parsers = {ev.DOCKER_INFO: (shapes.DockerInfo, parse_info), ev.DOCKER_PROBE: (shapes.GpuProbeRecord, parse_probe),
               ev.DOCKER_INSPECT: (shapes.DockerInspect, lambda items: parse_inspect(items, "ollama"))}
    compared = 0
    for file, (shape, parse) in parsers.items():
        path = HOSTS / name / file
        if path.exists():
            raw = json.loads(path.read_text())
            assert parse(conform(shape, raw)) == parse(raw), f"{name}/{file}: a key the parser reads is not in its shape"
            compared += 1
    assert compared or name.startswith("h100-live")


def test_a_key_given_twice_is_contradictory_and_judges_nothing(run_suite, tmp_path):
    folder = tmp_path / "evidence"
    shutil.copytree(HOSTS / "dual-p40", folder)
    text = (folder / "nvml.json").read_text()
    # The first value says 5 uncorrectable errors, the second 0: which one a reader takes is up to its parser.
    (folder / "nvml.json").write_text(text.replace('"ecc_uncorrected_aggregate": 0',
                                                   '"ecc_uncorrected_aggregate": 5, "ecc_uncorrected_aggregate": 0', 1))
    run = run_suite("--replay", str(folder))
    assert run.ret == 6 and "GPU-ECC" not in {c.requirement for c in run.cases if c.outcome == "passed"}
    assert "holds the key 'ecc_uncorrected_aggregate' twice" in run.messages("GPU-ECC")
