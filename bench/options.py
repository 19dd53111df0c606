"""Option letters and the lettered question: how multiple-choice options are written, for prompts and selectors.

A base module: benchmarks write their prompts with it, and selectors that show the options to
a model (spatial, temporal, the trained selector, CLIP with text=question+options) write them
the same way, without importing a benchmark.
"""

from __future__ import annotations

LETTERS = "ABCDEFGHIJ"


def format_options(options: tuple[str, ...]) -> str:
    """'A. first\\nB. second...' as every multiple-choice prompt lists them."""
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))


def with_options(question: str, options: tuple[str, ...]) -> str:
    """The question followed by its lettered options, one a line (the question alone when open-ended)."""
    return f"{question}\n{format_options(options)}" if options else question
