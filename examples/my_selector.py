"""A selector of your own, in one file: `bench --plugin examples/my_selector.py run --selector motion ...`."""

import numpy as np

from bench.records import Query
from bench.registry import selectors


@selectors.register("motion")
class Motion:
    """Candidates that differ most from the one before: where something appears, moves or cuts."""

    spec = "motion"  # its registered name, with every parameter at its default
    pick = "topk"  # how scores become k frames: nms, topk, uniform or inverse_transform

    def load(self, device: str) -> None:  # load weights once here (import torch inside)
        pass

    def score(self, query: Query) -> np.ndarray:  # one float per candidate, higher = more useful for query.question
        frames = query.candidates.frames.astype(np.float32)  # (N, H, W, 3)
        change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        return np.concatenate([[0.0], change]).astype(np.float32)

    def release(self) -> None:  # free what load took
        pass
