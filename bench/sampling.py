"""Segment centres: n points spread evenly over a range, the one rule for candidates and the uniform pick.

A base module: video decoding takes candidates at the segment centres of the frames a stream
holds, and the uniform pick takes the segment centres of the candidates, so uniform-k is a
subset of the same pixels every selector sees.
"""

from __future__ import annotations

import numpy as np


def segment_centres(total: int, n: int) -> np.ndarray:
    """floor((j + 0.5) * total / n), j = 0..n-1: n points spread evenly over `total` items.

    Repeats where n > total (a video shorter than the candidate pool).
    """
    return np.floor((np.arange(n) + 0.5) * total / n).astype(np.int64)
