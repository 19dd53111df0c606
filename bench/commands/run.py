"""`bench run`."""

from __future__ import annotations

import sys

import click

from bench.commands import DATA_ROOT, EXECUTOR, GPUS_PER_MODEL, LIMIT, RAY_ADDRESS, grid_options, ints, run_grid, setup_logging, shard, words


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
