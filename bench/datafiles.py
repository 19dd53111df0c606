"""Finding and reading a benchmark's files: one walk of `--data-root`, files indexed by name.

Users unpack annotations and videos wherever they like, so files are found by their published
names anywhere under the root, not at fixed paths. Without `--data-root`, videos are looked
for where lmms-eval unpacks them (`$HF_HOME/<its cache_dir>`), so one download serves both.

Every reader raises `DataError` with the file, the record and the field, so a malformed
annotation file stops the run before any model loads, with a message that says what to fix.
Files are read as UTF-8 (the error names the offset and line of a byte that is not), an
empty file or one without records is an error rather than a run over no samples, CSVs are
read strictly (see `read_csv`), and loaders reject two records with the same id (`distinct`).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

T = TypeVar("T")

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".MP4")  # the order lmms-eval tries them in, and .MP4 last


_INLINE_OPTION = re.compile(r"^\(([A-Z])\)\s*(.*)$")  # "(B) the blue door", an option on a line of its own


class DataError(ValueError):
    """A missing or malformed annotation file; the message names the file, the record and the field."""


class DataFiles:
    """Every file under a root, indexed by file name, from one walk (symlinked folders followed once)."""

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root).expanduser() if root else None
        self._by_name: dict[str, list[Path]] = defaultdict(list)
        seen: set[str] = set()
        if self.root is None or not self.root.is_dir():
            return
        for folder, dirs, files in os.walk(self.root, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:  # a symlink loop, or one folder linked twice
                dirs[:] = []
                continue
            seen.add(real)
            dirs.sort()
            for name in sorted(files):
                self._by_name[name].append(Path(folder) / name)

    def find(self, name: str, hint: str = "") -> Path | None:
        """The one file called `name`; where several are, those whose path holds `hint` (lower-case, - and _ dropped)."""
        found = self._by_name.get(name, [])
        if len(found) > 1 and hint:
            hinted = [p for p in found if hint in str(p.relative_to(self.root)).lower().replace("-", "").replace("_", "")]
            found = hinted or found
        if len(found) > 1:
            raise DataError(f"{len(found)} files named {name} under {self.root}: {', '.join(map(str, found))}; "
                            f"point --data-root at the folder of one dataset")
        return found[0] if found else None

    def videos(self, stems: Iterable[str]) -> tuple[Path, ...]:
        """Paths to try for a video published as one of `stems` with any of VIDEO_SUFFIXES.

        The files found come first; when none is found, the names searched for, as
        `<root>/**/<name>`, so that the error row says every path that was tried.
        """
        names = [stem + suffix for stem in stems for suffix in VIDEO_SUFFIXES]
        found = tuple(path for name in names for path in self._by_name.get(name, []))
        if found:
            return found
        return tuple((self.root or Path(".")) / "**" / name for name in names)


def video_root(data_root: Path | None, cache_name: str) -> Path:
    """`--data-root`, else where lmms-eval unpacks the benchmark's videos: `$HF_HOME/<cache_name>`."""
    if data_root:
        return Path(data_root)
    return Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser() / cache_name


def read_text(path: Path) -> str:
    """A file's text, decoded as UTF-8 (a leading byte-order mark dropped).

    DataError naming the byte offset and line of the first byte that is not UTF-8, or saying
    that the file is empty: a run over no samples would otherwise end in exit 0.
    """
    data = Path(path).read_bytes()
    skipped = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skipped + exc.start
        line = data.count(b"\n", 0, offset) + 1
        raise DataError(f"{path}: not UTF-8 text: byte 0x{data[offset]:02x} at offset {offset} (line {line}); "
                        f"save the file as UTF-8") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty ({len(data)} bytes)")
    return text


def read_json(path: Path, expect: type) -> Any:
    """A JSON file's value, a non-empty list or dict as `expect` says.

    DataError with the line and column where it is not JSON, or naming a key given twice in
    one object (Python's json would keep the last silently).
    """
    try:
        value = json.loads(read_text(path), object_pairs_hook=no_repeats(lambda key: f"{path}: key {key!r} appears twice in one object"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(value, expect):
        raise DataError(f"{path}: expected a JSON {'list of records' if expect is list else 'object'}, got {type(value).__name__}")
    if not value:
        raise DataError(f"{path}: holds no records ({json.dumps(value)})")
    return value


def no_repeats(message: Callable[[str], str]):
    """An `object_pairs_hook` that builds each JSON object and rejects a key given twice in it (json keeps the last silently).

    `message(key)` is the DataError's text, naming where the object is.
    """
    def to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                raise DataError(message(key))
            found[key] = value
        return found
    return to_dict


def read_csv(path: Path) -> list["Fields"]:
    """The records of a CSV file with a header, each named "line L (record i)" in errors.

    Read strictly, because a stray quote (") silently joins records otherwise: the quoted
    field runs on over the next lines, or to the end of the file. The annotation CSVs read
    here never hold a line break inside a field, so a record must lie on one line and have
    as many fields as the header; anything else is a DataError naming the line and the field.
    Blank lines are skipped.
    """
    text = read_text(path)
    lines = io.StringIO(text, newline="").readlines()  # split as the reader splits them
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] = []
    found = []
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _stray_quote(path, start, header, _stray_quote_field(lines[start - 1]), str(exc)) from None
        if not values:
            continue
        spanning = next((i for i, value in enumerate(values) if "\n" in value or "\r" in value), None)
        if spanning is not None:
            raise _stray_quote(path, start, header, spanning, f"it runs on to line {reader.line_num}")
        if not header:
            header = values
            continue
        if len(values) != len(header):
            extra = f"no field {header[len(values)]!r}" if len(values) < len(header) else f"a field past {header[-1]!r}"
            raise DataError(f"{path}: line {start}: {len(values)} fields where the header has {len(header)} ({extra})")
        found.append(Fields(dict(zip(header, values)), str(path), f"line {start} (record {len(found)})"))
    if not found:
        raise DataError(f"{path}: a header and no records")
    return found


def _stray_quote(path: Path, line: int, header: list[str], index: int | None, detail: str) -> DataError:
    """The error for a stray quote in field `index` of the record that starts on `line`."""
    name = f"field {header[index]!r}" if header and index is not None and index < len(header) else "a field"
    return DataError(f"{path}: line {line}: {name} has a stray quote (\") ({detail}); "
                     f"quote the whole field and double each quote inside it (\"\")")


def _stray_quote_field(line: str) -> int | None:
    """Index of the field on a CSV line whose quote is still open at the line's end, or closes mid-field."""
    field, quoted, closed, at_start = 0, False, False, True
    for char in line.rstrip("\r\n"):
        if quoted:
            if char == '"':
                quoted, closed = False, True
            continue
        if char == '"' and (at_start or closed):  # an opening quote, or the second of a doubled ""
            quoted = True
        elif closed and char != ",":
            return field
        elif char == ",":
            field += 1
        at_start, closed = char == ",", False
    return field if quoted else None


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """The rows of a parquet file as dicts of plain Python values (lists, not numpy arrays); at least one."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet
        raise DataError(f"{path}: not a readable parquet file: {exc}") from None
    if not rows:
        raise DataError(f"{path}: holds no records (0 rows)")
    return rows


def read_hub(dataset: str, hf: str, repo: str, config: str | None, split: str, missing: str) -> tuple[list[dict[str, Any]], str]:
    """The rows of the hub dataset `hf` (else `repo`) through `datasets.load_dataset`, and its id.

    The error says why the hub was asked: `hf=` was given, or the files were `missing`.
    """
    import datasets

    repo = hf or repo
    try:
        rows = list(datasets.load_dataset(repo, config, split=split))
    except Exception as exc:  # offline, gated, renamed: all mean the same thing to the user
        why = "hf= was given" if hf else missing
        raise DataError(f"{dataset}: {why}, and the Hugging Face dataset {repo} (config {config}, split {split}) "
                        f"could not be loaded: {type(exc).__name__}: {exc}") from None
    if not rows:
        raise DataError(f"{dataset}: the Hugging Face dataset {repo} (config {config}, split {split}) holds no records")
    return rows, repo


def records(rows: list[Any], source: str) -> list["Fields"]:
    """Each row of an annotation source as `Fields`, named "<source>: record <i>" in errors."""
    return [Fields(row, source, f"record {i}") for i, row in enumerate(rows)]


def distinct(found: list["Fields"], key: Callable[["Fields"], str], what: str) -> list["Fields"]:
    """`found` itself; DataError naming both records where two have the same `key` (`what` says which field)."""
    first: dict[str, Fields] = {}
    for record in found:
        value = key(record)
        if value in first:
            raise DataError(f"{record.source}: {first[value].place} and {record.place} have the same {what} {value!r}")
        first[value] = record
    return found


def take(items: list[T], limit: int | None) -> list[T]:
    """The first `limit` items; all of them when `limit` is None. Loaders apply `--limit` here, once."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of samples or None, not {limit}")
    return items if limit is None else items[:limit]


class Fields:
    """Typed access to one annotation record; a missing or mistyped field raises DataError naming it.

    `source` is the file (or hub id), `place` the record in it ("record 3", "line 5 (record 3)");
    `where` joins them and opens every message.
    """

    def __init__(self, record: Any, source: str, place: str) -> None:
        self.source, self.place, self.where = source, place, f"{source}: {place}"
        if not isinstance(record, dict):
            raise DataError(f"{self.where}: expected an object with named fields, got {type(record).__name__}")
        self.record = record

    def has(self, key: str) -> bool:
        """Whether the record has the field (for formats that differ between the file and the hub)."""
        return key in self.record

    def _get(self, key: str) -> Any:
        if key not in self.record:
            raise DataError(f"{self.where}: missing field {key!r}")
        return self.record[key]

    def _wrong(self, key: str, expected: str) -> DataError:
        value = self.record[key]
        return DataError(f"{self.where}: field {key!r} should be {expected}, got {type(value).__name__} {value!r:.60}")

    def text(self, key: str) -> str:
        """A string field."""
        value = self._get(key)
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def ident(self, key: str) -> str:
        """An id field, given as a string or an integer."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self._wrong(key, "a string or an integer")
        return str(value)

    def integer(self, key: str) -> int:
        """An integer field, given as a number or as digits (CSV cells, string-typed hub columns)."""
        value = self._get(key)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "an integer")
        return value

    def strings(self, key: str) -> list[str]:
        """A list-of-strings field."""
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._wrong(key, "a list of strings")
        return value

    def with_options(self, key: str) -> tuple[str, tuple[str, ...]]:
        """A question published with its options on lines of their own ("(A) text"): the question alone, and the option texts."""
        lines = self.text(key).strip().splitlines()
        first = next((i for i, line in enumerate(lines) if _INLINE_OPTION.match(line.strip())), None)
        if first is None:
            raise DataError(f"{self.where}: field {key!r} holds no options: no line starts with '(A)'")
        texts = []
        for i, line in enumerate(lines[first:]):
            found = _INLINE_OPTION.match(line.strip())
            if not found or found.group(1) != chr(ord("A") + i):
                raise DataError(f"{self.where}: field {key!r} option line {i + 1} should start with '({chr(ord('A') + i)})', got {line!r:.60}")
            texts.append(found.group(2).strip())
        return "\n".join(lines[:first]).strip(), tuple(texts)

    def lettered(self, key: str) -> tuple[str, ...]:
        """A list of options published with their letters ("A. Apples.", "B. ..."): the texts without them."""
        texts = []
        for i, option in enumerate(self.strings(key)):
            prefix = f"{chr(ord('A') + i)}."
            if not option.startswith(prefix):
                raise DataError(f"{self.where}: field {key!r} item {i} should start with {prefix!r}, got {option!r:.60}")
            texts.append(option[len(prefix):].strip())
        return tuple(texts)
