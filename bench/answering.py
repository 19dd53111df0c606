"""Answering one sample from its selection, timed: what the runner writes and `bench show` draws.

Both go through `ask`, so a figure shows the prompt, frames and reply a run would record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.records import Candidates, Reply, Sample
from bench.timing import peak_mb, reset_peak, timed


@dataclass(frozen=True, slots=True)
class Asked:
    """A backbone's reply to one sample's selected frames."""

    reply: Reply
    seconds: float  # the backbone's answer, CUDA-synchronised on a GPU
    peak_mem_mb: float  # peak CUDA memory during the answer; peak process RSS on the CPU


def ask(benchmark, backbone, sample: Sample, candidates: Candidates, selected: np.ndarray, device: str) -> Asked:
    """The benchmark's prompt and the selected frames (int64 (k,), ascending) to the backbone."""
    prompt = benchmark.prompt(sample, candidates.times[selected])
    reset_peak(device)
    with timed(device) as took:
        reply = backbone.answer(candidates.frames[selected], prompt, benchmark.max_new_tokens)
    return Asked(reply, took[0], peak_mb(device))
