"""pseudo: the seed paper's pseudo label used directly as scores, the mean of spatial and temporal.

Follows the "spatial & temporal pseudo labels" row of the seed paper's ablation (Hu et al.,
CVPR 2025), which feeds the labels to the NMS pick without training a selector: each
candidate's score is the mean of its spatial score (in [0, 1]) and its temporal one (0 or
1). When `scorer` and `captioner` name the same backbone it is loaded once for both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.records import Query
from bench.registry import selectors
from bench.selectors.spatial import Spatial
from bench.selectors.temporal import Temporal


@selectors.register("pseudo")
class Pseudo:
    """Seed paper's pseudo label: the mean of the spatial and temporal scores (scorer=, captioner=, llm=)."""

    spec = "pseudo"

    pick = "nms"

    def __init__(
        self, scorer: str = "qwen2-vl", captioner: str = "qwen2-vl", llm: str = "gpt-4o-mini", weights: str = "pretrained", size: str = "full",
        retries: int = 2, cache_dir: Path | None = None,
    ) -> None:
        self.spatial = Spatial(scorer, weights, size)
        self.temporal = Temporal(captioner, llm, weights, size, retries, cache_dir)
        self._judges = [self.spatial.judge, self.temporal.judge]
        if scorer == captioner:
            self.temporal.judge = self.spatial.judge
            self._judges = [self.spatial.judge]

    def load(self, device: str) -> None:
        for judge in self._judges:
            judge.load(device)

    def release(self) -> None:
        for judge in self._judges:
            judge.release()

    def score(self, query: Query) -> np.ndarray:
        return (self.spatial.score(query) + self.temporal.score(query)) / 2
