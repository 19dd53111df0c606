"""What the fault files share: four needle videos generated once, a damageable copy, and a small run's settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.records import DataOptions
from bench.registry import benchmarks
from bench.runner import RunConfig


def small_config(cache: Path, results: Path, **kw) -> RunConfig:
    """uniform + probe on four needle videos, 32 candidates at 64 px: a run of a few seconds."""
    base = dict(datasets=("needle",), selectors=("uniform",), backbones=("probe",), frames=(4,), limit=4,
                candidates=32, frame_size=64, results_dir=results, cache_dir=cache, device="cpu")
    return RunConfig(**{**base, **kw})


@pytest.fixture(scope="session")
def needle4(tmp_path_factory) -> Path:
    """The four needle test videos with their records, generated once; copy before damaging."""
    cache = tmp_path_factory.mktemp("needle4")
    benchmarks.build("needle").load(DataOptions(cache_dir=cache, limit=4))
    return cache / "needle"


@pytest.fixture
def cache(needle4, tmp_path) -> Path:
    """A cache of this test's own holding a copy of the four needle videos, safe to damage."""
    shutil.copytree(needle4, tmp_path / "cache" / "needle")
    return tmp_path / "cache"


def needle_video(cache: Path, i: int = 1) -> Path:
    """The file of needle test sample i in `cache`."""
    return cache / "needle" / "seed0" / "test" / f"{i:05d}.mp4"
