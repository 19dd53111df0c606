"""What several commands print and how: the consoles (progress and logs on stderr, tables on
stdout, so they can be piped), rich progress bars, logging, and tables."""

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

from bench.commands._options import BadInput

err = Console(stderr=True)  # progress and logs
out = Console()  # tables


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


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", handlers=[RichHandler(console=err, show_path=False)])


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
