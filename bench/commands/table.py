"""`bench table`; also the row filters that `bench plot` shares."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from bench.commands._options import LAYOUT, RESAMPLES, RESULTS_DIR, SEED, ints, words
from bench.commands._output import read_results, setup_logging, show_table


def filter_options(command: Callable) -> Callable:
    """--results-dir and the row filters (named as bench.analysis.tables.Filters' fields), spelled the same in `table` and `plot`."""
    options = [
        RESULTS_DIR,
        click.option("--dataset", "datasets", callback=words, help="Only these datasets (comma-separated; a name takes all its specs)."),
        click.option("--backbone", "backbones", callback=words, help="Only these backbones."),
        click.option("--selector", "selectors", callback=words, help="Only these selectors (the baseline stays for comparisons)."),
        click.option("--frames", callback=ints, help="Only these frame counts."),
        click.option("--judge-model", default=None, help="Only rows judged by this model (and rows no judge graded)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("table")
@click.option("--kind", type=click.Choice(["grid", "main", "ablation", "efficiency", "kvs2k", "pool", "variants", "evidence"]), default="grid", show_default=True,
              help="grid: every cell; main: Tables 1-4; ablation: Table 5; efficiency: Table 6; kvs2k: Table 9; pool: candidates N->k; variants: Tables 7-8; "
                   "evidence: the grid of evidence hit rates (a selected frame inside the sample's evidence), --backbone none rows included, against uniform.")
@click.option("--compare", default=None, help="Baseline selector for changes (default: none for grid, uniform otherwise).")
@click.option("--by", default=None, help="Break accuracy down by category, duration or another column (grid and efficiency).")
@click.option("--format", "fmt", type=click.Choice(["rich", "md", "csv", "latex"]), default="rich", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also write the table to this file.")
@LAYOUT
@RESAMPLES
@SEED
@filter_options
def command(kind: str, compare: str | None, by: str | None, fmt: str, out: Path | None, layout: str, resamples: int, seed: int, results_dir: Path, **filters) -> None:
    """Print a paper-style table from every CSV under the results dir.

    Accuracy is a percentage of the rows without an error; error rows (judge failures among
    them) and unparsed replies are counted in brackets. Every change against the baseline
    carries a 95% paired bootstrap interval and, for multiple choice, an exact McNemar p.
    The grid is drawn one line per cell when it is wider than the terminal (--layout).
    Cells run with another candidate pool, seek mode, frame size or decoder stay apart and
    are labelled with it. Records cut short and repeated header lines are skipped and said
    on stderr; a value a column cannot hold exits 2 naming file, line and column.

    \b
    Examples:
      bench table --compare uniform --format md
      bench table --kind main --frames 8 --format latex --out table1.tex
      bench table --kind efficiency --dataset nextqa --backbone llava-next-video
      bench table --by duration --dataset videomme --compare uniform
      bench table --kind evidence --dataset lvbench
    """
    from bench.analysis import tables

    setup_logging(False)
    if by and kind not in ("grid", "efficiency", "evidence"):
        raise click.UsageError("--by works with --kind grid, efficiency or evidence")
    measure = "evidence" if kind == "evidence" else "accuracy"
    kind = "grid" if kind == "evidence" else kind
    options = tables.Options(compare if kind == "grid" and measure == "accuracy" else compare or "uniform", by, resamples, seed, measure)
    data, shown = read_results(results_dir), tables.Filters(**filters)
    try:
        table = tables.build(kind, data, shown, options)
    except tables.TableError as exc:
        raise click.ClickException(f"{results_dir}: {exc}") from None
    long = (lambda: tables.build("long", data, shown, options)) if kind == "grid" and not by else None
    show_table(table, fmt, out, long, layout)
