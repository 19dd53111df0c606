"""`bench select`: a dataset's selections as JSON lines (or Parquet), resumable, for another harness to read.

One line per (sample, selector, k), in the format README's "bench select" section states. The
file is the unit of resume, like a results CSV: a cut last line is dropped, error lines are
retried, a key is never written twice, and a lock keeps two runs from writing one file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np


from bench.grid.decoding import DecodeAhead, Decoding
from bench.grid.progress import Reporter
from bench.grid.scoring import LoadError, Scorer, score_all
from bench.records import Candidates, DataOptions, Sample
from bench.registry import benchmarks, selectors
from bench.sampling import segment_centres
from bench.selectors import SelectorPlan, plan
from bench.store import atomic_write_text, default_root
from bench.store.frames import parse_cache_format
from bench.store.locks import FileLock, LockBusy
from bench.store.scores import score_store
from bench.timing import resolve_device

PROTOCOL = ("candidates", "frame_size", "seek", "cache_format")  # how the candidates were made: a rerun must agree
HEAD = ("dataset", "sample_id", "video", "question", "selector", "k", *PROTOCOL)  # what every line has held, error lines too
SELECTION = ("indices", "frame_numbers", "times", "fps", "total_frames", "scores")  # what an error line lacks
LINE = (*HEAD[:2], "question_id", *HEAD[2:], *SELECTION)
SUFFIXES = (".jsonl", ".parquet")


class SelectionsError(Exception):
    """A selections file that cannot be resumed (held by another run, damaged, made with other options); the message names it."""


@dataclass(frozen=True, slots=True)
class SelectSummary:
    """What one `bench select` wrote, counted."""

    written: int  # lines appended this run, error lines included
    skipped: int  # (sample, selector, k) already in the file
    errors: int  # error lines appended this run
    error_examples: tuple[str, ...] = ()


def _selection(line: dict) -> tuple:
    """What a line is the selection of: (dataset, sample_id, selector, k)."""
    return line["dataset"], line["sample_id"], line["selector"], line["k"]


class SelectionFile:
    """The file `bench select` appends to: JSON lines, or Parquet written at the end from a `.partial.jsonl` beside it.

    Opening repairs what a killed or failed run left: a last line cut short is dropped, error
    lines are dropped so that their samples run again, and a selection found twice keeps its
    first line; the file is then rewritten atomically. `done` holds the keys left. Lines made
    with another N, frame size, seek or cache format are a SelectionsError, not mixed in. One
    process at a time: an flock on `<file>.lock`, which the kernel drops however the holder ends.
    """

    def __init__(self, path: Path, protocol: dict) -> None:
        if path.suffix not in SUFFIXES:
            raise ValueError(f"{path}: a selections file ends in .jsonl or .parquet")
        self.path, self.protocol = path, protocol
        self.lines_path = path if path.suffix == ".jsonl" else path.with_suffix(".partial.jsonl")
        self.written = self.errors = 0
        self.examples: list[str] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _lock(path)
        except OSError as exc:  # a read-only or missing folder, no permission
            raise SelectionsError(f"{path}: cannot write there ({exc.strerror or exc}); write to another --out") from None
        try:
            kept, repaired = self._existing()
            self.done = {_selection(line) for line in kept}
            if repaired or self.lines_path != path:
                atomic_write_text(self.lines_path, "".join(json.dumps(line) + "\n" for line in kept))
            self._file = self.lines_path.open("a", encoding="utf-8")
        except BaseException:
            self._lock.release()
            raise

    def _existing(self) -> tuple[list[dict], bool]:
        """The lines to keep, and whether anything was dropped."""
        found: list[tuple[str, str, dict]] = []  # (file, place, line)
        repaired = False
        if self.lines_path != self.path and self.path.exists():
            found += [(str(self.path), f"row {i}", row) for i, row in enumerate(_read_parquet(self.path))]
        if self.lines_path.exists():
            text = self.lines_path.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):  # a line cut short by a killed run
                text, repaired = text[: text.rfind("\n") + 1], True
            for number, raw in enumerate(text.splitlines(), 1):
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise SelectionsError(f"{self.lines_path}: line {number}: not JSON ({exc.msg}); remove the line or write to another --out") from None
                found.append((str(self.lines_path), f"line {number}", line))
        kept: dict[tuple, dict] = {}
        for source, place, line in found:
            missing = [f for f in HEAD if f not in line]
            if missing:
                raise SelectionsError(f"{source}: {place}: no field {missing[0]!r}: not a line `bench select` wrote; write to another --out")
            if line.get("error") or _selection(line) in kept:
                repaired = True
                continue
            for field, value in self.protocol.items():
                if line[field] != value:
                    raise SelectionsError(f"{source}: {place}: field {field!r} is {line[field]!r}, but this run's --{field.replace('_', '-')} "
                                          f"is {value!r}; rerun with the file's options, or write to another --out")
            kept[_selection(line)] = {f: line.get(f) for f in LINE}
        return list(kept.values()), repaired

    def append(self, line: dict) -> None:
        """Write one line and flush it, so a killed run loses at most the line being written."""
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
        self.written += 1
        if line.get("error"):
            self.errors += 1
            if len(self.examples) < 5:
                self.examples.append(f"{line['dataset']} {line['sample_id']} {line['selector']} k={line['k']}: {line['error']}")

    def close(self) -> None:
        """Sync the lines; for Parquet, write the whole file from them (error lines included) and drop the partial."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if self.lines_path != self.path:
                _write_parquet(self.lines_path, self.path)
                self.lines_path.unlink()
        finally:
            self._lock.release()

    def __enter__(self) -> "SelectionFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(path: Path) -> FileLock:
    """The selections file's lock; SelectionsError while another process holds it."""
    try:
        return FileLock(path)
    except LockBusy:
        raise SelectionsError(f"{path}: another `bench select` is writing it (it holds {path.name}.lock); "
                              f"wait for it to finish, or write to another --out") from None


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise SelectionsError(f"{path}: not a readable Parquet file ({exc}); write to another --out") from None


def _write_parquet(lines_path: Path, path: Path) -> None:
    """`path` from every line of `lines_path`, written to a temporary name and renamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        *((name, pa.string()) for name in ("dataset", "sample_id", "question_id", "video", "question", "selector")),
        ("k", pa.int64()), ("candidates", pa.int64()), ("frame_size", pa.int64()), ("seek", pa.string()), ("cache_format", pa.string()),
        ("indices", pa.list_(pa.int64())), ("frame_numbers", pa.list_(pa.int64())), ("times", pa.list_(pa.float64())),
        ("fps", pa.float64()), ("total_frames", pa.int64()), ("scores", pa.list_(pa.float32())),
        ("error", pa.string()),
    ])
    lines = [json.loads(raw) for raw in lines_path.read_text(encoding="utf-8").splitlines()]
    tmp = path.with_suffix(".tmp.parquet")
    pq.write_table(pa.Table.from_pylist(lines, schema=schema), tmp)
    os.replace(tmp, path)


def select_dataset(
    datasets: Iterable[str], selector_specs: Iterable[str], frames: Iterable[int], out: Path, *, candidates: int = 128,
    frame_size: int = 336, seek: str = "exact", decoder: str = "pyav", cache_format: str = "raw", cache_dir: Path | None = None,
    data_root: Path | None = None, limit: int | None = None, seed: int = 0, device: str = "auto",
    reporter: Reporter | None = None, workers: int = 0,
) -> SelectSummary:
    """Append one line per (sample, selector, k) not yet in `out`: the selection, or an error line.

    In phases, as `bench run`: decode every sample still to do (in `workers` processes, the
    first selector taking each sample as soon as it is decoded), then for each selector load
    its model once, score what the score cache lacks, and append that selector's lines.
    Raises RegistryError (a bad spec), DataError (a bad annotation file), SelectionsError
    (an `out` that cannot be resumed) and ValueError (a k above `candidates`) before any work.
    """
    reporter = reporter or Reporter()
    cache_dir = Path(cache_dir or default_root())
    frame_counts = tuple(dict.fromkeys(frames))
    too_many = [k for k in frame_counts if not 1 <= k <= candidates]
    if too_many:
        raise ValueError(f"k={too_many[0]} frames cannot be picked from candidates={candidates}: give 1 <= k <= {candidates}")
    if Path(out).suffix not in SUFFIXES:
        raise ValueError(f"{out}: a selections file ends in .jsonl or .parquet")
    plans = list({p.spec: p for p in (plan(text, seed=seed) for text in selector_specs)}.values())
    device = resolve_device(device)
    store = score_store(cache_dir)
    scorers = {p.scorer: Scorer(selectors.build(p.given, context={"cache_dir": cache_dir}, seed=seed), p.scorer, store, device) for p in plans}
    options = DataOptions(cache_dir=cache_dir, data_root=data_root, seed=seed, limit=limit)
    by_spec: dict[str, list[Sample]] = {}
    for text in datasets:
        benchmark = benchmarks.build(text)
        if benchmark.spec not in by_spec:  # `needle,needle:split=test` is one dataset
            by_spec[benchmark.spec] = list(benchmark.load(options))
    samples = [s for found in by_spec.values() for s in found]
    how = Decoding(cache_dir, cache_format, candidates, frame_size, seek, decoder)
    protocol = dict(zip(PROTOCOL, (candidates, frame_size, seek, parse_cache_format(cache_format).spec)))
    with SelectionFile(Path(out), protocol) as lines, DecodeAhead(how, workers, reporter) as ahead:
        todo = {(s.dataset, s.sample_id): [(p, k) for p in plans for k in frame_counts if (s.dataset, s.sample_id, p.spec, k) not in lines.done]
                for s in samples}
        pending = [s for s in samples if todo[s.dataset, s.sample_id]]
        ahead.start([((s.dataset, s.sample_id), s.videos) for s in pending], about=" ".join)

        def decoded(sample: Sample) -> Candidates | None:
            return ahead.candidates(sample.videos)

        for name, scorer in scorers.items():
            mine = [p for p in plans if p.scorer == name]
            need = [s for s in pending if any(p in mine for p, _ in todo[s.dataset, s.sample_id])]
            errors, _ = score_all(scorer, need, decoded, reporter)
            for sample in pending:
                key = (sample.dataset, sample.sample_id)
                for chosen, k in todo[key]:
                    if chosen in mine:
                        lines.append(_line(sample, chosen, k, scorer, ahead.error(sample.videos) or errors.get(key), decoded, protocol))
        left = sum(len(work) for work in todo.values())
    return SelectSummary(lines.written, len(samples) * len(plans) * len(frame_counts) - left, lines.errors, tuple(lines.examples))


def _line(sample: Sample, chosen: SelectorPlan, k: int, scorer: Scorer, error: str | None, decoded, protocol: dict) -> dict:
    """The line for (sample, selector, k): the k indices, their seconds and all N scores (None for a uniform pick), or an error."""
    video = sample.videos[0] if sample.videos else None
    head = {"dataset": sample.dataset, "sample_id": sample.sample_id, "question_id": sample.sample_id,
            "video": str(Path(video).absolute()) if video else "", "question": sample.question, "selector": chosen.spec, "k": k, **protocol}
    if error:
        return {**head, "error": error}
    cands = decoded(sample)
    try:
        picked = scorer.choose(chosen.pick, k, cands, sample)
    except LoadError as exc:
        return {**head, "error": str(exc)}
    except Exception as exc:  # a rule of the selector's own that fails is this line's error
        return {**head, "error": f"select: {type(exc).__name__}: {exc}"}
    return {**head, "video": str(Path(cands.meta.path).absolute()), "indices": picked.indices.tolist(),
            "frame_numbers": frame_numbers(cands)[picked.indices].tolist(),
            "times": [round(float(t), 6) for t in cands.times[picked.indices]],
            "fps": float(cands.meta.fps), "total_frames": int(cands.meta.n_frames),
            "scores": None if chosen.pick == "uniform" else [float(v) for v in picked.scores.values]}


def frame_numbers(cands: Candidates) -> np.ndarray:
    """int64 (N,): each candidate's 0-based frame index in the video, in presentation order.

    Exact seek decodes the segment centres of the video's frames (`bench.video.decode`), so
    candidate i is frame floor((i + 0.5) * F / N). Keyframe seek moves each to a keyframe, whose
    index is read back from its time as round(t * fps): exact on constant-frame-rate video.
    """
    if cands.seek == "exact":
        return segment_centres(cands.meta.n_frames, len(cands.times))
    return np.round(np.asarray(cands.times) * cands.meta.fps).astype(np.int64)
