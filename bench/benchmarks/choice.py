"""Multiple choice shared by every benchmark that has options: lettering, parsing, scoring.

`parse_choice` reads the option letter out of free text without guessing. It tries, in
order, and stops at the first step that finds anything:
1. a bare letter: "b", "(B)", "B.", "**B**";
2. a letter that opens the reply: "B) text", "B. text", "B: text", "b) text";
3. an explicit phrase: "Answer: B", "The answer is (B)", "option C", "Best option: D";
4. a letter the reply chooses, settles on or calls right: "Among A, B, C, D, I choose C",
   "Not A, it's B", "Either B or D, but most likely D", "B is correct, while A, C and D are
   not", "(D) is the best";
5. a bracketed letter anywhere: "... (C) ...";
6. the text of exactly one option: the whole reply is that text, whatever its case, leading
   article and end punctuation ("A man is cooking pasta." for "The man is cooking pasta"), or
   the reply contains it as written ("the blue door" for B); a reply about a person (below)
   that is part of exactly one option's text ("C is cooking a meal." for "C is cooking a meal
   in the kitchen") names that option;
7. a capital standing alone: "I think it's B".
A step that finds two different letters ("(A) or (B)", "A and C are both plausible") makes
the reply unparsed rather than picking one. No step reads a word's first letter ("Based on
the video..." is not B), nor the article "A" or the pronoun "I" before a word ("A man
opens..."). A benchmark whose questions name a person by a capital (EgoSchema's "C", the
camera wearer) passes it as `people`: step 7 then skips it before a word too, unless it
stands in a list of letters, so "C is cutting the onion" is about the wearer, not option C,
while "A and C are both plausible" still names two options.

lmms-eval's parsers differ per task (MMMU-style for NExT-QA and EgoSchema, "first capital
A-E" for LongVideoBench, a priority ranking for Video-MME) and fall back to `random.choice`
when nothing parses, except Video-MME's, which scores an unparsed reply wrong. Here one
parser serves all, an unparsed reply is wrong with `parse_ok` false, and `unparsed="random"`
reproduces the random fallback: lmms-eval parity for NExT-QA, LongVideoBench and EgoSchema,
not for Video-MME, where the default `wrong` is parity. The letter is drawn from a generator
seeded by the sample id, so reruns, shards and `bench rescore` agree.
"""

from __future__ import annotations

import random
import re
from typing import Mapping

import numpy as np

from bench.benchmarks import Breakdown
from bench.options import LETTERS, with_options
from bench.records import Outcome, Sample
from bench.registry import RegistryError

INSTRUCTION = "Answer with the option's letter from the given choices directly."
UNPARSED = ("wrong", "random")

_LETTER = r"[(\[]?([A-Z])(?![A-Za-z'’])"
_NOT_LISTED = r"(?![)\]]?(?:\s*,|\s+(?:and|or|nor))\s+[(\[]?[A-Z](?![A-Za-z'’]))"  # "I'd pick A or B" picks neither
_STEPS = (
    r"^\W*([A-Za-z])\W*$",
    r"^[^\w(\[]*([A-Z])(?=[.):\]]|\s*(?:\n|$))|^[^\w(\[]*([a-z])[.):\]](?=\s|$)",  # "(B) x" is left to step 5
    r"(?i:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*[(\[]?([A-Z])(?![A-Za-z])"
    r"|(?i:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*[(\[]?([a-z])(?=[.)\]]|\s*$)",
    rf"(?i:\bI(?:['’]d|\s+would|\s+will)?\s+(?:choose|pick|select|go\s+with))\s+(?i:option\s+)?{_LETTER}{_NOT_LISTED}"
    rf"|(?i:\bit(?:['’]s|\s+is|\s+must\s+be))\s+(?i:option\s+)?{_LETTER}{_NOT_LISTED}"
    # a hedge that settles: "Either B or D, but most likely D"
    rf"|(?i:\b(?:most|more)\s+likely|\bprobably|\bI['’]d\s+say|\bleaning\s+towards?)\s+(?i:option\s+)?{_LETTER}{_NOT_LISTED}"
    # "B is correct", but not the last of a list ("A or B is correct")
    r"|(?<![A-Za-z'’(\[])(?<![A-Z)\]],\s)(?<![A-Z)\]]\sor\s)(?<![A-Z)\]]\sand\s)"
    r"[(\[]?([A-Z])[)\]]?\s+is\s+(?:the\s+)?(?:correct|right|best)\b",
    r"[(\[]([A-Z])[)\]]",
)
_ALONE = re.compile(r"(?<![A-Za-z'’])([A-Z])(?![A-Za-z'’])")
_WORD_AFTER = re.compile(r"\s+(?!(?:and|or|nor)\b)[a-z]")  # "A man", "I think"; not "A and C"
_PERSON_AFTER = re.compile(r"\s+(?!(?:and|or|nor)\s+[(\[]?[A-Z](?![A-Za-z'’]))[a-z]")  # "C and the woman"; not "C and D"
_PERSON_FIRST = re.compile(r"[A-Z]\s+[a-z]")  # "C is cooking a meal.": a person's name opens the reply
_LISTED = re.compile(r"(?<![A-Za-z'’])[A-Z][)\]]?(?:\s*,|\s+(?:and|or|nor))\s+[(\[]?$")  # "A and " before a capital


def parse_choice(text: str, options: tuple[str, ...], people: str = "") -> str | None:
    """The option letter `text` answers with, or None when it names none or several.

    `people`: capitals that name a person in the questions (EgoSchema's "C"); standing alone
    before a word they are that person, not an option.
    """
    valid = set(LETTERS[: len(options)])
    reply = text.strip()
    if not reply or not valid:
        return None
    for pattern in _STEPS:
        # every match has exactly one group set: the alternative that matched
        found = {next(g for g in m.groups() if g).upper() for m in re.finditer(pattern, reply)} & valid
        if found:
            return found.pop() if len(found) == 1 else None
    named = _options_equal(reply, options) or _options_named(reply, options)
    if named:
        return LETTERS[named[0]] if len(named) == 1 else None
    if people and reply[0] in people and _PERSON_FIRST.match(reply):
        # about the person, not a letter: part of exactly one option's text names that option
        inside = [i for i, option in enumerate(options) if _plain(reply) in _plain(option)]
        if len(inside) == 1:
            return LETTERS[inside[0]]
    alone = {m.group(1) for m in _ALONE.finditer(reply) if not _is_word(reply, m, people)} & valid
    return alone.pop() if len(alone) == 1 else None


def _is_word(reply: str, match: re.Match, people: str) -> bool:
    """Whether a capital standing alone is a word: the article "A" or "I" before a word, or a person's name."""
    letter, end = match.group(1), match.end()
    if letter in "AI" and _WORD_AFTER.match(reply, end):
        return True
    return letter in people and bool(_PERSON_AFTER.match(reply, end)) and not _LISTED.search(reply, 0, match.start())


def _plain(text: str) -> str:
    """Lower case, no leading article, no end punctuation, single spaces: what two spellings of one sentence share."""
    words = re.sub(r"[\s.!?;:,]+$", "", text.strip().lower()).split()
    return " ".join(words[1:] if words[:1] in (["a"], ["an"], ["the"]) else words)


def _options_equal(reply: str, options: tuple[str, ...]) -> list[int]:
    """Indices of the options the whole reply is, in plain form (see `_plain`)."""
    said = _plain(reply)
    return [i for i, option in enumerate(options) if said and _plain(option) == said]


def _options_named(reply: str, options: tuple[str, ...]) -> list[int]:
    """Indices of the options whose text the reply contains, dropping any contained in a longer one found."""
    lowered = reply.lower()
    texts = [option.strip().lower().rstrip(".") for option in options]
    found = [i for i, t in enumerate(texts) if t and re.search(rf"(?<!\w){re.escape(t)}(?!\w)", lowered)]
    return [i for i in found if not any(j != i and texts[i] in texts[j] for j in found)]


def unparsed_mode(value: str) -> str:
    """`value` if it is one of UNPARSED; a benchmark's constructor checks its `unparsed` with this."""
    if value not in UNPARSED:
        raise RegistryError(f"unparsed must be one of {', '.join(UNPARSED)}, not {value!r}")
    return value


def random_letter(sample: Sample) -> str:
    """lmms-eval's fallback for an unparsed reply, seeded by the sample id (str seeds hash the same everywhere)."""
    return LETTERS[random.Random(f"unparsed:{sample.sample_id}").randrange(len(sample.options))]


def score_choice(sample: Sample, prediction: str, unparsed: str = "wrong", people: str = "") -> Outcome:
    """Right iff the parsed letter is the answer; unparsed is wrong (or a seeded random letter), parse_ok False.

    `correct` is None where the answer is hidden (EgoSchema's full set: its server scores it).
    """
    parsed = parse_choice(prediction, sample.options, people)
    ok = parsed is not None
    if not ok and unparsed == "random":
        parsed = random_letter(sample)
    if parsed is None:
        return Outcome(correct=False if sample.answer else None, parsed="", parse_ok=False)
    return Outcome(correct=parsed == sample.answer if sample.answer else None, parsed=parsed, parse_ok=ok)


class MultipleChoice:
    """`prompt`, `parse` and `score` for a benchmark whose samples have options; `unparsed` is set by its constructor."""

    open_ended = False
    metric = "accuracy"
    breakdowns: Mapping[str, Breakdown] = {}  # a benchmark whose samples carry a category or a duration group names it
    unparsed = "wrong"
    instruction = INSTRUCTION  # the line after the options; a benchmark's own protocol may change it
    people = ""  # capitals the questions use for a person (see parse_choice)

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        """The question, its lettered options, then the instruction."""
        return f"{with_options(sample.question, sample.options)}\n{self.instruction}"

    def parse(self, text: str, sample: Sample) -> str | None:
        """The option letter in `text`, or None."""
        return parse_choice(text, sample.options, self.people)

    def score(self, sample: Sample, prediction: str) -> Outcome:
        """The outcome of one raw prediction."""
        return score_choice(sample, prediction, self.unparsed, self.people)
