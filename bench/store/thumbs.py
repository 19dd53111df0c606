"""Thumbnail strips: each video's N candidates side by side, `HEIGHT` pixels high, as one JPEG.

The frame cache writes a video's strip when it decodes the candidates, while the frames are
in memory: 0.09 s a video at N = 128 and 336 px, which adds 15% to a raw miss and 9% to a
JPEG one. `bench view` then reads strips instead of decoding every cached entry again:
12-19 s instead of 156 s for 10,000 rows over 1,000 videos (perf/README.md). An entry is
keyed by the candidates' frames key, so it names one video, N, frame size, seek and cache
format, like the frames entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.store.arrays import ArrayStore, digest
from bench.store.jpeg import jpeg_bytes
from bench.store.prune import declare

THUMBS = declare("thumbs", "thumbnail strips (bench view)")

HEIGHT = 64  # pixels high, as the site shows them
QUALITY = 70  # JPEG quality


@dataclass(frozen=True, slots=True)
class Sprite:
    """One video's candidates side by side as one JPEG, with when each was taken."""

    jpeg: bytes
    times: tuple[float, ...]  # seconds of each candidate
    duration_s: float


def sheet(frames: np.ndarray):
    """Frames uint8 (N, H, W, 3) side by side, HEIGHT pixels high, as a PIL image."""
    from PIL import Image

    n, h, w, _ = frames.shape
    width = max(1, round(w * HEIGHT / h))
    factor = max(1, h // HEIGHT)  # a box filter down to about HEIGHT first: resizing the full frames costs 3x more
    image = Image.new("RGB", (width * n, HEIGHT))
    for i, frame in enumerate(frames):
        image.paste(Image.fromarray(np.ascontiguousarray(frame)).reduce(factor).resize((width, HEIGHT), Image.BILINEAR), (i * width, 0))
    return image


class ThumbStore:
    """Strips under `<cache dir>/thumbs/`, by frames key."""

    def __init__(self, cache_dir: Path) -> None:
        self.store = ArrayStore(Path(cache_dir) / THUMBS)

    @staticmethod
    def key(frames_key: str) -> str:
        """The strip's entry key, from the key of the candidates' frames entry."""
        return digest("thumbs", frames_key, HEIGHT, QUALITY)

    def load(self, frames_key: str, about: str = "") -> Sprite | None:
        hit = self.store.load(self.key(frames_key), about=about)
        if hit is None:
            return None
        arrays, meta = hit
        return Sprite(arrays["jpeg"].tobytes(), tuple(arrays["times"].tolist()), meta["duration_s"])

    def save(self, frames_key: str, frames: np.ndarray, times: np.ndarray, duration_s: float) -> Sprite:
        """Make the strip of these candidates and store it."""
        data = jpeg_bytes(sheet(frames), QUALITY)
        times = np.asarray(times, dtype=np.float64)
        self.store.save(self.key(frames_key), {"jpeg": np.frombuffer(data, np.uint8), "times": times}, {"duration_s": float(duration_s)})
        return Sprite(data, tuple(times.tolist()), float(duration_s))
