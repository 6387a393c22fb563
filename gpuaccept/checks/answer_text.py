"""Reading a generated text: the reply without a reasoning model's thinking, whether it holds an expected
answer, and whether it is gibberish (what a broken split produces: ggml-org/llama.cpp#14228)."""

from __future__ import annotations

import re
import unicodedata

_THINK = re.compile(r"<think>.*?</think>", re.S)
REPEAT_LIMIT = 8  # the same word this many times in a row is a stuck decoder, not prose
CHAR_RUN_LIMIT = 40  # one letter or digit this many times in a row ("GGGG..."); rules of - = _ * are prose
SCRIPT_LIMIT = 3  # words in this many writing systems in one reply to an English prompt is a broken decode


def reply(text: str) -> tuple[str, str]:
    """(the reply, why there is none): the text without <think>...</think> blocks; a block never closed
    means the reply was all thinking (cut by num_predict)."""
    stripped = _THINK.sub("", text)
    if "<think>" in stripped:
        return "", "the reply is all thinking: its <think> block never closes (cut by num_predict)"
    return stripped.strip(), ""


def _normal(text: str) -> str:
    """Case-folded, spaces collapsed, none around a comma: "1, 2,3" and "1,2, 3" read alike."""
    return re.sub(r" ?, ?", ",", " ".join(unicodedata.normalize("NFKC", text).casefold().split()))


def holds(text: str, expect: tuple[str, ...]) -> str | None:
    """The accepted answer the reply holds, as a whole word (``391`` in "It is 391.", never in "3910"), and a
    list as a whole list (never inside "0, 1, ..., 12, 13")."""
    said = _normal(text)
    for answer in expect:
        if re.search(rf"(?<![\w])(?<!\d,){re.escape(_normal(answer))}(?![\w])(?!,\d)", said):
            return answer
    return None


def hedged(reply: str, prompt: str, expect: tuple[str, ...]) -> str:
    """Why a reply that holds the answer still does not give it, or "": another number than the answer's (beyond
    the question's own: "391 or 392", "not 391, it is 392"), or a question mark (a guess among several)."""
    numbers = set(re.findall(r"\d+", reply)) - set(re.findall(r"\d+", prompt))
    allowed = {n for e in expect for n in re.findall(r"\d+", e)}
    extra = sorted(numbers - allowed, key=lambda n: (len(n), n))
    if extra:
        return f"it also names {', '.join(extra[:5])}"
    if "?" in reply:
        return "it asks or guesses (a question mark)"
    return ""


def _script(word: str) -> str | None:
    """The writing system of a word's first letter (LATIN, CYRILLIC, CJK...), None for no letter."""
    for ch in word:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            return name.split(" ")[0] if name else None
    return None


def gibberish(text: str) -> str:
    """Why ``text`` is not language, or "": bytes that were no UTF-8 (U+FFFD), a word repeated past
    REPEAT_LIMIT, a character run past CHAR_RUN_LIMIT, no word at all, or words in SCRIPT_LIMIT scripts."""
    if "\ufffd" in text:
        at = text.index("\ufffd")
        return f"a replacement character (U+FFFD: bytes that are no text) at character {at}"
    words = re.findall(r"\w+", text)
    if not words:
        return "no word at all" if text.strip() else ""
    run, last = 1, None
    for word in words:
        run = run + 1 if word == last else 1
        last = word
        if run >= REPEAT_LIMIT:
            return f"the word {word!r} {REPEAT_LIMIT} times in a row"
    chars = re.search(rf"([^\W_])\1{{{CHAR_RUN_LIMIT - 1},}}", text)
    if chars:
        return f"{chars.group(1)!r} {len(chars.group(0))} times in a row"
    scripts = sorted({s for s in map(_script, words) if s})
    if len(scripts) >= SCRIPT_LIMIT:
        return f"words in {len(scripts)} writing systems in one reply ({', '.join(scripts)})"
    return ""
