"""Pseudo labels for training the selector: per sample, the N spatial scores, the N temporal
scores and their mean, the soft target of the seed paper.

The signals are the `spatial` and `temporal` selectors themselves (any selector spec works),
scored through `bench.score_cache`, so labels share the score cache with `bench run`. Samples come
from registered benchmarks; your own training videos come through the `jsonl` one
(`--dataset jsonl:path=FILE`, or `bench labels --manifest FILE`), JSONL, CSV or Parquet
records of `{"video": path, "question": text, "options": [...], "id": optional}`.

Output is JSONL (one record per line, flushed as written) or Parquet (written from a
`.partial.jsonl` beside it when the pass completes). Either resumes: samples already labelled
are skipped, and a line cut short by a killed run is dropped.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.cache import atomic_write_text
from bench.decoding import DecodeAhead, Decoding
from bench.progress import Reporter
from bench.records import Sample
from bench.registry import selectors
from bench.score_cache import cached, score_all, score_store


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """One labelled sample: where its candidates come from, its question, and the soft labels."""

    dataset: str
    sample_id: str
    videos: tuple[str, ...]
    question: str
    options: tuple[str, ...]
    candidates: int
    frame_size: int
    seek: str
    spatial: tuple[float, ...] | None  # None when labelled without the spatial signal
    temporal: tuple[float, ...] | None
    label: tuple[float, ...]  # mean of the signals given, in [0, 1]
    cache_format: str = "raw"  # how the candidates were stored (bench.frame_cache.CacheFormat.spec): training reads them the same way

    def sample(self) -> Sample:
        return Sample(self.dataset, "", self.sample_id, self.sample_id, tuple(Path(v) for v in self.videos), self.question, self.options)


@dataclass(frozen=True, slots=True)
class LabelSummary:
    written: int
    skipped: int  # already in the output
    errors: tuple[str, ...]  # "<dataset> <sample>: <reason>" for samples left unlabelled


def _jsonl(path: Path) -> Path:
    return path if path.suffix == ".jsonl" else path.with_suffix(".partial.jsonl")


def read_labels(path: Path) -> list[LabelRecord]:
    """Every complete record in a labels file (JSONL or Parquet, plus a Parquet's partial JSONL)."""
    path = Path(path)
    records = []
    if path.suffix == ".parquet" and path.exists():
        import pandas as pd

        for row in pd.read_parquet(path).to_dict("records"):
            records.append(_record({k: (list(v) if isinstance(v, np.ndarray) else v) for k, v in row.items()}))
    lines = _jsonl(path)
    if lines.exists():
        for line in lines.read_text().splitlines():
            try:
                records.append(_record(json.loads(line)))
            except json.JSONDecodeError:
                continue  # a line cut short by a killed run; the next pass relabels that sample
    return records


def _record(raw: dict) -> LabelRecord:
    tuples = {k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items()}
    return LabelRecord(**tuples)


def make_labels(
    samples: list[Sample], spatial: str | None, temporal: str | None, out: Path, cache_dir: Path,
    n: int, size: int, seek: str, device: str, reporter: Reporter | None = None, cache_format: str = "raw", workers: int = 0,
) -> LabelSummary:
    """Label every sample not yet in `out` with the given signals (at least one); `workers` decode processes, as in `bench run`."""
    signals = [s for s in (spatial, temporal) if s]
    if not signals:
        raise ValueError("give --spatial, --temporal or both")
    reporter = reporter or Reporter()
    out = Path(out)
    done = {(r.dataset, r.sample_id) for r in read_labels(out)}
    _drop_partial_line(_jsonl(out))
    todo = [s for s in samples if (s.dataset, s.sample_id) not in done]
    errors: dict[tuple[str, str], str] = {}
    store = score_store(cache_dir)
    with DecodeAhead(Decoding(Path(cache_dir), cache_format, n, size, seek, "pyav"), workers, reporter) as ahead:
        ahead.start([((s.dataset, s.sample_id), s.videos) for s in todo], about=" ".join)
        for signal in signals:  # the first scores each sample as soon as its video is decoded
            selector = selectors.build(signal, context={"cache_dir": Path(cache_dir)})
            failed, _ = score_all(selector, signal, todo, lambda s: ahead.candidates(s.videos), store, device, reporter)
            errors.update(failed)
        errors.update({(s.dataset, s.sample_id): ahead.error(s.videos) for s in todo if ahead.error(s.videos)})
        usable = [s for s in todo if (s.dataset, s.sample_id) not in errors]
        written = _write(usable, signals, spatial, temporal, out, ahead, store, n, size, seek)
    if out.suffix == ".parquet" and not errors:
        _to_parquet(out)
    return LabelSummary(written, len(samples) - len(todo), tuple(f"{d} {i}: {e}" for (d, i), e in errors.items()))


def _write(usable: list[Sample], signals: list[str], spatial: str | None, temporal: str | None, out: Path, ahead: DecodeAhead,
           store, n: int, size: int, seek: str) -> int:
    """Append a record per sample, each flushed to disk before the next; how many were written."""
    written = 0
    with _jsonl(out).open("a") as f:
        for sample in usable:
            cands = ahead.candidates(sample.videos)
            scores = {s: cached(store, s, cands, sample).values for s in signals}
            record = LabelRecord(
                sample.dataset, sample.sample_id, tuple(map(str, sample.videos)), sample.question, sample.options, n, size, seek,
                tuple(map(float, scores[spatial])) if spatial else None,
                tuple(map(float, scores[temporal])) if temporal else None,
                tuple(map(float, np.mean([scores[s] for s in signals], axis=0))), ahead.frames.format.spec,
            )
            f.write(json.dumps(asdict(record)) + "\n")
            f.flush()
            os.fsync(f.fileno())
            written += 1
    return written


def _drop_partial_line(path: Path) -> None:
    """Cut a last line left without its newline by a killed run, so appends start clean."""
    if path.exists():
        text = path.read_text()
        if text and not text.endswith("\n"):
            atomic_write_text(path, text[: text.rfind("\n") + 1])


def _to_parquet(out: Path) -> None:
    import pandas as pd

    records = [asdict(r) for r in read_labels(out)]
    frame = pd.DataFrame(records)
    tmp = out.with_suffix(".tmp.parquet")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    _jsonl(out).unlink()
