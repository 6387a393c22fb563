"""`gpuaccept verify` on real run folders (the suite run on a bundled replay, signed with a key made here),
then damaged the ways an accident or a hostile editor would: each damage fails with its own line."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gpuaccept import manifest, signing
from tests.conftest import HOSTS, ROOT

SCRIPT = Path(sys.executable).parent / "gpuaccept"  # the console script pip installs beside the interpreter
_OPENSSH = (serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH)


def make_key(folder: Path, name: str, passphrase: bytes | None = None) -> tuple[Path, Path]:
    """An ed25519 key pair in the files ``ssh-keygen -t ed25519`` writes."""
    key = ed25519.Ed25519PrivateKey.generate()
    crypt = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    private, public = folder / name, folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(*_OPENSSH, crypt))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
                       + b" technician@bench\n")
    return private, public


def suite(reports: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real acceptance suite on the bundled dual-p40 replay, as tests/conftest.py run_suite runs it."""
    reports.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "acceptance"), f"--rootdir={ROOT}", "-c",
                           str(ROOT / "pyproject.toml"), "--report-dir", str(reports), "--replay",
                           str(HOSTS / "dual-p40"), "-p", "no:cacheprovider", *args], cwd=reports.parent,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def only_run(reports: Path) -> Path:
    folders = [p for p in reports.iterdir() if not p.is_symlink()]
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    private, public = make_key(folder, "id_ed25519")
    _, other = make_key(folder, "other_ed25519")
    return {"private": private, "public": public, "other": other}


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory, keys) -> Path:
    reports = tmp_path_factory.mktemp("signed") / "reports"
    done = suite(reports, "--sign-key", str(keys["private"]))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return only_run(reports)


@pytest.fixture
def run(signed_run, tmp_path) -> Path:
    """A fresh copy of the signed run folder for one test to damage."""
    copy = tmp_path / "reports" / signed_run.name
    shutil.copytree(signed_run, copy, symlinks=True)
    return copy


def verify(folder: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpuaccept", "verify", str(folder), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def failed_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("FAILED ")]


def rewrite_manifest(folder: Path, extra: str = "", keep: bool = True) -> None:
    """The manifest as a hand editor leaves it: its lines (or none) plus ``extra``."""
    path = folder / manifest.NAME
    path.write_text((path.read_text() if keep else "") + extra)


def sha256_line(data: bytes, rel: str) -> str:
    return f"{hashlib.sha256(data).hexdigest()}  {rel}\n"


def test_untouched_signed_run_verifies_with_and_without_the_public_key(run, keys):
    fingerprint = json.loads((run / "summary.json").read_text())["run"]["signed_by"]
    assert fingerprint.startswith("SHA256:") and (run / manifest.SIGNATURE).is_file()
    plain = verify(run)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert f"signed by {fingerprint} (not checked: pass --pubkey)" in plain.stdout
    checked = verify(run, "--pubkey", str(keys["public"]))
    assert checked.returncode == 0 and f"signed by {fingerprint}: signature checked" in checked.stdout
    # An authorized_keys line with options and an allowed_signers line name the same key.
    line = keys["public"].read_text().strip()
    for name, text in (("authorized_keys", f'# bench\nfrom="10.0.0.0/8",no-pty {line}\n'),
                       ("allowed_signers", f"technician@bench {line}\n")):
        (run.parent / name).write_text(text)
        assert verify(run, "--pubkey", str(run.parent / name)).returncode == 0, name
    if shutil.which("ssh-keygen"):  # ssh-keygen -l shows the same fingerprint
        shown = subprocess.run(["ssh-keygen", "-lf", str(keys["public"])], capture_output=True, text=True, timeout=30)
        assert shown.stdout.split()[1] == fingerprint


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="openssh-client (ssh-keygen) is not installed")
def test_openssh_alone_checks_the_signature(run, keys, tmp_path):
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"technician@bench {keys['public'].read_text()}")

    def openssh(data: bytes) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "technician@bench", "-n",
                               "gpuaccept", "-s", str(run / manifest.SIGNATURE)], input=data, capture_output=True,
                              timeout=30)

    good = openssh((run / manifest.NAME).read_bytes())
    assert good.returncode == 0 and b'Good "gpuaccept" signature' in good.stdout + good.stderr
    assert openssh((run / manifest.NAME).read_bytes() + b"\n").returncode != 0


def _flip_byte(folder: Path) -> None:
    data = bytearray((folder / "report.html").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "report.html").write_bytes(bytes(data))


def _symlink_file(folder: Path) -> None:
    target = folder.parent / "nvml.json"  # same bytes, outside the folder
    shutil.copy(folder / "evidence" / "nvml.json", target)
    (folder / "evidence" / "nvml.json").unlink()
    (folder / "evidence" / "nvml.json").symlink_to(target)


def _symlink_folder(folder: Path) -> None:
    shutil.move(folder / "evidence", folder.parent / "evidence")
    (folder / "evidence").symlink_to(folder.parent / "evidence")


def _outside(folder: Path, rel: str, data: bytes = b"outside\n") -> None:
    (folder.parent / "outside.txt").write_bytes(data)
    rewrite_manifest(folder, sha256_line(data, rel))


TAMPERING = {
    "changed byte": (_flip_byte, "report.html: changed since the run"),
    "added file": (lambda f: (f / "evidence" / "extra.txt").write_text("x\n"),
                   "evidence/extra.txt: added after the run"),
    "removed file": (lambda f: (f / "junit.xml").unlink(), "junit.xml: missing"),
    "symlink replacing a file": (_symlink_file, "evidence/nvml.json: is a symbolic link (to "),
    "symlink replacing a folder": (_symlink_folder, "evidence: is a symbolic link (to "),
    "FIFO added": (lambda f: os.mkfifo(f / "evidence" / "pipe"), "evidence/pipe: is a FIFO, not a regular file"),
    "FIFO replacing a file": (lambda f: ((f / "summary.json").unlink(), os.mkfifo(f / "summary.json")),
                              "summary.json: is a FIFO, not a regular file"),
    "manifest line with ../": (lambda f: _outside(f, "../outside.txt"), "../outside.txt: MANIFEST.sha256 line"),
    "absolute path": (lambda f: _outside(f, str(f.parent / "outside.txt")), "is an absolute path"),
    "./ trick": (lambda f: rewrite_manifest(f, sha256_line((f / "junit.xml").read_bytes(), "./junit.xml")),
                 "./junit.xml: MANIFEST.sha256 line"),
    "backslash": (lambda f: rewrite_manifest(f, sha256_line(b"", "evidence\\nvml.json")), "holds a backslash"),
    "duplicate entry": (lambda f: rewrite_manifest(f, (f / manifest.NAME).read_text().splitlines(True)[0]),
                        "listed twice in MANIFEST.sha256"),
    "empty manifest": (lambda f: rewrite_manifest(f, keep=False), "MANIFEST.sha256: lists no file (empty)"),
    "malformed line": (lambda f: rewrite_manifest(f, "not a manifest line\n"), "not '<sha256 in lowercase hex>  <path>'"),
    "manifest removed": (lambda f: (f / manifest.NAME).unlink(), "MANIFEST.sha256: missing from"),
}


@pytest.mark.parametrize("damage", TAMPERING)
def test_each_tampering_fails_with_its_own_line(run, damage):
    change, line = TAMPERING[damage]
    change(run)
    started = time.monotonic()
    done = verify(run)
    assert time.monotonic() - started < 30  # nothing in the folder can make verify wait
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(line in problem for problem in failed_lines(done)), done.stdout
    assert "Traceback" not in done.stderr and "NOT as the run left it" in done.stdout


def test_a_consistent_rehash_of_a_signed_run_fails(run, keys):
    """The editor changes report.html and rewrites MANIFEST.sha256 to match: only the signature tells."""
    _flip_byte(run)
    manifest.write(run)
    assert verify(run, "--pubkey", str(keys["public"])).returncode == 2
    assert "the manifest changed after it was signed" in verify(run).stdout  # the signature no longer matches either
    # Re-signed with the editor's own key (summary.json edited to name it): only --pubkey tells.
    forger = ed25519.Ed25519PrivateKey.generate()
    summary = json.loads((run / "summary.json").read_text())
    summary["run"]["signed_by"] = signing.signer(forger)
    (run / "summary.json").write_text(json.dumps(summary))
    manifest.write(run)
    signing.sign_folder(run, forger)
    assert verify(run).returncode == 0  # self-consistent: what "not checked: pass --pubkey" warns of
    forged = verify(run, "--pubkey", str(keys["public"]))
    assert forged.returncode == 2 and f"signed by {signing.signer(forger)}, not by the key given" in forged.stdout


def test_a_removed_signature_fails(run, keys):
    (run / manifest.SIGNATURE).unlink()
    plain, checked = verify(run), verify(run, "--pubkey", str(keys["public"]))
    assert plain.returncode == 2 and "missing, but summary.json says the run was signed by SHA256:" in plain.stdout
    assert checked.returncode == 2 and "MANIFEST.sha256.sig: missing" in checked.stdout


def test_a_wrong_public_key_fails(run, keys, tmp_path):
    done = verify(run, "--pubkey", str(keys["other"]))
    assert done.returncode == 2 and "not by the key given with --pubkey" in done.stdout
    rsa_pub = tmp_path / "id_rsa.pub"
    rsa_pub.write_bytes(rsa.generate_private_key(65537, 2048).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
    usage = verify(run, "--pubkey", str(rsa_pub))
    assert usage.returncode == 4 and "no ssh-ed25519 public key" in usage.stderr and "ssh-rsa" in usage.stderr


def test_an_unsigned_run_says_so_and_fails_with_a_public_key(tmp_path, keys):
    reports = tmp_path / "reports"
    assert suite(reports).returncode == 0
    folder = only_run(reports)
    assert json.loads((folder / "summary.json").read_text())["run"]["signed_by"] == ""
    plain = verify(folder)
    assert plain.returncode == 0 and "unsigned: detects accidental change only" in plain.stdout
    checked = verify(folder, "--pubkey", str(keys["public"]))
    assert checked.returncode == 2 and "the run was not signed" in checked.stdout


def test_bad_sign_keys_are_usage_errors_before_anything_runs(tmp_path):
    rsa_key = tmp_path / "id_rsa"
    rsa_key.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(*_OPENSSH, serialization.NoEncryption()))
    encrypted, _ = make_key(tmp_path, "id_locked", passphrase=b"correct horse")
    cases = {"non-ed25519": (rsa_key, {}, "holds a RSA key; an ed25519 key is needed"),
             "missing file": (tmp_path / "absent", {}, "cannot read"),
             "public key given": (make_key(tmp_path, "id_pub")[1], {}, "not an OpenSSH private key"),
             "encrypted, no passphrase": (encrypted, {signing.PASSPHRASE: ""}, signing.PASSPHRASE),
             "wrong passphrase": (encrypted, {signing.PASSPHRASE: "wrong"}, "does not open it")}
    for name, (key, env, message) in cases.items():
        reports = tmp_path / name.replace(" ", "-") / "reports"
        done = suite(reports, "--sign-key", str(key), env=env)
        assert done.returncode == 4, (name, done.stdout[-1000:], done.stderr[-1000:])
        assert message in done.stderr, (name, done.stderr)
        assert not reports.exists(), name  # stopped before the run folder was made
    reports = tmp_path / "unlocked" / "reports"
    assert suite(reports, "--sign-key", str(encrypted), env={signing.PASSPHRASE: "correct horse"}).returncode == 0
    assert (only_run(reports) / manifest.SIGNATURE).is_file()


def test_console_script_verifies_from_any_folder(run, keys, tmp_path):
    latest = run.parent / "latest"
    latest.symlink_to(run.name)  # as the suite leaves it: users pass reports/latest
    rel = os.path.relpath(latest, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for command in ([str(SCRIPT)], [sys.executable, "-m", "gpuaccept"]):
        done = subprocess.run([*command, "verify", rel, "--pubkey", str(keys["public"])], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0 and "signature checked" in done.stdout, (command, done.stdout, done.stderr)
    helped = subprocess.run([str(SCRIPT), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "verify" in helped.stdout
    codes = subprocess.run([str(SCRIPT), "verify", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "exit status:" in codes.stdout and "usage error" in codes.stdout
    assert subprocess.run([str(SCRIPT), "verify"], cwd=tmp_path, capture_output=True, timeout=60).returncode == 4


def test_a_folder_that_is_no_run_folder_gets_one_line(tmp_path):
    for n in range(50):
        (tmp_path / f"file{n}").write_text("x")
        (tmp_path / f"link{n}").symlink_to("/etc/hostname")
    done = subprocess.run([sys.executable, "-m", "gpuaccept", "verify", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "not a run folder" in failed[0]


def test_an_allowed_signers_key_limited_to_other_namespaces_does_not_vouch(tmp_path):
    from gpuaccept import signing

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'technician namespaces="git,file" {line}\n')
    with pytest.raises(signing.KeyProblem, match="limited to namespaces 'git,file'"):
        signing.load_public_keys(allowed)
    allowed.write_text(f'technician namespaces="git,gpuaccept" {line}\n')
    assert len(signing.load_public_keys(allowed)) == 1
