"""The on-disk cache: decoded candidates and selector scores, keyed by content.

Entries are uncompressed `.npy` files (a cache hit must cost far less than a decode, and
zlib would not), each written to a temporary name and renamed, so a killed run never leaves a
half-written entry behind. The root is `--cache-dir`, else `$FRAMEBENCH_CACHE`, else
`~/.cache/framebench`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def default_root() -> Path:
    return Path(os.environ.get("FRAMEBENCH_CACHE") or Path.home() / ".cache" / "framebench")


def digest(*parts: Any) -> str:
    """A short stable hash of the parts' reprs."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def file_key(path: Path, chunk: int = 1 << 16, samples: int = 16) -> str:
    """A content key for a file: its size and blake2b of evenly spread chunks.

    Reading every byte of a multi-GB video to hash it would cost more than decoding it; size
    plus 16 spread 64 KiB chunks tells apart any two real videos and needs no mtime, so a
    copied or moved file keeps its key.
    """
    size = path.stat().st_size
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with path.open("rb") as f:
        for offset in np.linspace(0, max(size - chunk, 0), samples).astype(np.int64):
            f.seek(int(offset))
            h.update(f.read(chunk))
    return h.hexdigest()


class ArrayStore:
    """Named arrays plus a JSON-able dict per key, under one directory.

    Each array is its own `.npy` file, loaded memory-mapped: a hit costs a few milliseconds
    whatever the size, and only the frames a selection uses are ever read from disk. The
    JSON file is written last, so an entry without it is incomplete and counts as a miss.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def load(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        try:
            record = json.loads(self._path(key, ".json").read_text())
            arrays = {name: np.load(self._path(key, f".{name}.npy"), mmap_mode="r") for name in record["arrays"]}
        except (FileNotFoundError, OSError, ValueError, KeyError):
            return None  # absent or unreadable: recompute and overwrite
        return arrays, record["meta"]

    def save(self, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        for name, array in arrays.items():
            path = self._path(key, f".{name}.npy")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.save(f, np.ascontiguousarray(array))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        atomic_write_text(self._path(key, ".json"), json.dumps({"arrays": sorted(arrays), "meta": meta}))


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so readers see all of it or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
