"""`bench report`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.commands._options import RESAMPLES, SEED, BadInput
from bench.commands._output import err, setup_logging, show_table

_DIR = click.Path(path_type=Path, file_okay=False, exists=True)


@click.command("report")
@click.option("--baseline", type=_DIR, required=True, help="Results dir of the reference run (e.g. the committed baseline).")
@click.option("--current", type=_DIR, required=True, help="Results dir of the run to check.")
@click.option("--threshold", default=1.0, show_default=True, help="Points of accuracy a cell may drop before it can count as a regression.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("report"), show_default=True, help="Where report.md, report.html and the PNGs go.")
@RESAMPLES
@SEED
def command(baseline: Path, current: Path, threshold: float, out: Path, resamples: int, seed: int) -> None:
    """Compare a run with a baseline cell by cell; exit 1 on any regression, 0 otherwise.

    A regression is a cell whose accuracy dropped by more than --threshold points with a 95%
    paired bootstrap interval wholly below zero. Writes report.md and a self-contained
    report.html (figures embedded) under --out and prints the comparison. A results file
    holding a value its column cannot hold exits 2 naming file, line and column.

    \b
    Example:
      bench report --baseline baseline --current results --out report
    """
    from bench.analysis import report as reports
    from bench.analysis.cells import TableError
    from bench.results import ResultsError

    setup_logging(False)
    try:
        made = reports.make(baseline, current, out, threshold, resamples, seed)
    except TableError as exc:
        raise click.ClickException(str(exc)) from None
    except ResultsError as exc:  # exit 2, so that it is never taken for a regression (exit 1)
        raise BadInput(str(exc)) from None
    if not made.lines:
        raise click.ClickException(f"no cell is in both {baseline} and {current}: nothing to compare")
    show_table(reports.table(made), "md")
    click.echo(reports.summary(made))
    err.print(f"wrote {out / 'report.md'} and {out / 'report.html'}")
    sys.exit(1 if made.regressions else 0)
