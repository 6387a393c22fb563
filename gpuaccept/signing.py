"""Signed runs: MANIFEST.sha256 signed with the technician's OpenSSH ed25519 key.

``--sign-key PATH`` names an OpenSSH private key (``ssh-keygen -t ed25519``); an encrypted one is
opened with the passphrase in ``GPUACCEPT_SIGN_PASSPHRASE``. At the run's end the manifest's bytes are
signed into ``MANIFEST.sha256.sig``, an armored SSHSIG (OpenSSH's PROTOCOL.sshsig, namespace
``gpuaccept``, SHA-512), the format ``ssh-keygen -Y sign`` writes, so an auditor can check it with
OpenSSH alone::

    echo "technician $(cat id_ed25519.pub)" > allowed_signers
    ssh-keygen -Y verify -f allowed_signers -I technician -n gpuaccept -s MANIFEST.sha256.sig < MANIFEST.sha256

The keys, fingerprints and signatures are cryptography's; this module only packs and unpacks the
SSHSIG envelope around them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gpuaccept import allowed_signers, manifest
from gpuaccept.errors import UsageProblem

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

NAMESPACE = b"gpuaccept"
PASSPHRASE = "GPUACCEPT_SIGN_PASSPHRASE"
_MAGIC = b"SSHSIG"
_VERSION = 1
_HASH = "sha512"
_KEY_TYPE = b"ssh-ed25519"
_BEGIN, _END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
_MAX_KEY = 64 << 10  # a key or signature file is a few hundred bytes
_MAX_SUMMARY = 64 << 20


class KeyProblem(UsageProblem):
    """A key file that cannot be used, with the line that says why."""


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read(path: Path) -> bytes:
    try:
        return manifest.read_regular(path, _MAX_KEY, follow=True)
    except (OSError, ValueError) as err:
        raise KeyProblem(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The ed25519 private key in an OpenSSH key file; KeyProblem says why not."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read(path)
    passphrase = os.environ.get(PASSPHRASE)
    try:
        try:
            key = serialization.load_ssh_private_key(data, password=passphrase.encode() if passphrase else None)
        except TypeError:
            if not passphrase:
                raise KeyProblem(f"{path} is encrypted: put its passphrase in the environment variable {PASSPHRASE}") from None
            key = serialization.load_ssh_private_key(data, password=None)  # the passphrase was for another key
    except ValueError as err:
        if passphrase and "checksum" in str(err):
            raise KeyProblem(f"{path}: the passphrase in {PASSPHRASE} does not open it") from None
        raise KeyProblem(f"{path} is not an OpenSSH private key ({err}); make one with ssh-keygen -t ed25519") from None
    except UnsupportedAlgorithm as err:
        raise KeyProblem(f"{path}: {err}; make an ed25519 key with ssh-keygen -t ed25519") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"{path} holds a {type(key).__name__.replace('PrivateKey', '')} key; an ed25519 key is "
                         "needed (ssh-keygen -t ed25519)")
    return key


def public_blob(key: Ed25519PublicKey) -> bytes:
    """The key in SSH wire format, as in ``ssh-ed25519 <base64 of this>``."""
    from cryptography.hazmat.primitives import serialization

    return base64.b64decode(key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1])


def fingerprint(blob: bytes) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` shows it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def signer(key: Ed25519PrivateKey) -> str:
    return fingerprint(public_blob(key.public_key()))


def _blob_key(blob: bytes) -> Ed25519PublicKey:
    # cryptography is imported where a key is read: a run that neither signs nor checks never loads it
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_ssh_public_key(_KEY_TYPE + b" " + base64.b64encode(blob))
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an ssh-ed25519 key")
    return key


def load_public_keys(path: Path, now: float | None = None) -> list[bytes]:
    """The ssh-ed25519 keys a public key file or an ``allowed_signers`` file lets vouch for a run signed in
    the namespace ``gpuaccept`` at ``now`` (default: the time of the check), by ssh-keygen -Y verify's rules
    (gpuaccept.allowed_signers); KeyProblem names each line skipped when none is left."""
    from cryptography.exceptions import UnsupportedAlgorithm

    keys: list[bytes] = []
    skipped: list[str] = []
    moment = time.time() if now is None else now
    try:
        text = _read(path).decode("utf-8")
    except UnicodeDecodeError:
        raise KeyProblem(f"{path} is not a text file of OpenSSH public keys") from None
    for number, line in enumerate(text.split("\n"), 1):  # OpenSSH reads lines by \n alone (getline)
        try:
            entry = allowed_signers.parse_line(line, number)
        except allowed_signers.LineRefused as why:
            skipped.append(f"line {number}: {why}")
            continue
        if entry is None:
            continue
        if entry.key_type != _KEY_TYPE.decode():
            skipped.append(f"line {number}: a {entry.key_type} key; runs are signed with ssh-ed25519 keys")
            continue
        why = entry.refusal(NAMESPACE.decode(), moment)
        try:
            blob = public_blob(_blob_key(entry.blob))
        except (ValueError, UnsupportedAlgorithm):
            why = why or "not a valid ssh-ed25519 key"
        if why:
            skipped.append(f"line {number}: {why}")
        else:
            keys.append(blob)
    if not keys:
        found = f" ({'; '.join(skipped[:5])}{'; ...' if len(skipped) > 5 else ''})" if skipped else ""
        raise KeyProblem(f"no ssh-ed25519 public key in {path} may vouch for a run now{found}; give the .pub file of "
                         "the key that signed, or an allowed_signers line as ssh-keygen -Y verify accepts it")
    return keys


def _signed_data(message: bytes, hash_name: str) -> bytes:
    return (_MAGIC + _string(NAMESPACE) + _string(b"") + _string(hash_name.encode())
            + _string(hashlib.new(hash_name, message).digest()))


def sign(message: bytes, key: Ed25519PrivateKey) -> str:
    """An armored SSHSIG of ``message``, as ``ssh-keygen -Y sign -n gpuaccept`` writes it."""
    raw = key.sign(_signed_data(message, _HASH))
    body = (_MAGIC + struct.pack(">I", _VERSION) + _string(public_blob(key.public_key())) + _string(NAMESPACE)
            + _string(b"") + _string(_HASH.encode()) + _string(_string(_KEY_TYPE) + _string(raw)))
    text = base64.b64encode(body).decode()
    return "\n".join([_BEGIN, *(text[i:i + 70] for i in range(0, len(text), 70)), _END]) + "\n"


def sign_folder(folder: Path, key: Ed25519PrivateKey) -> Path:
    target = folder / manifest.SIGNATURE
    target.write_text(sign((folder / manifest.NAME).read_bytes(), key), encoding="ascii")
    return target


@dataclass(frozen=True)
class Signature:
    blob: bytes  # the signer's public key, SSH wire format
    hash_name: str
    raw: bytes

    @property
    def signer(self) -> str:
        return fingerprint(self.blob)

    def matches(self, message: bytes, blob: bytes | None = None) -> bool:
        """Whether this signs ``message`` with the key ``blob`` (default: the key it names)."""
        from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

        try:
            _blob_key(blob or self.blob).verify(self.raw, _signed_data(message, self.hash_name))
        except (InvalidSignature, ValueError, UnsupportedAlgorithm):
            return False
        return True


class _Wire:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ValueError("truncated")
        chunk, self.at = self.data[self.at:self.at + n], self.at + n
        return chunk

    def string(self) -> bytes:
        return self.take(struct.unpack(">I", self.take(4))[0])


def parse(text: bytes) -> Signature:
    """An armored SSHSIG by an ed25519 key in the namespace ``gpuaccept``; ValueError says why not."""
    lines = text.decode("ascii").strip().splitlines()
    if len(lines) < 3 or lines[0].strip() != _BEGIN or lines[-1].strip() != _END:
        raise ValueError(f"not an armored SSH signature ({_BEGIN} ... {_END})")
    wire = _Wire(base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True))
    if wire.take(6) != _MAGIC or struct.unpack(">I", wire.take(4))[0] != _VERSION:
        raise ValueError("not an SSHSIG version 1 signature")
    blob, namespace, _reserved, hash_name, envelope = (wire.string() for _ in range(5))
    if namespace != NAMESPACE:
        raise ValueError(f"made for namespace {namespace.decode(errors='replace')!r}, not {NAMESPACE.decode()!r}")
    if hash_name not in (b"sha256", b"sha512"):
        raise ValueError(f"unknown hash {hash_name.decode(errors='replace')!r}")
    inner = _Wire(envelope)
    if inner.string() != _KEY_TYPE or _Wire(blob).string() != _KEY_TYPE:
        raise ValueError("not made with an ssh-ed25519 key")
    return Signature(blob=blob, hash_name=hash_name.decode(), raw=inner.string())


def claimed_signer(folder: Path) -> str:
    """The signer summary.json names (``run.signed_by``), or ""."""
    try:
        run = json.loads(manifest.read_regular(folder / "summary.json", _MAX_SUMMARY)).get("run", {})
        return run.get("signed_by", "") if isinstance(run.get("signed_by"), str) else ""
    except (OSError, ValueError, AttributeError, RecursionError):
        return ""  # verify names what is wrong with summary.json itself


def check(folder: Path, keys: list[bytes] | None) -> tuple[str, list[str]]:
    """What verify says of the run's signature, and its problems (one line each); ``keys`` from --pubkey."""
    name, path = manifest.SIGNATURE, folder / manifest.SIGNATURE
    claimed = claimed_signer(folder)
    if not path.exists() and not path.is_symlink():
        if keys is not None:
            return "", [f"{name}: missing: the run was not signed, so --pubkey cannot vouch for it"]
        if claimed:
            return "", [f"{name}: missing, but summary.json says the run was signed by {claimed}"]
        return "unsigned: detects accidental change only (sign runs with --sign-key)", []
    try:
        signature = parse(manifest.read_regular(path, _MAX_KEY))
        message = manifest.read_regular(folder / manifest.NAME, manifest.MAX_MANIFEST)
    except manifest.NotRegular as err:  # a folder, link or FIFO in its place is never "no signature"
        return "", [f"{name}: not a signature file ({err})"]
    except (OSError, ValueError) as err:
        return "", [f"{name}: unreadable: {err}"]
    by = signature.signer
    if claimed and claimed != by:
        return "", [f"{name}: signed by {by}, but summary.json says the run was signed by {claimed}"]
    if keys is None:
        if not signature.matches(message):
            return "", [f"{name}: does not match {manifest.NAME}: the manifest changed after it was signed"]
        return f"signed by {by} (not checked: pass --pubkey)", []
    if signature.blob not in keys:
        given = ", ".join(fingerprint(k) for k in keys)
        return "", [f"{name}: signed by {by}, not by the key given with --pubkey ({given})"]
    if not signature.matches(message, signature.blob):
        return "", [f"{name}: does not match {manifest.NAME}: the manifest changed after it was signed"]
    return f"signed by {by}: signature checked against --pubkey", []
