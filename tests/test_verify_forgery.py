"""Forged run folders, the way a hostile editor makes them: a summary rewritten to ACCEPTED and the manifest
re-hashed, then the signature swapped for something that is not a signature file, the folder copied under
another run's name, an allowed_signers line OpenSSH would refuse, and a replay of such a folder. None of
them verifies, and none replays as evidence that passes anything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpuaccept import manifest, signing
from tests import test_verify as base
from tests.test_verify import only_run, suite, verify

keys, signed_run, run = base.keys, base.signed_run, base.run  # the signed run folder fixtures, shared

HAS_SSH_KEYGEN = shutil.which("ssh-keygen") is not None


def forge_accepted(folder: Path) -> None:
    """summary.json says ACCEPTED with no failure, and the manifest is re-hashed to match."""
    record = json.loads((folder / "summary.json").read_text())
    record["verdict"], record["exit_status"] = "ACCEPTED", 0
    (folder / "summary.json").write_text(json.dumps(record))
    manifest.write(folder)


def _folder(path: Path) -> None:
    path.mkdir()


def _folder_with_the_old_signature(path: Path) -> None:
    old = path.read_bytes()
    path.unlink()
    path.mkdir()
    (path / "sig").write_bytes(old)


def _link_to_the_old_signature(path: Path) -> None:
    old = path.with_name("saved.sig")
    path.rename(old)
    path.symlink_to(old.name)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


SWAPS = {"an empty folder": _folder, "a folder holding the old signature": _folder_with_the_old_signature,
         "a link to the old signature": _link_to_the_old_signature, "a FIFO": _fifo}


@pytest.mark.parametrize("swap", SWAPS.values(), ids=SWAPS.keys())
def test_a_forged_summary_never_verifies_whatever_stands_in_for_the_signature(run, keys, swap):
    forge_accepted(run)
    signature = run / manifest.SIGNATURE
    if swap is not _folder_with_the_old_signature and swap is not _link_to_the_old_signature:
        signature.unlink()
    swap(signature)
    for args in ((), ("--pubkey", str(keys["public"]))):
        done = verify(run, *args)
        assert done.returncode in (1, 2), (args, done.stdout)
        assert "OK," not in done.stdout
        assert f"FAILED {manifest.SIGNATURE}: " in done.stdout, done.stdout


def test_an_empty_folder_inside_a_run_folder_fails(run):
    (run / "evidence" / "extra").mkdir()
    done = verify(run)
    assert done.returncode == 1 and "FAILED evidence/extra: is an empty folder; a run writes none" in done.stdout


def test_a_run_folder_copied_under_another_name_fails(run, tmp_path):
    other = run.parent / ("gpu07-" + run.name.split("-", 1)[1])
    shutil.copytree(run, other, symlinks=True)
    done = verify(other)
    assert done.returncode == 1, done.stdout
    assert f"FAILED {other.name}: the folder is named otherwise than its summary.json says ({run.name})" in done.stdout
    assert verify(run).returncode == 0  # the original still holds


def test_a_run_folder_without_its_record_fails(run):
    (run / "summary.json").unlink()
    manifest.write(run)
    done = verify(run)
    assert done.returncode == 1 and "FAILED summary.json: missing" in done.stdout


def _public_line(keys) -> str:
    return keys["public"].read_text().strip()


# Each allowed_signers line as an auditor might write it; OpenSSH decides which of them vouch.
OPTIONS = ["", 'namespaces="gpuaccept"', 'namespaces="gpu*"', 'namespaces="git,gpuaccept"',
           'namespaces="*,!gpuaccept"', "namespaces=gpuaccept", 'NAMESPACES="gpuaccept"', "cert-authority",
           'cert-authority,namespaces="gpuaccept"', "restrict", 'valid-after="20200101"', 'valid-after="20200101Z"',
           'valid-after="202001010000UTC"', 'valid-after="20990101"', 'valid-before="20200101"',
           'valid-before="20991231235959"', 'valid-before="20991231Z"', 'valid-after="2020010"',
           'valid-after="20201301"', 'valid-after="20200230"', 'valid-after="20990101",valid-before="20200101"',
           'valid-after="20200101",valid-after="20210101"', 'namespaces="gpuaccept",', 'valid-after="20200101',
           'valid-after="19600101"']


@pytest.mark.skipif(not HAS_SSH_KEYGEN, reason="openssh-client (ssh-keygen) is not installed")
def test_allowed_signers_options_vouch_exactly_where_ssh_keygen_says_so(run, keys, tmp_path):
    allowed = tmp_path / "allowed_signers"
    verdicts = {}
    for option in OPTIONS:
        allowed.write_text(f"technician {option} {_public_line(keys)}\n".replace("  ", " "))
        openssh = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "technician", "-n",
                                  "gpuaccept", "-s", str(run / manifest.SIGNATURE)],
                                 input=(run / manifest.NAME).read_bytes(), capture_output=True, timeout=30)
        ours = verify(run, "--pubkey", str(allowed))
        assert ours.returncode in (0, 4), (option, ours.stdout, ours.stderr)
        verdicts[option] = (openssh.returncode == 0, ours.returncode == 0)
    disagree = {option: v for option, v in verdicts.items() if v[0] != v[1]}
    assert not disagree, disagree  # (OpenSSH vouches, we vouch)
    assert verdicts[""] == (True, True) and verdicts["cert-authority"] == (False, False)  # both kinds were seen


@pytest.mark.skipif(not HAS_SSH_KEYGEN, reason="openssh-client (ssh-keygen) is not installed")
@pytest.mark.parametrize("separator", ["\x0c", "\x0b", "\r", "\x1c", "\x85", "\u2028"])
def test_a_line_split_only_by_a_character_openssh_does_not_split_on_vouches_for_nothing(run, keys, tmp_path, separator):
    """OpenSSH reads allowed_signers line by line at \\n alone: a form feed or a carriage return inside a
    line keeps the namespace limit or cert-authority in force, here as there."""
    allowed = tmp_path / "allowed_signers"
    for option in ('namespaces="git"', "cert-authority"):
        allowed.write_text(f"technician {option}{separator}{_public_line(keys)}\n", encoding="utf-8")
        openssh = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "technician", "-n",
                                  "gpuaccept", "-s", str(run / manifest.SIGNATURE)],
                                 input=(run / manifest.NAME).read_bytes(), capture_output=True, timeout=30)
        ours = verify(run, "--pubkey", str(allowed))
        assert (openssh.returncode == 0, ours.returncode == 0) == (False, False), (option, ours.stdout, ours.stderr)


def test_a_refused_line_is_named_and_a_later_good_line_still_vouches(run, keys, tmp_path):
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'technician valid-before="20200101" {_public_line(keys)}\n')
    done = verify(run, "--pubkey", str(allowed))
    assert done.returncode == 4 and "line 1: expired (valid-before 2020-01-01" in done.stderr
    allowed.write_text(f"technician cert-authority {_public_line(keys)}\nauditor {_public_line(keys)}\n")
    assert verify(run, "--pubkey", str(allowed)).returncode == 0
    allowed.write_text(f"technician cert-authority {_public_line(keys)}\n")
    with pytest.raises(signing.KeyProblem, match="line 1: a cert-authority key"):
        signing.load_public_keys(allowed)


def _replay(folder: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    reports = tmp_path / "replayed"
    done = suite(reports, "--replay", str(folder))
    return done, json.loads((only_run(reports) / "summary.json").read_text())


def test_a_replay_of_a_folder_whose_seal_does_not_hold_passes_nothing(run, tmp_path):
    """The evidence is edited, the manifest re-hashed: the signature no longer holds, so nothing in it is
    trusted, and the first screen and summary.json say why."""
    host = run / "evidence" / "host.json"
    host.write_text(host.read_text().replace("{", '{"note": "edited", ', 1))
    manifest.write(run)
    done, record = _replay(run, tmp_path)
    assert done.returncode != 0, done.stdout[-2000:]
    assert record["counts"].get("pass", 0) == 0, record["counts"]
    assert record["run"]["replayed_seal"].startswith("SEAL BROKEN"), record["run"]
    assert "the manifest changed after it was signed" in record["run"]["replayed_seal"]
    assert "SEAL BROKEN" in done.stdout.split("\n\n", 1)[0] or "SEAL BROKEN" in done.stdout
    page = (only_run(tmp_path / "replayed") / "report.html").read_text()
    assert "SEAL BROKEN" in page


def test_a_replay_of_an_intact_signed_folder_says_who_signed_it(run, tmp_path):
    signer = json.loads((run / "summary.json").read_text())["run"]["signed_by"]
    done, record = _replay(run, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert record["run"]["replayed_seal"] == (f"sealed by its {manifest.NAME}, signed by {signer} "
                                              "(not checked: pass --pubkey)")
    assert f"signed by {signer}" in done.stdout


def test_a_replay_trusts_no_host_json_edited_after_the_run(run, tmp_path):
    """host.json holds what every requirement reads beside the files (the commands asked, what was absent
    and why): edited without a re-hash, the seal does not hold for any of it."""
    host = run / "evidence" / "host.json"
    host.write_text(host.read_text().replace("{", '{"note": "edited", ', 1))
    done, record = _replay(run, tmp_path)
    assert record["run"]["replayed_seal"].startswith("SEAL BROKEN") and "evidence/host.json" in record["run"]["replayed_seal"]
    assert record["counts"].get("pass", 0) == 0 and done.returncode != 0


def test_a_run_folder_stripped_of_its_manifest_and_signature_is_no_sealed_evidence(run, tmp_path):
    (run / manifest.NAME).unlink()
    (run / manifest.SIGNATURE).unlink()
    done, record = _replay(run, tmp_path)
    assert record["run"]["replayed_seal"].startswith("SEAL BROKEN"), record["run"]["replayed_seal"]
    assert record["counts"].get("pass", 0) == 0 and done.returncode != 0


def test_a_replay_of_a_folder_that_lost_its_record_and_signature_passes_nothing(run, tmp_path):
    """Healthy evidence copied in, summary.json (which names the signer) and the signature removed, the manifest
    re-hashed: `verify` fails it, so the replay trusts none of it either (once judged ACCEPTED)."""
    for name in ("summary.json", manifest.SIGNATURE):
        (run / name).unlink()
    manifest.write(run)
    done, record = _replay(run, tmp_path)
    assert done.returncode != 0, done.stdout[-2000:]
    assert record["run"]["replayed_seal"].startswith("SEAL BROKEN") and "summary.json: missing" in \
        record["run"]["replayed_seal"], record["run"]["replayed_seal"]
    assert record["counts"].get("pass", 0) == 0, record["counts"]


def test_a_replay_of_a_folder_renamed_from_another_run_passes_nothing(run, tmp_path):
    renamed = run.parent / "other-host-20260101T000000Z"
    run.rename(renamed)
    done, record = _replay(renamed, tmp_path)
    assert record["run"]["replayed_seal"].startswith("SEAL BROKEN"), record["run"]["replayed_seal"]
    assert record["counts"].get("pass", 0) == 0 and done.returncode != 0


def _resign_with_another_key(folder: Path, keys: dict[str, Path]) -> None:
    """A forger's whole job: summary.json rewritten, the manifest re-hashed, signed anew with the forger's key
    (and summary.json naming that key, so the folder is consistent in itself)."""
    other_private = keys["other"].with_suffix("")
    forger = signing.load_private_key(other_private)
    record = json.loads((folder / "summary.json").read_text())
    record["verdict"], record["run"]["signed_by"] = "ACCEPTED", signing.signer(forger)
    (folder / "summary.json").write_text(json.dumps(record))
    manifest.write(folder)
    signing.sign_folder(folder, forger)


def test_a_replay_checked_against_the_signers_key_trusts_no_re_signed_forgery(run, keys, tmp_path):
    """Without --pubkey a re-signed folder says only "signed by <the forger> (not checked)"; with the real
    signer's key the replay trusts nothing in it, and the untouched folder passes as before."""
    genuine = tmp_path / "genuine"
    shutil.copytree(run, genuine / run.name, symlinks=True)
    _resign_with_another_key(run, keys)
    assert verify(run).returncode == 0  # consistent in itself: only the trusted key tells it apart
    assert verify(run, "--pubkey", str(keys["public"])).returncode != 0
    reports = tmp_path / "checked"
    done = suite(reports, "--replay", str(run), "--pubkey", str(keys["public"]))
    record = json.loads((only_run(reports) / "summary.json").read_text())
    assert record["run"]["replayed_seal"].startswith("SEAL BROKEN"), record["run"]["replayed_seal"]
    assert "not by the key given with --pubkey" in record["run"]["replayed_seal"]
    assert record["counts"].get("pass", 0) == 0 and done.returncode != 0, done.stdout[-2000:]
    reports = tmp_path / "checked-genuine"
    done = suite(reports, "--replay", str(genuine / run.name), "--pubkey", str(keys["public"]))
    record = json.loads((only_run(reports) / "summary.json").read_text())
    assert done.returncode == 0 and record["run"]["replayed_seal"].endswith("signature checked against --pubkey"), \
        record["run"]["replayed_seal"]


def test_a_public_key_asks_for_a_signed_run_folder(keys, tmp_path):
    from tests.conftest import HOSTS

    reports = tmp_path / "bare"
    done = suite(reports, "--replay", str(HOSTS / "dual-p40"), "--pubkey", str(keys["public"]))
    record = json.loads((only_run(reports) / "summary.json").read_text())
    assert record["run"]["replayed_seal"].startswith("SEAL BROKEN") and done.returncode != 0
    alone = subprocess.run([sys.executable, "-m", "pytest", str(base.ROOT / "acceptance"), f"--rootdir={base.ROOT}",
                            "-c", str(base.ROOT / "pyproject.toml"), "--report-dir", str(tmp_path / "live"),
                            "-p", "no:cacheprovider", "--pubkey", str(keys["public"])],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(base.ROOT)})
    assert alone.returncode == 4 and "--pubkey checks a replayed run folder's signature" in alone.stderr, alone.stderr


@pytest.mark.parametrize("name", ["docker-inspect.json", "ollama-version.json", "nvml.json"])
def test_a_sealed_evidence_file_deleted_from_the_folder_is_unreadable_not_absent(run, keys, tmp_path, name):
    """Deleted from a signed folder, a file is not "not collected": what it said is unknown. Every requirement
    that reads it is not evaluated naming the manifest; none passes on its absence (OLL-API once did)."""
    (run / "evidence" / name).unlink()
    reports = tmp_path / "replayed"
    done = suite(reports, "--replay", str(run), "--pubkey", str(keys["public"]))
    record = json.loads((only_run(reports) / "summary.json").read_text())
    assert done.returncode == 6, done.stdout[-2000:]
    assert "1 evidence file(s) changed since the run are not trusted" in record["run"]["replayed_seal"]
    messages = [c["message"] for r in record["requirements"].values() for c in r["cases"] if c["outcome"] == "not_evaluated"]
    assert any(f"{name} missing" in m or f"{name}: missing" in m for m in messages), messages[:5]
    if name == "docker-inspect.json":
        assert record["requirements"]["OLL-API"]["outcome"] != "pass"
