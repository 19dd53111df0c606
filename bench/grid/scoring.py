"""The one decode -> score -> choose path: a selector's scores for a sample, from the score store
or computed now, and the k candidates its pick keeps.

`bench run` (here and on Ray), `bench select`, `bench show`, `bench labels` and
`select_frames` all take their candidates from the frame cache and go through a `Scorer`, so
a selection is made the same way whichever asked for it, and they share score entries under
one cache dir. The selector's model loads only when some sample is not scored yet.

Each stored entry keeps how many candidates the selector scored (`n_scored`, a CSV column),
the cost a selector like FOCUS saves: what the selector's `n_scored` attribute says after
`score` (FOCUS and DIG set it per sample), else 0 for a selector whose own pick is `uniform`
(its scores are never read), else all N. `oracle` counts N: it gives every candidate a score,
read from the ground truth at no model cost.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from bench.grid.loading import Lazy
from bench.grid.progress import Reporter
from bench.records import Candidates, Sample
from bench.selectors import query_for
from bench.selectors.choose import choose
from bench.store.arrays import ArrayStore
from bench.store.scores import Scores, cached, save, score_key
from bench.timing import timed

log = logging.getLogger(__name__)


class LoadError(RuntimeError):
    """The selector's model could not load; the message is the row's error (`load: ...`)."""


@dataclass(frozen=True, slots=True)
class Chosen:
    """One selection: the k candidates kept, and the scores they were picked from."""

    indices: np.ndarray  # int64 (k,), ascending
    scores: Scores
    seconds: float  # scoring (when it ran) plus picking


class Scorer:
    """One selector spec at work (`scorer`: the canonical spec without `pick`): its model, loaded on first need, and its score store.

    Scores it has read or made are also kept in memory (N floats a sample), so an entry that
    `bench cache prune` removes while this process still picks from it costs nothing, and one
    that is gone before it was read is scored again: never a missing score.
    """

    def __init__(self, selector, scorer: str, store: ArrayStore, device: str) -> None:
        self.selector, self.scorer, self.store, self.device = selector, scorer, store, device
        # a selector whose rule changed says so with `revision`: scores stored under the old rule are not read back
        revision = getattr(selector, "revision", 0)
        self.stored_as = f"{scorer}#revision={revision}" if revision else scorer
        self.model = Lazy(selector, device)
        self._kept: dict[str, Scores] = {}

    def scores(self, cands: Candidates, sample: Sample) -> Scores:
        """The kept or stored scores, else scored now (loading the model) and stored; raises LoadError, or what scoring raised."""
        key = score_key(self.stored_as, cands.key, sample)
        if key not in self._kept:
            self._kept[key] = self._stored(cands, sample) or self._score(cands, sample)
        return self._kept[key]

    def missing(self, cands: Candidates, sample: Sample) -> tuple[str, bool]:
        """Score one sample unless its scores are kept or stored: (its error or "", whether it was scored now)."""
        key = score_key(self.stored_as, cands.key, sample)
        if key in self._kept:
            return "", False
        stored = self._stored(cands, sample)
        if stored is not None:
            self._kept[key] = stored
            return "", False
        try:
            self._kept[key] = self._score(cands, sample)  # the store was just read: a miss
        except LoadError as exc:
            return str(exc), False
        except Exception as exc:  # one sample's failure is recorded; the others go on
            log.warning("%s on %s %s failed", self.scorer, sample.dataset, sample.sample_id, exc_info=True)
            return f"select: {type(exc).__name__}: {exc}", False
        return "", True

    def _stored(self, cands: Candidates, sample: Sample) -> Scores | None:
        hit = cached(self.store, self.stored_as, cands.key, sample)
        return None if hit is None else Scores(np.array(hit.values), hit.seconds, hit.n_scored)  # a copy, not a map of a file prune may remove

    def _score(self, cands: Candidates, sample: Sample) -> Scores:
        if self.model.ready():
            raise LoadError(self.model.error)
        query = query_for(self.selector, cands, sample)
        with timed(self.device) as took:
            values = np.asarray(self.selector.score(query), dtype=np.float32)
        if values.shape != (len(cands.times),) or not np.isfinite(values).all():
            raise ValueError(f"scores must be {len(cands.times)} finite floats, got shape {values.shape}")
        scored = Scores(values, took[0], n_scored(self.selector, len(values)))
        save(self.store, self.stored_as, cands.key, sample, scored)
        return scored

    def choose(self, pick: str, k: int, cands: Candidates, sample: Sample) -> Chosen:
        """The k candidates `pick` keeps from this sample's scores (stored, else scored now)."""
        scored = self.scores(cands, sample)
        start = time.perf_counter()
        indices = np.asarray(choose(self.selector, pick, scored.values, k, cands), dtype=np.int64)
        return Chosen(indices, scored, scored.seconds + time.perf_counter() - start)

    def release(self) -> None:
        self.model.release()

    def __enter__(self) -> "Scorer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def n_scored(selector, n: int) -> int:
    """How many of the n candidates `selector` scored in its last `score` call (see the module docstring)."""
    said = getattr(selector, "n_scored", None)
    if said is not None:
        return int(said)
    return 0 if selector.pick == "uniform" else n


def score_all(
    scorer: Scorer,
    samples: Iterable[Sample],
    candidates: Callable[[Sample], Candidates | None],
    reporter: Reporter,
    done: Callable[[Sample, str], None] = lambda sample, error: None,
) -> tuple[dict[tuple[str, str], str], int]:
    """Score every sample not stored yet with one selector, then release its model.

    Returns ({(dataset, sample_id): error}, how many were scored now); `done(sample, error)`
    is called as each sample is through, so answering can start on it. A sample whose
    `candidates` are None (its video failed) is passed over. A failure on one sample is
    recorded as `select: <type>: <message>` and the rest go on; a selector that cannot load
    gives every sample it had to score `load: ...`.
    """
    samples = list(samples)
    errors: dict[tuple[str, str], str] = {}
    fresh = 0
    with scorer, reporter.phase(f"score {scorer.scorer}", len(samples)) as advance:
        for sample in samples:
            cands = candidates(sample)
            error, now = ("", False) if cands is None else scorer.missing(cands, sample)
            if error:
                errors[sample.dataset, sample.sample_id] = error
            fresh += now
            done(sample, error)
            advance()
    return errors, fresh


def score_together(
    scorers: dict[str, Scorer],
    work: Iterable[tuple[Sample, tuple[str, ...]]],
    candidates: Callable[[Sample], Candidates | None],
    reporter: Reporter,
    done: Callable[[str, Sample, str], None],
) -> int:
    """Score sample by sample, each with the scorers (by spec) it names, all loaded at once.

    What `score_all` does for one selector, in the order samples come (as their videos are
    decoded), so answering can follow close behind; each model loads when first needed and
    all are released at the end. `done(scorer, sample, error)` follows each score. Returns
    how many were scored now.
    """
    work = list(work)
    fresh = 0
    with ExitStack() as stack, reporter.phase("score " + ", ".join(scorers), sum(len(names) for _, names in work)) as advance:
        for scorer in scorers.values():
            stack.enter_context(scorer)
        for sample, names in work:
            cands = candidates(sample)
            for name in names:
                error, now = ("", False) if cands is None else scorers[name].missing(cands, sample)
                fresh += now
                done(name, sample, error)
                advance()
    return fresh
