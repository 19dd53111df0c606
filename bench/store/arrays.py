"""The checksummed array store every cache entry goes through: decoded candidates, selector
scores, embeddings, captions, judge verdicts, keyed by content.

Entries are uncompressed `.npy` files (a cache hit must cost far less than a decode, and
zlib would not), each written to a temporary name and renamed, so a killed run never leaves a
half-written entry behind. (Decoded frames may be stored as JPEG bytes instead, per
`--cache-format`: bench/store/frames.py.) The root is `--cache-dir`, else `$FRAMEBENCH_CACHE`,
else `~/.cache/framebench`; each kind of entry has its folder under it (bench/store/prune.py
lists them).

Two things a plain file cache gets wrong are handled here:
- Damage. Each entry's record holds an xxh3-128 checksum of every array file as written and
  one of itself; an entry that does not match is logged once, named, and is a miss, so the
  caller recomputes and overwrites it. Each file is verified once per store while it is
  unchanged. xxh3 hashes a memory-mapped file at ~17 GB/s, so verifying 77 MB of frames costs
  ~5 ms against the seconds of the decode it saves (numbers in perf/README.md).
- A cache that cannot be written (read-only, full, over quota, someone else's). The first
  write that fails logs one warning naming the cache dir and the OS's reason, and the
  process goes on without writing there: small entries (scores) are kept in memory for the
  run, large ones (frames) are recomputed when asked for again. Loading still reads whatever
  is there. The cache only saves time, so no write failure ever costs a row.

What `bench cache prune` relies on is done here, as entries are read:
- Last use. Loading an entry sets its record's mtime to now (where the cache can be written),
  so prune takes the least recently used first.
- Holding. Each array file is mapped under a shared flock, taken on the open file and kept by
  the descriptor the memory map holds, so it lasts exactly as long as a process can read the
  entry; prune leaves an entry it cannot lock.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import mmap
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

log = logging.getLogger(__name__)

READ_CHUNK = 8 << 20  # bytes per read() when hashing a video
IN_MEMORY_MAX = 1 << 20  # bytes: entries up to this size are kept in memory where the cache cannot be written
_UNWRITABLE: dict[Path, str] = {}  # cache dir -> why writing under it failed, once per process


def default_root() -> Path:
    return Path(os.environ.get("FRAMEBENCH_CACHE") or Path.home() / ".cache" / "framebench")


def digest(*parts: Any) -> str:
    """A short stable hash of the parts' reprs."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def file_key(path: Path) -> str:
    """A content key for a file: xxh3-128 of all its bytes.

    Every byte counts, so an edit anywhere gives another key, and the path does not, so a
    copied or moved file keeps its key. xxh3 runs at memory speed (~6 GB/s through read() from
    the page cache, 4-6x sha1 and blake2b), so a cold disk, not the hash, sets the cost;
    callers memoise it per file version (see `FrameCache`). Read, not memory-mapped: a video
    rewritten in place while it is hashed must not kill the process with SIGBUS.
    """
    h = xxhash.xxh3_128()
    buffer = bytearray(READ_CHUNK)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buffer):
            h.update(memoryview(buffer)[:n])
    return h.hexdigest()


def _checksum(f) -> str:
    """xxh3-128 of a whole open cache file, through a memory map: 3x faster than read() here."""
    if os.fstat(f.fileno()).st_size == 0:
        return xxhash.xxh3_128(b"").hexdigest()
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
        return xxhash.xxh3_128(view).hexdigest()


def _record_check(arrays: dict[str, str], meta: dict[str, Any]) -> str:
    return xxhash.xxh3_128(json.dumps([arrays, meta], sort_keys=True).encode()).hexdigest()


class ArrayStore:
    """Named arrays plus a JSON-able dict per key, under `<cache dir>/<kind>/`.

    Each array is its own `.npy` file, loaded memory-mapped: after its first check (one pass
    over the file per store) a hit costs about a millisecond whatever the size. The JSON record is written last and holds the arrays' checksums, so an entry
    without it is incomplete (a killed writer) and a silent miss, and a reader never accepts
    arrays other than the ones its record was written with, even when two processes write one
    entry at once.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.cache_dir = self.root.parent  # what a write failure is reported against
        self._checked: dict[tuple, bool] = {}  # (file identity, expected checksum) -> matched
        self._warned: set[tuple] = set()  # (path, what was seen): each damage is reported once
        self._memory: dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def load(self, key: str, about: str = "") -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The entry's arrays (read-only, memory-mapped) and meta; None for a miss.

        A damaged entry is a miss too, with one warning naming it (and `about`, e.g. the video).
        """
        if key in self._memory:
            return self._memory[key]
        record_path = self._path(key, ".json")
        try:
            text = record_path.read_bytes()
        except OSError:
            return None  # absent (never written, or its writer was killed) or unreadable: recompute
        _stamp(record_path)
        try:
            record = json.loads(text)
            checksums, meta, check = record["arrays"], record["meta"], record["check"]
        except (ValueError, KeyError, TypeError) as exc:  # cut short, not JSON, or not a record
            self._damaged(record_path, text, f"its record is unreadable ({type(exc).__name__}: {exc})", about)
            return None
        if check != _record_check(checksums, meta):
            self._damaged(record_path, text, "its record does not match its checksum", about)
            return None
        arrays = {}
        for name, checksum in checksums.items():
            path = self._path(key, f".{name}.npy")
            try:
                arrays[name] = self._map(path, checksum, about)
            except FileNotFoundError:
                if record_path.exists():  # else pruned meanwhile: a plain miss
                    self._damaged(path, checksum, "the file is missing", about)
                return None
            except (OSError, ValueError):
                return None
        return arrays, meta

    def has(self, key: str) -> bool:
        """Whether an entry's record is there (a cheap test: nothing is read or checked)."""
        return key in self._memory or self._path(key, ".json").exists()

    def _map(self, path: Path, checksum: str, about: str) -> np.ndarray:
        """The array in `path`, mapped read-only under a shared flock, checked against `checksum` once per file version."""
        with path.open("rb") as f:
            _hold(f)
            stat = os.fstat(f.fileno())
            seen = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, checksum)
            if seen not in self._checked:
                self._checked[seen] = _checksum(f) == checksum
                if not self._checked[seen]:
                    self._damaged(path, seen, "the file does not match its checksum", about)
            if not self._checked[seen]:
                raise ValueError(f"{path}: damaged")
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
            # the same open file that was checked, so a writer replacing it meanwhile cannot slip in;
            # the map keeps a copy of the descriptor, and with it the lock, until the array is freed
            view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        count = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(view, dtype=dtype, count=count, offset=offset)
        return array.reshape(shape, order="F" if fortran else "C")

    def _damaged(self, path: Path, seen: object, what: str, about: str) -> None:
        if (path, seen) in self._warned:
            return
        self._warned.add((path, seen))
        where = f" ({about})" if about else ""
        log.warning("damaged cache entry %s%s: %s; recomputing it", path, where, what)

    def save(self, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Write an entry: each array to a temporary file then renamed, the record last.

        Where the cache cannot be written, see the module docstring: never raises OSError.
        """
        if self.cache_dir not in _UNWRITABLE:
            try:
                self._write(key, arrays, meta)
                return
            except OSError as exc:
                _cannot_write(self.cache_dir, exc)
        if sum(np.asarray(a).nbytes for a in arrays.values()) <= IN_MEMORY_MAX:
            self._memory[key] = ({name: np.array(a) for name, a in arrays.items()}, meta)

    def _write(self, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        checksums = {}
        for name, array in sorted(arrays.items()):
            path = self._path(key, f".{name}.npy")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    # np.save's bytes, but written by Python, whose OSError keeps the errno (EFBIG, ENOSPC)
                    array = np.ascontiguousarray(array)
                    np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(array))
                    f.write(array)
                with open(tmp, "rb") as f:
                    checksums[name] = _checksum(f)  # of the bytes on disk, not of what was meant to be
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        record = {"arrays": checksums, "meta": meta, "check": _record_check(checksums, meta)}
        atomic_write_text(self._path(key, ".json"), json.dumps(record))


def unwritable(cache_dir: Path) -> str:
    """Why writing under `cache_dir` failed in this process, or "" if it has not."""
    return _UNWRITABLE.get(Path(cache_dir), "")


def learn_unwritable(cache_dir: Path, reason: str) -> None:
    """Stop writing under `cache_dir` because another process (a decode worker) found it fails and said so: nothing is said again."""
    _UNWRITABLE.setdefault(Path(cache_dir), reason)


def _cannot_write(cache_dir: Path, exc: OSError) -> None:
    """Stop writing under `cache_dir` for this process, saying once why."""
    name = errno.errorcode.get(exc.errno or 0, "error")
    _UNWRITABLE[cache_dir] = f"{name}: {exc.strerror or exc}"
    log.warning(
        "cannot write the cache in %s (%s); going on without writing there for this run: "
        "small entries are kept in memory, large ones (decoded frames) are recomputed when needed",
        cache_dir, _UNWRITABLE[cache_dir],
    )


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so readers see all of it or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stamp(path: Path) -> None:
    """Mark an entry used now (its record's mtime), for prune's least-recently-used order."""
    try:
        os.utime(path)
    except OSError:
        pass  # a cache that cannot be written is read all the same; prune then goes by atime


def _hold(f) -> None:
    """A shared flock on an open cache file: prune leaves the entry while any process holds it."""
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)
    except OSError:
        pass  # a filesystem without locks: the entry is read unprotected, as before
