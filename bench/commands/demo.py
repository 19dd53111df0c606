"""`bench demo`."""

from __future__ import annotations

import sys

import click

from bench.commands._options import LAYOUT, grid_options
from bench.commands._output import read_results, setup_logging, show_table
from bench.commands.run import run_grid

SELECTORS, FRAMES = ("uniform", "oracle"), (4, 8, 16)


@click.command("demo")
@click.option("--videos", default=40, show_default=True, help="How many needle videos to generate and answer.")
@LAYOUT
@grid_options
def command(videos: int, layout: str, verbose: bool, **kwargs) -> None:
    """Generate the needle benchmark and compare uniform with the oracle at 4, 8 and 16 frames.

    Needs no download and no GPU: videos are generated into the cache on first use, the probe
    backbone reads pixels, and the oracle knows where the needle is (the upper bound).

    \b
    Example:
      bench demo --results-dir results
    """
    from bench.analysis import tables

    setup_logging(verbose)
    summary = run_grid(datasets=("needle",), selectors=SELECTORS, backbones=("probe",), frames=FRAMES, limit=videos, **kwargs)
    data, shown, options = read_results(kwargs["results_dir"]), tables.Filters(datasets=("needle",), backbones=("probe",), selectors=SELECTORS, frames=FRAMES), tables.Options(compare="uniform")
    show_table(tables.build("grid", data, shown, options), "rich", long=lambda: tables.build("long", data, shown, options), layout=layout)
    sys.exit(1 if summary.errors else 0)
