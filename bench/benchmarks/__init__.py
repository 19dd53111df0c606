"""Benchmarks, one module each, registered in `bench.registry.benchmarks`.

A benchmark loads its samples, writes the prompt (the same wording for every backbone),
parses a prediction and scores it. It never calls the model under test.

The five published ones load their annotations from the original files found under
`--data-root` (`bench.datafiles`) or from the Hugging Face dataset lmms-eval uses (`hf=` in the
spec names another id), and take `--unparsed` (multiple choice, `choice.MultipleChoice`) or
`--judge-model` (open-ended) as constructor defaults, so those appear in their spec. A
benchmark whose scoring caches work of its own (the ActivityNet-QA judge) also has
`use_cache(cache_dir)`: `load` calls it with --cache-dir, `bench rescore` with its own.

A constructor rejects a parameter value it cannot use (a split the benchmark does not have)
with a RegistryError listing the valid values; `load` raises DataError for a missing, empty
or malformed annotation file, naming the file, the record or line, and the field.

`--unparsed random` (lmms-eval's random letter for a reply that names no option) is
lmms-eval parity for NExT-QA, LongVideoBench and EgoSchema only: lmms-eval scores an unparsed
Video-MME reply wrong, which is the default `wrong` here.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bench.records import DataOptions, Outcome, Sample


class Benchmark(Protocol):
    max_new_tokens: int

    def load(self, options: DataOptions) -> list[Sample]:
        """The samples, in a fixed order; the first `options.limit` of them (all when None), cut once with `datafiles.take`."""

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        """The question as the backbone sees it; `times` are the given frames' seconds."""

    def parse(self, text: str, sample: Sample) -> str | None:
        """The parsed answer in `text`, or None when nothing parses (no guessing)."""

    def score(self, sample: Sample, prediction: str) -> Outcome:
        """The outcome of one raw prediction."""
