"""The selector-score store: each (selector, sample)'s N scores, with what computing them cost.

Scores are kept per (selector spec without `pick`, candidates, question, options), so a grid
over k and backbones scores each sample once per selector, and `bench run`, `bench select`,
`bench labels`, `bench show` and `select_frames` share entries under one cache dir. Each
entry keeps the seconds scoring took and how many candidates the selector scored (`n_scored`,
a CSV column; bench/grid/scoring.py says how it is counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.records import Sample
from bench.store.arrays import ArrayStore, digest
from bench.store.prune import declare

FOLDER = declare("scores", "scores")


@dataclass(frozen=True, slots=True)
class Scores:
    """One selector's scores for one sample, as stored."""

    values: np.ndarray  # float32 (N,)
    seconds: float  # how long scoring took when it ran (CUDA-synchronised on a GPU)
    n_scored: int | None = None  # candidates the selector scored; None for entries stored before it was kept


def score_store(cache_dir: Path) -> ArrayStore:
    """Where scores live under a cache dir."""
    return ArrayStore(Path(cache_dir) / FOLDER)


def score_key(scorer: str, frames_key: str, sample: Sample) -> str:
    """The entry of `scorer`'s scores of the candidates under `frames_key` (`Candidates.key`) for this sample's question."""
    return digest("scores", scorer, frames_key, sample.question, sample.options)


def cached(store: ArrayStore, scorer: str, frames_key: str, sample: Sample) -> Scores | None:
    """The stored scores of `scorer` for this sample's candidates under `frames_key`, or None for a miss."""
    hit = store.load(score_key(scorer, frames_key, sample), about=f"{scorer} scores of {sample.dataset} {sample.sample_id}")
    return None if hit is None else Scores(np.asarray(hit[0]["scores"]), hit[1]["score_s"], hit[1].get("n_scored"))


def save(store: ArrayStore, scorer: str, frames_key: str, sample: Sample, scores: Scores) -> None:
    store.save(score_key(scorer, frames_key, sample), {"scores": scores.values}, {"score_s": scores.seconds, "n_scored": scores.n_scored})
