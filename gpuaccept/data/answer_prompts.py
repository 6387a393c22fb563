"""OLL-ANSWER's known answers: prompts whose right answer can be checked without another model.

Why: a model split over cards can answer in fluent-looking nonsense while every other check passes and its
runs agree with each other (deterministic gibberish is repeatable): Command-A on 3x P40 with a row split
(ggml-org/llama.cpp#14228: "муніципалітетископ nghiệm mili � nodes 🇿 teilweise", a finetune repeating
"Tạng Tạng Tạng ..."), broken answers with OLLAMA_SCHED_SPREAD on 4x V100 (ollama/ollama#10622). Each answer
is one a small model gets right at temperature 0, so a wrong one is the hardware's or the runner's, not the
model's knowledge: arithmetic, a sequence, a fixed fact, a word spelt backwards.

``expect``: the accepted spellings of the answer, matched case-folded as whole words in the reply once a
reasoning model's <think> block is removed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    expect: tuple[str, ...]


QUESTIONS: tuple[Question, ...] = (
    Question("arithmetic", "What is 17 multiplied by 23? Reply with the number only.", ("391",)),
    Question("sequence", "List the whole numbers from 1 to 12 in order, separated by commas. Reply with the list only.",
             ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12",)),
    Question("fact", "What is the capital city of France? Reply with one word.", ("paris",)),
    Question("reverse", "Spell the word 'stressed' backwards. Reply with the reversed word only.", ("desserts",)),
)
ANSWER_TOKENS = 64  # num_predict of each: the answers are a few tokens; room for a preamble, never an essay
