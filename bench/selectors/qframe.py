"""qframe: Q-Frame's query-aware frame selection (Zhang et al., ICCV 2025), Gumbel top-k.

Follows the released code: logits are raw dot products of the projected text and image
features (no normalisation), and the selection is the top k of log softmax(logits / 0.8)
plus Gumbel noise, a sample of k frames without replacement (`pick.gumbel_keys`, then
`topk`). The noise comes from a generator seeded by `seed`, the video and the question, so
a rerun, a shard or `bench show` makes the same draw. Departures: CLIP ViT-L/14 instead of
Long-CLIP-L, so every peer shares one scorer (`model=` takes any CLIP or SigLIP); and no
multi-resolution stage (frames of rank 1-4, 5-12 and 13-44 at 1/2, 1/4 and 1/8 size):
every backbone here gets k frames at one size, so Q-Frame is compared at the same budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.store import digest
from bench.records import Query
from bench.registry import selectors
from bench.selectors._embed import DEFAULT_MODEL
from bench.selectors.clip import Clip
from bench.selectors.pick import gumbel_keys


@selectors.register("qframe")
class QFrame(Clip):
    """Q-Frame: Gumbel top-k over softmax(CLIP logits / temperature), seeded (temperature=0.8)."""

    spec = "qframe"

    pick = "topk"

    def __init__(
        self, model: str = DEFAULT_MODEL, size: str = "full", text: str = "question", temperature: float = 0.8, seed: int = 0, cache_dir: Path | None = None
    ) -> None:
        super().__init__(model, size, text, cache_dir)
        self.temperature, self.seed = temperature, seed

    def score(self, query: Query) -> np.ndarray:
        logits = self.embedder.images(query.candidates).astype(np.float64) @ self.embedder.question(query).astype(np.float64)
        draw = int(digest(query.candidates.key, query.question, query.options)[:16], 16)
        rng = np.random.default_rng([self.seed, draw])
        return gumbel_keys(logits, self.temperature, rng).astype(np.float32)
