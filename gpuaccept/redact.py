"""Secrets never reach a run folder: evidence, host record, summary, JUnit or report, live or replay.

What counts as a secret (the rules, in order):

- **Credentials inside a URL**: ``scheme://user:pass@host`` and ``scheme://token@host`` keep scheme, host,
  port and path: ``http://<redacted>@proxy:3128``. Inside a proxy variable the scheme may be missing
  (``HTTPS_PROXY=bob:pw@proxy:3128`` -> ``<redacted>@proxy:3128``).
- **HTTP headers**: the value of ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``,
  ``X-Api-Key`` and ``X-Auth-Token`` (the scheme word stays: ``Authorization: Bearer <redacted>``).
- **Values shaped like secrets**, whatever their name: ``Bearer <token>`` anywhere in a value
  (``OLLAMA_AUTH=Bearer x`` -> ``OLLAMA_AUTH=Bearer <redacted>``), ``Basic <base64 of user:pass>`` alike
  (``Basic information`` is no credential and stays), and a PEM private key block (``-----BEGIN ...
  PRIVATE KEY-----`` to ``-----END ... PRIVATE KEY-----``, its newlines real or escaped ``\\n`` in JSON
  text; a block cut short goes to the value's end) as a whole.
- **Variables by name** (case-insensitive; a name is split into parts at ``_``, ``-``, ``.``), the whole
  value goes when the name:
    contains SECRET, PASSWORD, PASSWD, CREDENTIAL, AUTHORIZATION or COOKIE (``AWS_SECRET_ACCESS_KEY``,
    ``PGPASSWORD``, ``GOOGLE_APPLICATION_CREDENTIALS``);
    ends in TOKEN (``HF_TOKEN``) or has a part containing KEY (``OLLAMA_API_KEY``, ``APIKEY``,
    ``PRIVATE_KEY_PEM``, ``SSH_KEY_FILE``, ``keys``), except a short allow-list: a KEY part followed by ID,
    LENGTH, VALUES or HEADS (``AWS_ACCESS_KEY_ID``, an identifier; ``num_key_values``,
    ``qwen3.attention.key_length``, model fields) and Docker's ``SandboxKey``, a path;
    has a part starting or ending with PASS (``DB_PASS``, ``SMTP_PASSPHRASE``, ``PGPASS``; not ``Bypass``,
    dmesg's ``Speculative Store Bypass``);
    has a part AUTH or ending in AUTH (``X_AUTH``, ``OLLAMA_AUTH``, Docker's registry ``auth``, traefik's
    ``...basicauth.users``; not ``AUTHOR``);
    has a later part PAT or PWD (``GITHUB_PAT``, ``DB_PWD``; dmesg's ``x86/PAT`` is the page attribute
    table and the shell's own ``PWD`` and ``OLDPWD`` are working directories: they stay).
- **Command lines**: in a list of arguments (Docker's ``Cmd``, ``Entrypoint``, ``Args``) the item after a
  flag whose name is secret by the rules above (``--api-key``, ``--token``, ``--password``, ``--secret``,
  ``--auth``) goes, and so does the value of ``--api-key=VALUE``; in text, ``--token VALUE`` and
  ``--token=VALUE`` alike.
  So what the checks read stays visible: ``OLLAMA_SCHED_SPREAD``, ``OLLAMA_KEEP_ALIVE``, ``OLLAMA_HOST``,
  ``OLLAMA_KV_CACHE_TYPE``, ``OLLAMA_MAX_LOADED_MODELS``, ``CUDA_VISIBLE_DEVICES``, GPU UUIDs (and
  ``TOKENIZERS_PARALLELISM``). Over-redaction errs on the safe side: ``kernel key: <hex>`` in dmesg goes too.
- **Proxy variables** (any name ending in PROXY, upper or lower case: ``HTTP_PROXY``, ``https_proxy``,
  ``ALL_PROXY``, ``NO_PROXY``, Docker's ``HttpsProxy``): only the credentials inside go; the proxy host and
  port stay named.

A number under a secret key goes too (a PIN), except under ``pass``: the run record counts its outcomes
under that word (``"counts": {"pass": 34}``), and its string values (a password) still go.

Where: a ``NAME=value`` string (a container's ``Config.Env`` item) as a whole; a JSON value whose key
is such a name; ``NAME=value`` / ``NAME: value`` inside text; Ollama's ``server config`` line
``env="map[KEY:value KEY2:value ...]"`` pair by pair, so ``parse.ollama_log`` still reads it.
Structure is kept: JSON stays valid JSON (and is rewritten only when something was redacted), XML stays
XML, the HTML report keeps working. ``run_folder`` is the last pass over a finished run folder.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import html
import itertools
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

REDACTED = "<redacted>"
_HTML_REDACTED = html.escape(REDACTED)
_PARTS = re.compile(r"[_\-.\s]+")
_ANYWHERE = ("SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTHORIZATION", "COOKIE")
_NOT_SECRET = {"SANDBOXKEY"}  # Docker's path of a container's network namespace
_AFTER_KEY_NOT_SECRET = {"ID", "LENGTH", "VALUES", "HEADS"}  # AWS_ACCESS_KEY_ID, num_key_values, key_length


def is_secret(name: str) -> bool:
    """Whether a variable, JSON key or header of this name holds a secret (the module docstring's rules)."""
    name = str(name)
    if len(name) > 256:  # no variable is named so: judged, not remembered
        return _is_secret(name)
    return _is_secret_cached(name)


def _is_secret(upper: str) -> bool:
    # NFKC first: the Kelvin sign, long s and fullwidth letters spell the ASCII names (HF_TO\u212aEN is HF_TOKEN)
    upper = unicodedata.normalize("NFKC", upper).upper()
    if any(word in upper for word in _ANYWHERE):
        return True
    parts = [p for p in _PARTS.split(upper) if p]
    if not parts or upper in _NOT_SECRET:
        return False
    if parts[-1].endswith("TOKEN"):
        return True
    for i, p in enumerate(parts):
        nxt = parts[i + 1] if i + 1 < len(parts) else ""
        if "KEY" in p and nxt not in _AFTER_KEY_NOT_SECRET:
            return True
        if (p.startswith("PASS") or p.endswith("PASS")) and p != "BYPASS":
            return True
        if p.endswith("AUTH") or (i > 0 and p in ("PAT", "PWD")):
            return True
    return False


_is_secret_cached = functools.lru_cache(maxsize=4096)(_is_secret)  # names repeat: a file of samples has a dozen


def is_proxy(name: str) -> bool:
    return str(name).upper().endswith("PROXY")  # HTTPS_PROXY, https_proxy, Docker's HttpsProxy


# scheme://userinfo@ : greedy up to the last @ before the path, so a password holding an unescaped @
# goes whole. The class stops at markup and quotes, so text around a URL is never eaten.
# The scheme is at most 32 characters (a line of a.a.a... is then read once, not once per dot), and its
# slashes may be JSON-escaped (http:\/\/bob:pw@host in a log that prints JSON text).
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]{0,31}:(?://|\\/\\/))([^\s/?#\"'<>\\]+)@")
_HEADERS = r"(?:proxy-)?authorization|(?:set-)?cookie|x-api-key|x-auth-token"
_HEADER_NAME = re.compile(_HEADERS, re.IGNORECASE)
_SCHEMES = r"(?:bearer|basic|digest|token|negotiate|ntlm|apikey)"
_DONE = r"(?!(?:" + _SCHEMES + r"[ \t]+)?(?:<redacted>|&lt;redacted&gt;|null\b|true\b|false\b))"  # idempotent
_HEADER_START = (r"(?i)\b(" + _HEADERS + r")([\"']?[ \t]*[:=][ \t]*\[?[\"']?)" + _DONE +
                 r"(?:(" + _SCHEMES + r")[ \t]+)?")
# The value: to the line's end or a quote; in markup (HTML, XML) also to the next tag or entity.
_HEADER = re.compile(_HEADER_START + r"([^\s\"'\[\]][^\r\n\"'\]]*)")
_HEADER_MARKUP = re.compile(_HEADER_START + r"([^\s\"'\[\]<&][^\r\n\"'\]<&]*)")
_ASSIGN = re.compile(
    r"(?<![\w.\-])([A-Za-z_][\w.\-]*)(\"?[ \t]?(?:=|:(?!//))[ \t]?)"
    r"(?!<redacted>|&lt;redacted&gt;|null\b|true\b|false\b)(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;&<\]}]+)")
_ENV_MAP = re.compile(r'(env="map\[)(.*)(\]")')
_PROXY_ASSIGN = re.compile(r"(?i)(?<![\w.\-])([A-Za-z_][\w.\-]*proxy)(\"?[ \t]?(?:=|:(?!//))[ \t]?)"
                           r"(?!<redacted>|&lt;redacted&gt;)([^\s\"'<;&]+)")
_ENV_ITEM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
_MAP_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")


_BEARER = re.compile(r"(?i)\b(bearer)([ \t]+)(?!<redacted>|&lt;redacted&gt;)([A-Za-z0-9\-._~+/]+=*)")
_BASIC = re.compile(r"(?i)\b(basic)([ \t]+)([A-Za-z0-9+/]{4,}={0,2})(?![\w+/=])")
# Cut short (no END line): the block runs to the value's end, or in JSON text to its closing quote.
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[^\"]*)",
                  re.DOTALL)
# The words a secret name holds somewhere (is_secret's words, PROXY): every rule that judges a name needs one,
# so the candidate search below and the flag rule share them. A line without any is copied as it is.
_NAME_WORDS = "pass|pwd|pat|secret|credential|cookie|token|key|auth|proxy"
# Non-ASCII letters that upper-case, lower-case, case-fold or match case-insensitively into ASCII letters
# (``ß``.upper() is SS, ``ſ`` matches s): each is a candidate wherever it stands. Matched case-sensitively:
# under (?i) ı would match every i.
_TWIN_CHARS = (*"\u00df\u0130\u0131\u0149\u017f\u01f0", *map(chr, range(0x1E96, 0x1E9B)), "\u1e9e", "\u212a",
               *map(chr, range(0xFB00, 0xFB07)))
_TWINS = "".join(_TWIN_CHARS)
# Only a flag whose name holds one of them can be secret: the rule stops nowhere else.
_SECRET_FLAG = re.compile(r"(?<![\w\-])(--(?=[\w\-]*?(?:(?i:" + _NAME_WORDS + ")|[" + _TWINS + r"]))[A-Za-z][\w\-]*)"
                          r"(=|[ \t]+)(?!<redacted>|&lt;redacted&gt;|-)([^\s\"',;&<]+)")


def _basic_credential(token: str) -> bool:
    """Whether ``token`` is base64 of ``user:pass``, as HTTP Basic sends it (so English words stay)."""
    try:
        return ":" in base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False


def _shaped(value: str, marker: str) -> str:
    """Values secret by their shape, whatever their name: PEM private keys, Bearer and Basic credentials."""
    value = _PEM.sub(marker, value)
    value = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{marker}", value)
    return _BASIC.sub(lambda m: f"{m.group(1)}{m.group(2)}{marker}" if _basic_credential(m.group(3))
                      else m.group(0), value)


def _flags(value: str, marker: str) -> str:
    """``--token VALUE`` / ``--token=VALUE`` in a command line: the value of a secret flag goes."""
    return _SECRET_FLAG.sub(lambda m: f"{m.group(1)}{m.group(2)}{marker}" if is_secret(m.group(1).lstrip("-"))
                     else m.group(0), value)


def args(items: list) -> list:
    """A command's argument list (Docker's Cmd, Entrypoint, Args): the value of a secret flag redacted."""
    out, hide = [], False
    for item in items:
        if hide and isinstance(item, str) and not item.startswith("-"):
            out.append(REDACTED)
        else:
            out.append(data(item))
        flag = item.split("=", 1)[0] if isinstance(item, str) and item.startswith("--") else ""
        hide = bool(flag) and "=" not in item and is_secret(flag.lstrip("-"))
    return out


def url(value: str, marker: str = REDACTED) -> str:
    """Credentials inside URLs replaced: ``http://bob:pw@proxy:3128`` -> ``http://<redacted>@proxy:3128``."""
    return _URL.sub(lambda m: m.group(0) if m.group(2) == marker else f"{m.group(1)}{marker}@", value)


def named(name: str, value: Any, marker: str = REDACTED) -> Any:
    """The value of a variable (or JSON key, or header) called ``name``, as it may be archived."""
    if not isinstance(value, str) or not value or value == marker:
        return value
    if is_secret(name):
        return marker
    if is_proxy(name):
        items = []
        for item in value.split(","):
            if "://" not in item and "@" in item:  # curl and Go also take user:pass@host:port
                item = marker + item[item.rfind("@"):]
            items.append(item)
        return url(",".join(items), marker)
    return _free(value, marker)


def _env_map(body: str, marker: str) -> str:
    """``KEY:value KEY2: KEY3:[a b]`` pair by pair (as parse.ollama_log reads it), values redacted."""
    items: list[tuple[str | None, list[str]]] = []  # (key, value tokens); key None: a token before any key
    depth = 0
    for token in body.split(" "):
        match = _MAP_KEY.match(token) if depth == 0 else None
        if match:
            items.append((match.group(1), [token[match.end():]]))
        elif items and items[-1][0] is not None:
            items[-1][1].append(token)
        else:
            items.append((None, [token]))
        depth = max(0, depth + token.count("[") - token.count("]"))  # a lone ] closes nothing
    pairs = [(key, " ".join(tokens)) for key, tokens in items]
    # A value is read by the rules only where some value holds a candidate (one search over them all, a
    # newline between two so none spans them) or its key is secret or a proxy's: a map of thirty plain
    # settings is one search, not thirty.
    plain = not _has_candidate("\n".join(value for _, value in pairs))
    out = []
    for key, value in pairs:
        if key is None:
            out.append(value if plain else _free(value, marker))
        elif not value.strip() or (plain and not is_secret(key) and not is_proxy(key)):
            out.append(f"{key}:{value}")
        else:
            out.append(f"{key}:{named(key, value, marker)}")
    return " ".join(out)


# Every rule above needs one of these in the text it changes: a secret word in a name (and its Unicode
# spellings: ``PAß``.upper() is PASS), a proxy name, a scheme word (Bearer, Basic) or a URL's credentials
# (``://`` then an ``@`` before the host, as _URL reads them: an ``@`` anywhere else changes nothing, and a
# kernel log has thousands). A line without any of them is copied as it is, unread by the rules: that keeps
# a 64 MiB kernel log to one scan.
_URL_CREDENTIALS = r":(?://|\\/\\/)[^\s/?#\"'<>\\]+@"
_WORDS = _NAME_WORDS + "|bearer|basic|" + _URL_CREDENTIALS
_CANDIDATE = re.compile(f"(?i:{_WORDS})|[{_TWINS}]")
# On lower-cased text without a twin: the same hits, several times faster (every branch starts with a
# literal, so the engine skips the characters no branch starts with).
_LOWER_CANDIDATE = re.compile(_WORDS)


def _candidates(value: str, low: str | None = None):
    """Where ``value`` holds a candidate (match objects). The text is searched lower-cased (``low``, when the
    caller has it) where that keeps every character's place (each lower-cases to one) and no twin is in it;
    else as it is."""
    if not value.isascii() and any(twin in value for twin in _TWIN_CHARS):  # each alone: 3x a class search
        return _CANDIDATE.finditer(value)
    low = value.lower() if low is None else low
    return _LOWER_CANDIDATE.finditer(low) if len(low) == len(value) else _CANDIDATE.finditer(value)


def _has_candidate(value: str, low: str | None = None) -> bool:
    return next(_candidates(value, low), None) is not None


_MAX_NESTING = 8  # NAME=NAME=...: deeper than this, a value holding a candidate goes whole (never recursion)
_BLOCK = 1 << 20  # lines are redacted in blocks of about this many characters: memory stays bounded


def _free(value: str, marker: str, depth: int = 0) -> str:
    """Text without a server config map: secret shapes, URLs, headers, flags, then NAME=value pairs."""
    lowered = value.lower()
    if not _has_candidate(value, lowered):
        return value
    # Each rule runs only where its mark is in the text (all of them where the text is not ASCII).
    low = lowered if value.isascii() else None
    if low is None or "private key-----" in low:
        value = _PEM.sub(marker, value)
    if low is None or "bearer" in low or "basic" in low:
        value = _shaped(value, marker)
    if "@" in value:
        value = url(value, marker)
    if "--" in value:
        value = _flags(value, marker)

    def header(m: re.Match) -> str:
        # Bearer, Basic, Token and ApiKey credentials are one word; any other value runs to the line's end.
        one_word = (m.group(3) or "").lower() in ("bearer", "basic", "token", "apikey")
        cut = re.search(r"\s", m.group(4)) if one_word else None
        rest = m.group(4)[cut.start():] if cut else ""
        return f"{m.group(1)}{m.group(2)}{m.group(3) + ' ' if m.group(3) else ''}{marker}{rest}"

    if low is None or "proxy" in low:  # NO_PROXY=a:pw@x,b:pw2@y: a proxy list runs past its commas
        value = _PROXY_ASSIGN.sub(lambda m: f"{m.group(1)}{m.group(2)}{named(m.group(1), m.group(3), marker)}", value)
    if low is None or any(word in low for word in ("authorization", "cookie", "x-api-key", "x-auth-token")):
        value = (_HEADER if marker == REDACTED else _HEADER_MARKUP).sub(header, value)
    return _ASSIGN.sub(_assigner(marker, depth), value)


def _assigner(marker: str, depth: int):
    def assign(m: re.Match) -> str:
        name, sep, found = m.groups()
        quote = found[0] if found[:1] in ("'", '"') else ""
        inner = found[1:-1] if quote else found
        if _HEADER_NAME.fullmatch(name):
            return m.group(0)  # done above, its scheme word kept
        # Another name's value can hold a pair itself: msg="... password=x", url=https://h/?token=x.
        if is_secret(name) or is_proxy(name):
            inner = named(name, inner, marker)
        elif not _has_candidate(inner):
            return m.group(0)
        elif depth >= _MAX_NESTING:  # a=a=a=...: no value of a real log nests so deep; on the safe side
            inner = marker
        else:
            inner = _ASSIGN.sub(_assigner(marker, depth + 1), inner)
        return f"{name}{sep}{quote}{inner}{quote}"

    return assign


def _line_text(value: str, marker: str) -> str:
    out, pos = [], 0
    for m in _ENV_MAP.finditer(value):
        out += [_free(value[pos:m.start(2)], marker), _env_map(m.group(2), marker)]
        pos = m.end(2)
    out.append(_free(value[pos:], marker))
    return "".join(out)


def _candidate_lines(value: str):
    """(start, end) of each line of ``value`` that holds a candidate, in order, each once. The text is
    searched in slices of about _BLOCK characters cut after a newline (no candidate holds one), so the
    lower-cased copy the search reads is one slice's, never the whole text's."""
    pos, size = 0, len(value)
    while pos < size:
        cut = value.find("\n", pos + _BLOCK) if size - pos > _BLOCK else -1
        stop = size if cut < 0 else cut + 1
        chunk = value[pos:stop]
        at = 0
        for m in _candidates(chunk):
            if m.start() < at:
                continue  # on a line already given
            start = chunk.rfind("\n", 0, m.start()) + 1
            end = chunk.find("\n", m.end())
            at = len(chunk) if end < 0 else end + 1
            yield pos + start, pos + at
        pos = stop


def _fixed(value: str, rule, passes: int = 3) -> str:
    """``rule`` applied until it changes nothing (a value redacted may show a pair it hid: a=token=x)."""
    for _ in range(passes):
        new = rule(value)
        if new == value:
            break
        value = new
    return value


def _edits(value: str, marker: str) -> list[tuple[int, int, str]]:
    """The changes the rules make to a text (no PEM block in it): (start, end, new text) of each block of
    adjacent candidate lines (at most about _BLOCK characters) that the rules change, in order."""
    edits: list[tuple[int, int, str]] = []
    block_start = block_end = -1

    def flush() -> None:
        block = value[block_start:block_end]
        new = _fixed(block, lambda b: _line_text(b, marker))
        if new != block:
            edits.append((block_start, block_end, new))

    for start, end in _candidate_lines(value):
        if block_start >= 0 and start <= block_end and end - block_start <= _BLOCK:
            block_end = end
            continue
        if block_start >= 0:
            flush()
        block_start, block_end = start, end
    if block_start >= 0:
        flush()
    return edits


def _applied(value: str, edits: list[tuple[int, int, str]]):
    """The pieces of ``value`` with ``edits`` made, each unchanged span cut to at most _BLOCK characters (a
    writer holds one piece at a time beside the text)."""
    done = 0
    for start, end, new in [*edits, (len(value), len(value), "")]:
        for at in range(done, start, _BLOCK):
            yield value[at:min(at + _BLOCK, start)]
        yield new
        done = end


def _text(value: str, marker: str) -> str:
    """Every rule but the PEM block is one line's: the PEM blocks go first over the whole text, then only
    the lines that hold a candidate are read by the rules, in blocks of adjacent lines (one linear pass)."""
    if len(value) <= _BLOCK:
        return _fixed(value, lambda v: _line_text(v, marker)) if _has_candidate(value) else value
    if "PRIVATE KEY-----" in value:
        value = _PEM.sub(marker, value)
    edits = _edits(value, marker)
    return "".join(_applied(value, edits)) if edits else value


def _write_text(path: Path, value: str, marker: str) -> bool:
    """``path`` rewritten as ``_text`` redacts ``value`` (its content), piece by piece: beside the text, a
    writer holds only the changed blocks and one piece. Whether anything changed."""
    if len(value) <= _BLOCK or "PRIVATE KEY-----" in value:
        new = _text(value, marker)
        if new != value:
            path.write_text(new, encoding="utf-8")
        return new != value
    edits = _edits(value, marker)
    if edits:
        with open(path, "w", encoding="utf-8") as out:
            for piece in _applied(value, edits):
                out.write(piece)
    return bool(edits)


def text(value: str) -> str:
    """Any text (a log, a message, a line of a command's output) with its secrets redacted."""
    return _text(value, REDACTED)


def env_list(items: list[str]) -> list[str]:
    """``NAME=value`` items (a container's Config.Env) with secret values redacted."""
    return [data(item) for item in items]


# Keys under which a number is a count, not a PIN: the run record's own outcome counts ("counts": {"pass": 34});
# a string under them (a password) still goes.
COUNTED = frozenset({"pass"})


def data(value: Any, key: str = "") -> Any:
    """A JSON-like value with secrets redacted: values of secret keys, ``NAME=value`` strings, any text."""
    if isinstance(value, dict):
        return {k: data(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return args(list(value))  # list items are values, not named by the key (Docker's plugin lists)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key and is_secret(key) \
            and key.lower() not in COUNTED:
        return REDACTED  # a numeric PIN or key is a secret too
    if isinstance(value, str):
        if key and (is_secret(key) or is_proxy(key)):
            return named(key, value)
        item = _ENV_ITEM.match(value)
        if item and (is_secret(item.group(1)) or is_proxy(item.group(1))):
            return f"{item.group(1)}={named(item.group(1), item.group(2))}"
        return text(value)
    return value


_BLANK = " \t\r\n"


def _only_plain_keys(content: str) -> bool:
    """Whether every candidate in JSON text lies inside an object key that is not secret (``"patterns":``).

    Only such a key changes nothing: ``data`` keeps keys and redacts by a key's name only when it is secret;
    a candidate in a value, or anywhere in text with backslashes (escapes blur where strings end), sends the
    file through ``data``. Without backslashes each quote opens or closes a string, so counting them says
    whether a position is inside one."""
    if "\\" in content:
        return False
    for seen, m in enumerate(_candidates(content)):
        if seen >= 64:  # each look counts quotes from the start: past a few, the walk is cheaper
            return False
        if content.count('"', 0, m.start()) % 2 == 0:
            return False  # not inside a string: not JSON as data() would read it
        start, end = content.rfind('"', 0, m.start()), content.find('"', m.end())
        if end < 0:
            return False
        after = end + 1
        while after < len(content) and content[after] in _BLANK:
            after += 1
        key = content[start + 1:end]
        if content[after:after + 1] != ":" or is_secret(key) or is_proxy(key):
            return False
    return True


_JSON_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _shallow_json(content: str, limit: int = 200) -> bool:
    """Whether the text is JSON ``data`` would walk without running out of stack (else it is redacted as text,
    as it always was: a file that is not JSON, or is nested too deep, never takes the plain-keys shortcut).

    ``content`` holds no backslash (``_only_plain_keys`` says so first): each quote opens or closes a string,
    so with the strings cut out the brackets left are the structure, and their running count is the depth.
    A key twice needs no look here (the decoder's hook for it costs 3x the decoding): ``_only_plain_keys`` read
    every candidate of the text itself, so none hides under a first value that json would drop."""
    try:
        json.loads(content)
    except (ValueError, RecursionError):
        return False
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", content))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) < limit


def _unique_keys(pairs: list) -> dict:
    """A JSON object whose keys are unique. Twice the same key: json keeps the last value, so a secret
    under the first would be judged unseen and the file kept as it is; such a file is read as text."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("a key twice in one object")
    return obj


def stable(name: str, content: str) -> str:
    """``evidence_file`` until nothing changes (at most three passes): what is written is what a later pass
    over the run folder would leave as it is, so that pass may skip it."""
    return _fixed(content, lambda c: evidence_file(name, c))


def evidence_file(name: str, content: str) -> str:
    """An evidence file with secrets redacted: JSON value by value (it stays valid JSON), other text by lines.

    A file with nothing to redact comes back unchanged, byte for byte."""
    if "\\u" not in content and "\\/" not in content and not _has_candidate(content):
        return content  # no rule can change it (JSON's \u and \/ escapes could spell a name or a URL's
        # credentials, http:\/\/bob:pw@host: those files are read)
    if name.endswith(".json") and _only_plain_keys(content) and _shallow_json(content):
        return content
    if name.endswith(".json"):
        try:
            parsed = json.loads(content, object_pairs_hook=_unique_keys)
            redacted = data(parsed)
            return content if redacted == parsed else json.dumps(redacted, indent=2) + "\n"
        except (ValueError, RecursionError):  # not JSON, a key twice, or nested too deep: redacted as text
            return text(content)
    if name.endswith((".xml", ".html")):
        return _text(content, _HTML_REDACTED)  # the marker escaped: the markup stays well-formed
    return text(content)


# The HTML report (pytest-html) keeps its data as HTML-escaped JSON in one attribute; attached files are
# base64 data: URLs inside it.
_BLOB = re.compile(r'(data-jsonblob=")([^"]*)(")')
_DATA_URL = re.compile(r"^(data:([^;,]+)(?:;[^;,]+)*;base64,)(.*)$", re.DOTALL)


def _report_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _report_data(v) if k != "environment" else data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_report_data(v) for v in value]
    if isinstance(value, str) and (m := _DATA_URL.match(value)):
        try:
            raw = base64.b64decode(m.group(3), validate=True)
            if _CLEAN_TEXTS and hashlib.sha256(raw).hexdigest() in _CLEAN_TEXTS:
                return value  # an attachment made from evidence written redacted by this run
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return value  # an image: nothing written there by the suite
        name = "x.json" if m.group(2).endswith("json") else "x.txt"
        redacted = evidence_file(name, decoded)
        return value if redacted == decoded else m.group(1) + base64.b64encode(redacted.encode()).decode()
    if isinstance(value, str):
        return _text(value, REDACTED)
    return value


def report_html(content: str) -> str:
    """report.html with secrets redacted: its data (environment, tests, attached files) and its markup."""
    def blob(m: re.Match) -> str:
        try:
            parsed = json.loads(html.unescape(m.group(2)))
        except ValueError:
            return m.group(1) + _text(m.group(2), _HTML_REDACTED) + m.group(3)
        redacted = _report_data(parsed)
        if redacted == parsed:
            return m.group(0)
        return m.group(1) + html.escape(json.dumps(redacted), quote=True) + m.group(3)

    out, pos = [], 0
    for m in _BLOB.finditer(content):
        out += [_text(content[pos:m.start()], _HTML_REDACTED), blob(m)]
        pos = m.end()
    out.append(_text(content[pos:], _HTML_REDACTED))
    return "".join(out)


def junit_xml(content: str) -> str:
    """junit.xml with every attribute value and text redacted (parsed, so it stays well-formed XML)."""
    from xml.etree import ElementTree

    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(content)
    except Exception:  # defusedxml refuses entities too: an XML file pytest did not write as-is
        return text(content)
    changed = False
    for node in root.iter():
        for attr, value in node.attrib.items():
            # <property name="message" value="...">: the name says what the value holds
            named_by = node.get("name", "") if node.tag == "property" else ""
            new = value if named_by and attr == "name" else data(value, named_by)
            changed |= new != value
            node.set(attr, new)
        for part in ("text", "tail"):
            value = getattr(node, part)
            if value:
                new = text(value)
                changed |= new != value
                setattr(node, part, new)
    if not changed:
        return content
    return '<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(root, encoding="unicode")


# Files this process wrote already redacted (evidence): path -> SHA-256 of what was written. The last pass
# skips a file whose bytes are still exactly those; anything else in the folder it reads and redacts.
_WRITTEN_REDACTED: dict[str, str] = {}


def write_redacted(path: Path, content: str) -> None:
    """Write ``content`` and remember it, so the last pass need not read it again. ``content`` must be what
    ``stable`` gives for the file (a fixed point: the last pass would leave it as it is)."""
    data = content.encode("utf-8")
    path.write_bytes(data)
    _WRITTEN_REDACTED[str(path.resolve())] = hashlib.sha256(data).hexdigest()


def written_redacted(path: Path, data: bytes) -> bool:
    """Whether ``data`` is exactly what ``write_redacted`` wrote at ``path`` in this process."""
    return _WRITTEN_REDACTED.get(str(path.resolve())) == hashlib.sha256(data).hexdigest()


# Texts made in this process only from files written redacted (the report's evidence attachments): the
# last pass over report.html skips a data: URL that holds exactly one of them.
_CLEAN_TEXTS: set[str] = set()


def remember_clean(content: str) -> None:
    _CLEAN_TEXTS.add(hashlib.sha256(content.encode("utf-8")).hexdigest())


def run_folder(folder: Path) -> list[str]:
    """The last pass over a finished run folder (before its manifest): every text file redacted in place.

    Returns the files it had to change (each one a value that escaped redaction at its source)."""
    changed = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            raw = path.read_bytes()
            if written_redacted(path, raw):
                continue  # written redacted by this run, and unchanged since
            content = raw.decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # not text the suite wrote
        del raw  # the decoded text alone stays: the file's bytes are not held beside it
        if path.suffix == ".html":
            new = _fixed(content, report_html)
        elif path.suffix == ".xml" and path.name.startswith("junit"):
            new = _fixed(content, junit_xml)
        elif not path.name.endswith((".json", ".xml", ".html")):
            if _write_text(path, content, REDACTED):  # plain text, as evidence_file redacts it, piece by piece
                changed.append(path.relative_to(folder).as_posix())
            continue
        else:
            new = stable(path.name, content)
        if new != content:
            path.write_text(new, encoding="utf-8")
            changed.append(path.relative_to(folder).as_posix())
    return changed
