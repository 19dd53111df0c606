"""`bench labels`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.commands._options import CACHE_DIR, CACHE_FORMAT, CANDIDATES, DATA_ROOT, DEVICE, FRAME_SIZE, LIMIT, SEED, SEEK, VERBOSE, WORKERS, BadInput, options, words
from bench.commands._output import RichReporter, err, setup_logging


@click.command("labels")
@click.option("--dataset", "datasets", callback=words, help="Comma-separated benchmarks to label, e.g. needle:split=train.")
@click.option("--manifest", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None, help="Your own training videos: a .jsonl, .csv or .parquet of {video, question, options?, id?}; the same as --dataset jsonl:path=FILE.")
@click.option("--spatial", default=None, help="Selector spec giving the spatial signal, e.g. spatial or spatial:scorer=probe.")
@click.option("--temporal", default=None, help="Selector spec giving the temporal signal, e.g. temporal:captioner=probe.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Labels file: .jsonl or .parquet.")
@options(CANDIDATES, LIMIT, DATA_ROOT, SEED, CACHE_DIR, DEVICE, FRAME_SIZE, SEEK, CACHE_FORMAT, WORKERS, VERBOSE)
def command(datasets, manifest, spatial, temporal, out, candidates, limit, data_root, seed, cache_dir, device, frame_size, seek, cache_format, workers, verbose) -> None:
    """Write pseudo labels (spatial, temporal and their mean per candidate) for training the selector.

    Resumable: samples already in --out are skipped. Exits 1 if any sample could not be labelled.

    \b
    Example:
      bench labels --dataset needle:split=train --spatial spatial:scorer=probe --temporal temporal:captioner=probe --out labels.jsonl
    """
    from bench.store import default_root
    from bench.datafiles import DataError
    from bench.grid.config import default_workers
    from bench.labels import LabelsError, make_labels
    from bench.records import DataOptions
    from bench.registry import RegistryError, benchmarks
    from bench.timing import resolve_device

    setup_logging(verbose)
    if not datasets and not manifest:
        raise click.UsageError("give --dataset, --manifest or both")
    if out.suffix not in (".jsonl", ".parquet"):
        raise click.BadParameter(f"{str(out)!r} must end in .jsonl or .parquet, e.g. {out.stem or 'labels'}.jsonl", param_hint="--out")
    cache_dir = cache_dir or default_root()
    options = DataOptions(cache_dir=cache_dir, data_root=data_root, seed=seed, limit=limit)
    if manifest:
        datasets = (*datasets, f"jsonl:path={manifest}")
    try:
        samples = [s for d in datasets for s in benchmarks.build(d).load(options)]
        summary = make_labels(samples, spatial, temporal, out, cache_dir, candidates, frame_size, seek, resolve_device(device), RichReporter(), cache_format,
                              default_workers() if workers is None else workers)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None
    except (DataError, LabelsError) as exc:  # the message names the file
        raise BadInput(str(exc)) from None
    err.print(f"labels: {summary.written} written, {summary.skipped} already in {out}, {len(summary.errors)} failed")
    for line in summary.errors[:5]:
        err.print(f"  [red]error[/red] {line}")
    sys.exit(1 if summary.errors else 0)
