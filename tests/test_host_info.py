"""The host the evidence comes from (host-info.txt): collected live, parsed as untrusted text, and shown in the
report's Environment table apart from the machine that ran the suite."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import testinfra

from gpuaccept import evidence as ev
from gpuaccept.evidence import Evidence
from gpuaccept.parse.host_info import MAX_CHARS, parse_host_info
from gpuaccept.sources import host as host_commands
from gpuaccept.sources.build import build_facts
from tests.conftest import CAPTURES, HOSTS

VM_CAPTURE = CAPTURES / "host-info" / "debian12-vm-no-dmi.txt"
HOST_ROWS = ("Kernel", "OS", "CPU", "RAM", "BIOS", "Board")


def test_real_capture_of_a_vm_without_dmi_names_what_is_there_and_why_the_rest_is_not():
    info = parse_host_info(VM_CAPTURE.read_text())
    assert info.kernel == "Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64"
    assert info.os == "Debian GNU/Linux 12 (bookworm)"
    assert (info.cpu_model, info.cpu_count, info.mem_total_mib) == ("AMD EPYC", 2, 24684084 // 1024)
    assert info.bios is None and info.board is None
    assert "/sys/class/dmi/id" in info.why_missing("bios") and "virtual machines" in info.why_missing("board")


def test_the_live_command_reads_this_machine():
    outcome = host_commands.collect(testinfra.get_host("local://"), ev.HOST_INFO, timeout_s=20)
    assert outcome.text is not None, outcome.reason
    info = parse_host_info(outcome.text)
    uname = os.uname()
    assert info.kernel == f"{uname.sysname} {uname.release} {uname.version} {uname.machine}"
    assert info.cpu_count == len(re.findall(r"^processor\s*:", Path("/proc/cpuinfo").read_text(), re.MULTILINE))
    total_kib = int(re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE).group(1))
    assert info.mem_total_mib == total_kib // 1024


def test_hostile_values_become_one_bounded_printable_line():
    text = ("[uname -srvm]\nLinux 6.1\x1b[2J\x07 evil\n[/etc/os-release]\nPRETTY_NAME=\"<img src=x onerror=alert(1)>\"\n"
            "[/sys/class/dmi/id]\nbios_vendor=" + "A" * 5000 + "\nbios_version=1.0\x00\nboard_name=B\tC\n")
    info = parse_host_info(text)
    for value in (info.kernel, info.os, info.bios, info.board):
        assert value is not None and value.isprintable() and len(value) <= MAX_CHARS, value
    assert info.kernel == "Linux 6.1 [2J evil" and info.board == "B C"
    assert info.os == "<img src=x onerror=alert(1)>"  # kept as text; the report escapes it
    assert info.cpu_count is None and "[/proc/cpuinfo]" in info.why_missing("cpu_count")


def test_a_file_that_is_not_host_info_leaves_every_field_unreported_naming_the_file(tmp_path):
    folder = tmp_path / "set"
    shutil.copytree(HOSTS / "dual-p40", folder)
    (folder / ev.HOST_INFO).write_text("Segmentation fault\n")
    info = build_facts(Evidence.read(folder), mode="replay", source=str(folder)).host_info
    assert info.kernel is None and info.board is None
    assert "evidence unreadable: host-info.txt" in info.why_missing("kernel")


class _Blob(HTMLParser):
    blob = ""

    def handle_starttag(self, tag, attrs):
        self.blob = dict(attrs).get("data-jsonblob") or self.blob


def environment(run_dir: Path) -> dict[str, str]:
    page = _Blob()
    page.feed((run_dir / "report.html").read_text(encoding="utf-8"))
    return {k: html.unescape(v) for k, v in json.loads(page.blob)["environment"].items() if isinstance(v, str)}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_report_environment_describes_the_evidence_host_and_labels_the_suite_machine(run_suite, workers):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", *workers)
    assert run.ret == 0 and run.run_dir is not None, run.stdout[-2000:]
    env = environment(run.run_dir)
    assert env["Kernel"].startswith("Linux 6.8.0-48-generic") and env["OS"] == "Ubuntu 24.04.1 LTS"
    assert env["CPU"] == "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz, 56 logical CPUs"
    assert env["RAM"].startswith("257624 MiB") and env["BIOS"].startswith("American Megatrends Inc. 3.2")
    assert env["Board"].startswith("Supermicro X10DRG-Q")
    assert "Python" not in env and "Platform" not in env  # pytest-metadata's rows are the replaying machine's
    assert list(env)[-2:] == ["Suite ran on: Python", "Suite ran on: Platform"]  # xdist: the workers' rows too
    assert (run.run_dir / "evidence" / ev.HOST_INFO).is_file()  # saved with the run, so a replay of it shows them


def test_evidence_without_host_info_says_not_captured_and_why(run_suite):
    run = run_suite("--replay", str(HOSTS / "h100-live"), "--profile", "single-h100", "-m", "quick")
    assert run.run_dir is not None, run.stdout[-2000:]
    env = environment(run.run_dir)
    for row in HOST_ROWS:
        assert env[row].startswith("not captured (host-info.txt is not in the evidence folder"), (row, env[row])
