"""Frozen downstream models, one module each, registered in `bench.registry.backbones`.

A backbone gets the k selected frames and a finished prompt and returns raw text. It owns
loading, its processor, chat template and generation settings; it never opens files, samples
frames, rewords prompts, parses or grades.

A backbone that can also judge single frames (a `FrameJudge`) can serve the spatial and
temporal selectors: `frame_relevance` gives p(True) / (p(True) + p(False)) of its next token
when asked whether a frame helps answer a question, and `caption` describes each frame.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bench.records import Reply


class Backbone(Protocol):
    def load(self, device: str) -> None:
        """Load weights once per run."""

    def answer(self, frames: np.ndarray, prompt: str, max_new_tokens: int) -> Reply:
        """Greedy answer to `prompt` about frames uint8 (k, H, W, 3), RGB, in time order.

        A backbone whose model reads when each frame was shown (Qwen2.5-VL, Qwen3-VL) also takes
        `times: np.ndarray | None = None`, the frames' seconds; the grid passes it where it is a parameter.
        """

    def release(self) -> None:
        """Free memory before the next backbone loads."""


class FrameJudge(Protocol):
    def frame_relevance(self, frames: np.ndarray, question: str) -> np.ndarray:
        """float32 (N,): for each frame of uint8 (N, H, W, 3) alone, p(True) that it helps answer `question`."""

    def caption(self, frames: np.ndarray) -> tuple[str, ...]:
        """One short caption per frame of uint8 (N, H, W, 3)."""
