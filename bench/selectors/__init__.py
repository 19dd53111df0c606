"""Frame-selection strategies, one module each, registered in `bench.registry.selectors`.

A selector scores the N candidates of a sample from a `Query` (candidates, question, options,
duration), never from the `Sample`, so no selector can read the answer; `query_for` builds
the Query, and only a selector whose class sets `needs_truth = True` (oracle) finds the
Sample in it. The pick named by its `pick` attribute (a key of `pick.PICKS`, overridden with
`pick=` in the spec) turns scores into k indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bench.records import Candidates, Query, Sample
from bench.registry import RegistryError, Spec, selectors
from bench.selectors.choose import owns
from bench.selectors.pick import PICKS


class Selector(Protocol):
    """What the runner, `bench labels` and `bench show` call on a selector."""

    pick: str  # default pick in pick.PICKS: "nms", "topk" or "uniform"

    def load(self, device: str) -> None:
        """Load models once per run (heavy imports go here)."""

    def score(self, query: Query) -> np.ndarray:
        """float32 (N,): one score per candidate of `query.candidates`, higher = more useful for the question."""

    def release(self) -> None:
        """Free what `load` took, before the next model loads."""

    # Optional, for a rule that needs more than scores and k (aks, mdp3): `pick` is then the
    # selector's own name, and the runner calls select(scores, k, candidates) -> k indices,
    # ascending, after release(). See bench.selectors.choose.
    #
    # Optional, for an upper bound that reads the ground truth (oracle only): the class
    # attribute `needs_truth = True` makes `query_for` put the Sample in `query.truth`; every
    # other selector gets truth=None, and tests/test_selector_contracts.py poisons the answer
    # to prove it.
    #
    # Optional, for a selector that scores only some candidates (focus, dig): set `n_scored`
    # in `score` to how many it scored; the score cache records it with the scores (the
    # default is 0 for a uniform pick, N otherwise) and each row's `n_scored` column shows it.


def query_for(selector: object, candidates: Candidates, sample: Sample) -> Query:
    """What `selector` may see of `sample` with these candidates: the Sample itself only if it declares `needs_truth`."""
    truth = sample if getattr(selector, "needs_truth", False) else None
    return Query(candidates, sample.question, sample.options, candidates.meta.duration_s, sample.sample_id, sample.dataset, truth)


@dataclass(frozen=True, slots=True)
class SelectorPlan:
    """A selector spec taken apart: what computes the scores, and which pick turns them into k."""

    spec: str  # canonical, as the CSV's `selector` column records it (pick only if not the default)
    scorer: str  # canonical spec without `pick`: scores are cached under it
    pick: str  # a key of pick.PICKS
    given: str  # the spec as given, without `pick`: what to build, since the canonical one drops settings (base_url)


def plan(text: str, **defaults: object) -> SelectorPlan:
    """Parse a selector spec; `pick=` is generic, every other parameter is the selector's own.

    Scores do not depend on the pick, so `clip` and `clip:pick=topk` share cached scores.
    `defaults` fill parameters the spec leaves out where the selector takes them: `bench run
    --seed 3` makes `qframe` draw with seed 3, and its spec says `qframe:seed=3`.
    """
    spec = Spec.parse(text)
    scorer = selectors.canonical(spec.without("pick"), **defaults)
    cls = selectors.get(spec.name)
    default = cls.pick
    pick = spec.get("pick") or default
    if pick not in PICKS and not owns(cls, pick):
        raise RegistryError(f"{text!r}: pick must be one of {', '.join(PICKS)}, not {pick!r}")
    shown = Spec.parse(scorer)
    if pick != default:
        shown = Spec(shown.name, tuple(sorted(shown.params + (("pick", pick),))))
    return SelectorPlan(str(shown), scorer, pick, str(spec.without("pick")))
