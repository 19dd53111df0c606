"""Running the grid on a Ray cluster (`bench run --executor ray`): many GPUs, many nodes.

The grid of `bench.grid.local`, as Ray work:
- a decode task per video still to decode (1 CPU, one decode thread), writing the frame cache,
  which every node must see at the same path: a shared filesystem, checked on every node first;
- an actor per selector and per backbone, holding its model on `gpus_per_model` GPUs (default
  1 where the cluster has GPUs, else 0), fed one sample at a time as its inputs are ready: a
  selector scores a sample once its video is decoded, a backbone answers once it is scored.
  When every actor fits the cluster at once, all run side by side; otherwise the selectors run
  first and are let go before the backbones start, so no backbone holds a GPU a selector it
  waits for needs;
- this process, the driver, writes every row as its answer comes back, so resume, no
  duplicate and error rows hold exactly as in a local run. Rows are the ones a local run writes
  (both build them with `bench.grid.rows.answer_row`); within a cell file they are in the order
  answers came back, not the samples' order.
A decode task whose worker dies is retried (`max_retries`), an actor whose worker or node
dies is restarted, loading its model again, and its unfinished calls retried
(`max_restarts`, `max_task_retries`). A row is written only once its answer is back, so a
retried call never writes twice; a call that fails after its retries is an error row
(`worker: ...`), which the next run retries.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from pathlib import Path

from bench.datafiles import DataError
from bench.grid.config import Dataset, Grid, RunConfig, build_backbone, build_benchmark, build_selector
from bench.grid.decoding import Decoded, Decoding, Tally, decode_into_cache
from bench.grid.loading import Lazy
from bench.grid.progress import Reporter
from bench.grid.rows import Counts, answer_row, base_row
from bench.grid.scoring import Scorer
from bench.plugins import load_all, loaded_files
from bench.records import Row, Sample
from bench.results import CellWriter
from bench.store.frames import FrameCache
from bench.store.scores import score_store
from bench.timing import resolve_device

log = logging.getLogger(__name__)

RETRIES = 3  # times a task, or an actor's call, is retried when its worker dies
ENV_PREFIXES = ("HF_", "TRANSFORMERS_", "FRAMEBENCH_", "OPENAI_", "CUDA_VISIBLE_DEVICES")  # what workers need of the driver's environment


AUTH_HINT = ("a cluster with token authentication (Ray 2.59+) needs RAY_AUTH_MODE=token and its token (`ray get-auth-token`, "
             "or RAY_AUTH_TOKEN) here too; with no cluster, start one with `ray start --head`, or leave --ray-address out to start a local instance")


class ClusterError(DataError):
    """Ray is not installed, the cluster cannot be reached, or a node cannot see the cache dir: the message says what to do."""


def run_on_ray(cfg: RunConfig, grid: Grid, datasets: list[Dataset], writers: dict[Path, CellWriter], run_id: str, reporter: Reporter) -> Counts:
    """Run the grid's pending rows on Ray, writing each row here as it comes back."""
    try:
        import ray
    except ImportError:
        raise ClusterError("--executor ray needs Ray: pip install 'framebench[ray]' (or pip install ray)") from None
    started = not ray.is_initialized()
    if started:
        _reachable(cfg.ray_address)
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
        try:
            # "local": a new instance, never a cluster `ray start` happens to have left on this machine
            ray.init(address=cfg.ray_address or "local", include_dashboard=False, runtime_env={"env_vars": env} if env else None,
                     logging_level=logging.WARNING)
        except ConnectionError as exc:
            raise ClusterError(f"cannot join the Ray cluster at --ray-address {cfg.ray_address}: {exc}; {AUTH_HINT}") from None
    try:
        check_cache_visible(Path(cfg.cache_dir))
        return _Driver(cfg, grid, datasets, writers, run_id, reporter).run()
    finally:
        if started:
            ray.shutdown()


def _reachable(address: str | None) -> None:
    """Fail at once for a HOST:PORT nobody listens on, which Ray itself retries for about 14 minutes."""
    host, _, port = (address or "").rpartition(":")
    if not host or "://" in address or not port.isdigit():
        return  # none, "auto" or a ray:// client address: Ray finds out
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ClusterError(f"nothing answers at --ray-address {address} ({exc.strerror or exc}); {AUTH_HINT}") from None


def check_cache_visible(cache_dir: Path) -> None:
    """Raise ClusterError unless every alive node reads a file written here under `cache_dir`."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    cache_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    marker = cache_dir / f".ray-check-{token}"
    marker.write_text(token)
    try:
        nodes = [n for n in ray.nodes() if n["Alive"]]
        sees = _remote(_sees, num_cpus=0)
        checks = [sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(str(marker), token) for n in nodes]
        blind = [f"{host} (node {n['NodeID'][:8]})" for n, (host, seen) in zip(nodes, ray.get(checks)) if not seen]
    finally:
        marker.unlink(missing_ok=True)
    if blind:
        raise ClusterError(
            f"the cache dir {cache_dir} is not visible from {len(blind)} of {len(nodes)} Ray nodes ({', '.join(blind)}): "
            "every node must see it at the same path: put --cache-dir on a filesystem all nodes mount (NFS, Lustre, a cloud bucket mount)"
        )


def _remote(function_or_class, **options):
    import ray

    return ray.remote(**options)(function_or_class)


def _sees(marker: str, token: str) -> tuple[str, bool]:
    path = Path(marker)
    return socket.gethostname(), path.is_file() and path.read_text() == token


def _decode(how: Decoding, videos: tuple[Path, ...]) -> Decoded:
    return decode_into_cache(how, videos, threads=1)


class _Scorer:
    """One selector, loaded once in its actor, scoring one sample per call into the shared score cache."""

    def __init__(self, scorer: str, given: str, cfg: RunConfig, plugins: list[str], how: Decoding) -> None:
        load_all(plugins)
        self.scorer = Scorer(build_selector(given, cfg), scorer, score_store(cfg.cache_dir), resolve_device(cfg.device))
        self.frames, self.how = FrameCache(how.cache_dir, how.cache_format), how

    def score(self, sample: Sample, decoded: Decoded) -> tuple[str, bool]:
        """(the sample's score error or "", whether it was scored now); nothing for a video that failed."""
        if decoded.error:
            return "", False
        return self.scorer.missing(self.how.candidates(self.frames, sample.videos), sample)


class _Answerer:
    """One backbone, loaded once in its actor, answering one (sample, selector)'s cells per call."""

    def __init__(self, given: str, cfg: RunConfig, plugins: list[str], how: Decoding, selectors: dict[str, str], datasets: dict[str, str], run_id: str) -> None:
        load_all(plugins)
        self.backbone = build_backbone(given, cfg)
        self.benchmarks = {spec: build_benchmark(text, cfg) for spec, text in datasets.items()}
        self.cfg, self.how, self.run_id = cfg, how, run_id
        self.device = resolve_device(cfg.device)
        store = score_store(cfg.cache_dir)
        # selectors built, not loaded: picks read the stored scores (a selector loads only to score a pruned entry again)
        self.scorers = {name: Scorer(build_selector(text, cfg), name, store, self.device) for name, text in selectors.items()}
        self.model = Lazy(self.backbone, self.device)
        self.loading = threading.Lock()  # a server backbone's actor answers several calls at once
        self.frames = FrameCache(how.cache_dir, how.cache_format)

    def answer(self, cells: list, sample: Sample, decoded: Decoded, scored: tuple[str, bool]) -> list[Row]:
        with self.loading:
            load_error = self.model.ready()
        error = decoded.error or scored[0] or load_error
        if error:
            return [base_row(cell, sample, self.cfg, self.device, self.run_id, error) for cell in cells]
        cands = self.how.candidates(self.frames, sample.videos)
        benchmark = self.benchmarks[cells[0].dataset]
        return [answer_row(c, sample, cands, benchmark, self.backbone, self.scorers[c.scorer], self.cfg, self.device, self.run_id) for c in cells]


class _Driver:
    """Submits the grid's work and writes the rows as they come back."""

    def __init__(self, cfg: RunConfig, grid: Grid, datasets: list[Dataset], writers: dict[Path, CellWriter], run_id: str, reporter: Reporter) -> None:
        self.cfg, self.grid, self.writers, self.run_id, self.reporter = cfg, grid, writers, run_id, reporter
        self.todo = [(d, s) for d in datasets for s in d.samples if s.sample_id in d.pending]
        self.datasets = {d.spec: d.given for d in datasets}
        self.how = Decoding(Path(cfg.cache_dir), cfg.cache_format, cfg.candidates, cfg.frame_size, cfg.seek, cfg.decoder)
        self.stats = Counts()

    def run(self) -> Counts:
        import ray

        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        gpus = self.cfg.gpus_per_model
        if gpus is None:
            gpus = 1.0 if cluster_gpus else 0.0
        # no CPU reserved: an actor holding one would starve the decode tasks its calls wait for
        actor = {"num_cpus": 0, "num_gpus": gpus, "max_restarts": RETRIES, "max_task_retries": RETRIES}
        decode = _remote(_decode, num_cpus=1, max_retries=RETRIES)
        decoded = {}
        for _, sample in self.todo:
            if sample.videos not in decoded:
                decoded[sample.videos] = decode.remote(self.how, sample.videos)
        plugins = loaded_files()
        scorer_class, answerer_class = _remote(_Scorer, **actor), _remote(_Answerer, **actor)
        needed = {c.scorer for d, s in self.todo for c in d.pending[s.sample_id]}  # on a rerun, only what is left starts an actor
        scorers = {scorer: scorer_class.remote(scorer, self.grid.given[scorer], self.cfg, plugins, self.how) for scorer in self.grid.selectors if scorer in needed}
        scored = {
            (scorer, d.spec, s.sample_id): actor_.score.remote(s, decoded[s.videos])
            for scorer, actor_ in scorers.items() for d, s in self.todo if any(c.scorer == scorer for c in d.pending[s.sample_id])
        }
        answers = {}  # backbone -> (dataset, sample, scorer, cells) still to answer
        for backbone_spec in self.grid.backbones:
            work = [(d, s, scorer, [c for c in d.pending[s.sample_id] if c.backbone == backbone_spec and c.scorer == scorer])
                    for d, s in self.todo for scorer in self.grid.selectors]
            if work := [each for each in work if each[3]]:
                answers[backbone_spec] = work
        everything_fits = gpus * (len(scorers) + len(answers)) <= cluster_gpus
        if not everything_fits:  # selectors first, then let go of their GPUs for the backbones
            self._count_scores(scored)
            for each in scorers.values():
                ray.kill(each)
        selectors = {scorer: self.grid.given[scorer] for scorer in self.grid.selectors}
        calls = {}
        for backbone_spec, work in answers.items():
            answerer = answerer_class.options(max_concurrency=getattr(self.grid.backbones[backbone_spec], "concurrency", 1)).remote(
                self.grid.given[backbone_spec], self.cfg, plugins, self.how, selectors, self.datasets, self.run_id)
            for d, s, scorer, cells in work:
                calls[answerer.answer.remote(cells, s, decoded[s.videos], scored[scorer, d.spec, s.sample_id])] = (cells, s)
        self._write(calls)
        if everything_fits:
            self._count_scores(scored)
        self._count_decodes(decoded)
        return self.stats

    def _write(self, calls: dict) -> None:
        """Write each call's rows as it comes back; a call that failed past its retries gives error rows."""
        import ray
        from ray.exceptions import RayError

        device = resolve_device(self.cfg.device)
        with self.reporter.phase("answer (ray)", sum(len(cells) for cells, _ in calls.values())) as advance:
            waiting = list(calls)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=0.2)
                for ref in done:
                    cells, sample = calls.pop(ref)
                    try:
                        rows = ray.get(ref)
                    except RayError as exc:  # the worker died more often than it is retried, or the actor cannot start
                        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        log.warning("%s %s: %s", sample.dataset, sample.sample_id, reason)
                        rows = [base_row(c, sample, self.cfg, device, self.run_id, f"worker: {type(exc).__name__}: {reason}") for c in cells]
                    for row, cell in zip(rows, cells):
                        self.writers[cell.path].append(row)
                        self.stats.count(row)
                        advance()

    def _count_scores(self, scored: dict) -> None:
        import ray
        from ray.exceptions import RayError

        for ref in scored.values():
            try:
                self.stats.scored += ray.get(ref)[1]
            except RayError:
                pass  # its rows are error rows, written by `_write`

    def _count_decodes(self, decoded: dict) -> None:
        import ray
        from ray.exceptions import RayError

        jobs = [((d.spec, s.sample_id), s.videos) for d, s in self.todo]
        tally = Tally(jobs, " ".join)
        for key, videos in jobs:
            try:
                tally.add(key, videos, ray.get(decoded[videos]))
            except RayError:
                continue  # its rows are error rows, written by `_write`
        self.stats.decoded, self.stats.cached = tally.decoded, tally.cached
