"""Which keys a ``--pubkey`` file lets vouch for a run, read the way ``ssh-keygen -Y verify`` reads it.

An ``allowed_signers`` line is ``principals [options] keytype base64 [comment]`` (ssh-keygen(1),
ALLOWED_SIGNERS). The options are OpenSSH's own: ``cert-authority``, ``namespaces="..."``,
``valid-after="..."`` and ``valid-before="..."``; anything else, a malformed time, two clauses of one
kind or a ``valid-before`` not after ``valid-after`` makes OpenSSH skip the line (sshsig.c,
``sshsigopt_parse`` and ``check_allowed_keys_line``), and so it is skipped here, with the reason kept
for the message. A kept line still vouches only when its namespaces admit ``gpuaccept``, it is not a
certificate authority (a plain key's signature is never a certificate's) and the time of the check
lies inside its validity, as ssh-keygen checks at the time it runs.

A line that starts with the key type is a ``.pub`` file's (or an ``authorized_keys`` line without
options): a key with no principal and no option, which is what ``--pubkey id_ed25519.pub`` means.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
import struct
import time
from dataclasses import dataclass

from gpuaccept.errors import UsageProblem

KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?")


class LineRefused(UsageProblem, ValueError):
    """Why OpenSSH would skip this line."""


@dataclass(frozen=True)
class Signer:
    number: int  # the line in the file
    key_type: str
    blob: bytes  # the key, SSH wire format
    ca: bool = False
    namespaces: str | None = None
    valid_after: int = 0  # seconds since the epoch; 0: not limited
    valid_before: int = 0

    def refusal(self, namespace: str, now: float) -> str | None:
        """Why this key may not vouch for a signature in ``namespace`` at ``now``, or None."""
        if self.ca:
            return "a cert-authority key: it vouches only for certificates, and a run is signed by a plain key"
        if self.namespaces is not None and not matches_pattern_list(namespace, self.namespaces):
            return f"limited to namespaces {self.namespaces!r}, which do not admit {namespace!r}"
        if self.valid_after and now < self.valid_after:
            return f"not yet valid (valid-after {_shown(self.valid_after)})"
        if self.valid_before and now > self.valid_before:
            return f"expired (valid-before {_shown(self.valid_before)})"
        return None


def _shown(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _words(text: str) -> tuple[str, str]:
    """The first word of ``text`` (a quoted one whole, as OpenSSH's strdelimw) and the rest."""
    text = text.lstrip(" \t")
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            raise LineRefused("a quote that does not end")
        return text[1:end], text[end + 1:]
    match = re.match(r"[^ \t]*", text)
    return match.group(0), text[match.end():]


def _options_word(text: str) -> tuple[str, str]:
    """The options (up to the first blank outside quotes) and the rest, as sshkey_advance_past_options."""
    quoted = False
    for at, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in " \t" and not quoted:
            return text[:at], text[at:]
    if quoted:
        raise LineRefused("invalid options: a quote that does not end")
    return text, ""


def _key(text: str) -> tuple[str, bytes] | None:
    """``keytype base64`` at the start of ``text`` when both are there and agree, else None (sshkey_read)."""
    kind, rest = _words(text)
    if kind not in KEY_TYPES:
        return None
    data, _ = _words(rest)
    try:
        blob = base64.b64decode(data, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
    except (binascii.Error, struct.error):
        return None
    return (kind, blob) if blob[4:4 + length] == kind.encode() else None


def _dequote(text: str) -> tuple[str, str]:
    if not text.startswith('"'):
        raise LineRefused("bad options: missing start quote")
    value, at = [], 1
    while at < len(text) and text[at] != '"':
        if text[at] == "\\" and text[at + 1:at + 2] == '"':
            at += 1
        value.append(text[at])
        at += 1
    if at >= len(text):
        raise LineRefused("bad options: missing end quote")
    return "".join(value), text[at + 1:]


def parse_time(text: str) -> int:
    """OpenSSH's parse_absolute_time: YYYYMMDD[HHMM[SS]], local time unless it ends in Z or UTC."""
    utc = text[-1:].upper() == "Z" or text[-3:].upper() == "UTC"
    digits = text[:-1] if text[-1:].upper() == "Z" else text[:-3] if utc else text
    match = _TIME.fullmatch(digits) if len(digits) in (8, 12, 14) else None
    if not match:
        raise LineRefused(f"invalid time {text!r}")
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 61):
        raise LineRefused(f"invalid time {text!r}")
    fields = (year, month, day, hour, minute, second, 0, 0, 0)
    try:
        seconds = calendar.timegm(fields) if utc else int(time.mktime(fields))
    except (OverflowError, ValueError):
        raise LineRefused(f"invalid time {text!r}") from None
    if seconds <= 0:  # mktime below the epoch fails, and a zero time is refused as unset
        raise LineRefused(f"invalid time {text!r}")
    return seconds


def _options(text: str) -> dict:
    found: dict = {}
    while text:
        if text[:14].lower() == "cert-authority":
            found["ca"], text = True, text[14:]
        else:
            name = next((n for n in ("namespaces", "valid-after", "valid-before")
                         if text[:len(n) + 1].lower() == n + "="), None)
            if name is None:
                raise LineRefused(f"bad options: unknown key option at {text[:40]!r}")
            key = name.replace("-", "_")
            if key in found:
                raise LineRefused(f'bad options: multiple "{name}" clauses')
            value, text = _dequote(text[len(name) + 1:])
            found[key] = value if name == "namespaces" else parse_time(value)
        if not text:
            break
        if text[0] != ",":
            raise LineRefused(f"bad options: unknown key option at {text[:40]!r}")
        text = text[1:]
        if not text:
            raise LineRefused("bad options: unexpected end-of-options")
    if found.get("valid_after") and found.get("valid_before") and found["valid_before"] <= found["valid_after"]:
        raise LineRefused('bad options: "valid-before" time is before "valid-after"')
    return found


def parse_line(line: str, number: int) -> Signer | None:
    """The key a line names with its options; None for a blank or comment line; LineRefused says why not."""
    text = line.strip(" \t\r\n")
    if not text or text.startswith("#"):
        return None
    plain = _key(text)
    if plain is not None:  # a .pub file's line: no principal, no option
        return Signer(number, *plain)
    _principals, rest = _words(text)
    rest = rest.lstrip(" \t")
    if not rest:
        raise LineRefused("invalid line: a principal and no key")
    found = _key(rest)
    options = {}
    if found is None:
        opts, rest = _options_word(rest)
        found = _key(rest.lstrip(" \t"))
        if found is None:
            raise LineRefused("missing or invalid key" if rest.strip() else "missing key")
        options = _options(opts)
    return Signer(number, *found, **options)


def matches_pattern_list(name: str, patterns: str) -> bool:
    """OpenSSH's match_pattern_list: a comma list of * and ? patterns; a matching !pattern denies."""
    positive = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in body)
        if re.fullmatch(regex, name, re.DOTALL):
            if negated:
                return False
            positive = True
    return positive
