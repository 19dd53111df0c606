"""`bench table`."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands import ints, show_table, words


@click.command("table")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--compare", default=None, help="Selector to compare against at the same frames, e.g. uniform.")
@click.option("--format", "fmt", type=click.Choice(["rich", "md", "csv", "latex"]), default="rich", show_default=True)
@click.option("--dataset", "datasets", callback=words, help="Only these datasets (comma-separated).")
@click.option("--backbone", "backbones", callback=words, help="Only these backbones.")
@click.option("--selector", "selectors", callback=words, help="Only these selectors.")
@click.option("--frames", callback=ints, help="Only these frame counts.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also write the table to this file.")
def command(results_dir: Path, compare: str | None, fmt: str, datasets, backbones, selectors, frames, out: Path | None) -> None:
    """Print accuracy per (dataset, backbone) x (selector, frames) from every CSV under the results dir.

    \b
    Example:
      bench table --compare uniform --format md
    """
    from bench import tables
    from bench.results import read_all

    data = read_all(results_dir)
    for column, wanted in (("dataset", datasets), ("backbone", backbones), ("selector", selectors), ("frames", frames)):
        if wanted:
            data = data[data[column].isin(wanted)]
    if data.empty:
        raise click.ClickException(f"no result rows under {results_dir} match")
    show_table(tables.grid(data, compare), fmt, out)
