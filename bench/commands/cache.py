"""`bench cache info` and `bench cache prune`: what the cache holds, and making it smaller.

Sizes are disk usage as `du` counts it (allocated blocks, each file once), in decimal units
(1 GB = 10^9 bytes; KiB, MiB, GiB, TiB are binary). What prune may remove, and what it never
does, is in bench/store/prune.py.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import click

from bench.commands._options import CACHE_DIR, options

_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A size such as 50GB, 500MiB or 0, in bytes."""
    if value is None:
        return None
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?|b)?b?\s*", value, re.IGNORECASE)
    if not found:
        raise click.BadParameter(f"{value!r} is not a size: give a number and a unit, e.g. 50GB, 500MB or 2TiB")
    return int(float(found[1]) * _UNITS[(found[2] or "").lower()])


def age(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """An age such as 30d, 12h or 90m, in seconds."""
    if value is None:
        return None
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*", value, re.IGNORECASE)
    if not found:
        raise click.BadParameter(f"{value!r} is not an age: give a number and a unit (s, m, h, d, w), e.g. 30d or 12h")
    return float(found[1]) * _SECONDS[found[2].lower()]


def human(n: float) -> str:
    """Bytes in the largest decimal unit that keeps the number at 1 or more: '69.3 GB'."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def entries(n: int) -> str:
    """'1 entry', '2 entries'."""
    return f"{n} entry" if n == 1 else f"{n} entries"


def _root(cache_dir: Path | None) -> Path:
    """The cache dir, once every module that keeps entries in it has declared its folder (bench.store.prune)."""
    import importlib

    from bench.registry import backbones, benchmarks, selectors
    from bench.store import default_root

    for module in ("bench.store.frames", "bench.store.scores", "bench.store.verdicts", "bench.selector_model"):
        importlib.import_module(module)
    for registry in (selectors, backbones, benchmarks):
        registry.names()  # imports their modules, plugins' included: the folders they keep are declared at import
    return Path(cache_dir or default_root())


@click.group("cache")
def command() -> None:
    """See what the cache holds (frames, scores, embeddings, captions, verdicts, generated data) and prune it.

    \b
    Examples:
      bench cache info
      bench cache prune --max-size 50GB --older-than 30d
    """


@command.command("info")
@options(CACHE_DIR)
@click.option("--bytes", "exact", is_flag=True, help="Print sizes as exact byte counts.")
def info(cache_dir: Path | None, exact: bool) -> None:
    """Print the cache dir, and the size and entry count of each kind of content in it.

    \b
    Example:
      bench cache info --cache-dir /scratch/framebench
    """
    import shutil

    from bench.store.prune import label, scan

    root = _root(cache_dir)
    show = str if exact else human
    if not root.is_dir():
        click.echo(f"cache dir {root}: does not exist (nothing cached yet)")
        return
    found = scan(root)
    click.echo(f"cache dir {root} ({show(shutil.disk_usage(root).free)} free on its filesystem)")
    click.echo(f"{'kind':30s} {'entries':>8s} {'size':>16s}")
    for usage in found.kinds:
        click.echo(f"{label(usage.kind):30s} {usage.entries:8d} {show(usage.bytes):>16s}")
    click.echo(f"{'total':30s} {len(found.entries):8d} {show(found.total):>16s}")


@command.command("prune")
@options(CACHE_DIR)
@click.option("--max-size", "max_bytes", callback=size, default=None, help="Remove least recently used entries until the cache takes at most this, e.g. 50GB.")
@click.option("--older-than", "older_than", callback=age, default=None, help="Remove entries not used for this long, e.g. 30d, 12h.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--list", "listing", is_flag=True, help="Name every entry removed.")
def prune_command(cache_dir: Path | None, max_bytes: int | None, older_than: float | None, dry_run: bool, listing: bool) -> None:
    """Remove cache entries, least recently used first, never one a running process holds.

    An entry's last use is when a process last loaded it; for files no loader stamps
    (generated videos), their last access or write. Entries a running process holds (frames or scores
    it has mapped) are kept and counted; generated data (needle videos) is never removed: a
    run reads those by path.

    \b
    Examples:
      bench cache prune --max-size 50GB
      bench cache prune --older-than 30d --dry-run
    """
    from bench.store.prune import label, prune

    if max_bytes is None and older_than is None:
        raise click.UsageError("say what to remove: --max-size (e.g. 50GB), --older-than (e.g. 30d), or both")
    root = _root(cache_dir)
    if not root.is_dir():
        click.echo(f"cache dir {root}: does not exist; nothing to remove")
        return
    try:
        pruned = prune(root, max_bytes, older_than, dry_run)
    except OSError as exc:
        raise click.ClickException(f"cannot remove {exc.filename}: {exc.strerror or exc}") from None
    verb = "would remove" if dry_run else "removed"
    freed = sum(e.bytes for e in pruned.removed)
    click.echo(f"{verb} {entries(len(pruned.removed))}, {human(freed)}, least recently used first, from {root}")
    for kind in sorted({e.kind for e in pruned.removed}):
        mine = [e for e in pruned.removed if e.kind == kind]
        click.echo(f"  {label(kind):30s} {len(mine):8d} {human(sum(e.bytes for e in mine)):>10s}")
    if listing:
        for entry in pruned.removed:
            used = datetime.fromtimestamp(entry.last_used).isoformat(timespec="seconds")
            first = entry.files[0]
            click.echo(f"  {first.with_name(first.name.split('.')[0])}  {human(entry.bytes)}, last used {used}")
    if pruned.held:
        click.echo(f"kept {entries(len(pruned.held))} that a running process holds ({human(sum(e.bytes for e in pruned.held))})")
    click.echo(f"cache dir {'would take' if dry_run else 'takes'} {human(pruned.after)} (was {human(pruned.before)})")
    if max_bytes is not None and pruned.after > max_bytes:
        click.echo(f"still {human(pruned.after - max_bytes)} over {human(max_bytes)}: held entries, and generated data, which is never pruned, stay")

