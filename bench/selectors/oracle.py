"""oracle: scores from the ground-truth interval (needle only), the upper bound of any selector."""

from __future__ import annotations

import numpy as np

from bench.records import Candidates, Sample
from bench.registry import selectors


@selectors.register("oracle")
class Oracle:
    """Upper bound (needle only): candidates inside the ground-truth interval score highest."""

    pick = "nms"

    def load(self, device: str) -> None:
        pass

    def release(self) -> None:
        pass

    def score(self, candidates: Candidates, sample: Sample) -> np.ndarray:
        if sample.interval is None:
            raise ValueError(f"oracle needs a ground-truth interval; {sample.dataset} sample {sample.sample_id} has none")
        start, end = sample.interval
        t = candidates.times
        inside = (t >= start) & (t < end)
        # outside the interval, nearer is better, so ties break toward the needle
        distance = np.maximum(start - t, t - end)
        return np.where(inside, 1.0, -distance).astype(np.float32)
