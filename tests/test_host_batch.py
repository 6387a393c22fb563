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


@pytest.mark.parametrize("answer", [
    b"",  # mktemp failed: nothing framed
    b"{mark} 0 0 3 0\nhi\n",  # a frame cut short
    b"{mark} 0 0 2 0\nhi",  # one frame of two
    b"{mark} 0 0 2 0\nhi{mark} 1 0 0 0\nmore",  # something after the last frame
    b"{mark} 1 0 2 0\nhi{mark} 0 0 0 0\n",  # frames out of order
    b"{mark} 0 x 2 0\nhi{mark} 1 0 0 0\n",  # a status that is no number
    b"other-mark 0 0 2 0\nhi{mark} 1 0 0 0\n",  # another batch's mark
])
def test_an_answer_that_does_not_split_exactly_is_not_used(answer, monkeypatch):
    monkeypatch.setattr(host_commands.secrets, "token_hex", lambda n: "f" * 2 * n)
    mark = f"{host_commands._BATCH}-{'f' * 16}".encode()

    class Host:
        def run(self, script):
            return Answer(answer.replace(b"{mark}", mark))

    assert host_commands.run_many(Host(), ["a", "b"], 1) is None


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
