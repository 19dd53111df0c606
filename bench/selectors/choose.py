"""The selection for one sample: a selector's own rule where it has one, else a pick from `pick.PICKS`.

Most rules need only the scores and k, so they are picks. Two peers need more once k is
known: AKS its threshold and depth, MDP3 the frames' embeddings for its DPP kernel. Such a
selector names itself as its `pick` and computes the rule in
`select(scores, k, candidates)`; it works after `release()`, from what `score` cached.
"""

from __future__ import annotations

import numpy as np

from bench.records import Candidates
from bench.registry import RegistryError
from bench.selectors.pick import PICKS


def owns(selector_class: type, pick: str) -> bool:
    """Whether `pick` is the selector's own rule (its default pick, computed by its `select`)."""
    return pick == selector_class.pick and hasattr(selector_class, "select")


def choose(selector, pick: str, scores: np.ndarray, k: int, candidates: Candidates) -> np.ndarray:
    """k candidate indices, ascending: `selector.select` for its own rule, else `PICKS[pick]`."""
    if owns(type(selector), pick):
        return np.asarray(selector.select(np.asarray(scores), k, candidates), dtype=np.int64)
    if pick not in PICKS:
        raise RegistryError(f"pick must be one of {', '.join(PICKS)}, not {pick!r}")
    return PICKS[pick](scores, k)
