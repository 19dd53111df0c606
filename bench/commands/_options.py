"""What several commands take, defined once so it is spelled and explained the same everywhere:
option callbacks, the shared options, and the exit-2 error for input the user must fix."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click


class BadInput(click.ClickException):
    """Input the user must fix (a malformed annotation file, a results file another run holds): exit 2."""

    exit_code = 2


def words(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """A comma-separated option as a tuple of its non-empty items; given but empty is an error."""
    items = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    if value is not None and not items:
        raise click.BadParameter(f"{value!r} names nothing: give one or more comma-separated names (see `bench list`)")
    return items


def ints(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    """A comma-separated option as positive integers."""
    try:
        numbers = tuple(int(v) for v in words(ctx, param, value))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers") from None
    if any(n < 1 for n in numbers):
        raise click.BadParameter("frame counts must be at least 1")
    return numbers


def cache_format(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--cache-format as its canonical spec ("raw", "jpeg:quality=95"), so rows, file names and keys agree."""
    from bench.store.frames import parse_cache_format

    try:
        return parse_cache_format(value).spec
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def shard(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        index, count = (int(v) for v in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not I/N (e.g. 0/4)") from None
    if count < 1 or not 0 <= index < count:
        raise click.BadParameter(f"{value!r}: need 0 <= I < N")
    return index, count


# Options several commands take, defined once so they are spelled and explained the same everywhere.
CANDIDATES = click.option("--candidates", type=click.IntRange(min=1), default=128, show_default=True, help="Candidate pool N decoded per video.")
SEED = click.option("--seed", default=0, show_default=True, help="Seed of what this command draws at random (generated data and qframe; bootstrap resamples; training).")
RESAMPLES = click.option("--resamples", default=10_000, show_default=True, help="Bootstrap resamples for the 95% paired intervals.")
LIMIT = click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many samples per dataset [default: all].")
DATA_ROOT = click.option("--data-root", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None, help="Where annotation files and videos were unpacked (searched by published file names).")
RESULTS_DIR = click.option("--results-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("results"), show_default=True, help="Where the per-cell CSVs go.")
CACHE_DIR = click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), envvar="FRAMEBENCH_CACHE", default=None, help="Frames, scores, embeddings, captions, verdicts, generated data [env FRAMEBENCH_CACHE; default ~/.cache/framebench].")
DEVICE = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
FRAME_SIZE = click.option("--frame-size", type=click.IntRange(min=1), default=336, show_default=True, help="Short side of decoded candidates in pixels (never upscaled).")
SEEK = click.option("--seek", type=click.Choice(["exact", "keyframe"]), default="exact", show_default=True, help="keyframe snaps each candidate to its preceding keyframe: far less decoding, up to a GOP off.")
DECODER = click.option("--decoder", type=click.Choice(["pyav", "decord", "torchcodec"]), default="pyav", show_default=True, help="decord and torchcodec fall back to PyAV, with one warning line, where they cannot open a file or return other frames than its index says; torchcodec needs FFmpeg 4-9's shared libraries installed.")
CACHE_FORMAT = click.option("--cache-format", default="raw", show_default=True, callback=cache_format, help="How the frame cache stores candidates: raw (exact; 77 MB per video at N=128, 336x597) or jpeg[:quality=Q] (Q 1-100, default 95; about 8x smaller, and every run sees the frames as decoded from the JPEGs). Part of the candidates' identity: rows record it, and a non-default one gets cell files of its own.")
WORKERS = click.option("--workers", type=click.IntRange(min=0), default=None, help="Processes decoding candidates while the models run (one decode thread each when more than 1); 0 decodes everything first, in this process; with --executor ray, Ray tasks decode instead [default: the cores, at most 8].")
EXECUTOR = click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="ray runs the grid on a Ray cluster: decode tasks on CPUs, one actor per selector and backbone model, rows streamed back to this process, the only writer of the CSVs. Every node must see --cache-dir at the same path (a shared filesystem) and have framebench installed.")
RAY_ADDRESS = click.option("--ray-address", default=None, help="With --executor ray: the cluster to join, e.g. auto (the one `ray start` began on this machine) or ray://HOST:10001 [default: start a local Ray instance on this machine].")
GPUS_PER_MODEL = click.option("--gpus-per-model", type=click.FloatRange(min=0), default=None, help="With --executor ray: GPUs each model's actor holds, e.g. 0.5 to put two on one GPU, 2 for a model split over two [default: 1 where the cluster has GPUs, else 0].")
VERBOSE = click.option("-v", "--verbose", is_flag=True, help="Log each stage.")
LAYOUT = click.option("--layout", type=click.Choice(["auto", "wide", "long"]), default="auto", show_default=True, help="wide: a column per (selector, k); long: a line per cell, numbers in columns of their own; auto: long when wide does not fit the terminal.")


def options(*decorators: Callable) -> Callable:
    """Apply option decorators so that they appear in `--help` in the order given."""
    def apply(command: Callable) -> Callable:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


grid_options = options(CANDIDATES, SEED, RESULTS_DIR, CACHE_DIR, DEVICE, FRAME_SIZE, SEEK, DECODER, CACHE_FORMAT, WORKERS, VERBOSE)  # run and demo
