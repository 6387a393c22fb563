"""Host commands in one batch (one call of the connection) give what each gives alone, or nothing to trust."""

from __future__ import annotations

import os

import pytest
import testinfra

from gpuaccept import evidence as ev
from gpuaccept.sources import host as host_commands
from gpuaccept.sources.live import gather
from tests.conftest import HOSTS
from tests.test_fleet import standins

COMMANDS = ["echo hi; echo err >&2", "printf 'a\\0b\\n'; exit 3", "nosuchcmd-gpuaccept", "sleep 5",
            "head -c 100 /dev/zero", "printf 'gpuaccept-batch-0 0 0 0 0\\n'", "true", "printf '\\377\\376 not utf-8'"]


def test_a_batch_gives_each_command_what_it_gives_alone():
    local = testinfra.get_host("local://")
    batch = host_commands.run_many(local, COMMANDS, 1, max_bytes=50)
    alone = [host_commands.run(local, command, 1, 50) for command in COMMANDS]
    assert batch == alone
    assert [r.rc for r in batch][:5] == [0, 3, 127, 124, 0] and batch[4].cut and not batch[0].cut


class Answer:
    def __init__(self, stdout: bytes):
        self.rc, self.stdout_bytes, self.stderr_bytes = 0, stdout, b""


VALID = b"{mark} 0\n 68 69\n{mark} 0 end 0 3\nerr{mark} 1\n{mark} 1 end 7 0\n"


@pytest.mark.parametrize("answer", [
    b"",  # mktemp or od missing: nothing framed
    b"{mark} 0\n 68 69\n",  # a frame cut short
    b"{mark} 0\n 68 69\n{mark} 0 end 0 0\n",  # one frame of two
    VALID + b"more",  # something after the last frame
    b"{mark} 1\n{mark} 1 end 0 0\n{mark} 0\n{mark} 0 end 0 0\n",  # frames out of order
    b"{mark} 0\n{mark} 0 end x 0\n{mark} 1\n{mark} 1 end 0 0\n",  # a status that is no number
    b"{mark} 0\n{mark} 0 end  0\n{mark} 1\n{mark} 1 end 0 0\n",  # no status (its file could not be written)
    b"{mark} 0\nhello\n{mark} 0 end 0 0\n{mark} 1\n{mark} 1 end 0 0\n",  # output that is not od's hex
    b"{mark} 0\n 6\n{mark} 0 end 0 0\n{mark} 1\n{mark} 1 end 0 0\n",  # half a byte
    b"{mark} 0\n{mark} 0 end 0 99\n{mark} 1\n{mark} 1 end 0 0\n",  # stderr longer than what came
    VALID.replace(b"{mark}", b"gpuaccept-batch-0000000000000000"),  # another batch's mark
])
def test_an_answer_that_does_not_split_exactly_is_not_used(answer, monkeypatch):
    monkeypatch.setattr(host_commands.secrets, "token_hex", lambda n: "f" * 2 * n)
    mark = f"{host_commands._BATCH}-{'f' * 16}".encode()

    class Host:
        def __init__(self, said: bytes):
            self.said = said

        def run(self, script):
            return Answer(self.said.replace(b"{mark}", mark))

    assert host_commands.run_many(Host(answer), ["a", "b"], 1) is None
    assert host_commands.run_many(Host(VALID), ["a", "b"], 1) == [  # the control: a valid answer splits
        host_commands.Result(0, "hi", "err", False), host_commands.Result(7, "", "", False)]


def test_a_batch_on_a_host_whose_disk_is_full_cuts_nothing(tmp_path, monkeypatch):
    """The host's temporary folder takes no byte (a full disk): the output never waits there, so it comes
    whole; the status cannot be written, so the batch is not used and each command runs alone."""
    full = tmp_path / "full"
    full.mkdir()
    monkeypatch.setenv("TMPDIR", str(full))
    full.chmod(0o500)  # nothing can be created there, as on a full disk
    try:
        local = testinfra.get_host("local://")
        got = host_commands.run_many(local, ["seq 1 20000", "echo two"], 5)
        if os.geteuid() != 0:  # root writes through the mode: the batch then splits, whole
            assert got is None
        else:
            assert got is not None and got[0].stdout == "".join(f"{n}\n" for n in range(1, 20001))
    finally:
        full.chmod(0o700)


class Counting:
    """testinfra's local host, counting the calls of its connection."""

    def __init__(self):
        self.host, self.calls = testinfra.get_host("local://"), 0

    def run(self, command):
        self.calls += 1
        return self.host.run(command)


def test_a_host_collection_is_one_call_of_the_connection_and_the_same_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{standins(tmp_path, HOSTS / 'dual-p40')}:{os.environ['PATH']}")
    asks = [(name, None) for name in host_commands.COMMANDS]
    counting = Counting()
    batched: tuple[dict, dict, dict] = ({}, {}, {})
    gather(counting, 10, asks, *batched)
    monkeypatch.setattr(host_commands, "run_many", lambda *a, **k: None)  # a host that cannot frame a batch
    alone: tuple[dict, dict, dict] = ({}, {}, {})
    gather(testinfra.get_host("local://"), 10, asks, *alone)
    assert batched == alone and ev.LSPCI in batched[0]
    fallbacks = sum(1 for name, used in batched[2].items() if used != host_commands.COMMANDS[name][0])
    assert counting.calls == 1 + fallbacks  # the batch, and a fallback command only where a first one failed


def test_a_host_flooding_its_commands_is_not_held_whole_on_this_side(monkeypatch):
    """The batch's answer is cut at its bound: past it the frames do not split, and each command runs alone
    (under its own cap), so floods cost at most the bound here."""
    monkeypatch.setattr(host_commands, "BATCH_MAX_BYTES", 3000)
    local = testinfra.get_host("local://")
    assert host_commands.run_many(local, ["head -c 600 /dev/zero", "head -c 600 /dev/zero"], 5) is None
    small = host_commands.run_many(local, ["head -c 100 /dev/zero", "echo two"], 5)
    assert small is not None and small[0].stdout == "\0" * 100 and small[1].stdout == "two\n"
