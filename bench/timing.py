"""Devices, stage timing and peak memory: CUDA-synchronised on a GPU, perf_counter on the CPU."""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from typing import Iterator


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda' without a GPU is an error."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise RuntimeError("device cuda was asked for, but torch sees no CUDA device")
    return "cpu"


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


@contextmanager
def timed(device: str) -> Iterator[list[float]]:
    """Wall seconds of the block, appended to the yielded list; synchronised on both ends on a GPU."""
    _sync(device)
    box: list[float] = []
    start = time.perf_counter()
    yield box
    _sync(device)
    box.append(time.perf_counter() - start)


def reset_peak(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def peak_mb(device: str) -> float:
    """Peak CUDA memory allocated since the last reset, or the process's peak RSS on the CPU."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
