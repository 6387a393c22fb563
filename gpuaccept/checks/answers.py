"""OLL-ANSWER: the model answers correctly on these cards, and no text it produced is gibberish.

Run-to-run identity (OLL-CONSISTENT) cannot show this: a broken split gives the same nonsense every run.
The questions are the suite's own (gpuaccept/data/answer_prompts.py), judged against the suite's accepted
answers, never against what the record says it expected: the evidence is untrusted.
"""

from __future__ import annotations

from collections import Counter

from gpuaccept.checks import answer_text, pointers
from gpuaccept.checks.load import bench_or_verdict
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, warned
from gpuaccept.data.answer_prompts import QUESTIONS
from gpuaccept.facts import Answer, Benchmark, BenchRun, HostFacts
from gpuaccept.profile import Profile

_SHOWN = 160  # characters of a reply quoted in a message

CORRUPT_CAUSE = ("the text these cards produce is corrupted: on multi-GPU hosts a broken split does this "
                 "(ggml-org/llama.cpp#14228: gibberish on 3x P40 with a row split, fine with a layer split; "
                 "ollama/ollama#10622: broken answers with OLLAMA_SCHED_SPREAD), as do memory faults")


def corrupt_fix(host: HostFacts, profile: Profile) -> str:
    """What to try, naming GPU-XID and GPU-ECC to check only where they did not pass."""
    cards = pointers.check_these(host, profile, "GPU-XID", "GPU-ECC")
    return ("compare with the model on one card (CUDA_VISIBLE_DEVICES=0 in the container) and without "
            f"OLLAMA_SCHED_SPREAD; update Ollama; {cards}; run -m diag (GPU-MEMTEST)")


def _texts(bench: Benchmark) -> list[tuple[str, BenchRun]]:
    return ([(f"warm-up run {i}", r) for i, r in enumerate(bench.warmup, start=1)]
            + [(f"measured run {i}", r) for i, r in enumerate(bench.runs, start=1)]
            + [(f"question {a.id!r}", a) for a in bench.answers or () if not a.error])


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def oll_answer(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    if bench.answers is None:
        return not_evaluated("benchmark.json holds no answers (field answers): it was recorded before the suite "
                             "asked OLL-ANSWER's questions; run the load tier again")
    twice = sorted(i for i, n in Counter(a.id for a in bench.answers).items() if n > 1)
    if twice:
        return not_evaluated(f"benchmark.json answers question(s) {', '.join(repr(i[:40]) for i in twice)} more than "
                             "once: which reply counts is not known (a damaged record)")
    asked = {a.id: a for a in bench.answers}
    missing = [q.id for q in QUESTIONS if q.id not in asked]
    if missing:
        why = f" ({bench.error})" if bench.error else ""
        return not_evaluated(f"question(s) {', '.join(missing)} were not asked{why}")
    texts = _texts(bench)
    unread = [label for label, run in texts if run.text is None]
    if unread:
        return not_evaluated(f"benchmark.json records no text for {', '.join(unread)}")
    for label, run in texts:
        why = answer_text.gibberish(run.text or "")
        if why:
            return failed(f"{label}'s text is gibberish ({why}): {_shown(run.text or '')}",
                          "language in every generated text", CORRUPT_CAUSE, corrupt_fix(host, profile))
    unanswered: list[str] = []
    wrong: list[tuple[str, Answer, str]] = []
    for q in QUESTIONS:
        a = asked[q.id]
        if a.prompt != q.prompt:
            return not_evaluated(f"question {q.id!r} in benchmark.json was asked as {a.prompt!r}, not as the suite "
                                 f"asks it ({q.prompt!r}): a record of another suite version")
        if a.error:
            unanswered.append(f"{q.id}: {a.error}")
            continue
        reply, why_none = answer_text.reply(a.text or "")
        if not why_none and not reply:
            why_none = "no reply outside the <think> block" if a.text else "an empty reply"
        if why_none:
            unanswered.append(f"{q.id}: {why_none}")
        elif answer_text.holds(reply, q.expect) is None:
            wrong.append((q.id, a, reply, ""))
        elif hedge := answer_text.hedged(reply, q.prompt, q.expect):
            wrong.append((q.id, a, reply, hedge))
    warm = profile.ollama.benchmark.temperature not in (0, 0.0)
    if wrong:
        qid, a, reply, hedge = wrong[0]
        q = next(q for q in QUESTIONS if q.id == qid)
        others = f" ({len(wrong) - 1} more wrong: {', '.join(w[0] for w in wrong[1:])})" if len(wrong) > 1 else ""
        hedge = f" (it holds the answer, but {hedge})" if hedge else ""
        measured = f"asked {q.prompt!r}, the model replied {_shown(reply)}{hedge}{others}"
        expected = f"a reply holding {' or '.join(repr(e) for e in q.expect)}"
        if warm:  # sampling may pick another token: no proof of a fault
            return warned(measured, expected, f"At temperature {profile.ollama.benchmark.temperature:g} "
                          "(profile ollama.benchmark.temperature) a sampled reply can be wrong by chance",
                          "judge at temperature 0")
        return failed(measured, expected + " (a question any model of this size answers right at temperature 0)",
                      CORRUPT_CAUSE.replace("the text these cards produce is corrupted",
                                            "the model answers wrongly on these cards"), corrupt_fix(host, profile))
    if unanswered:
        return not_evaluated(f"no reply to judge for {'; '.join(unanswered)}")
    return passed(f"{len(QUESTIONS)} questions answered right ({', '.join(q.id for q in QUESTIONS)}); "
                  f"no gibberish in {len(texts)} generated texts", "every known answer right, every text language")
