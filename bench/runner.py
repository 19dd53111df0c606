"""`bench run` as a library call: check the configuration, build the grid, hand it to an executor.

`run(RunConfig(...))` is what the CLI calls. The grid's models are built (not loaded) first,
so a bad spec is a usage error before any work; each cell file is opened and locked for the
run, so two runs never write one file; then `bench.grid.local` (this machine) or
`bench.grid.cluster` (`executor="ray"`) writes the rows still missing.

Rows are the unit of progress and resume: a rerun skips rows already written and recomputes
nothing that is cached. A sample that fails at any stage becomes an error row and the run
goes on; so does every row of a model that cannot load (`load: ...`). The grid is taken by
canonical spec, so a cell named twice is run once. Where each row comes from, step by step,
is in README's "Layout".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from bench.grid.config import Grid, RunConfig, load_datasets
from bench.grid.local import run_here
from bench.grid.progress import Reporter
from bench.results import CellWriter
from bench.store.frames import parse_cache_format
from bench.timing import resolve_device

__all__ = ["RunConfig", "RunSummary", "run"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run did, counted."""

    run_id: str
    written: int  # rows appended this run
    skipped: int  # rows already in the results, not redone
    errors: int  # error rows appended this run
    decoded: int  # videos decoded this run
    cached: int  # videos whose candidates came from the frame cache
    scored: int  # (selector, sample) pairs scored this run
    error_examples: tuple[str, ...] = ()


def run(cfg: RunConfig, reporter: Reporter | None = None) -> RunSummary:
    """Run the grid, appending one row per (cell, sample) not already in the results."""
    reporter = reporter or Reporter()
    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    if cfg.shard[1] < 1 or not 0 <= cfg.shard[0] < cfg.shard[1]:
        raise ValueError(f"--shard must be I/N with 0 <= I < N, not {cfg.shard[0]}/{cfg.shard[1]}")
    if cfg.workers < 0:
        raise ValueError(f"--workers must be 0 or more, not {cfg.workers}")
    cfg = replace(cfg, cache_format=parse_cache_format(cfg.cache_format).spec)  # canonical: rows, file names and keys agree
    grid = Grid.build(cfg)
    writers: dict[Path, CellWriter] = {}
    try:
        datasets = load_datasets(cfg, grid, writers)
        if cfg.executor == "ray":
            from bench.grid.cluster import run_on_ray

            stats = run_on_ray(cfg, grid, datasets, writers, run_id, reporter)
        else:
            stats = run_here(cfg, grid, datasets, writers, resolve_device(cfg.device), run_id, reporter)
    finally:
        for writer in writers.values():
            writer.close()
    total = sum(len(d.samples) for d in datasets) * len(grid.plans) * len(grid.frames) * len(grid.backbones)
    return RunSummary(run_id, stats.written, total - stats.written, stats.errors, stats.decoded, stats.cached, stats.scored, tuple(stats.examples))
