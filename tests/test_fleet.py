"""Fleet runs: the suite over testinfra's --hosts, one folder per host, fleet.json and fleet.html.

Simulated servers are busybox containers (tests/engine/fleet_host.py) reached through testinfra's
``docker://`` backend on the bare test engine (they need no NVIDIA runtime, and the container tests empty
the toolkit engine), each carrying a bundled evidence set; one SSH host is this machine through an sshd the
test starts on 127.0.0.1, its tools replaced by the same stand-ins.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra

from gpuaccept import evidence as ev
from gpuaccept.fleet import clashes, folder_name, is_fleet, split_case
from gpuaccept.fleet.record import host_cases, ordered
from gpuaccept.fleet.remote import Unreachable, collect_remote, loopback
from gpuaccept.sources import host as host_commands
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS, ROOT, free_port, read_junit
from tests.engine import fleet_host
from tests.test_summary_schema import check as check_schema

# Each faulty host differs from dual-p40 exactly here (the quick tier, requirement -> outcome).
DIFFERS = {
    "dual-p40": {},
    "dual-p40-x8-link": {"PCIE-WIDTH": "fail"},
    "dual-p40-xid-79": {"GPU-XID": "fail"},
    # its server log saw CUDA 13.0, NVML says CUDA 12.2: a log of another driver is not evaluated
    # and the fleet's other hosts agree on 580.159.03 (FLEET-CONSISTENT names the odd one out)
    "dual-p40-driver-535": {"DRV-VERSION": "fail", "OLL-GPUS-DETECTED": "not_evaluated", "FLEET-CONSISTENT": "fail"},
    "dual-p40-vbios-differs": {"GPU-IDENTICAL": "fail", "FLEET-CONSISTENT": "fail"},
    "dual-p40-api-exposed": {"CTR-EXPOSURE": "fail"},
    "dual-p40-container-one-gpu": {"CTR-GPU-REQUEST": "fail", "CTR-SEES-GPUS": "fail", "OLL-GPUS-DETECTED": "fail"},
    "dual-p40-no-toolkit": {"CTR-TOOLKIT": "not_evaluated", "CTR-RUNNING": "fail", "CTR-GPU-REQUEST": "not_evaluated",
                            "CTR-SEES-GPUS": "not_evaluated", "CTR-CONFIG": "not_evaluated",
                            "CTR-EXPOSURE": "not_evaluated", "OLL-GPUS-DETECTED": "not_evaluated"},
}


def test_host_ids_are_matched_whole():
    hosts = {"docker://a", "docker://a-b"}
    assert split_case("docker://a", hosts) == ("docker://a", None)
    assert split_case("docker://a-gpu1", hosts) == ("docker://a", 1)
    assert split_case("docker://a-b-gpu0", hosts) == ("docker://a-b", 0)
    assert split_case("docker://a-c", hosts) is None
    assert clashes({"ssh://n", "ssh://n-gpu1"}) == ["ssh://n-gpu1"]
    cases = [{"id": "test_pcie_width[docker://a-b-gpu1]", "requirement": "PCIE-WIDTH", "outcome": "fail"},
             {"id": "test_gpu_count[docker://a]", "requirement": "GPU-COUNT", "outcome": "pass"}]
    assert [c["id"] for c in host_cases(cases, "docker://a-b", hosts)] == ["test_pcie_width[gpu1]"]
    assert [c["id"] for c in host_cases(cases, "docker://a", hosts)] == ["test_gpu_count"]
    assert folder_name("ssh://root@gpu01:2222") == "ssh-root_gpu01_2222"


def test_only_other_hosts_make_a_fleet():
    assert not is_fleet(None) and not is_fleet("local://") and not is_fleet("local://,local://")
    assert is_fleet("docker://a") and is_fleet("local://,ssh://b")


def test_unreachable_and_failing_hosts_come_first():
    rows = [{"host": h, "verdict": v, "unreachable": u} for h, v, u in
            [("ssh://a", "ACCEPTED", ""), ("ssh://b", "INCOMPLETE", ""), ("ssh://c", "NOT ACCEPTED", ""),
             ("ssh://d", "NOT ACCEPTED", "refused")]]
    assert [r["host"] for r in ordered(rows)] == ["ssh://d", "ssh://c", "ssh://b", "ssh://a"]


@pytest.mark.parametrize(("url", "local"), [("http://127.0.0.1:11434", True), ("http://localhost:11434", True),
                                            ("http://[::1]:11434", True), ("http://10.0.0.5:11434", False),
                                            ("http://gpu01.example:11434", False)])
def test_the_servers_own_loopback_is_not_reachable_from_the_control_node(url, local):
    assert loopback(url) is local


def standins(folder: Path, evidence: Path) -> Path:
    """fleet_host's stand-in tools, reading ``evidence`` instead of /gpu/: a PATH for a host's commands."""
    data = folder / "gpu"
    data.mkdir(parents=True)
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(fleet_host.evidence_tar(evidence))) as tar:
        tar.extractall(data, filter="data")
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    for name, script in fleet_host.STANDINS.items():
        if name == "timeout":
            continue  # this machine's own timeout runs its own sh
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + script.replace("/gpu/", f"{data}/"))
        path.chmod(0o755)
    return bin_dir


def test_remote_collection_reads_the_gpus_from_nvidia_smi_xml(tmp_path, monkeypatch):
    """The same collection a remote host gets, through testinfra's local backend with stand-in tools."""
    bin_dir = standins(tmp_path, HOSTS / "dual-p40-x8-link")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    evidence = collect_remote(testinfra.get_host("local://"), "local://", 10)
    assert ev.NVML not in evidence.files and "nvidia-smi -q -x" in evidence.absent[ev.NVML]
    assert ev.SMI_XML in evidence.files and evidence.meta["hostname"] == socket.gethostname()
    facts = build_facts(evidence, mode="live", source="local://")
    assert [g.pcie_width_current for g in facts.gpus] == [16, 8]  # the x8 link, read from the XML
    assert facts.nvml.source == ev.SMI_XML


def test_a_host_that_answers_nothing_is_unreachable_with_the_reason():
    class Broken:
        def run(self, command):
            raise ConnectionRefusedError("[Errno 111] Connection refused")

    with pytest.raises(Unreachable, match="Connection refused"):
        collect_remote(Broken(), "ssh://gone", 5)


def test_local_hosts_keep_the_single_host_run(run_suite):
    plain = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    local = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--hosts=local://")
    assert plain.ret == local.ret
    assert [c.name for c in plain.cases] == [c.name for c in local.cases]
    assert "test_pcie_width[gpu1]" in [c.name for c in local.cases]
    assert not local.run_dir.name.startswith("fleet-") and (local.run_dir / "evidence").is_dir()


def test_hosts_cannot_be_combined_with_replay(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "--hosts=docker://a")
    assert run.ret == 4
    assert "--replay judges one saved folder; it cannot be combined with --hosts" in run.stderr


@pytest.mark.parametrize(("hosts", "words"), [
    ("ssh://127.0.0.1:1,ssh://127.0.0.1:2", "ssh://127.0.0.1 names more than one host"),
    ("ssh://caf\u00e9", "a host name of other than printable ASCII characters"),
])
def test_hosts_that_would_be_judged_as_one_or_not_at_all_are_refused(run_suite, hosts, words):
    run = run_suite("-m", "quick", f"--hosts={hosts}", "--collect-timeout", "5")
    assert run.ret == 4 and words in run.stderr, run.stderr


@pytest.mark.parametrize(("option", "words"), [
    (("--baseline", "latest-accepted"), "--baseline compares one host with its own earlier run"),
    (("--prometheus-textfile", "."), "--prometheus-textfile writes this machine's metrics"),
])
def test_per_machine_options_are_refused_with_hosts_never_ignored(run_suite, option, words):
    run = run_suite("-m", "quick", "--hosts=docker://a", *option)
    assert run.ret == 4 and words in run.stderr, run.stderr


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the ssh client is missing (apt-get install openssh-client)")
def test_an_unreachable_host_fails_its_requirements_within_the_connection_timeout(run_suite):
    port = free_port()  # a loopback port nobody listens on: the connection is refused at once
    started = time.monotonic()
    run = run_suite("-m", "quick", f"--hosts=ssh://127.0.0.1:{port}", "--collect-timeout", "5")
    assert time.monotonic() - started < 60
    assert run.ret == 1 and run.run_dir.name.startswith("fleet-")
    assert run.cases and all(c.outcome == "failed" and "host unreachable:" in c.message for c in run.cases)
    assert "Connection refused" in run.cases[0].message
    # ssh's own words in one line, never testinfra's CommandResult repr
    assert "CommandResult" not in run.stdout and "backend=" not in run.cases[0].message, run.cases[0].message
    assert "ssh exited 255: ssh: connect to host 127.0.0.1 port" in run.cases[0].message, run.cases[0].message
    fleet = json.loads((run.run_dir / "fleet.json").read_text())
    assert fleet["unreachable"] == 1 and "Connection refused" in fleet["hosts"][0]["unreachable"]


def _suite(run_suite, hosts: list[str], *args: str):
    return run_suite("-m", "quick", f"--hosts={','.join(hosts)}", *args, timeout=300)


def _verify(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpuaccept", "verify", str(folder), *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


@pytest.fixture
def simulated(engines, monkeypatch):
    """Start simulated hosts on the bare engine (names gpuat-fleet-*); removes only those it started."""
    client = engines["bare"].client()
    fleet_host.build(client)
    monkeypatch.setenv("DOCKER_HOST", engines["bare"].base_url)
    started: list[str] = []

    def start(variants: list[str]) -> dict[str, str]:
        names = {v: fleet_host.start(client, HOSTS / v) for v in variants}
        started.extend(names.values())
        return names

    def alive(names) -> bool:
        present = {c.name for c in client.containers.list(filters={"label": fleet_host.LABEL})}
        return set(names) <= present

    yield start, alive, client
    fleet_host.remove(client, started)


@pytest.mark.docker
def test_a_fleet_of_nine_in_parallel_differs_exactly_where_the_evidence_does(run_suite, simulated):
    start, alive, client = simulated
    for _attempt in range(2):  # the shared test engines are emptied by other container tests: start again once
        names = start(list(DIFFERS))
        missing = "docker://gpuat-fleet-no-such-host"
        hosts = [f"docker://{n}" for n in names.values()] + [missing]
        run = _suite(run_suite, hosts, "-n", "2")
        if alive(names.values()):
            break
    assert run.ret == 1, run.stdout[-3000:]
    assert run.run_dir.name.startswith("fleet-")
    fleet = json.loads((run.run_dir / "fleet.json").read_text())
    rows = {r["host"]: r for r in fleet["hosts"]}
    base = rows[f"docker://{names['dual-p40']}"]["requirements"]
    assert base["PCIE-WIDTH"] == "pass" and base["GPU-COUNT"] == "pass"
    # The Ollama API on the server's loopback cannot be asked from here: not evaluated, with the reason.
    assert base["OLL-API"] == "not_evaluated" and rows[f"docker://{names['dual-p40']}"]["verdict"] == "INCOMPLETE"
    for variant, differs in DIFFERS.items():
        got = rows[f"docker://{names[variant]}"]["requirements"]
        assert {k: v for k, v in got.items() if base[k] != v} == differs, variant
    # The unreachable host: every requirement failed with the reason; it comes first; the others finished.
    assert fleet["hosts"][0]["host"] == missing and "No such container" in fleet["hosts"][0]["unreachable"]
    theirs = [c for c in run.cases if missing in c.name]
    assert theirs and all(c.outcome == "failed" and c.message.startswith("Failed: host unreachable: ") for c in theirs)
    names_in_junit = {c.name for c in run.cases}
    assert f"test_pcie_width[docker://{names['dual-p40-x8-link']}-gpu1]" in names_in_junit
    assert f"test_gpu_count[docker://{names['dual-p40']}]" in names_in_junit
    # Each host's facts were collected once, by one worker.
    for name in names.values():
        calls = client.containers.get(name).exec_run(["cat", "/tmp/nvidia-smi-calls"]).output.decode()
        assert calls.count("-q -x") == 1, name
    # One folder per host, verifiable and replayable alone, giving that host's verdicts again.
    x8 = run.run_dir / folder_name(f"docker://{names['dual-p40-x8-link']}")
    assert _verify(x8).returncode == 0 and _verify(run.run_dir).returncode == 0
    summary = json.loads((x8 / "summary.json").read_text())
    assert summary["requirements"]["PCIE-WIDTH"]["outcome"] == "fail"
    check_schema(summary)  # a fleet host's record is a record like any other
    assert "test_pcie_width[gpu1]" in [c["id"] for c in summary["requirements"]["PCIE-WIDTH"]["cases"]]
    replay = run_suite("-m", "quick", "--replay", str(x8))
    replayed = {rid: {c.outcome for c in replay.cases if c.requirement == rid} for rid in summary["requirements"]}
    assert replayed["PCIE-WIDTH"] == {"failed", "passed"} and replay.ret == 1
    assert (run.run_dir / "fleet.html").read_text().count(f'href="{x8.name}/report.html#PCIE-WIDTH"') == 1
    assert 'id="PCIE-WIDTH"' in (x8 / "report.html").read_text()
    # The odd hosts out are named with their value and the value the others agree on; the agreeing pass.
    odd = json.loads((run.run_dir / folder_name(f"docker://{names['dual-p40-driver-535']}") / "summary.json").read_text())
    said = odd["requirements"]["FLEET-CONSISTENT"]["cases"][0]["message"]
    assert "driver 535.309.01, where 7 of 8 hosts have 580.159.03" in said, said
    assert "kernel module 535.309.01, where 7 of 8 hosts have 580.159.03" in said
    flashed = json.loads((run.run_dir / folder_name(f"docker://{names['dual-p40-vbios-differs']}")
                          / "summary.json").read_text())["requirements"]["FLEET-CONSISTENT"]["cases"][0]["message"]
    assert "Tesla P40 VBIOS 86.02.23.00.00, 86.02.4B.00.01, where 7 of 8 hosts have 86.02.23.00.00" in flashed
    assert "agrees with the 7 other host(s) of profile dual-p40" in summary["requirements"]["FLEET-CONSISTENT"]["cases"][0]["message"]
    assert replayed["FLEET-CONSISTENT"] == {"passed"}  # the host's folder holds the peers' figures it was judged on
    # The files of a single-host run folder (tests/test_host_folder.py holds them against one).
    assert {p.name for p in x8.iterdir()} == {"evidence", "summary.json", "report.html", "junit.xml", "metrics.prom",
                                         "MANIFEST.sha256"}
    assert ("test_pcie_width[gpu1]", "PCIE-WIDTH", "failed") in {(c.name, c.requirement, c.outcome)
                                                               for c in read_junit(x8 / "junit.xml")}


def _sshd(tmp_path: Path, path_dirs: str) -> tuple[subprocess.Popen, Path]:
    """An sshd on 127.0.0.1 that lets this user in with a key generated here; commands get ``path_dirs``."""
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True, timeout=30)
    (keys / "authorized_keys").write_text((keys / "user.pub").read_text())
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\nPidFile {tmp_path / 'sshd.pid'}\n"
                      f"AuthorizedKeysFile {keys / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
                      "PasswordAuthentication no\nPermitRootLogin prohibit-password\n"
                      f"SetEnv PATH={path_dirs}\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    process = subprocess.Popen([shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None:
            pytest.fail(f"sshd did not start: {process.stderr.read().decode()[-500:]}")
        time.sleep(0.1)
    client_config = tmp_path / "ssh_config"
    client_config.write_text(f"Host gpu-ssh\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n"
                             "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
                             "  ConnectTimeout 10\n")
    return process, client_config


def test_a_real_ssh_host_is_judged_through_its_connection(run_suite, tmp_path):
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        message = "sshd is missing (apt-get install openssh-server)"
        if os.environ.get("GPUACCEPT_REQUIRE_DOCKER"):  # CI installs it: there a missing sshd is a failure
            pytest.fail(message + " (GPUACCEPT_REQUIRE_DOCKER is set)", pytrace=False)
        pytest.skip(message)
    bin_dir = standins(tmp_path / "host", HOSTS / "dual-p40-xid-79")
    process, client_config = _sshd(tmp_path, f"{bin_dir}:/usr/local/bin:/usr/bin:/bin")
    try:
        run = _suite(run_suite, ["ssh://gpu-ssh"], "--ssh-config", str(client_config),
                     "--ssh-identity-file", str(tmp_path / "keys" / "user"), "--sign-key", str(tmp_path / "keys" / "user"))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert run.ret == 1, run.stdout[-3000:]
    names = {c.name: c for c in run.cases}
    assert names["test_gpu_xid[ssh://gpu-ssh]"].outcome == "failed"
    assert "79" in names["test_gpu_xid[ssh://gpu-ssh]"].message
    assert names["test_pcie_width[ssh://gpu-ssh-gpu1]"].outcome == "passed"
    folder = run.run_dir / "ssh-gpu-ssh"
    saved = json.loads((folder / "evidence" / "host.json").read_text())
    assert saved["hostname"] == socket.gethostname() and saved["fleet_host"] == "ssh://gpu-ssh"
    assert (folder / "evidence" / ev.SMI_XML).is_file()
    signed = _verify(folder, "--pubkey", str(tmp_path / "keys" / "user.pub"))  # each host's folder is signed
    assert signed.returncode == 0 and "signed by" in signed.stdout, signed.stdout


@pytest.mark.docker
def test_an_ansible_inventory_gives_each_host_its_profile(run_suite, simulated, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # a venv's ansible-core
    if shutil.which("ansible-inventory") is None:
        pytest.skip("ansible-inventory is missing (pip install ansible-core): testinfra reads inventories with it")
    start, alive, _client = simulated
    names = start(["dual-p40", "dual-p40-x8-link"])
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"[gpu]\n{names['dual-p40']} ansible_connection=docker gpuaccept_profile=single-h100\n"
                         f"{names['dual-p40-x8-link']} ansible_connection=docker\n")
    run = run_suite("-m", "quick", f"--ansible-inventory={inventory}", "--hosts=ansible://gpu", "-n", "2", timeout=300)
    assert alive(names.values()), "another test emptied the shared engine during the run"
    h100 = json.loads((run.run_dir / f"ansible-{names['dual-p40']}" / "summary.json").read_text())
    p40 = json.loads((run.run_dir / f"ansible-{names['dual-p40-x8-link']}" / "summary.json").read_text())
    assert h100["run"]["profile"]["name"] == "single-h100" and p40["run"]["profile"]["name"] == "dual-p40"
    assert h100["requirements"]["GPU-MODEL"]["outcome"] == "fail"  # two P40s where the profile expects an H100
    assert [c["id"] for c in h100["requirements"]["PCIE-WIDTH"]["cases"]] == ["test_pcie_width[gpu0]"]
    assert p40["requirements"]["PCIE-WIDTH"]["outcome"] == "fail" and p40["requirements"]["GPU-MODEL"]["outcome"] == "pass"


def test_a_host_folder_is_sealed_and_its_pages_escape_what_hosts_say(tmp_path):
    from gpuaccept import manifest
    from gpuaccept.fleet.record import row, write_fleet
    from gpuaccept.host_folder import write_host

    host = "ssh://<b>gpu01</b>"
    folder = tmp_path / folder_name(host)
    ev.Evidence(files={ev.LSMOD: "nvidia 1 0\n"}, meta={"hostname": "<img src=x onerror=alert(1)>"}).write(
        folder / "evidence")
    cases = [{"id": "test_gpu_count", "requirement": "GPU-COUNT", "outcome": "fail",
              "message": "<script>alert(1)</script> 1 GPU, expected 2"},
             {"id": "test_pcie_width[gpu0]", "requirement": "PCIE-WIDTH", "outcome": "pass", "message": ""},
             {"id": "test_pcie_width[gpu1]", "requirement": "PCIE-WIDTH", "outcome": "pass", "message": ""}]
    record = write_host(folder, cases, {"host": "<img src=x onerror=alert(1)>", "fleet": {"host": host}}, False)
    assert record["verdict"] == "NOT ACCEPTED" and record["run"]["exit_status"] == 1
    assert manifest.verify(folder) == []
    page = (folder / "report.html").read_text()
    assert "<script>" not in page and "<img" not in page and page.count('id="PCIE-WIDTH"') == 1
    write_fleet(tmp_path, [row(host, folder.name, record)], {"folder": tmp_path.name})
    fleet = (tmp_path / "fleet.html").read_text()
    assert "<b>" not in fleet and "<img" not in fleet and f'href="{folder.name}/report.html#GPU-COUNT"' in fleet
    assert json.loads((tmp_path / "fleet.json").read_text())["hosts"][0]["requirements"]["GPU-COUNT"] == "fail"


@pytest.mark.docker
def test_a_host_whose_kernel_log_holds_a_line_of_a_thousand_equals_signs_gets_its_verdicts(run_suite, simulated,
                                                                                             tmp_path):
    """One `a=a=a=...` line once made redaction recurse per '=': that host's cases became errors with a traceback.
    Now the host is judged as any other: its requirements pass or fail, none errors, nothing prints a traceback."""
    _start, _alive, client = simulated
    evidence = tmp_path / "dual-p40-equals"
    shutil.copytree(HOSTS / "dual-p40", evidence)
    with (evidence / "dmesg.txt").open("a") as log:
        log.write("[  900.000001] " + "a=" * 1000 + "a\n")
    name = fleet_host.start(client, evidence)
    try:
        run = _suite(run_suite, [f"docker://{name}"])
    finally:
        fleet_host.remove(client, [name])
    assert "Traceback" not in run.stdout + run.stderr and "INTERNALERROR" not in run.stdout, run.stdout[-3000:]
    mine = [c for c in run.cases if name in c.name]
    assert mine and not [c.name for c in mine if c.outcome == "error"], run.stdout[-3000:]
    assert {c.outcome for c in mine if c.requirement == "GPU-XID"} == {"passed"}, run.stdout[-3000:]


@pytest.mark.docker
def test_a_fleet_run_that_chose_part_of_the_acceptance_accepts_no_host(run_suite, simulated):
    """-k on a fleet: each host is judged as a single-host run would be, by its own tiers: INCOMPLETE, naming
    what was not run, in its summary.json, the fleet record and the exit status; never ACCEPTED."""
    start, _alive, _client = simulated
    name = start(["dual-p40"])["dual-p40"]
    run = _suite(run_suite, [f"docker://{name}"], "-k", "test_gpu_count")
    assert [c.outcome for c in run.cases] == ["passed"], run.stdout[-3000:]
    assert run.ret == 6, run.stdout[-3000:]
    fleet = json.loads((run.run_dir / "fleet.json").read_text())
    assert [r["verdict"] for r in fleet["hosts"]] == ["INCOMPLETE"]
    host = json.loads((run.run_dir / fleet["hosts"][0]["folder"] / "summary.json").read_text())
    assert host["verdict"] == "INCOMPLETE" and "PCIE-WIDTH" in host["run"]["not_run"]
    assert "-k, test ids or --deselect chose part of the acceptance" in run.stdout


def test_an_ansible_inventory_without_ansible_core_is_one_line_saying_what_to_install(run_suite, tmp_path, monkeypatch):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[gpu]\nbox1 ansible_connection=local\n")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no ansible-inventory, whatever this machine has
    run = run_suite("-m", "quick", f"--ansible-inventory={inventory}", "--hosts=ansible://gpu")
    assert run.ret == 4, run.stdout[-2000:] + run.stderr[-2000:]
    assert "ansible-inventory, which is not installed here: pip install ansible-core" in run.stderr
    assert "AssertionError" not in run.stderr + run.stdout and "CommandResult" not in run.stderr


def test_what_ssh_said_is_read_from_its_bytes_never_by_asking_the_host_again():
    """A banner byte that is not UTF-8 made testinfra ask the (unreachable) host for its encoding: a traceback
    in every case. The words come from the raw bytes, one printable line."""
    from testinfra.backend.base import CommandResult

    from gpuaccept.sources.host import connection_words

    class Gone:
        def decode(self, data):
            raise AssertionError("the host was asked again")

        encode = decode

    said = CommandResult(Gone(), 255, b"ssh gpu01", b"", b"Welcome \xe9\x00 to gpu01\nssh: connect to host gpu01 port 22: "
                                                         b"No route to host\xff\n")
    words = connection_words(RuntimeError(said))
    assert words.startswith("ssh exited 255: ssh: connect to host gpu01 port 22: No route to host")
    assert "CommandResult" not in words and "\n" not in words


def test_a_connection_lost_after_the_first_answer_leaves_each_file_absent_with_the_reason():
    class Dropping:
        def __init__(self):
            self.calls = 0
            self.local = testinfra.get_host("local://")

        def run(self, command):
            self.calls += 1
            if self.calls == 1:
                return self.local.run(command)  # the probe answers
            raise RuntimeError("Connection reset by peer")

    evidence = collect_remote(Dropping(), "ssh://flaky", 5)
    assert not evidence.files
    reasons = [why for name, why in evidence.absent.items() if name in host_commands.COMMANDS]
    assert reasons and all("the connection failed while collecting" in why and "Connection reset by peer" in why
                           for why in reasons), reasons


@pytest.mark.parametrize("how", [["--connection=ansible", "--hosts=gpu"], ["--hosts=ANSIBLE://gpu"]])
def test_every_spelling_of_an_ansible_fleet_without_ansible_core_says_what_to_install(run_suite, tmp_path, monkeypatch,
                                                                                      how):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    run = run_suite("-m", "quick", *how)
    assert run.ret == 4 and "pip install ansible-core" in run.stderr, run.stderr[-2000:]
    assert "CommandResult" not in run.stderr
