"""`bench show`."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands._options import CACHE_DIR, CACHE_FORMAT, CANDIDATES, DATA_ROOT, DEVICE, FRAME_SIZE, SEED, VERBOSE, options
from bench.commands._output import setup_logging


@click.command("show")
@click.option("--dataset", required=True, help="Benchmark spec, e.g. needle or nextqa:split=val.")
@click.option("--sample", "sample_id", required=True, help="The sample id, as the CSV's sample_id column has it.")
@click.option("--selector", required=True, help="Selector spec, e.g. spatial:scorer=probe or clip:pick=topk.")
@click.option("--frames", default=8, show_default=True, type=click.IntRange(min=1), help="k: frames the selector keeps.")
@click.option("--backbone", default=None, help="Also answer with this backbone and put its answer in the title.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="PNG to write [default: SAMPLE-SELECTOR-kK.png here].")
@options(CANDIDATES, SEED, DATA_ROOT, CACHE_DIR, DEVICE, FRAME_SIZE, CACHE_FORMAT, VERBOSE)
def command(verbose: bool, sample_id: str, **kwargs) -> None:
    """Draw one sample's candidates, a selector's scores and its k picks as a PNG.

    The candidates form a contact sheet with the picked ones outlined; the score curve runs
    under it with the picks marked and the ground-truth interval shaded where there is one;
    the title has the question, the backbone's answer (with --backbone) and the ground truth.

    \b
    Example:
      bench show --dataset needle --sample test-0-00003 --selector spatial:scorer=probe --frames 4 --backbone probe
    """
    from bench.registry import RegistryError
    from bench.show import ShowError, UnknownSample, show
    from bench.timing import resolve_device

    setup_logging(verbose)
    kwargs["device"] = resolve_device(kwargs["device"])
    if kwargs["frames"] > kwargs["candidates"]:
        raise click.UsageError(f"--frames {kwargs['frames']} is more than --candidates {kwargs['candidates']}")
    try:
        shown = show(sample_id=sample_id, **kwargs)
    except (RegistryError, UnknownSample) as exc:
        raise click.UsageError(str(exc)) from None
    except ShowError as exc:  # the error a run would have written in the row
        raise click.ClickException(str(exc)) from None
    click.echo(f"{shown.path}  selected {' '.join(map(str, shown.selected))}")
