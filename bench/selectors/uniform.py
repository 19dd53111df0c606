"""uniform: k frames at segment centres over the candidates, the baseline every table compares with."""

from __future__ import annotations

import numpy as np

from bench.records import Candidates, Sample
from bench.registry import selectors


@selectors.register("uniform")
class Uniform:
    """Segment centres over the candidate pool: idx_j = floor((j + 0.5) * N / k)."""

    pick = "uniform"

    def load(self, device: str) -> None:
        pass

    def release(self) -> None:
        pass

    def score(self, candidates: Candidates, sample: Sample) -> np.ndarray:
        return np.zeros(len(candidates.times), dtype=np.float32)
