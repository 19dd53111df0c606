"""The results store: one CSV per cell, one row per (cell, sample), each row flushed as written.

A cell file is the unit of resume. On open, a record cut short by a killed run is dropped,
error rows are dropped so that their samples run again, and an older header gains the
columns added since; each of these repairs rewrites the file atomically. `done` then lists the
samples that need nothing more.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import astuple
from pathlib import Path
from typing import Callable

import pandas as pd

from bench.records import COLUMNS, Row


def cell_path(results_dir: Path, dataset: str, selector: str, backbone: str, frames: int, shard: tuple[int, int] | None = None) -> Path:
    """results/<dataset>/<backbone>/<selector>__k<frames>[__shard<i>of<n>].csv, specs made filename-safe."""
    def safe(spec: str) -> str:
        return re.sub(r"[^A-Za-z0-9._=+-]+", "_", spec.replace(":", "+"))

    suffix = f"__shard{shard[0]}of{shard[1]}" if shard and shard[1] > 1 else ""
    return Path(results_dir) / safe(dataset) / safe(backbone) / f"{safe(selector)}__k{frames}{suffix}.csv"


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _line(values: list[str]) -> str:
    """One CSV record as text, so that it reaches the file in a single write."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _read_records(path: Path) -> tuple[list[str], list[list[str]], bool]:
    """(header, complete records, whether anything had to be dropped or was malformed)."""
    with path.open(encoding="utf-8", newline="") as f:
        text = f.read()
    if not text:
        return [], [], False
    records, damaged = [], not text.endswith("\n")
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        for record in reader:
            records.append(record)
    except csv.Error:
        damaged = True  # a record cut inside a quoted field: everything before it stands
    if not records:
        return [], [], True
    header, body = records[0], records[1:]
    if damaged and body:
        body = body[:-1]
    complete = [r for r in body if len(r) == len(header)]
    return header, complete, damaged or len(complete) != len(body)


def _write_atomic(path: Path, header: list[str], records: list[list[str]]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(records)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def rewrite(path: Path, update: Callable[[dict[str, str]], dict[str, object]]) -> int:
    """Set on each record of a cell CSV the fields `update(record)` returns, and write the file back atomically.

    Values are formatted as rows are when appended; columns `update` adds go last; every
    other column, known or not, keeps its place and values. A record cut short by a killed
    run is dropped, as on resume. Returns how many records changed; the file is rewritten
    only if one did (or one was cut short).
    """
    header, records, damaged = _read_records(path)
    before = [dict(zip(header, r)) for r in records]
    after = [{**row, **{k: _format(v) for k, v in update(dict(row)).items()}} for row in before]
    header = header + [c for c in dict.fromkeys(k for row in after for k in row) if c not in header]
    changed = sum(any(a[c] != b.get(c, "") for c in a) for a, b in zip(after, before))  # `after` has every key of `before`
    if changed or damaged:
        _write_atomic(Path(path), header, [[row.get(c, "") for c in header] for row in after])
    return changed


class CellWriter:
    """Appends rows to one cell's CSV; knows which samples it already holds."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: set[str] = set()
        header: list[str] = []
        if self.path.exists():
            header, records, damaged = _read_records(self.path)
            rows = [dict(zip(header, r)) for r in records]
            kept = [r for r in rows if not r.get("error")]
            if damaged or len(kept) != len(rows) or tuple(header) != COLUMNS:
                # added columns go last, so no column a user wrote is ever lost
                header = list(COLUMNS) + [c for c in header if c not in COLUMNS]
                _write_atomic(self.path, header, [[r.get(c, "") for c in header] for r in kept])
            self.done = {r["sample_id"] for r in kept}
        self._header = header or list(COLUMNS)
        self._file: io.TextIOWrapper | None = None  # opened on the first append

    def append(self, row: Row) -> None:
        if self._file is None:
            new = not self.path.exists()
            self._file = self.path.open("a", encoding="utf-8", newline="")
            if new:
                self._file.write(_line(self._header))
        values = dict(zip(COLUMNS, (_format(v) for v in astuple(row))))
        self._file.write(_line([values.get(c, "") for c in self._header]))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.done.add(row.sample_id)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "CellWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_all(results_dir: Path) -> pd.DataFrame:
    """Every row of every CSV under `results_dir`, with typed columns; empty frame when none."""
    frames = []
    for path in sorted(Path(results_dir).rglob("*.csv")):
        header, records, _ = _read_records(path)
        if header and records and "sample_id" in header:
            frame = pd.DataFrame(records, columns=header)
            frame["source"] = str(path)
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*COLUMNS, "source"])
    data = pd.concat(frames, ignore_index=True)
    for column in ("correct", "parse_ok"):
        data[column] = data[column].map({"true": True, "false": False}).astype("boolean")
    for column in ("frames", "candidates", "n_visual_tokens", "frame_size"):
        if column in data:
            data[column] = pd.to_numeric(data[column], errors="coerce").astype("Int64")
    for column in ("judge_score", "t_decode_s", "t_select_s", "t_answer_s", "peak_mem_mb", "t_preprocess_s"):
        if column in data:
            data[column] = pd.to_numeric(data[column], errors="coerce")
    data["error"] = data["error"].fillna("")
    return data
