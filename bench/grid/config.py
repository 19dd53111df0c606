"""What a grid run is, whoever executes it: its configuration, its models, its cells and the
samples still to answer.

`bench.grid.local` executes a grid on this machine and `bench.grid.cluster` on a Ray cluster;
both build rows with `bench.grid.rows`, so a row is the same whichever ran it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.datafiles import DataError
from bench.llm.judge import DEFAULT_MODEL
from bench.records import DataOptions, Sample
from bench.registry import backbones, benchmarks, selectors
from bench.results import CellWriter, cell_path
from bench.selectors import SelectorPlan, plan
from bench.store.arrays import default_root

MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """Decode worker processes when `--workers` is not given: the cores, at most 8."""
    return max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))


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
    cache_format: str = "raw"  # how the frame cache stores candidates: "raw" or "jpeg:quality=Q" (bench.store.frames)
    unparsed: str = "wrong"  # an unparsed multiple-choice reply: "wrong", or "random" (lmms-eval parity except on Video-MME, where it scores wrong)
    judge_model: str = DEFAULT_MODEL  # the LLM that judges open-ended answers
    workers: int = 0  # decode worker processes; 0 decodes in this process before any model runs. A script using workers needs `if __name__ == "__main__":` (they import its main module)
    executor: str = "local"  # "local", or "ray" (bench.grid.cluster)
    ray_address: str | None = None  # None starts a local Ray instance; "auto" joins the running cluster
    gpus_per_model: float | None = None  # Ray: GPUs each model's actor holds; None: 1 where the cluster has GPUs, else 0


@dataclass(frozen=True, slots=True)
class Cell:
    dataset: str
    selector: str  # as the CSV records it, pick included
    scorer: str  # the selector spec that computes scores (pick removed)
    pick: str
    frames: int
    backbone: str
    path: Path


@dataclass(slots=True)
class Dataset:
    spec: str
    given: str  # the spec as the user wrote it: what a remote worker builds the benchmark from
    benchmark: object
    samples: list[Sample]
    pending: dict[str, list[Cell]]  # sample_id -> cells still to answer


@dataclass(slots=True)
class Grid:
    """The grid's models, built (not loaded), keyed by canonical spec, with the specs they were built from."""

    plans: list[SelectorPlan]
    frames: tuple[int, ...]
    selectors: dict[str, object]  # scorer spec -> selector
    backbones: dict[str, object]  # backbone spec -> backbone
    given: dict[str, str]  # canonical spec -> spec as given (settings such as a server's base_url kept)

    @classmethod
    def build(cls, cfg: RunConfig) -> "Grid":
        """Parse and construct every model before any work, so a bad parameter is a usage error, not a late crash."""
        # by canonical spec: `uniform,uniform` or `oracle,oracle:pick=nms` is one selector
        plans = list({p.spec: p for p in (plan(text, seed=cfg.seed) for text in cfg.selectors)}.values())
        built, models, given = {}, {}, {}
        for p in plans:
            if p.scorer not in built:
                built[p.scorer] = build_selector(p.given, cfg)
                given[p.scorer] = p.given
        for text in cfg.backbones:
            model = build_backbone(text, cfg)
            if model.spec not in models:  # the same model behind two servers is one cell: the first is asked
                models[model.spec], given[model.spec] = model, text
        return cls(plans, tuple(dict.fromkeys(cfg.frames)), built, models, given)

    def cells(self, cfg: RunConfig, dataset: str) -> list[Cell]:
        shard = cfg.shard if cfg.shard[1] > 1 else None
        return [
            Cell(dataset, p.spec, p.scorer, p.pick, k, b, cell_path(cfg.results_dir, dataset, p.spec, b, k, shard, protocol=protocol(cfg)))
            for p in self.plans for k in self.frames for b in self.backbones
        ]


def build_selector(given: str, cfg: RunConfig):
    return selectors.build(given, context={"cache_dir": Path(cfg.cache_dir)}, seed=cfg.seed)


NO_BACKBONE = "none"


class SelectionOnly:
    """`--backbone none`: no answering model; rows record the selection alone (frames, n_scored, t_select_s, evidence_hit)."""

    spec = NO_BACKBONE

    def load(self, device: str) -> None:
        pass

    def release(self) -> None:
        pass


def build_backbone(given: str, cfg: RunConfig):
    return SelectionOnly() if given == NO_BACKBONE else backbones.build(given, weights=cfg.weights)


def build_benchmark(given: str, cfg: RunConfig):
    # only the benchmarks that take these options get them (and then name them in their spec)
    return benchmarks.build(given, unparsed=cfg.unparsed, judge_model=cfg.judge_model)


def load_datasets(cfg: RunConfig, grid: Grid, writers: dict[Path, CellWriter]) -> list[Dataset]:
    """Each dataset's samples (this shard's) and the cells each still lacks a row of; opens (and locks) every cell file."""
    loaded: dict[str, Dataset] = {}
    options = DataOptions(cache_dir=Path(cfg.cache_dir), data_root=cfg.data_root, seed=cfg.seed, limit=cfg.limit)
    for text in cfg.datasets:
        benchmark = build_benchmark(text, cfg)
        if benchmark.spec in loaded:  # `needle,needle:split=test` is one dataset
            continue
        index, count = cfg.shard
        samples = list(benchmark.load(options))[index::count]
        ids = [s.sample_id for s in samples]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise DataError(f"{benchmark.spec}: sample ids appear twice: {', '.join(twice[:5])}")
        cells = grid.cells(cfg, benchmark.spec)
        for cell in cells:
            if cell.path not in writers:
                writers[cell.path] = CellWriter(cell.path, identity=identity(cfg))
        pending = {s.sample_id: [c for c in cells if s.sample_id not in writers[c.path].done] for s in samples}
        loaded[benchmark.spec] = Dataset(benchmark.spec, text, benchmark, samples, {k: v for k, v in pending.items() if v})
    return list(loaded.values())


def identity(cfg: RunConfig) -> dict[str, str]:
    """The columns that must agree between this run and the rows already in a cell file."""
    return {"candidates": str(cfg.candidates), "seek": cfg.seek, "frame_size": str(cfg.frame_size), "cache_format": cfg.cache_format}


def protocol(cfg: RunConfig) -> str:
    """How candidates are made, where it differs from the defaults: part of a cell file's name.

    N, seek, frame size, decoder and cache format change what a backbone sees, so rows made with other
    values live in other files, and a rerun with another protocol never reuses them.
    """
    parts = ((f"n{cfg.candidates}", "n128"), (cfg.seek, "exact"), (f"s{cfg.frame_size}", "s336"), (cfg.decoder, "pyav"), (cfg.cache_format, "raw"))
    return "+".join(part for part, default in parts if part != default)
