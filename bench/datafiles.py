"""Finding and reading a benchmark's files: one walk of `--data-root`, files indexed by name.

Users unpack annotations and videos wherever they like, so files are found by their published
names anywhere under the root, not at fixed paths. Without `--data-root`, videos are looked
for where lmms-eval unpacks them (`$HF_HOME/<its cache_dir>`), so one download serves both.

Every reader raises `DataError` with the file, the record and the field, so a malformed
annotation file stops the run before any model loads, with a message that says what to fix.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".MP4")  # the order lmms-eval tries them in, and .MP4 last


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


def read_json(path: Path, expect: type) -> Any:
    """A JSON file's value, a list or a dict as `expect` says; DataError with the line and column where it is not JSON."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(value, expect):
        raise DataError(f"{path}: expected a JSON {'list of records' if expect is list else 'object'}, got {type(value).__name__}")
    return value


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file with a header, as dicts."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """The rows of a parquet file as dicts of plain Python values (lists, not numpy arrays)."""
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet
        raise DataError(f"{path}: not a readable parquet file: {exc}") from None


def read_hub(dataset: str, hf: str, repo: str, config: str | None, split: str, missing: str) -> tuple[list[dict[str, Any]], str]:
    """The rows of the hub dataset `hf` (else `repo`) through `datasets.load_dataset`, and its id.

    The error says why the hub was asked: `hf=` was given, or the files were `missing`.
    """
    import datasets

    repo = hf or repo
    try:
        return list(datasets.load_dataset(repo, config, split=split)), repo
    except Exception as exc:  # offline, gated, renamed: all mean the same thing to the user
        why = "hf= was given" if hf else missing
        raise DataError(f"{dataset}: {why}, and the Hugging Face dataset {repo} (config {config}, split {split}) "
                        f"could not be loaded: {type(exc).__name__}: {exc}") from None


def records(rows: list[Any], source: str) -> list["Fields"]:
    """Each row of an annotation source as `Fields`, named "<source>: record <i>" in errors."""
    return [Fields(row, f"{source}: record {i}") for i, row in enumerate(rows)]


class Fields:
    """Typed access to one annotation record; a missing or mistyped field raises DataError naming it."""

    def __init__(self, record: Any, where: str) -> None:
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object with named fields, got {type(record).__name__}")
        self.record, self.where = record, where

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

    def lettered(self, key: str) -> tuple[str, ...]:
        """A list of options published with their letters ("A. Apples.", "B. ..."): the texts without them."""
        texts = []
        for i, option in enumerate(self.strings(key)):
            prefix = f"{chr(ord('A') + i)}."
            if not option.startswith(prefix):
                raise DataError(f"{self.where}: field {key!r} item {i} should start with {prefix!r}, got {option!r:.60}")
            texts.append(option[len(prefix):].strip())
        return tuple(texts)
