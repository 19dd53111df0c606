"""trained: the seed paper's selector, served from a `bench train` checkpoint.

Scores are the model's per-candidate probabilities (sigmoid of its logits); the pick is
NMS-greedy as in the paper. Pooled visual tokens are cached per video like in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.store import default_root
from bench.records import Query
from bench.registry import selectors


@selectors.register("trained")
class Trained:
    """The seed method: a SigLIP + Qwen2.5 selector trained on pseudo labels (ckpt=DIR from `bench train`)."""

    spec = "trained"

    pick = "nms"

    def __init__(self, ckpt: str = "", cache_dir: Path | None = None) -> None:
        if not ckpt:
            raise ValueError("trained needs ckpt=DIR, a directory written by `bench train --out DIR`")
        self.ckpt = ckpt
        self.cache_dir = cache_dir or default_root()  # the run passes its own as context
        self._model = None

    def load(self, device: str) -> None:
        from bench.selector_model import checkpoint
        from bench.selector_model.features import FeatureCache

        self._model, self._tokenizer, self._processor = checkpoint.load(Path(self.ckpt), device)
        self._features = FeatureCache(self.cache_dir)
        self._device = device

    def release(self) -> None:
        self._model = None

    def score(self, query: Query) -> np.ndarray:
        import torch

        from bench.options import with_options
        from bench.selector_model.features import question_batch

        with torch.inference_mode():
            visual = self._features.get(query.candidates, self._model, self._processor, self._device)[None].to(self._device)
            ids, lengths = question_batch(self._tokenizer, [with_options(query.question, query.options)], self._device)
            return torch.sigmoid(self._model(visual, ids, lengths))[0].cpu().numpy().astype(np.float32)
