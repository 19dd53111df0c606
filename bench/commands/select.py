"""`bench select`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.commands._options import CACHE_DIR, CACHE_FORMAT, CANDIDATES, DATA_ROOT, DECODER, DEVICE, FRAME_SIZE, LIMIT, SEED, SEEK, VERBOSE, WORKERS, BadInput, ints, options, words
from bench.commands._output import RichReporter, err, setup_logging


@click.command("select")
@click.option("--dataset", "datasets", required=True, callback=words, help="Comma-separated benchmarks, e.g. needle or jsonl:path=mine.jsonl.")
@click.option("--selector", "selectors", default="uniform", show_default=True, callback=words, help="Comma-separated selectors, e.g. uniform,clip:pick=topk.")
@click.option("--frames", default="8", show_default=True, callback=ints, help="Comma-separated k: frames each selector keeps.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Selections file: .jsonl (one JSON line per selection) or .parquet.")
@options(LIMIT, DATA_ROOT, CANDIDATES, SEED, CACHE_DIR, DEVICE, FRAME_SIZE, SEEK, DECODER, CACHE_FORMAT, WORKERS, VERBOSE)
def command(datasets, selectors, frames, out, verbose, **kwargs) -> None:
    """Write the frames each selector keeps, one JSON line per (sample, selector, k), for another harness to read.

    Each line has dataset, sample_id, video, question, selector, k, candidates, frame_size,
    seek, cache_format, indices (into the N candidates, ascending), times (seconds) and scores
    (all N; null for a uniform pick); a selection that could not be made has `error` instead. Resumable: a
    rerun skips lines already written and retries error lines. Exits 1 if any line has an error.

    \b
    Example:
      bench select --dataset needle --selector uniform,clip --frames 8 --out selections.jsonl
    """
    from bench.datafiles import DataError
    from bench.grid.config import default_workers
    from bench.registry import RegistryError
    from bench.selections import SelectionsError, select_dataset

    setup_logging(verbose)
    if out.suffix not in (".jsonl", ".parquet"):
        raise click.BadParameter(f"{str(out)!r} must end in .jsonl or .parquet, e.g. {out.stem or 'selections'}.jsonl", param_hint="--out")
    too_many = [k for k in frames if k > kwargs["candidates"]]
    if too_many:
        raise click.BadParameter(f"k={too_many[0]} is more than --candidates {kwargs['candidates']}: pick at most N frames, or raise --candidates", param_hint="--frames")
    kwargs["workers"] = default_workers() if kwargs["workers"] is None else kwargs["workers"]
    try:
        summary = select_dataset(datasets, selectors, frames, out, reporter=RichReporter(), **kwargs)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None
    except (DataError, SelectionsError) as exc:  # the message names the file, and line and field where there is one
        raise BadInput(str(exc)) from None
    err.print(f"select: {summary.written} lines written to {out} ({summary.errors} errors), {summary.skipped} already there")
    for example in summary.error_examples:
        err.print(f"  [red]error[/red] {example}")
    sys.exit(1 if summary.errors else 0)
