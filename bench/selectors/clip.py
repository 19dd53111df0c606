"""clip: cosine similarity between each candidate and the question in CLIP or SigLIP space.

The "scores from CLIP similarity" row of the seed paper's ablation (its Table 5), and the
scorer under the training-free peers. The published ablation gives no model or text; here
the model is `model=` (CLIP ViT-L/14 by default, any CLIP or SigLIP checkpoint, `size=tiny`
for a small random one offline) and the text is the question (`text=question+options` adds
the lettered options).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.records import Query
from bench.registry import selectors
from bench.selectors._embed import DEFAULT_MODEL, Embedder


@selectors.register("clip")
class Clip:
    """Cosine similarity of each candidate to the question (CLIP or SigLIP; model=, size=tiny, text=)."""

    spec = "clip"

    pick = "nms"

    def __init__(self, model: str = DEFAULT_MODEL, size: str = "full", text: str = "question", cache_dir: Path | None = None) -> None:
        self.embedder = Embedder(model, size, text, cache_dir)

    def load(self, device: str) -> None:
        self.embedder.load(device)

    def release(self) -> None:
        self.embedder.release()

    def score(self, query: Query) -> np.ndarray:
        return self.embedder.cosine(query).astype(np.float32)
