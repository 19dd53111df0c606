"""Multiple choice shared by every benchmark that has options: lettering, parsing, scoring.

`parse_choice` reads the option letter out of free text without guessing. It tries, in
order: a bare letter ("b", "(B)", "B."); a letter that opens the reply ("B) text", "B: ...");
an explicit phrase ("Answer: B", "The answer is B", "option (C)"); a parenthesised letter
anywhere; the text of exactly one option; a single stand-alone capital letter. It never
reads a word's first letter as an answer ("Based on the video..." is not B, "A man..." is
not A), and returns None when the reply names no option or names several.
"""

from __future__ import annotations

import re

from bench.records import Outcome, Sample

LETTERS = "ABCDEFGHIJ"


def format_options(options: tuple[str, ...]) -> str:
    """'A. first\\nB. second...' as every multiple-choice prompt lists them."""
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))


def _letter(match: re.Match[str] | None, valid: str) -> str | None:
    if match is None:
        return None
    letter = match.group(1).upper()
    return letter if letter in valid else None


def parse_choice(text: str, options: tuple[str, ...]) -> str | None:
    """The option letter `text` answers with, or None when it names none or several."""
    valid = LETTERS[: len(options)]
    reply = text.strip()
    if not reply or not valid:
        return None
    steps = (
        r"^\W*([A-Za-z])\W*$",  # "b", "(B)", "B."
        r"^\W*\(?([A-Z])(?:[.):\]]|$)",  # "B) text", "B. text", "(B) text", "B: text"
        r"(?i:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*\(?([A-Z])(?![A-Za-z])",  # "Answer: B", "the answer is B"
        r"(?i:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*\(?([a-z])(?:[.)]|$)",  # "answer is b."
        r"\(([A-Z])\)",  # "... (C) ..."
    )
    for pattern in steps:
        found = _letter(re.search(pattern, reply), valid)
        if found:
            return found
    named = _options_named(reply, options)
    if len(named) == 1:
        return LETTERS[named[0]]
    if named:
        return None
    # a capital standing alone, but not the article "A" opening a phrase ("A man ...")
    alone = {m.group(1) for m in re.finditer(r"(?<![A-Za-z'])([A-Z])(?![A-Za-z'])(?!\s+[a-z])", reply)}
    alone &= set(valid)
    return alone.pop() if len(alone) == 1 else None


def _options_named(reply: str, options: tuple[str, ...]) -> list[int]:
    """Indices of the options whose text the reply contains, dropping any contained in a longer one found."""
    lowered = reply.lower()
    found = [
        i for i, option in enumerate(options)
        if option.strip() and re.search(rf"(?<!\w){re.escape(option.strip().lower().rstrip('.'))}(?!\w)", lowered)
    ]
    return [i for i in found if not any(j != i and options[i].strip().lower() in options[j].strip().lower() for j in found)]


def score_choice(sample: Sample, prediction: str) -> Outcome:
    """Right iff the parsed letter is the answer; an unparsed reply is wrong with parse_ok False."""
    parsed = parse_choice(prediction, sample.options)
    if parsed is None:
        return Outcome(correct=False, parsed="", parse_ok=False)
    return Outcome(correct=parsed == sample.answer, parsed=parsed)
