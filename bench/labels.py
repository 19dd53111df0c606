"""Pseudo labels for training the selector: per sample, the N spatial scores, the N temporal
scores and their mean, the soft target of the seed paper.

The signals are the `spatial` and `temporal` selectors themselves (any selector spec works),
scored through `bench.grid.scoring`, so labels share the score store with `bench run`. Samples come
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

from bench.grid.decoding import DecodeAhead, Decoding
from bench.grid.progress import Reporter
from bench.grid.scoring import Scorer, score_all
from bench.records import Sample
from bench.registry import selectors
from bench.selector_model.labels import LabelRecord, lines_path, read_labels
from bench.store import atomic_write_text
from bench.store.scores import score_store


class LabelsError(Exception):
    """The labels file cannot be written; the message names it."""


@dataclass(frozen=True, slots=True)
class LabelSummary:
    written: int
    skipped: int  # already in the output
    errors: tuple[str, ...]  # "<dataset> <sample>: <reason>" for samples left unlabelled


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
    try:  # before any model loads: a folder that cannot be written is the user's to fix
        out.parent.mkdir(parents=True, exist_ok=True)
        lines_path(out).open("a").close()
    except OSError as exc:
        raise LabelsError(f"{lines_path(out)}: cannot write there ({exc.strerror or exc}); write to another --out") from None
    done = {(r.dataset, r.sample_id) for r in read_labels(out)}
    _drop_partial_line(lines_path(out))
    todo = [s for s in samples if (s.dataset, s.sample_id) not in done]
    errors: dict[tuple[str, str], str] = {}
    store = score_store(cache_dir)
    with DecodeAhead(Decoding(Path(cache_dir), cache_format, n, size, seek, "pyav"), workers, reporter) as ahead:
        ahead.start([((s.dataset, s.sample_id), s.videos) for s in todo], about=" ".join)
        scorers = {signal: Scorer(selectors.build(signal, context={"cache_dir": Path(cache_dir)}), signal, store, device) for signal in signals}
        for scorer in scorers.values():  # the first scores each sample as soon as its video is decoded
            failed, _ = score_all(scorer, todo, lambda s: ahead.candidates(s.videos), reporter)
            errors.update(failed)
        errors.update({(s.dataset, s.sample_id): ahead.error(s.videos) for s in todo if ahead.error(s.videos)})
        usable = [s for s in todo if (s.dataset, s.sample_id) not in errors]
        written = _write(usable, scorers, spatial, temporal, out, ahead, n, size, seek)
    if out.suffix == ".parquet" and not errors:
        _to_parquet(out)
    return LabelSummary(written, len(samples) - len(todo), tuple(f"{d} {i}: {e}" for (d, i), e in errors.items()))


def _write(usable: list[Sample], scorers: dict[str, Scorer], spatial: str | None, temporal: str | None, out: Path, ahead: DecodeAhead,
           n: int, size: int, seek: str) -> int:
    """Append a record per sample, each flushed to disk before the next; how many were written."""
    written = 0
    with lines_path(out).open("a") as f:
        for sample in usable:
            cands = ahead.candidates(sample.videos)
            scores = {signal: scorer.scores(cands, sample).values for signal, scorer in scorers.items()}
            record = LabelRecord(
                sample.dataset, sample.sample_id, tuple(map(str, sample.videos)), sample.question, sample.options, n, size, seek,
                tuple(map(float, scores[spatial])) if spatial else None,
                tuple(map(float, scores[temporal])) if temporal else None,
                tuple(map(float, np.mean(list(scores.values()), axis=0))), ahead.frames.format.spec,
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
    lines_path(out).unlink()
