"""Running the grid on this machine: datasets x selectors x frames x backbones, each model loaded once.

1. decode: the candidates of every sample that still has a row to write go into the frame
   cache, in `workers` processes (`bench.grid.decoding`);
2. score: for each selector, load it once, score every sample not yet scored, store, release;
3. answer: for each backbone, load it once, then for each (sample, selector, k) not yet
   answered: pick, answer, score, append the row; release.

With workers, the phases overlap: scoring runs in a thread of its own and takes each sample
as soon as its video is decoded, with every selector (selectors are loaded together, while
backbones still load one at a time), and answering takes each sample as soon as it is scored,
so model time hides decode time. With `workers` 0 each phase ends before the next starts and
one model is loaded at a time: the choice when several selectors are large models (a VLM
judging frames). Rows are written in the same order either way (per cell file, the samples'
order), from this thread only.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path
from typing import Callable, Hashable, Iterator

from bench.grid.config import Cell, Dataset, Grid, RunConfig
from bench.grid.decoding import DecodeAhead, Decoding
from bench.grid.loading import Lazy
from bench.grid.progress import Reporter
from bench.grid.rows import Counts, answer_row, base_row
from bench.grid.scoring import Scorer, score_all, score_together
from bench.llm.inflight import in_flight
from bench.records import Candidates, Row, Sample
from bench.results import CellWriter
from bench.store.scores import score_store


def run_here(cfg: RunConfig, grid: Grid, datasets: list[Dataset], writers: dict[Path, CellWriter], device: str, run_id: str, reporter: Reporter) -> Counts:
    """The three phases over every row still to write."""
    stats = Counts()
    todo = [(d, s) for d in datasets for s in d.samples if s.sample_id in d.pending]
    how = Decoding(Path(cfg.cache_dir), cfg.cache_format, cfg.candidates, cfg.frame_size, cfg.seek, cfg.decoder)
    store = score_store(cfg.cache_dir)
    scorers = {name: Scorer(selector, name, store, device) for name, selector in grid.selectors.items()}
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
                for name, scorer in scorers.items():
                    need = [s for d, s in todo if any(c.scorer == name for c in d.pending[s.sample_id])]
                    stats.scored += score_all(scorer, need, candidates, reporter, done=partial(done, name))[1]
            else:
                work = [(s, tuple(dict.fromkeys(c.scorer for c in d.pending[s.sample_id]))) for d, s in todo]
                stats.scored += score_together(scorers, work, candidates, reporter, done)

        with _alongside(score_phase, scored, background=cfg.workers > 0):
            for backbone_spec, backbone in grid.backbones.items():
                _answer_phase(cfg, todo, backbone_spec, backbone, ahead, scored, scorers, writers, stats, device, run_id, reporter)
        stats.decoded, stats.cached = ahead.tally.decoded, ahead.tally.cached
    return stats


def _answer_phase(cfg, todo, backbone_spec: str, backbone, ahead: DecodeAhead, scored: "_Ready", scorers: dict[str, Scorer], writers, stats: Counts, device: str, run_id: str, reporter: Reporter) -> None:
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
                        yield cell, partial(answer_row, cell, sample, cands, d.benchmark, backbone, scorers[cell.scorer], cfg, device, run_id)

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
