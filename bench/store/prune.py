"""What a cache dir holds, and removing the least recently used of it: `bench cache info` and `prune`.

Every module that keeps entries under the cache dir declares its folder here with `declare`
(the frame cache, the score store, the judge's verdicts, each selector's embeddings or
captions, generated data); a plugin does the same for a store of its own, and `bench cache
info` then names it. A folder nobody declared is still counted and pruned, under its name.

- Last use: the latest mtime or atime of an entry's files. `ArrayStore.load` stamps the
  record's mtime, so what a run reads counts as used now.
- Holding: `ArrayStore` keeps a shared flock on every file it has mapped. Prune takes each
  file's lock exclusively without waiting, and an entry it cannot lock is kept and counted as
  held. Generated data (needle videos) is never pruned: a run opens those files by path after
  loading them, when no lock is held.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of cache content: the sub-folder it lives in and what `bench cache info` calls it."""

    folder: str
    label: str
    generated: bool = False  # a run's input data, not a cache of results: counted, never pruned


_KINDS: dict[str, Kind] = {}


def declare(folder: str, label: str, generated: bool = False) -> str:
    """Declare a sub-folder of the cache dir and what it holds; returns the folder, for `ArrayStore(root / folder)`."""
    _KINDS[folder] = Kind(folder, label, generated)
    return folder


def kinds() -> tuple[Kind, ...]:
    """Every declared kind, by folder."""
    return tuple(_KINDS[f] for f in sorted(_KINDS))


def label(folder: str) -> str:
    """What `bench cache info` calls a folder: its declared label, else its name."""
    return _KINDS[folder].label if folder in _KINDS else folder or "other files"


WRITING_S = 3600  # a temporary file younger than this may be a live writer's: never an entry, never pruned


@dataclass(frozen=True, slots=True)
class Entry:
    """One cache entry: the files that share a key (`<key>.json`, `<key>.<array>.npy`) in one folder."""

    kind: str  # the cache sub-folder it lives in
    files: tuple[Path, ...]
    bytes: int  # disk usage of its files (allocated blocks, as du counts them)
    last_used: float  # epoch seconds: the latest mtime or atime among its files


@dataclass(frozen=True, slots=True)
class Usage:
    """Disk usage and entry count of one kind of cache content."""

    kind: str  # sub-folder of the cache dir
    entries: int
    bytes: int  # as `du -s -B1 <cache dir>/<kind>` counts: blocks of its files and folders, each inode once


@dataclass(frozen=True, slots=True)
class Scan:
    """What is in a cache dir."""

    root: Path
    kinds: tuple[Usage, ...]  # sorted by kind
    entries: tuple[Entry, ...]
    total: int  # bytes as `du -s -B1 <cache dir>` counts them


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a prune removed, and what it had to keep."""

    removed: tuple[Entry, ...]
    held: tuple[Entry, ...]  # chosen for removal but locked by a running process: kept
    before: int  # bytes in the cache dir before (du-style)
    after: int  # and after


def _allocated(stat: os.stat_result) -> int:
    return stat.st_blocks * 512


def scan(root: Path, now: float | None = None) -> Scan:
    """Every entry under `root` with its size and last use, and the disk usage of each kind."""
    root = Path(root)
    now = time.time() if now is None else now
    seen: set[tuple[int, int]] = set()  # (device, inode): a hard-linked file counts once, as in du
    sizes: dict[str, int] = {}  # kind -> bytes; "" for files lying in the cache dir itself
    groups: dict[tuple[str, Path, str], list[tuple[Path, os.stat_result]]] = {}

    def count(path: Path, kind: str) -> os.stat_result | None:
        try:
            stat = path.lstat()
        except FileNotFoundError:
            return None  # removed while we looked
        if (stat.st_dev, stat.st_ino) not in seen:
            seen.add((stat.st_dev, stat.st_ino))
            sizes[kind] = sizes.get(kind, 0) + _allocated(stat)
        return stat

    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        inside = here.relative_to(root).parts
        for name in dirs:
            count(here / name, inside[0] if inside else name)
        for name in files:
            stat = count(here / name, inside[0] if inside else "")
            if stat is None or not inside or (name.startswith("tmp") and now - stat.st_mtime < WRITING_S):
                continue  # gone, not in a kind's folder, or maybe a live writer's temporary file
            groups.setdefault((inside[0], here, name.split(".")[0]), []).append((here / name, stat))
    entries = tuple(
        Entry(kind, tuple(path for path, _ in members), sum(_allocated(stat) for _, stat in members),
              max(max(stat.st_mtime, stat.st_atime) for _, stat in members))
        for (kind, _, _), members in groups.items()
    )
    counts = {kind: sum(e.kind == kind for e in entries) for kind in sizes}
    total = sum(sizes.values()) + (_allocated(root.lstat()) if root.exists() else 0)
    return Scan(root, tuple(Usage(kind, counts[kind], sizes[kind]) for kind in sorted(sizes)), entries, total)


def prune(root: Path, max_bytes: int | None = None, older_than_s: float | None = None, dry_run: bool = False, now: float | None = None) -> Pruned:
    """Remove entries least recently used first: those unused for `older_than_s`, then more until the cache fits `max_bytes`.

    An entry some process holds (see the module docstring) is kept and reported in `held`;
    generated data is never removed (its kind must be declared: the caller imports the
    modules that declare kinds first, as `bench cache` does). `dry_run` removes nothing and reports what would go.
    """
    now = time.time() if now is None else now
    found = scan(root, now)
    total, removed, held = found.total, [], []
    generated = {k.folder for k in _KINDS.values() if k.generated}
    for entry in sorted((e for e in found.entries if e.kind not in generated), key=lambda e: e.last_used):
        stale = older_than_s is not None and entry.last_used < now - older_than_s
        if not stale and (max_bytes is None or total <= max_bytes):
            break  # later entries were used more recently still, and the cache already fits
        if _remove(entry, dry_run):
            removed.append(entry)
            total -= entry.bytes
        else:
            held.append(entry)
    return Pruned(tuple(removed), tuple(held), found.total, total)


def _remove(entry: Entry, dry_run: bool) -> bool:
    """Delete an entry's files, record first (so readers miss it), unless a process holds one of them."""
    opened = []
    try:
        for path in sorted(entry.files, key=lambda p: p.suffix != ".json"):
            try:
                f = path.open("rb")
            except FileNotFoundError:
                continue
            opened.append((path, f))
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            except OSError:
                pass  # a filesystem without locks cannot say who holds what
        if not dry_run:
            for path, _ in opened:
                path.unlink(missing_ok=True)
        return True
    finally:
        for _, f in opened:
            f.close()
