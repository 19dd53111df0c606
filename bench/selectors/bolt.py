"""bolt: BOLT (Liu et al., CVPR 2025), inverse-transform sampling of CLIP similarities.

Follows the released code: the query is the raw question, similarities are min-max
normalised over the video and raised to `alpha` (3, the value for Video-MME and MLVU), and k
evenly spaced quantiles of the resulting distribution are the selection
(`pick.inverse_transform`). Departures: BOLT scores one frame per second, here the N
candidates; and a candidate that several quantiles land on is kept once, the freed places
going to the highest-scoring candidates left, so the backbone always sees k distinct frames.
Scores are the normalised, powered similarities, so `bolt:pick=topk` ranks as `clip` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.records import Query
from bench.registry import selectors
from bench.selectors._embed import DEFAULT_MODEL
from bench.selectors.clip import Clip
from bench.selectors.pick import minmax


@selectors.register("bolt")
class Bolt(Clip):
    """BOLT: CLIP similarity to the power alpha, picked by inverse-transform sampling (alpha=3)."""

    spec = "bolt"

    pick = "inverse_transform"

    def __init__(self, model: str = DEFAULT_MODEL, size: str = "full", text: str = "question", alpha: float = 3.0, cache_dir: Path | None = None) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, not {alpha}")
        super().__init__(model, size, text, cache_dir)
        self.alpha = alpha

    def score(self, query: Query) -> np.ndarray:
        # BOLT's sampling mass; inverse_transform min-max normalises again, which leaves it as is
        return (minmax(super().score(query)) ** self.alpha).astype(np.float32)
