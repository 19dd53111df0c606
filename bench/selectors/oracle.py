"""oracle: scores from the ground-truth interval (needle only), the upper bound of any selector.

The one selector that reads the ground truth: it declares `needs_truth`, so
`bench.selectors.query_for` hands it the Sample in `query.truth`; it reads only the interval.
"""

from __future__ import annotations

import numpy as np

from bench.records import Query
from bench.registry import selectors


@selectors.register("oracle")
class Oracle:
    """Upper bound (needle only): candidates inside the ground-truth interval score highest."""

    spec = "oracle"

    pick = "nms"
    needs_truth = True  # the interval is ground truth; every other selector gets truth=None

    def load(self, device: str) -> None:
        pass

    def release(self) -> None:
        pass

    def score(self, query: Query) -> np.ndarray:
        if query.truth is None:
            raise ValueError(f"oracle needs the ground truth of {query.dataset} sample {query.sample_id}; build its query with query_for")
        if query.truth.interval is None:
            raise ValueError(f"oracle needs a ground-truth interval; {query.dataset} sample {query.sample_id} has none")
        start, end = query.truth.interval
        t = query.candidates.times
        inside = (t >= start) & (t < end)
        # outside the interval, nearer is better, so ties break toward the needle
        distance = np.maximum(start - t, t - end)
        return np.where(inside, 1.0, -distance).astype(np.float32)
