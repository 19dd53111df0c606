"""`bench plot`."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands._output import read_results, setup_logging
from bench.commands.table import filter_options


@click.command("plot")
@click.option("--compare", default="uniform", show_default=True, help="Baseline selector, drawn black.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("plots"), show_default=True, help="Directory for the PNGs.")
@filter_options
def command(compare: str, out: Path, results_dir: Path, **filters) -> None:
    """Draw accuracy against frames and accuracy against seconds per question as PNGs.

    One panel per (dataset, backbone), one line per selector: the first figure shows selector
    at k against uniform at 2k, the second the accuracy/latency frontier.

    \b
    Example:
      bench plot --results-dir results --dataset longvideobench --out plots
    """
    from bench.analysis import plots, tables
    from bench.analysis.cells import TableError, prepare

    setup_logging(False)
    try:
        data = tables.select(read_results(results_dir), tables.Filters(**filters))
        if data.empty:
            raise TableError("no result rows match")
        figures = plots.figures(prepare(data), compare=compare)
    except TableError as exc:
        raise click.ClickException(f"{results_dir}: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    for name, png in figures.items():
        (out / name).write_bytes(png)
        click.echo(out / name)
