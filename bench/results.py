"""The results store: one CSV per cell, one row per (cell, sample), each row flushed as written.

A cell file is the unit of resume. On open, a record cut short by a killed run is dropped,
error rows are dropped so that their samples run again, a sample written twice keeps its last
row, and an older header gains the columns added since; each of these repairs rewrites the
file atomically. `done` then lists the samples that need nothing more.

One process at a time writes a cell file: a `CellWriter` (and `rewrite`) holds an exclusive
flock on `<file>.lock` beside it, which the kernel releases when the process ends, however it
ends; a stale lock file from a killed run therefore blocks nothing.

Reading takes the files as people and pandas leave them: a pandas index column is ignored,
booleans in any spelling pandas or a person writes are read, integers written as `8.0` are
integers, and header lines repeated inside a file (CSVs joined with `cat`) are dropped. What
is skipped is logged; a value that means nothing is an error naming file, line and column.
"""

from __future__ import annotations

import csv
import glob
import io
import logging
import os
import re
import tempfile
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from bench.store.locks import FileLock, LockBusy
from bench.records import COLUMNS, Row

log = logging.getLogger(__name__)

# csv's default field limit is 128 KB; a runaway generation writes megabytes, and every row a run writes must read back
csv.field_size_limit(2**31 - 1)

_TYPES = {  # column -> (dtype read_all gives it, what its values must be)
    **dict.fromkeys(("correct", "parse_ok", "evidence_hit"), ("boolean", "a boolean (true/false, 1/0, yes/no)")),
    **dict.fromkeys(("frames", "candidates", "n_visual_tokens", "frame_size", "prompt_tokens", "completion_tokens", "n_scored"), ("Int64", "an integer")),
    **dict.fromkeys(("judge_score", "t_decode_s", "t_select_s", "t_answer_s", "peak_mem_mb", "t_preprocess_s"), ("float64", "a number")),
}
# every spelling pandas writes (True/False; 1.0/0.0 once a column went through floats) and people do
_BOOLEAN = {"true": True, "1": True, "1.0": True, "yes": True, "false": False, "0": False, "0.0": False, "no": False}
_MISSING = ("", "nan", "<na>", "none")  # what pandas or str() write for a missing value
_INDEX_COLUMN = re.compile(r"(Unnamed: \d+)?")  # the header pandas gives its index, "" or after a re-read "Unnamed: 0"


class ResultsError(Exception):
    """A results file that cannot be read or written; the message names the path (and line and column)."""


class ResultsBusy(ResultsError):
    """Another live process holds a cell file's lock; the message names the holder."""


class ResultsConflict(ResultsError):
    """A cell file holds rows made with another protocol than this run's; the message names the column."""


def _reason(exc: OSError) -> str:
    return f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else str(exc)


def cell_path(results_dir: Path, dataset: str, selector: str, backbone: str, frames: int,
              shard: tuple[int, int] | None = None, protocol: str = "") -> Path:
    """results/<dataset>/<backbone>/<selector>__k<frames>[__<protocol>][__shard<i>of<n>].csv, specs made filename-safe.

    A folder whose spec ends in .csv (`jsonl:path=x.csv`) gets a `_` after it, so no folder looks
    like a cell file; rows a framebench before this wrote under the unsuffixed folder stay
    readable, and a rerun writes the cell anew beside them (tables keep one row per sample).

    `protocol` names the candidate settings that differ from the defaults ("" for none), so a
    run with other settings writes other files and a default run keeps its file names.
    """
    def safe(spec: str) -> str:
        return re.sub(r"[^A-Za-z0-9._=+-]+", "_", spec.replace(":", "+"))

    def folder(spec: str) -> str:  # never named like a cell file (`jsonl:path=x.csv`), so globbing for *.csv finds files
        name = safe(spec)
        return name + "_" if name.lower().endswith(".csv") else name

    middle = f"__{safe(protocol)}" if protocol else ""
    suffix = f"__shard{shard[0]}of{shard[1]}" if shard and shard[1] > 1 else ""
    return Path(results_dir) / folder(dataset) / folder(backbone) / f"{safe(selector)}__k{frames}{middle}{suffix}.csv"


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


@dataclass(frozen=True, slots=True)
class Records:
    """The complete records of one CSV, each aligned to `header`."""

    header: tuple[str, ...]  # every column named in the file, in order of first appearance; no index column
    rows: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]  # the line each row starts on (the header is line 1)
    skipped: tuple[str, ...]  # what was left out and where, e.g. "1 record cut short (line 12)"
    repaired: bool  # whether writing `rows` back under `header` would change the file

    def dicts(self) -> list[dict[str, str]]:
        """The rows as column -> value."""
        return [dict(zip(self.header, row)) for row in self.rows]


def _lines_text(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
    return f"line{'s' if len(lines) > 1 else ''} {shown}"


def _is_header(record: list[str]) -> bool:
    return "sample_id" in record and "dataset" in record


def read_records(path: Path) -> Records:
    """The complete records of a cell CSV; raises ResultsError when it cannot be read or a record is malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {_reason(exc)}") from None
    parsed: list[tuple[int, list[str]]] = []
    reader, start = csv.reader(io.StringIO(text, newline=""), strict=True), 1
    cut = bool(text) and not text.endswith("\n")  # every append ends its record with a newline
    try:
        for record in reader:
            parsed.append((start, record))
            start = reader.line_num + 1
    except csv.Error as exc:
        if reader.line_num < len(io.StringIO(text, newline="").readlines()):  # not at the end: a record a person or tool broke
            raise ResultsError(f"{path}, line {start}: malformed CSV record ({exc}); fix or delete that line") from None
        cut = True  # a record cut inside a quoted field
        parsed.append((start, []))
    if not parsed:
        return Records((), (), (), (), False)
    skipped, repaired = [], False
    if cut:
        skipped.append(f"1 record cut short (line {parsed[-1][0]})")
        parsed.pop()
    headers, body, repeated, malformed = [], [], [], []
    width = at = -1  # the current header's width and where it has sample_id
    for number, record in parsed:
        if len(record) == width and record[at] != "sample_id":  # the usual record, checked cheaply
            body.append((number, len(headers) - 1, record))
        elif not headers or _is_header(record):
            if headers:
                repeated.append(number)
            keep = [i for i, name in enumerate(record) if not _INDEX_COLUMN.fullmatch(name)]
            repaired |= len(keep) != len(record)
            headers.append((record, keep))
            width, at = len(record), record.index("sample_id") if "sample_id" in record else 0
        elif len(record) != width:
            malformed.append(number)
        else:
            body.append((number, len(headers) - 1, record))
    if repeated:
        skipped.append(f"{len(repeated)} repeated header {'lines' if len(repeated) > 1 else 'line'} ({_lines_text(repeated)}; files joined with cat?)")
    if malformed:
        skipped.append(f"{len(malformed)} record{'s' if len(malformed) > 1 else ''} with a wrong number of fields ({_lines_text(malformed)})")
    named = [tuple(record[i] for i in keep) for record, keep in headers]
    header = tuple(dict.fromkeys(name for names in named for name in names))
    aligned = [names == header and len(keep) == len(record) for names, (record, keep) in zip(named, headers)]
    rows = []
    for _, which, record in body:
        if aligned[which]:  # the usual case, kept cheap: one header, no index column
            rows.append(tuple(record))
            continue
        values = dict(zip(named[which], (record[i] for i in headers[which][1])))
        rows.append(tuple(values.get(name, "") for name in header))
    return Records(header, tuple(rows), tuple(n for n, _, _ in body), tuple(skipped), repaired or bool(skipped))


def _lock(target: Path) -> FileLock:
    """The cell file's lock, its errors as ResultsBusy / ResultsError naming the file."""
    try:
        lock = FileLock(target)
    except LockBusy as exc:
        raise ResultsBusy(f"{target}: in use by {exc.holder}; wait for that run to finish, or use another --results-dir") from None
    except OSError as exc:  # opening names the file it failed on; writing the holder's line does not
        step = "create" if exc.filename else "write"
        raise ResultsError(f"{target}: cannot {step} its lock file {target.name}.lock: {_reason(exc)}") from None
    # rewrites killed midway leave their temporary copies; only the holder writes them, so they are garbage
    for stray in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        stray.unlink(missing_ok=True)
    return lock


def _write_atomic(path: Path, header: list[str], records: list[list[str]]) -> None:
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(records)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise ResultsError(f"{path}: cannot write: {_reason(exc)}") from None


def _note(path: Path, records: Records) -> None:
    for what in records.skipped:
        log.warning("%s: skipped %s", path, what)


def rewrite(path: Path, update: Callable[[dict[str, str]], dict[str, object]]) -> int:
    """Set on each record of a cell CSV the fields `update(record)` returns, and write the file back atomically.

    Values are formatted as rows are when appended; columns `update` adds go last; every
    other column, known or not, keeps its place and values. A record cut short by a killed
    run is dropped, as on resume. Holds the cell's lock throughout (ResultsBusy while a run
    writes the file). Returns how many records changed; the file is rewritten only if one did
    (or the file needed a repair).
    """
    path = Path(path)
    lock = _lock(path)
    try:
        records = read_records(path)
        _note(path, records)
        before = records.dicts()
        after = [{**row, **{k: _format(v) for k, v in update(dict(row)).items()}} for row in before]
        header = list(records.header) + [c for c in dict.fromkeys(k for row in after for k in row) if c not in records.header]
        changed = sum(any(a[c] != b.get(c, "") for c in a) for a, b in zip(after, before))  # `after` has every key of `before`
        if changed or records.repaired:
            _write_atomic(path, header, [[row.get(c, "") for c in header] for row in after])
        return changed
    finally:
        lock.release()


def _same(found: str, wanted: str) -> bool:
    """Whether two written values agree, "32.0" (a pandas round trip) agreeing with "32"."""
    try:
        return found == wanted or float(found) == float(wanted)
    except ValueError:
        return False


class CellWriter:
    """Appends rows to one cell's CSV, holding its lock until `close`; knows which samples it already holds.

    `identity` maps columns (candidates, seek, frame_size) to the values this run writes; rows
    already in the file with another non-empty value raise ResultsConflict, so rows of one
    protocol never stand for another's.
    """

    def __init__(self, path: Path, identity: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.done: set[str] = set()
        self._file: io.FileIO | None = None  # opened on the first append
        self._failed = ""  # why an append failed; the file may end in part of a record
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError(f"{self.path.parent}: cannot create the results directory: {_reason(exc)}") from None
        self._lock: FileLock | None = _lock(self.path)
        try:
            self._header = self._resume(identity or {})
        except BaseException:
            self.close()
            raise

    def _resume(self, identity: dict[str, str]) -> list[str]:
        if not self.path.exists():
            return list(COLUMNS)
        records = read_records(self.path)
        _note(self.path, records)
        rows = records.dicts()
        for column, value in identity.items():
            other = next((r[column] for r in rows if r.get(column) and not _same(r[column], value)), None)
            if other is not None:
                raise ResultsConflict(f"{self.path}: holds rows with {column}={other}, this run writes {column}={value}; "
                                      "use another --results-dir, or move the file away")
        answered = [r for r in rows if not r.get("error")]
        kept = list({r.get("sample_id", ""): r for r in answered}.values())  # a sample written twice keeps its last row
        if len(kept) < len(answered):
            log.warning("%s: dropped %d rows of samples that appear more than once, keeping the last of each", self.path, len(answered) - len(kept))
        header = list(records.header)
        if records.repaired or len(kept) != len(rows) or tuple(header) != COLUMNS:
            # added columns go last, so no column a user wrote is ever lost
            header = list(COLUMNS) + [c for c in header if c not in COLUMNS]
            _write_atomic(self.path, header, [[r.get(c, "") for c in header] for r in kept])
        self.done = {r.get("sample_id", "") for r in kept}
        return header

    def append(self, row: Row) -> None:
        """Write one row and fsync it; raises ResultsError naming the file when the disk refuses."""
        if self._lock is None:
            raise ValueError(f"{self.path}: append after close")
        if self._failed:
            raise ResultsError(self._failed)
        values = dict(zip(COLUMNS, (_format(v) for v in astuple(row))))
        data = _line([values.get(c, "") for c in self._header])
        try:
            if self._file is None:
                self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 (held until close)
            start = os.fstat(self._file.fileno()).st_size
            if start == 0:
                data = _line(self._header) + data
            payload = memoryview(data.encode("utf-8"))
            while payload:  # a raw write may take part of the bytes
                payload = payload[self._file.write(payload):]
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._failed = f"{self.path}: cannot write: {_reason(exc)}"
            raise ResultsError(self._failed) from None
        self.done.add(row.sample_id)

    def close(self) -> None:
        """Close the file and release the lock; safe to call more than once."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "CellWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _typed(data: pd.DataFrame) -> pd.DataFrame:
    """Booleans, integers and floats from their text, whatever spelling; ResultsError on a value that is none."""
    for column, (dtype, expected) in _TYPES.items():
        if column not in data:
            continue
        text = data[column].fillna("").astype(str).str.strip()
        missing = text.str.lower().isin(_MISSING)
        if dtype == "boolean":
            values = text.str.lower().map(_BOOLEAN)
            bad = values.isna() & ~missing
        else:
            values = pd.to_numeric(text.mask(missing), errors="coerce")
            bad = values.isna() & ~missing
            if dtype == "Int64":
                bad |= values.notna() & (values % 1 != 0)
        if bad.any():
            first = data[bad].iloc[0]
            raise ResultsError(f"{first['source']}, line {first['_line']}, column {column}: {first[column]!r} is not {expected}")
        data[column] = values.astype(dtype)
    return data


def read_all(results_dir: Path) -> pd.DataFrame:
    """Every row of every CSV under `results_dir`, with typed columns and its `source` file; empty frame when none.

    Logs what was skipped (records cut short or malformed, repeated header lines); raises
    ResultsError naming file, line and column for a value its column cannot hold.
    """
    frames = []
    # files only: a dataset folder may end in .csv itself (`jsonl:path=x.csv` gives `jsonl+path=x.csv/`)
    for path in sorted(p for p in Path(results_dir).rglob("*.csv") if p.is_file()):
        records = read_records(path)
        _note(path, records)
        if records.rows and "sample_id" in records.header:
            frame = pd.DataFrame(list(records.rows), columns=list(records.header))
            frame["source"], frame["_line"] = str(path), records.lines
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*COLUMNS, "source"])
    data = _typed(pd.concat(frames, ignore_index=True))
    data["error"] = data["error"].fillna("") if "error" in data else ""
    return data.drop(columns="_line")
