"""The kernel log the suite keeps must reach back to this boot: when `dmesg` lost the boot's start (the
ring buffer wrapped), the journal of this boot is read instead; when neither covers it, the covering
flag goes into the facts and GPU-XID says it is not evaluated. Real commands on a local testinfra host,
with stand-in `dmesg` and `journalctl` scripts first on PATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import testinfra

from gpuaccept import evidence as ev
from gpuaccept.sources import host as host_commands

WRAPPED = "[ 9000.100000] nvidia-uvm: Loaded the UVM driver, major device number 505.\n"
JOURNAL = ("Dec 07 08:00:01 gpu01 kernel: Linux version 6.8.0-51-generic (buildd@lcy02-amd64-091) #52-Ubuntu SMP\n"
           "Dec 07 08:00:05 gpu01 kernel: NVRM: loading NVIDIA UNIX x86_64 Kernel Module  580.159.03\n")


def _stand_ins(folder: Path, dmesg: str, journal: str | None) -> None:
    for name, text in (("dmesg", dmesg), ("journalctl", journal)):
        script = folder / name
        body = f"cat <<'EOF'\n{text}EOF\n" if text is not None else "echo 'No journal files were found.' >&2; exit 1\n"
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _collect(tmp_path, monkeypatch, dmesg: str, journal: str | None) -> host_commands.Outcome:
    _stand_ins(tmp_path, dmesg, journal)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return host_commands.collect(testinfra.get_host("local://"), ev.DMESG, timeout_s=20)


def test_a_wrapped_dmesg_gives_way_to_the_journal_of_this_boot(tmp_path, monkeypatch):
    outcome = _collect(tmp_path, monkeypatch, WRAPPED, JOURNAL)
    assert outcome.command.startswith("journalctl -k -b") and "Linux version" in outcome.text


def test_a_dmesg_that_reaches_back_is_kept(tmp_path, monkeypatch):
    outcome = _collect(tmp_path, monkeypatch, "[    0.000000] Linux version 6.8.0\n" + WRAPPED, JOURNAL)
    assert outcome.command == "dmesg" and outcome.reason is None


def test_when_nothing_covers_the_boot_the_first_answer_is_kept(tmp_path, monkeypatch):
    outcome = _collect(tmp_path, monkeypatch, WRAPPED, None)
    assert outcome.command == "dmesg" and outcome.text == WRAPPED  # judged: not evaluated (tests/test_memory_health)


def test_a_boot_banner_stamped_long_after_boot_is_no_boot():
    """The kernel prints its banner in its first second: one stamped at 80000 s is a line that looks like it
    (a wrapped log holding a copy), so it does not make the log reach back; a banner without an uptime stamp
    (syslog, journal) and one at 0.0 s still do."""
    from gpuaccept.parse.kernel_log import reaches_back

    assert not reaches_back("[80000.100000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/sda1\n"
                            "[80001.000000] eth0: link up\n")
    assert reaches_back("[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/sda1\n")
    assert reaches_back(JOURNAL)
