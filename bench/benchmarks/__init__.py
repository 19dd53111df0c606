"""Benchmarks, one module each, registered in `bench.registry.benchmarks`.

A benchmark loads its samples, writes the prompt (the same wording for every backbone),
parses a prediction and scores it. It never calls the model under test.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bench.records import DataOptions, Outcome, Sample


class Benchmark(Protocol):
    max_new_tokens: int

    def load(self, options: DataOptions) -> list[Sample]:
        """The samples, in a fixed order; at most `options.limit` of them."""

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        """The question as the backbone sees it; `times` are the given frames' seconds."""

    def parse(self, text: str, sample: Sample) -> str | None:
        """The parsed answer in `text`, or None when nothing parses (no guessing)."""

    def score(self, sample: Sample, prediction: str) -> Outcome:
        """The outcome of one raw prediction."""
