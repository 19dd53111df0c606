"""uniform: k frames at segment centres over the candidates, the baseline every table compares with."""

from __future__ import annotations

import numpy as np

from bench.records import Query
from bench.registry import selectors


@selectors.register("uniform")
class Uniform:
    """Segment centres over the candidate pool: idx_j = floor((j + 0.5) * N / k)."""

    spec = "uniform"

    pick = "uniform"

    def load(self, device: str) -> None:
        pass

    def release(self) -> None:
        pass

    def score(self, query: Query) -> np.ndarray:
        return np.zeros(len(query.candidates.times), dtype=np.float32)
