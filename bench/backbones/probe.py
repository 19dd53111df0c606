"""probe: a deterministic pixel-reading backbone for the needle benchmark.

It answers a needle question right iff one of the frames it is given shows the shape, and
otherwise says it saw no shape (which parses as no option, so accuracy equals the hit rate).
It also does the two per-frame duties of an M-LLM that the spatial and temporal signals
need: `frame_relevance` (p(True) that a frame helps answer the question) and `caption`.

A frame shows the shape when more than 0.5% of its pixels are saturated (the needle
background is grey); the shape's colour is the palette colour nearest their mean.
"""

from __future__ import annotations

import re
import time

import numpy as np

from bench.benchmarks.needle import COLOURS
from bench.records import Reply
from bench.registry import backbones

SATURATION = 60  # max - min channel value above which a pixel counts as coloured
MIN_SHARE = 0.005  # share of coloured pixels for a frame to show the shape
FULL_SHARE = 0.02  # share at which relevance saturates (a 32 px shape covers ~2.3% at 160x120)


def coloured_share(frame: np.ndarray) -> float:
    """Share of the frame's pixels whose channels differ by more than SATURATION."""
    channels = frame.astype(np.int16)
    return float(np.mean(channels.max(axis=-1) - channels.min(axis=-1) > SATURATION))


def shape_colour(frame: np.ndarray) -> str | None:
    """The palette colour of the shape in `frame` (uint8 (H, W, 3)), or None when none shows."""
    channels = frame.astype(np.int16)
    mask = channels.max(axis=-1) - channels.min(axis=-1) > SATURATION
    if mask.mean() <= MIN_SHARE:
        return None
    mean = channels[mask].mean(axis=0)
    return min(COLOURS, key=lambda name: float(np.sum((mean - np.array(COLOURS[name])) ** 2)))


@backbones.register("probe")
class Probe:
    """Pixel reader for needle: right iff a given frame shows the shape; also judges and captions frames."""

    spec = "probe"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # seconds slept per answer, to stand in for a slow model

    def load(self, device: str) -> None:
        pass

    def release(self) -> None:
        pass

    def answer(self, frames: np.ndarray, prompt: str, max_new_tokens: int) -> Reply:
        if self.delay:
            time.sleep(self.delay)
        seen = next((c for c in map(shape_colour, frames) if c is not None), None)
        options = dict((text.strip().lower(), letter) for letter, text in re.findall(r"^([A-J])\. (.+)$", prompt, re.M))
        if seen is None or seen not in options:
            return Reply("I did not see any shape.", n_visual_tokens=len(frames))
        return Reply(f"{options[seen]}. {seen}", n_visual_tokens=len(frames))

    def frame_relevance(self, frames: np.ndarray, question: str) -> np.ndarray:
        """p(True) per frame that it helps answer the question: rises with the coloured share."""
        return np.array([np.clip(coloured_share(f) / FULL_SHARE, 0.02, 0.98) for f in frames], dtype=np.float32)

    def caption(self, frames: np.ndarray) -> tuple[str, ...]:
        colours = map(shape_colour, frames)
        return tuple(f"a {c} shape on a grey background" if c else "a grey textured background" for c in colours)
