"""Running the grid on this machine: datasets x selectors x frames x backbones, each model loaded once.

1. decode: the candidates of every sample that still has a row to write go into the frame
   cache, in `workers` processes (`bench.decoding`);
2. score: for each selector, load it once, score every sample not yet scored, cache, release;
3. answer: for each backbone, load it once, then for each (sample, selector, k) not yet
   answered: pick, answer, score, append the row; release.

With workers, the phases overlap: scoring runs in a thread of its own and takes each sample
as soon as its video is decoded, with every selector (selectors are loaded together, while
backbones still load one at a time), and answering takes each sample as soon as it is scored,
so model time hides decode time. With `workers` 0 each phase ends before the next starts and
one model is loaded at a time: the choice when several selectors are large models (a VLM
judging frames). Rows are written in the same order either way (per cell file, the samples'
order), from this thread only.

Rows are the unit of progress and resume: a rerun skips rows already written and recomputes
nothing that is cached. A sample that fails at any stage becomes an error row and the run
goes on; so does every row of a model that cannot load (`load: ...`). The grid is taken by
canonical spec, so a cell named twice is run once, and each cell file is locked for the run,
so two runs never write one file. `executor="ray"` hands the same grid to `bench.ray_grid`.
Nothing imports this module but the CLI.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable, Hashable, Iterator

from bench.decoding import DecodeAhead, Decoding
from bench.frame_cache import parse_cache_format
from bench.grid import Cell, Counts, Dataset, Grid, RunConfig, answer_row, base_row, load_datasets
from bench.inflight import in_flight
from bench.loading import Lazy
from bench.progress import Reporter
from bench.records import Candidates, Row, Sample
from bench.results import CellWriter
from bench.score_cache import score_all, score_store, score_together
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
            from bench.ray_grid import run_on_ray

            stats = run_on_ray(cfg, grid, datasets, writers, run_id, reporter)
        else:
            stats = _grid(cfg, grid, datasets, writers, resolve_device(cfg.device), run_id, reporter)
    finally:
        for writer in writers.values():
            writer.close()
    total = sum(len(d.samples) for d in datasets) * len(grid.plans) * len(grid.frames) * len(grid.backbones)
    return RunSummary(run_id, stats.written, total - stats.written, stats.errors, stats.decoded, stats.cached, stats.scored, tuple(stats.examples))


def _grid(cfg: RunConfig, grid: Grid, datasets: list[Dataset], writers: dict[Path, CellWriter], device: str, run_id: str, reporter: Reporter) -> Counts:
    """The three phases over every row still to write."""
    stats = Counts()
    todo = [(d, s) for d in datasets for s in d.samples if s.sample_id in d.pending]
    how = Decoding(Path(cfg.cache_dir), cfg.cache_format, cfg.candidates, cfg.frame_size, cfg.seek, cfg.decoder)
    scores = score_store(cfg.cache_dir)
    scored = _Ready()  # (scorer, dataset, sample id) -> the sample's score error, "" if none
    with DecodeAhead(how, cfg.workers, reporter) as ahead:
        ahead.frames.check_space([s.videos for _, s in todo], cfg.candidates, cfg.frame_size, cfg.seek)  # warns when the new entries will not fit
        ahead.start([((d.spec, s.sample_id), s.videos) for d, s in todo], about=" ".join)

        def score_phase() -> None:
            def done(scorer: str, sample: Sample, error: str) -> None:
                scored.set((scorer, sample.dataset, sample.sample_id), error)

            def candidates(sample: Sample) -> Candidates | None:
                return ahead.candidates(sample.videos)

            if cfg.workers == 0:
                for scorer, selector in grid.selectors.items():
                    need = [s for d, s in todo if any(c.scorer == scorer for c in d.pending[s.sample_id])]
                    stats.scored += score_all(selector, scorer, need, candidates, scores, device, reporter, done=partial(done, scorer))[1]
            else:
                work = [(s, tuple(dict.fromkeys(c.scorer for c in d.pending[s.sample_id]))) for d, s in todo]
                stats.scored += score_together(grid.selectors, work, candidates, scores, device, reporter, done)

        with _alongside(score_phase, scored, background=cfg.workers > 0):
            for backbone_spec, backbone in grid.backbones.items():
                _answer_phase(cfg, grid, todo, backbone_spec, backbone, ahead, scored, scores, writers, stats, device, run_id, reporter)
        stats.decoded, stats.cached = ahead.tally.decoded, ahead.tally.cached
    return stats


def _answer_phase(cfg, grid: Grid, todo, backbone_spec: str, backbone, ahead: DecodeAhead, scored: "_Ready", scores, writers, stats: Counts, device: str, run_id: str, reporter: Reporter) -> None:
    """Every row of one backbone, sample by sample as each is scored; a server backbone keeps `concurrency` requests in flight."""
    work = [(d, s, [c for c in d.pending[s.sample_id] if c.backbone == backbone_spec]) for d, s in todo]
    work = [(d, s, cells) for d, s, cells in work if cells]
    with Lazy(backbone, device) as model, reporter.phase(f"answer {backbone_spec}", sum(len(c) for _, _, c in work)) as advance:

        def jobs() -> Iterator[tuple[Cell, Callable[[], Row]]]:
            for d, sample, cells in work:
                score_errors = {c.scorer: scored.get((c.scorer, sample.dataset, sample.sample_id)) for c in cells}
                video_error = ahead.error(sample.videos)
                cands = None if video_error else ahead.candidates(sample.videos)
                for cell in cells:
                    error = video_error or score_errors[cell.scorer] or model.ready()
                    if error:
                        yield cell, partial(base_row, cell, sample, cfg, device, run_id, error)
                    else:
                        yield cell, partial(answer_row, cell, sample, cands, d.benchmark, backbone, grid.selectors[cell.scorer], scores, cfg, device, run_id)

        for cell, row in in_flight(jobs(), getattr(backbone, "concurrency", 1)):
            writers[cell.path].append(row)
            stats.count(row)
            advance()


class _Ready:
    """Values set by one thread and waited for by another; a failure of the setting thread is raised in the waiting one."""

    def __init__(self) -> None:
        self._values: dict[Hashable, str] = {}
        self._failure: BaseException | None = None
        self._closed = False
        self._changed = threading.Condition()

    def set(self, key: Hashable, value: str) -> None:
        with self._changed:
            if self._closed:
                raise _Stopped
            self._values[key] = value
            self._changed.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._changed:
            self._failure = exc
            self._changed.notify_all()

    def close(self) -> None:
        """Nobody waits any more: the next `set` stops the setting thread."""
        with self._changed:
            self._closed = True

    def get(self, key: Hashable) -> str:
        with self._changed:
            self._changed.wait_for(lambda: key in self._values or self._failure is not None)
            if key in self._values:
                return self._values[key]
            raise self._failure


class _Stopped(Exception):
    """The answering thread has given up (it failed): the scoring thread ends too."""


class _alongside:
    """Run `work` in a thread beside the block (background), or before it; its failure reaches whoever waits on `ready`."""

    def __init__(self, work: Callable[[], None], ready: _Ready, background: bool) -> None:
        self.work, self.ready, self.background = work, ready, background
        self.thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            self.work()
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the answering thread, which raises it
            self.ready.fail(exc)

    def __enter__(self) -> "_alongside":
        if self.background:
            self.thread = threading.Thread(target=self._run, name="score", daemon=True)
            self.thread.start()
        else:
            self.work()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.thread is not None:
            if exc[0] is not None:
                self.ready.close()
            self.thread.join()
