"""`bench run`."""

from __future__ import annotations

import sys

import click

from bench.commands._options import DATA_ROOT, EXECUTOR, GPUS_PER_MODEL, LIMIT, RAY_ADDRESS, BadInput, grid_options, ints, shard, words
from bench.commands._output import RichReporter, err, setup_logging


@click.command("run")
@click.option("--dataset", "datasets", required=True, callback=words, help="Comma-separated benchmarks, e.g. needle,nextqa:split=test.")
@click.option("--selector", "selectors", default="uniform", show_default=True, callback=words, help="Comma-separated selectors, e.g. uniform,clip:pick=topk.")
@click.option("--backbone", "backbones", required=True, callback=words, help="Comma-separated backbones, e.g. probe,qwen2-vl.")
@click.option("--frames", default="8", show_default=True, callback=ints, help="Comma-separated k: frames each selector keeps.")
@LIMIT
@DATA_ROOT
@click.option("--weights", type=click.Choice(["pretrained", "random"]), default="pretrained", show_default=True, help="random builds full-size backbones with random weights, for timing without downloads.")
@click.option("--shard", default="0/1", show_default=True, callback=shard, help="Run only samples I, I+N, ...: I/N, for N parallel jobs.")
@click.option("--unparsed", type=click.Choice(["wrong", "random"]), default="wrong", show_default=True, help="A multiple-choice reply naming no option counts wrong, or gets a random letter seeded by the sample id (lmms-eval parity on NExT-QA, LongVideoBench and EgoSchema; lmms-eval scores Video-MME's wrong); parse_ok is false either way.")
@click.option("--judge-model", default="gpt-4o-mini", show_default=True, help="LLM judging open-ended answers (ActivityNet-QA) at OPENAI_BASE_URL with OPENAI_API_KEY; rows record it.")
@EXECUTOR
@RAY_ADDRESS
@GPUS_PER_MODEL
@grid_options
def command(verbose: bool, **kwargs) -> None:
    """Run the grid DATASET x SELECTOR x FRAMES x BACKBONE and append one CSV row per question.

    A rerun skips rows already written (error rows are retried) and decodes or scores
    nothing that is cached. Exits 1 if any row has an error.

    \b
    Example:
      bench run --dataset needle --selector uniform,oracle --backbone probe --frames 4,8,16 --limit 40
    """
    setup_logging(verbose)
    summary = run_grid(**kwargs)
    sys.exit(1 if summary.errors else 0)


def run_grid(**kwargs):
    """Run a grid from command options; unknown names become usage errors (exit 2)."""
    from bench.store import default_root
    from bench.datafiles import DataError
    from bench.registry import RegistryError
    from bench.results import ResultsBusy, ResultsConflict, ResultsError
    from bench.grid.config import default_workers
    from bench.runner import RunConfig, run

    kwargs["cache_dir"] = kwargs["cache_dir"] or default_root()
    kwargs["workers"] = default_workers() if kwargs["workers"] is None else kwargs["workers"]
    if kwargs.get("executor", "local") == "local" and (kwargs.get("ray_address") or kwargs.get("gpus_per_model") is not None):
        raise click.UsageError("--ray-address and --gpus-per-model go with --executor ray: add --executor ray, or leave them out")
    too_many = [k for k in kwargs["frames"] if k > kwargs["candidates"]]
    if too_many:
        raise click.BadParameter(f"k={too_many[0]} is more than --candidates {kwargs['candidates']}: pick at most N frames, or raise --candidates", param_hint="--frames")
    try:
        summary = run(RunConfig(**kwargs), RichReporter())
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None
    except (DataError, ResultsBusy, ResultsConflict) as exc:  # the message names the file, and record and field where there is one
        raise BadInput(str(exc)) from None
    except ResultsError as exc:  # a full or read-only results dir: the message names the path
        raise click.ClickException(str(exc)) from None
    err.print(
        f"run {summary.run_id}: {summary.written} rows written ({summary.errors} errors), {summary.skipped} already done; "
        f"videos decoded {summary.decoded}, from cache {summary.cached}; samples scored {summary.scored}"
    )
    for example in summary.error_examples:
        err.print(f"  [red]error[/red] {example}")
    return summary
