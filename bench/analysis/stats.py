"""Paired statistics for a change in accuracy: a seeded bootstrap interval and the exact McNemar test.

Both sides of a comparison answered the same questions, so the change is measured per
question (after minus before) and its uncertainty comes from resampling questions, which
keeps the pairing. Numpy in, numbers out; randomness only through the seed.

A metric that averages groups (the mean of per-category accuracies) passes each question's
group as `strata`: the change is then the mean over groups of each group's mean difference,
and the bootstrap resamples questions within each group (a stratified bootstrap), so every
resample has the groups the metric averages and the interval stays within what the metric
can take. McNemar's test is of the share over all questions, so such a change gets none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Change:
    """A paired change in accuracy, in percentage points, over the questions both sides answered."""

    points: float  # mean of (after - before) x 100
    low: float  # lower end of the bootstrap interval, points
    high: float
    p: float | None  # exact McNemar p-value; None when not computed (open-ended answers)
    paired: int  # questions in the comparison


def _resampled_means(d: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The mean of each of `resamples` bootstrap resamples of `d`."""
    values, counts = np.unique(d, return_counts=True)
    # A resample of n questions matters only through how often it draws each distinct value,
    # and those counts are multinomial(n, frequencies): drawing counts is the same bootstrap
    # as drawing indices, at a cost of resamples x distinct values instead of resamples x n.
    draws = rng.multinomial(d.size, counts / d.size, size=resamples)
    return draws @ values / d.size


def _strata(size: int, strata: np.ndarray | None) -> list[np.ndarray]:
    """The question indices of each stratum; all of them as one when `strata` is None."""
    if strata is None:
        return [np.arange(size)]
    labels = np.asarray(strata)
    if labels.shape != (size,):
        raise ValueError(f"strata give {labels.shape[0] if labels.ndim else 0} labels for {size} questions")
    _, inverse = np.unique(labels, return_inverse=True)
    return [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]


def bootstrap_interval(differences: np.ndarray, resamples: int = 10_000, seed: int = 0, level: float = 0.95,
                       strata: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences; with `strata`, of the mean of the strata's means."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        raise ValueError("no paired differences to resample")
    rng = np.random.default_rng(seed)
    parts = _strata(d.size, strata)
    means = sum(_resampled_means(d[part], resamples, rng) for part in parts) / len(parts)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low) + 0.0, float(high) + 0.0  # + 0.0 turns -0.0 into 0.0 for printing


def mcnemar(worse: int, better: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs (right->wrong, wrong->right)."""
    n = worse + better
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(worse, better) + 1))
    return min(1.0, 2 * tail / 2**n)  # int / int division stays exact until the final rounding


def paired_change(before: np.ndarray, after: np.ndarray, resamples: int = 10_000, seed: int = 0, exact_test: bool = True,
                  strata: np.ndarray | None = None) -> Change:
    """The change from `before` to `after` (aligned per question, 0/1 or scores), with interval and p-value.

    `strata` (a group label per question) make it the change in the mean of the groups' means, with no p-value.
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.shape != after.shape:
        raise ValueError(f"sides differ in length: {before.shape} vs {after.shape}")
    differences = after - before
    low, high = bootstrap_interval(differences, resamples, seed, strata=strata)
    points = float(np.mean([differences[part].mean() for part in _strata(differences.size, strata)]))
    p = mcnemar(int(np.sum(differences < 0)), int(np.sum(differences > 0))) if exact_test and strata is None else None
    return Change(100 * points + 0.0, 100 * low, 100 * high, p, differences.size)
