"""The grid: datasets x selectors x frames x backbones, run in phases so every model loads once.

1. decode: the candidates of every sample that still has a row to write (into the frame cache);
2. score: for each selector, load it once, score every sample not yet scored, cache, release;
3. answer: for each backbone, load it once, then for each (sample, selector, k) not yet
   answered: pick, answer, score, append the row; release.

Rows are the unit of progress and resume: a rerun skips rows already written and recomputes
nothing that is cached. A sample that fails at any stage becomes an error row and the run
goes on; so does every row of a model that cannot load (`load: ...`). The grid is taken by
canonical spec, so a cell named twice is run once, and each cell file is locked for the run,
so two runs never write one file. Only this module knows every stage; nothing imports it but
the CLI.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from bench.answering import ask
from bench.cache import ArrayStore, default_root
from bench.datafiles import DataError
from bench.frame_cache import FrameCache, parse_cache_format
from bench.inflight import in_flight
from bench.judge import DEFAULT_MODEL
from bench.loading import Lazy
from bench.progress import Reporter
from bench.records import Candidates, DataOptions, Outcome, Row, Sample
from bench.registry import backbones, benchmarks, selectors
from bench.results import CellWriter, cell_path
from bench.score_cache import cached, score_all, score_store
from bench.selectors import plan
from bench.selectors.choose import choose
from bench.timing import resolve_device
from bench.video import VideoError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything `bench run` takes; each list's cross product is the grid."""

    datasets: tuple[str, ...]
    selectors: tuple[str, ...]
    backbones: tuple[str, ...]
    frames: tuple[int, ...]
    candidates: int = 128
    limit: int | None = None
    seed: int = 0
    data_root: Path | None = None
    results_dir: Path = Path("results")
    cache_dir: Path = field(default_factory=default_root)
    device: str = "auto"
    weights: str = "pretrained"
    shard: tuple[int, int] = (0, 1)
    frame_size: int = 336
    seek: str = "exact"
    decoder: str = "pyav"
    cache_format: str = "raw"  # how the frame cache stores candidates: "raw" or "jpeg:quality=Q" (bench.frame_cache)
    unparsed: str = "wrong"  # an unparsed multiple-choice reply: "wrong", or "random" (lmms-eval parity except on Video-MME, where it scores wrong)
    judge_model: str = DEFAULT_MODEL  # the LLM that judges open-ended answers


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


@dataclass(frozen=True, slots=True)
class _Cell:
    dataset: str
    selector: str  # as the CSV records it, pick included
    scorer: str  # the selector spec that computes scores (pick removed)
    pick: str
    frames: int
    backbone: str
    path: Path


@dataclass(slots=True)
class _Dataset:
    spec: str
    benchmark: object
    samples: list[Sample]
    pending: dict[str, list[_Cell]]  # sample_id -> cells still to answer


def _load_datasets(cfg: RunConfig, cells_for: Callable[[str], list[_Cell]], writers: dict[Path, CellWriter]) -> list[_Dataset]:
    loaded: dict[str, _Dataset] = {}
    options = DataOptions(cache_dir=Path(cfg.cache_dir), data_root=cfg.data_root, seed=cfg.seed, limit=cfg.limit)
    for text in cfg.datasets:
        # only the benchmarks that take these options get them (and then name them in their spec)
        benchmark = benchmarks.build(text, unparsed=cfg.unparsed, judge_model=cfg.judge_model)
        if benchmark.spec in loaded:  # `needle,needle:split=test` is one dataset
            continue
        index, count = cfg.shard
        samples = list(benchmark.load(options))[index::count]
        ids = [s.sample_id for s in samples]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise DataError(f"{benchmark.spec}: sample ids appear twice: {', '.join(twice[:5])}")
        cells = cells_for(benchmark.spec)
        for cell in cells:
            if cell.path not in writers:
                writers[cell.path] = CellWriter(cell.path, identity=_identity(cfg))
        pending = {s.sample_id: [c for c in cells if s.sample_id not in writers[c.path].done] for s in samples}
        loaded[benchmark.spec] = _Dataset(benchmark.spec, benchmark, samples, {k: v for k, v in pending.items() if v})
    return list(loaded.values())


def _identity(cfg: RunConfig) -> dict[str, str]:
    """The columns that must agree between this run and the rows already in a cell file."""
    return {"candidates": str(cfg.candidates), "seek": cfg.seek, "frame_size": str(cfg.frame_size), "cache_format": cfg.cache_format}


def _protocol(cfg: RunConfig) -> str:
    """How candidates are made, where it differs from the defaults: part of a cell file's name.

    N, seek, frame size, decoder and cache format change what a backbone sees, so rows made with other
    values live in other files, and a rerun with another protocol never reuses them.
    """
    parts = ((f"n{cfg.candidates}", "n128"), (cfg.seek, "exact"), (f"s{cfg.frame_size}", "s336"), (cfg.decoder, "pyav"), (cfg.cache_format, "raw"))
    return "+".join(part for part, default in parts if part != default)


def run(cfg: RunConfig, reporter: Reporter | None = None) -> RunSummary:
    """Run the grid, appending one row per (cell, sample) not already in the results."""
    reporter = reporter or Reporter()
    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    if cfg.shard[1] < 1 or not 0 <= cfg.shard[0] < cfg.shard[1]:
        raise ValueError(f"--shard must be I/N with 0 <= I < N, not {cfg.shard[0]}/{cfg.shard[1]}")
    device = resolve_device(cfg.device)
    cfg = replace(cfg, cache_format=parse_cache_format(cfg.cache_format).spec)  # canonical: rows, file names and keys agree
    # the grid by canonical spec: `uniform,uniform` or `oracle,oracle:pick=nms` is one selector
    plans = list({p.spec: p for p in (plan(text, seed=cfg.seed) for text in cfg.selectors)}.values())
    frame_counts = tuple(dict.fromkeys(cfg.frames))
    shard = cfg.shard if cfg.shard[1] > 1 else None
    # every constructor runs before any work, so a bad parameter is a usage error, not a late crash
    # built from the specs as given, keyed by canonical spec: the canonical ones leave out settings (a server's base_url)
    built: dict[str, object] = {}
    for p in plans:
        if p.scorer not in built:
            built[p.scorer] = selectors.build(p.given, context={"cache_dir": Path(cfg.cache_dir)}, seed=cfg.seed)
    models: dict[str, object] = {}
    for text in cfg.backbones:
        model = backbones.build(text, weights=cfg.weights)
        models.setdefault(model.spec, model)  # the same model behind two servers is one cell: the first is asked
    backbone_specs = list(models)

    def cells_for(dataset: str) -> list[_Cell]:
        return [
            _Cell(dataset, p.spec, p.scorer, p.pick, k, b, cell_path(cfg.results_dir, dataset, p.spec, b, k, shard, protocol=_protocol(cfg)))
            for p in plans for k in frame_counts for b in backbone_specs
        ]

    writers: dict[Path, CellWriter] = {}
    try:
        datasets = _load_datasets(cfg, cells_for, writers)
        stats = _grid(cfg, datasets, plans, built, models, writers, device, run_id, reporter)
    finally:
        for writer in writers.values():
            writer.close()
    total = sum(len(d.samples) for d in datasets) * len(plans) * len(frame_counts) * len(backbone_specs)
    return RunSummary(run_id, stats.written, total - stats.written, stats.errors, stats.decoded, stats.cached, stats.scored, tuple(stats.examples))


def _grid(cfg: RunConfig, datasets: list[_Dataset], plans, built: dict, models: dict, writers: dict[Path, CellWriter], device: str, run_id: str, reporter: Reporter) -> "_Counts":
    """The three phases over every row still to write."""
    frames = FrameCache(Path(cfg.cache_dir), cfg.cache_format)
    stats = _Counts()

    def candidates(sample: Sample) -> Candidates:
        return frames.candidates(sample.videos, cfg.candidates, cfg.frame_size, cfg.seek, cfg.decoder)

    # 1. decode every sample that still has a row to write
    failed: dict[tuple[str, str], str] = {}  # (dataset, sample) -> error of its video
    todo = [(d, s) for d in datasets for s in d.samples if s.sample_id in d.pending]
    frames.check_space([s.videos for _, s in todo], cfg.candidates, cfg.frame_size, cfg.seek)  # warns when the new entries will not fit
    with reporter.phase("decode candidates", len(todo)) as advance:
        for d, sample in todo:
            try:
                got = candidates(sample)
                stats.cached += got.cached
                stats.decoded += not got.cached
            except Exception as exc:  # a video that cannot be read is an error row, not a crash
                failed[d.spec, sample.sample_id] = f"video: {exc}"
                log.warning("%s %s: %s", d.spec, sample.sample_id, exc, exc_info=not isinstance(exc, VideoError))
            advance()

    # 2. score, one selector model at a time
    scores = score_store(cfg.cache_dir)
    score_errors: dict[tuple[str, str, str], str] = {}
    for scorer, selector in built.items():
        need = [s for d, s in todo if (d.spec, s.sample_id) not in failed and any(c.scorer == scorer for c in d.pending[s.sample_id])]
        errors, fresh = score_all(selector, scorer, need, candidates, scores, device, reporter)
        score_errors.update({(*key, scorer): error for key, error in errors.items()})
        stats.scored += fresh

    # 3. answer, one backbone model at a time; a server backbone keeps `concurrency` requests in flight
    for backbone_spec, backbone in models.items():
        work = [(d, s, [c for c in d.pending[s.sample_id] if c.backbone == backbone_spec]) for d, s in todo]
        work = [(d, s, cells) for d, s, cells in work if cells]
        with Lazy(backbone, device) as model, reporter.phase(f"answer {backbone_spec}", sum(len(c) for _, _, c in work)) as advance:

            def jobs() -> Iterator[tuple[_Cell, Callable[[], Row]]]:
                for d, sample, cells in work:
                    video_error = failed.get((d.spec, sample.sample_id))
                    cands = None if video_error else candidates(sample)
                    for cell in cells:
                        error = video_error or score_errors.get((d.spec, sample.sample_id, cell.scorer)) or model.ready()
                        if error:
                            yield cell, partial(_base_row, cell, sample, cfg, device, run_id, error)
                        else:
                            yield cell, partial(_answer, cell, sample, cands, d.benchmark, backbone, built[cell.scorer], scores, cfg, device, run_id)

            for cell, row in in_flight(jobs(), getattr(backbone, "concurrency", 1)):
                writers[cell.path].append(row)
                stats.count(row)
                advance()
    return stats


@dataclass(slots=True)
class _Counts:
    written: int = 0
    errors: int = 0
    decoded: int = 0
    cached: int = 0
    scored: int = 0
    examples: list[str] = field(default_factory=list)

    def count(self, row: Row) -> None:
        self.written += 1
        if row.error:
            self.errors += 1
            if len(self.examples) < 5:
                self.examples.append(f"{row.dataset} {row.sample_id}: {row.error}")


def _answer(cell: _Cell, sample: Sample, cands: Candidates, benchmark, backbone, selector, scores: ArrayStore, cfg: RunConfig, device: str, run_id: str) -> Row:
    scored = cached(scores, cell.scorer, cands, sample)
    start = time.perf_counter()
    try:
        chosen = choose(selector, cell.pick, scored.values, cell.frames, cands)
    except Exception as exc:  # a rule of the selector's own that fails is this row's error
        return _base_row(cell, sample, cfg, device, run_id, f"select: {type(exc).__name__}: {exc}")
    t_select = scored.seconds + time.perf_counter() - start
    try:
        asked = ask(benchmark, backbone, sample, cands, chosen, device)
    except Exception as exc:  # one failed answer is one error row; the run goes on
        log.warning("%s failed on %s %s", cell.backbone, cell.dataset, sample.sample_id, exc_info=True)
        return _base_row(cell, sample, cfg, device, run_id, f"answer: {type(exc).__name__}: {exc}")
    reply = asked.reply
    outcome: Outcome = benchmark.score(sample, reply.text)
    return replace(
        _base_row(cell, sample, cfg, device, run_id),
        selected=" ".join(map(str, chosen)),
        selected_times=" ".join(f"{t:.3f}" for t in cands.times[chosen]),
        prediction=reply.text,
        parsed=outcome.parsed,
        correct=outcome.correct,
        judge_score=outcome.judge_score,
        parse_ok=outcome.parse_ok,
        error=outcome.error,
        t_decode_s=cands.decode_s,
        t_select_s=t_select,
        t_answer_s=asked.seconds,
        peak_mem_mb=None if reply.remote else asked.peak_mem_mb,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        n_scored=scored.n_scored,
        n_visual_tokens=reply.n_visual_tokens,
        t_preprocess_s=reply.t_preprocess_s,
        judge_model=outcome.judge_model,
        decoder=cands.decoder,
    )


def _base_row(cell: _Cell, sample: Sample, cfg: RunConfig, device: str, run_id: str, error: str = "") -> Row:
    """A row with the cell's and the sample's fields: an error row, or what `_answer` completes."""
    return Row(
        dataset=cell.dataset, split=sample.split, sample_id=sample.sample_id, video_id=sample.video_id,
        question=sample.question, category=sample.category, duration_group=sample.duration_group,
        domain=sample.domain, category_group=sample.category_group, sub_category=sample.sub_category,
        options=json.dumps(list(sample.options)),
        selector=cell.selector, backbone=cell.backbone, frames=cell.frames, candidates=cfg.candidates,
        selected="", prediction="", answer=sample.answer, correct=None, judge_score=None, parse_ok=None,
        error=error, t_decode_s=None, t_select_s=None, t_answer_s=None, peak_mem_mb=None,
        device=device, run_id=run_id, seek=cfg.seek, frame_size=cfg.frame_size, cache_format=cfg.cache_format,
        written_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
