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

A benchmark also declares, as class attributes, the facts its tables need: whether its
answers are open-ended (judged), the breakdowns `bench table --by` offers for it, and its
metric. The analysis code (bench.analysis.cells, bench.analysis.breakdowns) reads them from the class
registered under the dataset's name, so a new benchmark needs no edit outside its module; a
name no longer registered is read as plain multiple choice with no breakdowns of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

import numpy as np

from bench.records import DataOptions, Outcome, Sample
from bench.registry import RegistryError, benchmarks

DEFAULT_COLUMNS = {"category": "category", "duration": "duration_group"}  # what a --by name reads where no benchmark says otherwise


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One way to split a benchmark's rows into groups for `bench table --by NAME`."""

    column: str  # the results column (a Row field) holding each row's value
    groups: tuple[tuple[str, str], ...] = ()  # (value, group): values reported together; a value not listed is its own group
    order: tuple[str, ...] = ()  # groups in the order the papers print them; any others follow, numbers by value, then words
    separator: str = ""  # where a row holds several values joined by it (LVBench's question types), it counts in each

    def grouped(self, values: Iterable[str]) -> list[tuple[str, ...]]:
        """The groups of each value: one, or one per part where the column holds several; () for an empty value."""
        groups = dict(self.groups)
        parts = (value.split(self.separator) if self.separator else [value] for value in values)
        return [tuple(dict.fromkeys(groups.get(v, v) for v in each if v)) for each in parts]


class Benchmark(Protocol):
    """What a registered benchmark provides: its facts as class attributes, and four methods."""

    max_new_tokens: int
    open_ended: bool  # free-text answers a judge grades (accuracy and a mean 0-5 score), not options
    breakdowns: Mapping[str, Breakdown]  # `--by` name -> its Breakdown; `--by` also takes the column a breakdown reads
    # how a cell's answered rows add up to its accuracy, a name in bench.analysis.cells.METRICS: "accuracy" (the
    # share right) or "category_mean" (the mean of the per-category accuracies, MLVU's M-Avg)
    metric: str

    def load(self, options: DataOptions) -> list[Sample]:
        """The samples, in a fixed order; the first `options.limit` of them (all when None), cut once with `datafiles.take`."""

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        """The question as the backbone sees it; `times` are the given frames' seconds."""

    def parse(self, text: str, sample: Sample) -> str | None:
        """The parsed answer in `text`, or None when nothing parses (no guessing)."""

    def score(self, sample: Sample, prediction: str) -> Outcome:
        """The outcome of one raw prediction."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What tables read of a benchmark (see Benchmark); the defaults are plain multiple choice with no breakdowns of its own."""

    open_ended: bool = False
    breakdowns: tuple[tuple[str, Breakdown], ...] = ()  # (--by name, Breakdown)
    metric: str = "accuracy"

    def breakdown(self, by: str) -> Breakdown:
        """What `--by by` means here: the breakdown declared under that name or reading that column, else the column it names."""
        for name, declared in self.breakdowns:
            if name == by:
                return declared
        for _, declared in self.breakdowns:
            if declared.column == by:  # --by duration_group orders Video-MME's groups as --by duration does
                return declared
        return Breakdown(DEFAULT_COLUMNS.get(by, by))


def facts(name: str) -> Facts:
    """The facts the benchmark registered as `name` declares; the defaults for a name not registered (any more)."""
    try:
        cls = benchmarks.get(name)
    except RegistryError:
        return Facts()
    # a plugin's class that declares none of them reads as plain multiple choice, as an old CSV's name does
    return Facts(bool(getattr(cls, "open_ended", False)), tuple(getattr(cls, "breakdowns", {}).items()),
                 str(getattr(cls, "metric", "accuracy")))
