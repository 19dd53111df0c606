"""aks: Adaptive Keyframe Sampling (Tang et al., CVPR 2025), recursive judge-and-split.

The scores are CLIP (or SigLIP) cosine similarities, one of the scorers AKS reports; its
default, BLIP ITM, reads each (frame, question) pair jointly, so nothing per video could be
cached and the peers would not share one scorer. The rule is `pick.aks`, with the paper's
per-depth budget where the released code differs: a bin's "top" is the mean of its own
budget's best frames (the code uses the global budget, so nearly every bin splits to the
bottom), a split hands ceil(b/2) and floor(b/2) frames to the halves, and a bin keeps its
budget. Defaults are the released code's threshold 0.8 and depth 5 (the paper tunes
0.2-0.8 and 3-5 per benchmark). The std test is left out, as the released code disables
it (t2 = -100).

Its rule needs `threshold` and `depth` once k is known, so AKS names itself as its pick and
computes it in `select` (see `bench.selectors.choose`); `aks:pick=nms` uses NMS instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.records import Candidates
from bench.registry import selectors
from bench.selectors import pick as picks
from bench.selectors._embed import DEFAULT_MODEL
from bench.selectors.clip import Clip


@selectors.register("aks")
class Aks(Clip):
    """AKS: CLIP similarity, then judge-and-split bins with the paper's per-depth budget (threshold=0.8, depth=5)."""

    spec = "aks"

    pick = "aks"

    def __init__(
        self, model: str = DEFAULT_MODEL, size: str = "full", text: str = "question", threshold: float = 0.8, depth: int = 5, cache_dir: Path | None = None
    ) -> None:
        if depth < 0:
            raise ValueError(f"depth must be at least 0, not {depth}")
        super().__init__(model, size, text, cache_dir)
        self.threshold, self.depth = threshold, depth

    def select(self, scores: np.ndarray, k: int, candidates: Candidates) -> np.ndarray:
        """AKS's judge-and-split over the scores with this selector's threshold and depth."""
        return picks.aks(scores, k, self.threshold, self.depth)
