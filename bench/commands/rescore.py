"""`bench rescore`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.commands._options import CACHE_DIR, RESULTS_DIR, VERBOSE, BadInput, words
from bench.commands._output import err, setup_logging


@click.command("rescore")
@RESULTS_DIR
@CACHE_DIR
@click.option("--dataset", "datasets", callback=words, help="Only rows of these datasets (names or specs, comma-separated).")
@click.option("--judge-timeout", type=click.FloatRange(min=0, min_open=True), default=None, help="Seconds to wait for each judge reply, instead of the rows' dataset specs' value.")
@click.option("--judge-retries", type=click.IntRange(min=0), default=None, help="Judge retries after a 429, 5xx, timeout or dropped connection, instead of the rows' value.")
@VERBOSE
def command(results_dir: Path, cache_dir: Path | None, datasets: tuple[str, ...], judge_timeout: float | None, judge_retries: int | None, verbose: bool) -> None:
    """Re-parse the predictions in existing result CSVs and rewrite their outcomes in place.

    Each row's raw prediction goes through its benchmark's current parser (and the judge,
    through its cache, for open-ended rows); parse_ok, correct, judge_score, judge_model and
    judge errors are rewritten atomically and every other column is kept. No model reruns,
    no data files are needed. Judge errors are retried; a row whose judge fails now keeps the
    verdict it had. Exits 1 if any judge call failed (rows with judge errors, or rows that
    kept their previous verdict). A cell file that a `bench run` is writing is not touched:
    the command stops there and exits 2; rerun it when that run is done.

    \b
    Example:
      bench rescore --results-dir results --dataset nextqa,activitynet-qa
    """
    from bench.store import default_root
    from bench.registry import RegistryError
    from bench.rescore import rescore
    from bench.results import ResultsBusy, ResultsError

    setup_logging(verbose)
    settings = {k: v for k, v in (("judge_timeout", judge_timeout), ("judge_retries", judge_retries)) if v is not None}
    try:
        summary = rescore(results_dir, cache_dir or default_root(), datasets, settings)
    except RegistryError as exc:
        raise click.ClickException(f"a row's dataset spec does not build: {exc}") from None
    except ResultsBusy as exc:  # a run is writing that file: files rescored so far stay rescored, a rerun does the rest
        raise BadInput(str(exc)) from None
    except ResultsError as exc:  # a malformed, unreadable or unwritable results file: the message names it
        raise click.ClickException(str(exc)) from None
    err.print(
        f"rescored {summary.rescored} rows in {summary.files} files: {summary.changed} changed, "
        f"{summary.skipped} left alone (no prediction or no options column), {summary.judge_errors} judge errors, "
        f"{summary.kept} kept their previous verdict because the judge failed"
    )
    for example in summary.error_examples:
        err.print(f"  [red]error[/red] {example}")
    sys.exit(1 if summary.judge_errors or summary.kept else 0)
