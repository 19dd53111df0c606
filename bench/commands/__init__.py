"""One module per `bench` command, each defining `command`; `bench.cli` adds them all.

This package also holds what several commands share: option callbacks, the options common
to `run` and `demo`, logging setup and the rich progress reporter. Commands import heavy
modules inside their functions, so `bench --help` stays instant.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

err = Console(stderr=True)  # progress and logs
out = Console()  # tables


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
    from bench.frame_cache import parse_cache_format

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


class RichReporter:
    """One rich progress bar per phase (decode, each selector, each backbone), on stderr.

    Phases may run at once (decode workers beside the models): they share one live display,
    which stays up while any phase is open.
    """

    def __init__(self) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        self.progress = Progress(*columns, console=err)
        self.open = 0
        self.lock = threading.Lock()

    @contextmanager
    def phase(self, description: str, total: int) -> Iterator[Callable[[], None]]:
        if total == 0:
            yield lambda: None
            return
        with self.lock:
            if self.open == 0:
                self.progress.start()
            self.open += 1
            task = self.progress.add_task(description, total=total)
        try:
            yield lambda: self.progress.advance(task)
        finally:
            with self.lock:
                self.open -= 1
                if self.open == 0:
                    self.progress.stop()
                    for each in list(self.progress.task_ids):
                        self.progress.remove_task(each)


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


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", handlers=[RichHandler(console=err, show_path=False)])


def run_grid(**kwargs):
    """Run a grid from command options; unknown names become usage errors (exit 2)."""
    from bench.cache import default_root
    from bench.datafiles import DataError
    from bench.registry import RegistryError
    from bench.results import ResultsBusy, ResultsConflict, ResultsError
    from bench.grid import default_workers
    from bench.runner import RunConfig, run

    kwargs["cache_dir"] = kwargs["cache_dir"] or default_root()
    kwargs["workers"] = default_workers() if kwargs["workers"] is None else kwargs["workers"]
    if kwargs.get("executor", "local") == "local" and (kwargs.get("ray_address") or kwargs.get("gpus_per_model") is not None):
        raise click.UsageError("--ray-address and --gpus-per-model go with --executor ray: add --executor ray, or leave them out")
    too_many = [k for k in kwargs["frames"] if k > kwargs["candidates"]]
    if too_many:
        raise click.BadParameter(f"k={too_many[0]} is more than --candidates {kwargs['candidates']}: pick at most N frames, or raise --candidates", param_hint="--frames")
    try:
        summary = run(RunConfig(**kwargs), RichReporter())
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None
    except (DataError, ResultsBusy, ResultsConflict) as exc:  # the message names the file, and record and field where there is one
        raise BadInput(str(exc)) from None
    except ResultsError as exc:  # a full or read-only results dir: the message names the path
        raise click.ClickException(str(exc)) from None
    err.print(
        f"run {summary.run_id}: {summary.written} rows written ({summary.errors} errors), {summary.skipped} already done; "
        f"videos decoded {summary.decoded}, from cache {summary.cached}; samples scored {summary.scored}"
    )
    for example in summary.error_examples:
        err.print(f"  [red]error[/red] {example}")
    return summary


def read_results(results_dir: Path):
    """Every row under `results_dir`; a value its column cannot hold exits 2 naming file, line and column."""
    from bench.results import ResultsError, read_all

    try:
        return read_all(results_dir)
    except ResultsError as exc:
        raise BadInput(str(exc)) from None


def show_table(frame, fmt: str, out_path: Path | None = None, long: Callable[[], object] | None = None, layout: str = "auto") -> None:
    """Print a table to stdout (rich, md, csv or latex) and optionally write it to a file.

    A rich table too wide for the terminal would cut its cells; where `long` builds the same
    numbers one line per cell, that is drawn instead (`layout` "auto"), or always ("long").
    Paper formats (md, csv, latex) and the file keep the wide layout.
    """
    from bench.analysis import tables

    if fmt == "rich":
        table = _rich(frame)
        if long is not None and (layout == "long" or layout == "auto" and _width(table) > out.width):
            table = _rich(long(), wrap=tables.NAMES)
        out.print(table)
    else:
        click.echo(tables.render(frame, fmt))
    if out_path:
        out_path.write_text(tables.render(frame, "md" if fmt == "rich" else fmt) + "\n")


def _rich(frame, wrap: tuple[str, ...] | None = None):
    """A rich Table of a frame's text; with `wrap`, only those columns may wrap, the others never.

    With `wrap`, a wrapping column that holds one value throughout goes to the title instead,
    leaving the width to the numbers.
    """
    from rich import box
    from rich.table import Table

    title = None
    if wrap is not None:
        same = [c for c in wrap if c in frame and len(frame) > 1 and frame[c].nunique() == 1]
        title = "   ".join(f"{c} {frame[c].iloc[0]}" for c in same) or None
        frame = frame.drop(columns=same)
    table = Table(box=box.SIMPLE_HEAD if wrap is not None else box.HEAVY_HEAD, title=title, pad_edge=wrap is None)
    for column in map(str, frame.columns):
        whole = wrap is not None and column not in wrap
        table.add_column(column, no_wrap=whole, justify="right" if whole else "left", overflow="fold")
    for values in frame.itertuples(index=False):
        table.add_row(*map(str, values))
    return table


def _width(table) -> int:
    """Columns the table needs to show every cell on one line."""
    from rich.measure import Measurement

    wide = Console(width=10_000)
    return Measurement.get(wide, wide.options, table).maximum
