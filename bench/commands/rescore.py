"""`bench rescore`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.commands import err, setup_logging, words


@click.command("rescore")
@click.option("--results-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("results"), show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), envvar="FRAMEBENCH_CACHE", default=None, help="Where judge verdicts are cached [env FRAMEBENCH_CACHE; default ~/.cache/framebench].")
@click.option("--dataset", "datasets", callback=words, help="Only rows of these datasets (names or specs, comma-separated).")
@click.option("-v", "--verbose", is_flag=True, help="Log each judge call.")
def command(results_dir: Path, cache_dir: Path | None, datasets: tuple[str, ...], verbose: bool) -> None:
    """Re-parse the predictions in existing result CSVs and rewrite their outcomes in place.

    Each row's raw prediction goes through its benchmark's current parser (and the judge,
    through its cache, for open-ended rows); parse_ok, correct, judge_score, judge_model and
    judge errors are rewritten atomically and every other column is kept. No model reruns,
    no data files are needed. Judge errors are retried. Exits 1 if any remain. Do not run it
    on a results dir that a `bench run` is writing to.

    \b
    Example:
      bench rescore --results-dir results --dataset nextqa,activitynet-qa
    """
    from bench.cache import default_root
    from bench.registry import RegistryError
    from bench.rescore import rescore

    setup_logging(verbose)
    try:
        summary = rescore(results_dir, cache_dir or default_root(), datasets)
    except RegistryError as exc:
        raise click.ClickException(f"a row's dataset spec does not build: {exc}") from None
    err.print(
        f"rescored {summary.rescored} rows in {summary.files} files: {summary.changed} changed, "
        f"{summary.skipped} left alone (no prediction or no options column), {summary.judge_errors} judge errors"
    )
    for example in summary.error_examples:
        err.print(f"  [red]error[/red] {example}")
    sys.exit(1 if summary.judge_errors else 0)
