"""Host commands and files through the testinfra ``host``: lspci, /proc, /sys, lsmod, the kernel log.

testinfra runs commands without a time limit and keeps all they print, so every command goes through
``timeout`` (a stuck ``nvidia-smi`` or an NFS-hung ``/proc`` read cannot hang the run) and ``head -c``
(a command that prints for ever is cut at OUTPUT_MAX_BYTES, and stops on SIGPIPE: memory stays flat).
Output over the cap is not judged: a cut kernel log could hide the very line a requirement looks for.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass

from gpuaccept import evidence
from gpuaccept.parse.kernel_log import reaches_back

MIB = 1024 * 1024
OUTPUT_MAX_BYTES = 32 * MIB  # real outputs (lspci -vvv, a boot's kernel log, nvidia-smi -q -x) are far smaller
STDERR_MAX_BYTES = 64 * 1024  # only its first line reaches a message

# Each evidence file and the commands that may produce it, tried in order.
COMMANDS: dict[str, tuple[str, ...]] = {
    evidence.LSPCI: ("lspci -vvv -nn -D -d 10de:",),
    evidence.SYSFS_PCI: (
        "[ -d /sys/bus/pci/devices ] || exit 3; for d in /sys/bus/pci/devices/*; do [ \"$(cat $d/vendor)\" = 0x10de ] || continue; "
        "echo \"device ${d##*/}\"; "
        "for a in vendor device class max_link_speed max_link_width current_link_speed current_link_width "
        "link/l0s_aspm link/l1_aspm; do [ -r $d/$a ] && echo \"${a##*/}=$(cat $d/$a)\"; done; "
        "[ -e $d/driver ] && echo \"driver=$(basename $(readlink $d/driver))\"; "
        "echo \"resource1=$(sed -n 2p $d/resource)\"; done",
    ),
    evidence.PROC_VERSION: ("cat /proc/driver/nvidia/version",),
    evidence.LSMOD: ("lsmod", "cat /proc/modules"),
    evidence.DMESG: ("dmesg", "journalctl -k -b --no-pager -q"),
    evidence.TOPO: ("nvidia-smi topo -m",),
    evidence.SMI_XML: ("nvidia-smi -q -x",),
    evidence.PERSISTENCED: ("systemctl show nvidia-persistenced --property=LoadState,UnitFileState,ActiveState,"
                            "SubState --no-pager",),
}

# The host the evidence comes from, for the report's Environment table: one file of labelled sections,
# each the raw output of its source, so one unreadable source leaves only its own section empty. DMI files
# named here are world-readable (the serial numbers, root-only, are not asked for).
DMI_FIELDS = ("bios_vendor", "bios_version", "bios_date", "board_vendor", "board_name", "sys_vendor", "product_name")
COMMANDS[evidence.HOST_INFO] = (
    "echo '[uname -srvm]'; uname -srvm 2>/dev/null; "
    "echo '[/etc/os-release]'; grep -E '^(PRETTY_NAME|NAME|VERSION)=' /etc/os-release 2>/dev/null; "
    "echo '[/proc/cpuinfo]'; grep -E '^(processor|model name)[[:space:]]*:' /proc/cpuinfo 2>/dev/null; "
    "echo '[lscpu]'; LC_ALL=C lscpu 2>/dev/null | grep -E '^(Model name|CPU\\(s\\)|Socket\\(s\\)):'; "
    "echo '[/proc/meminfo]'; grep '^MemTotal:' /proc/meminfo 2>/dev/null; "
    "echo '[/sys/class/dmi/id]'; for f in " + " ".join(DMI_FIELDS) + "; do "
    "[ -r /sys/class/dmi/id/$f ] && echo \"$f=$(cat /sys/class/dmi/id/$f 2>/dev/null)\"; done; true",
)

# Asked only when the usual source gave nothing: an Ollama installed as a systemd service (not in
# Docker) logs to the journal.
FALLBACKS: dict[str, tuple[str, ...]] = {
    evidence.OLLAMA_LOG: ("journalctl -u ollama -b --no-pager -q",),
}

# Outputs that answer only when they cover enough: a kernel log that lost this boot's start (the ring
# buffer wrapped) gives way to the next command (the journal of this boot), kept only if none covers.
COVERS = {evidence.DMESG: reaches_back}

# Commands whose empty output is an answer: no NVIDIA function on the bus.
EMPTY_IS_ANSWER = {evidence.LSPCI, evidence.SYSFS_PCI}
# How messages name a command too long to quote.
LABELS = {evidence.SYSFS_PCI: "listing NVIDIA functions in /sys/bus/pci/devices",
          evidence.HOST_INFO: "reading uname, /etc/os-release, /proc/cpuinfo, lscpu, /proc/meminfo and /sys/class/dmi/id"}

_HINTS = {
    evidence.LSPCI: "install pciutils for lspci",
    evidence.PROC_VERSION: "the nvidia kernel module is not loaded",
    evidence.DMESG: "reading the kernel log needs root (or membership of the adm/systemd-journal group)",
    evidence.TOPO: "nvidia-smi is missing or failed",
    evidence.SMI_XML: "nvidia-smi is missing or failed",
    evidence.PERSISTENCED: "no systemd on this host",
    evidence.OLLAMA_LOG: "no ollama container, and no ollama systemd unit in this boot's journal",
}


@dataclass(frozen=True)
class Outcome:
    text: str | None
    reason: str | None
    command: str


@dataclass(frozen=True)
class Result:
    rc: int  # 124: it ran out of time
    stdout: str
    stderr: str
    cut: bool  # stdout was longer than the cap and is cut there


def _wrapped(command: str, timeout_s: float, max_bytes: int) -> str:
    """``command`` under ``timeout``, stdout through ``head -c max_bytes+1`` (one byte more tells a cut),
    stderr through its own ``head``; the command's status comes back on fd 6, captured apart from both."""
    timed = f"timeout -k 2 {timeout_s:g} sh -c {shlex.quote(command)} 6>&- 8>&-"
    return (f"exec 8>&1; rc=$( {{ {{ {{ {timed}; echo $? >&6; }} 2>&1 1>&7 7>&- | head -c {STDERR_MAX_BYTES} >&2; "
            f"}} 7>&1 | head -c {max_bytes + 1} >&8; }} 6>&1 ); exit ${{rc:-125}}")


def _result(rc: int, out: bytes, err: bytes, max_bytes: int) -> Result:
    # Text, whatever the bytes: a stray non-UTF-8 byte must not turn into a traceback.
    return Result(rc, out[:max_bytes].decode("utf-8", "replace"), err.decode("utf-8", "replace"), len(out) > max_bytes)


def run(host, command: str, timeout_s: float, max_bytes: int = OUTPUT_MAX_BYTES) -> Result:
    """Run one shell command on the testinfra host under ``timeout``, its output capped by ``head -c``."""
    result = host.run(_wrapped(command, timeout_s, max_bytes))
    return _result(result.rc, result.stdout_bytes, result.stderr_bytes, max_bytes)


_BATCH = "gpuaccept-batch"
BATCH_MAX_BYTES = 2 * 3 * OUTPUT_MAX_BYTES  # od writes 3 bytes a byte: two commands' whole outputs


def run_many(host, commands: list[str], timeout_s: float, max_bytes: int = OUTPUT_MAX_BYTES) -> list[Result] | None:
    """Several commands in one call of the connection (one ``docker exec``, one ssh session instead of one
    each): every command as ``run`` runs it (its own timeout and caps), one after the other.

    Each command's stdout goes straight through ``od`` (hex, so no output can look like a frame, and nothing
    of it waits on the host's disk, where a full disk or a file-size limit could cut it unseen); its status
    and its capped stderr wait in a temporary folder until they are sent, after it. None where the answer
    cannot be split so (no mktemp or od there, a frame missing, a status that is no number, anything after
    the last): the caller runs the commands one by one instead."""
    mark = f"{_BATCH}-{secrets.token_hex(8)}"
    steps = [f'printf "{mark} {i}\\n"; {{ ( {_wrapped(command, timeout_s, max_bytes)} ) 2>"$t/e"; echo $? >"$t/r"; }} '
             f'| od -An -v -tx1; printf "{mark} {i} end %s %s\\n" "$(cat "$t/r")" "$(wc -c <"$t/e")"; cat "$t/e"; '
             f'rm -f "$t/e" "$t/r"'
             for i, command in enumerate(commands)]
    # The whole answer is cut at two commands' caps in hex: a host flooding several commands never makes this
    # side hold more than that at once (a cut answer does not split, and each command then runs alone).
    script = ("{ command -v od >/dev/null || exit 125; t=$(mktemp -d) || exit 125; trap 'rm -rf \"$t\"' EXIT; "
              "trap 'exit 129' HUP INT TERM; " + "; ".join(steps) + f"; }} | head -c {BATCH_MAX_BYTES}")
    return _frames(host.run(script).stdout_bytes, mark, len(commands), max_bytes)


_HEX = re.compile(rb"[0-9a-f ]*")


def _frames(out: bytes, mark: str, count: int, max_bytes: int) -> list[Result] | None:
    results, pos = [], 0
    for i in range(count):
        opening, closing = f"{mark} {i}\n".encode(), f"{mark} {i} end ".encode()
        if not out.startswith(opening, pos):
            return None
        body = pos + len(opening)
        end = out.find(b"\n" + closing, body - 1)
        if end < 0:
            return None
        hexed = out[body:end + 1]
        if not all(_HEX.fullmatch(line) for line in hexed.split(b"\n")):
            return None
        line_end = out.find(b"\n", end + 1 + len(closing))
        fields = out[end + 1 + len(closing):line_end].split() if line_end >= 0 else []
        if len(fields) != 2 or not all(f.isdigit() for f in fields):
            return None
        rc, err_size = int(fields[0]), int(fields[1])
        err_at = line_end + 1
        if err_at + err_size > len(out):
            return None
        try:
            stdout = bytes.fromhex(hexed.decode("ascii"))
        except ValueError:
            return None
        results.append(_result(rc, stdout, out[err_at:err_at + err_size], max_bytes))
        pos = err_at + err_size
    return results if pos == len(out) else None


def connection_words(err: BaseException) -> str:
    """What the connection said, in one line. testinfra's ssh backend raises RuntimeError(CommandResult) when
    ssh itself fails (exit 255): ssh's own last line (``connect to host ... Connection refused``) is the
    reason, never the result's Python repr. Read from its raw bytes: decoding them through the result
    would ask the host (which just failed) for its encoding."""
    result = err.args[0] if err.args else None
    raw = getattr(result, "_stderr", None) if hasattr(result, "exit_status") else None
    if isinstance(raw, (bytes, str)):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        said = [line.strip() for line in text.splitlines() if line.strip()]
        last = "".join(c if c.isprintable() else "?" for c in said[-1][:300]) if said else ""
        return f"ssh exited {result.exit_status}" + (f": {last}" if last else " and said nothing")
    words = " ".join(str(err).split())[:300]
    return f"{type(err).__name__}: {words}" if words else type(err).__name__


def label_of(name: str, command: str) -> str:
    return LABELS.get(name, command)


def collect(host, name: str, timeout_s: float, commands: tuple[str, ...] | None = None,
            first: Result | None = None) -> Outcome:
    """Produce one evidence file by the first command that succeeds with output. ``first``: what the first
    command gave already (run in a batch with other files' commands), so it is not run again."""
    commands = commands or COMMANDS[name]
    failures = []
    partial: Outcome | None = None
    for number, command in enumerate(commands):
        result = first if number == 0 and first is not None else run(host, command, timeout_s)
        rc, out, err = result.rc, result.stdout, result.stderr
        if result.cut:
            failures.append(f"`{label_of(name, command)}` printed more than {OUTPUT_MAX_BYTES // MIB} MiB: "
                            "cut there and not judged")
            continue
        if rc == 0 and (out.strip() or name in EMPTY_IS_ANSWER):
            covers = COVERS.get(name)
            if covers is None or covers(out):
                return Outcome(out, None, command)
            partial = partial or Outcome(out, None, command)  # the first that answered, if none covers
            failures.append(f"`{label_of(name, command)}` does not reach back to this boot")
            continue
        label = label_of(name, command)
        if rc == 124:
            failures.append(f"`{label}` did not finish within {timeout_s:g} s")
        elif rc == 127:
            failures.append(f"`{command.split()[0]}` is not installed")
        elif rc == 0:
            failures.append(f"`{label}` printed nothing")
        else:
            detail = (err.strip() or out.strip()).splitlines()
            failures.append(f"`{label}` exited {rc}" + (f": {detail[0][:200]}" if detail else ""))
    if partial is not None:
        return partial
    hint = _HINTS.get(name)
    return Outcome(None, "; ".join(failures) + (f" ({hint})" if hint else ""), commands[-1])
