"""Picks: scores and k in, a selection (k candidate indices, ascending) out.

Pure numpy: no torch, no I/O, no globals. Randomness, where a strategy needs it, is folded
into its scores by the selector (Gumbel noise, for one), so every pick here is deterministic.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def _check(n: int, k: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"cannot pick k={k} of {n} candidates")


def segment_centres(total: int, n: int) -> np.ndarray:
    """floor((j + 0.5) * total / n), j = 0..n-1: n points spread evenly over `total` items.

    Repeats where n > total (a video shorter than the candidate pool).
    """
    return np.floor((np.arange(n) + 0.5) * total / n).astype(np.int64)


def uniform_indices(n: int, k: int) -> np.ndarray:
    """The uniform pick: the segment centres of k segments over n candidates."""
    _check(n, k)
    return segment_centres(n, k)


def topk(scores: np.ndarray, k: int) -> np.ndarray:
    """The k highest scores (ties to the earlier index), in time order."""
    scores = np.asarray(scores, dtype=np.float64)
    _check(len(scores), k)
    order = np.argsort(-scores, kind="stable")
    return np.sort(order[:k])


def nms_greedy(scores: np.ndarray, k: int) -> np.ndarray:
    """The seed method's pick: take the best, suppress |i - j| <= N // (4k), repeat k times.

    Each pick suppresses at most 2 * delta + 1 <= N / (2k) + 1 candidates, so k picks never
    run out of candidates. Ties go to the earlier index.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    _check(n, k)
    delta = n // (4 * k)
    live = np.where(np.isnan(scores), -np.inf, scores)
    alive = np.ones(n, dtype=bool)
    taken = []
    for _ in range(k):
        best = int(np.flatnonzero(alive)[np.argmax(live[alive])])
        taken.append(best)
        alive[max(0, best - delta) : best + delta + 1] = False
    return np.sort(np.array(taken, dtype=np.int64))


PICKS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "nms": nms_greedy,
    "topk": topk,
    "uniform": lambda scores, k: uniform_indices(len(scores), k),
}
