"""Scoring samples with one selector, cached on disk: shared by `bench run` and `bench labels`.

Scores are cached per (selector spec without `pick`, candidates, question, options), with the
seconds they took, so a grid over k and backbones scores each sample once per selector and a
rerun or a labelling pass scores nothing twice. The selector's model loads only when some
sample is not cached yet.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Iterable

import numpy as np

from bench.cache import ArrayStore, digest
from bench.records import Candidates, Sample
from bench.timing import timed

log = logging.getLogger(__name__)


class Reporter:
    """Progress callbacks; the default reports nothing. The CLI draws rich bars."""

    def phase(self, description: str, total: int) -> ContextManager[Callable[[], None]]:
        return nullcontext(lambda: None)


@dataclass(frozen=True, slots=True)
class Scores:
    """One selector's scores for one sample, as cached."""

    values: np.ndarray  # float32 (N,)
    seconds: float  # how long scoring took when it ran (CUDA-synchronised on a GPU)


def score_store(cache_dir: Path) -> ArrayStore:
    """Where scores are cached under a cache dir; `bench run` and `bench labels` share it."""
    return ArrayStore(Path(cache_dir) / "scores")


def score_key(scorer: str, candidates: Candidates, sample: Sample) -> str:
    return digest("scores", scorer, candidates.key, sample.question, sample.options)


def cached(store: ArrayStore, scorer: str, candidates: Candidates, sample: Sample) -> Scores | None:
    hit = store.load(score_key(scorer, candidates, sample))
    return None if hit is None else Scores(np.asarray(hit[0]["scores"]), hit[1]["score_s"])


def score_all(
    selector,
    scorer: str,
    samples: Iterable[Sample],
    candidates: Callable[[Sample], Candidates],
    store: ArrayStore,
    device: str,
    reporter: Reporter,
) -> tuple[dict[tuple[str, str], str], int]:
    """Score every sample not cached yet with `selector` (built from `scorer`, loaded here only if needed).

    Returns ({(dataset, sample_id): error}, how many were scored now).

    A failure on one sample is recorded as `select: <type>: <message>` and the rest go on.
    """
    samples = list(samples)
    errors: dict[tuple[str, str], str] = {}
    loaded, fresh = False, 0
    with reporter.phase(f"score {scorer}", len(samples)) as advance:
        for sample in samples:
            cands = candidates(sample)
            if cached(store, scorer, cands, sample) is None:
                if not loaded:
                    selector.load(device)
                    loaded = True
                try:
                    with timed(device) as took:
                        values = np.asarray(selector.score(cands, sample), dtype=np.float32)
                    if values.shape != (len(cands.times),) or not np.isfinite(values).all():
                        raise ValueError(f"scores must be {len(cands.times)} finite floats, got shape {values.shape}")
                    store.save(score_key(scorer, cands, sample), {"scores": values}, {"score_s": took[0]})
                    fresh += 1
                except Exception as exc:  # one sample's failure is recorded; the others go on
                    errors[sample.dataset, sample.sample_id] = f"select: {type(exc).__name__}: {exc}"
                    log.warning("%s on %s %s failed", scorer, sample.dataset, sample.sample_id, exc_info=True)
            advance()
    if loaded:
        selector.release()
    return errors, fresh
