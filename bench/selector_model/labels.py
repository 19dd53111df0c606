"""The pseudo-label file the selector trains on: one `LabelRecord` per sample, JSONL or Parquet.

`bench labels` (bench/labels.py) writes it; training (train.py) reads it with `read_labels`.
A Parquet file is written at the end of a labelling pass from a `.partial.jsonl` beside it,
and both are read, so a pass cut short loses nothing it wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.records import Sample


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
    cache_format: str = "raw"  # how the candidates were stored (bench.store.frames.CacheFormat.spec): training reads them the same way

    def sample(self) -> Sample:
        return Sample(self.dataset, "", self.sample_id, self.sample_id, tuple(Path(v) for v in self.videos), self.question, self.options)



def lines_path(path: Path) -> Path:
    """Where a labels file's lines are appended: itself, or the `.partial.jsonl` beside a Parquet one."""
    return path if path.suffix == ".jsonl" else path.with_suffix(".partial.jsonl")


def read_labels(path: Path) -> list[LabelRecord]:
    """Every complete record in a labels file (JSONL or Parquet, plus a Parquet's partial JSONL)."""
    path = Path(path)
    records = []
    if path.suffix == ".parquet" and path.exists():
        import pandas as pd

        for row in pd.read_parquet(path).to_dict("records"):
            records.append(_record({k: (list(v) if isinstance(v, np.ndarray) else v) for k, v in row.items()}))
    lines = lines_path(path)
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
