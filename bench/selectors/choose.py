"""The selection for one sample: a selector's own rule where it has one, else a pick from `pick.PICKS`.

Most rules need only the scores and k, so they are picks. Some peers need more once k is
known: AKS its threshold and depth, MDP3 the frames' embeddings for its DPP kernel, FOCUS its
bandit's arms and draws, DIG its scene segments. Such a selector names itself as its `pick`
and computes the rule in `select(scores, k, candidates)`; it works after `release()`, from
what `score` cached.
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
    """k candidate indices, ascending: `selector.select` for its own rule, else `PICKS[pick]`.

    A rule's own indices are checked (a plugin's rule may be wrong): a ValueError names the
    selector and what is wrong, so the row is a `select:` error, not a backbone's.
    """
    if owns(type(selector), pick):
        return checked(selector.select(np.asarray(scores), k, candidates), k, len(scores), selector.spec)
    if pick not in PICKS:
        raise RegistryError(f"pick must be one of {', '.join(PICKS)}, not {pick!r}")
    return PICKS[pick](scores, k)


def checked(picked: object, k: int, n: int, spec: str) -> np.ndarray:
    """`picked` as int64 (k,) ascending, if it is k distinct whole numbers in [0, n); else a ValueError naming `spec`."""
    indices = np.asarray(picked)
    if indices.ndim != 1 or not (indices.dtype.kind in "iu" or indices.dtype.kind == "f" and np.all(indices == np.round(indices))):
        raise ValueError(f"{spec} picked {_shown(picked)}: not a list of whole numbers")
    if len(indices) != k:
        raise ValueError(f"{spec} picked {len(indices)} frames, not k={k}")
    if len(np.unique(indices)) != k:
        raise ValueError(f"{spec} picked a frame twice: {_shown(picked)}")
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"{spec} picked {_shown(picked)}: indices must lie in 0..{n - 1}")
    return np.sort(indices.astype(np.int64))


def _shown(value: object) -> str:
    text = repr(np.asarray(value).tolist())
    return text if len(text) <= 60 else text[:57] + "..."
