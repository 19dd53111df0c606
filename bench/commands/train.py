"""`bench train`."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from bench.commands._options import CACHE_DIR, DEVICE, SEED, VERBOSE, options
from bench.commands._output import err, setup_logging
from bench.selector_model.config import SelectorConfig


@click.command("train")
@click.option("--labels", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True, help="Labels from `bench labels`.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Checkpoint directory; rerun with the same options to resume.")
@click.option("--size", type=click.Choice(["full", "tiny"]), default="full", show_default=True, help="tiny: small random models, offline, for tests.")
@click.option("--head", type=click.Choice(["query", "frame"]), default="query", show_default=True, help="query: the paper's score query; frame: a per-frame head (any N).")
@click.option("--tokens", type=click.Choice(["1", "9", "25"]), default="9", show_default=True, help="Visual tokens per frame after pooling.")
@click.option("--vision", default=SelectorConfig.vision, show_default=True, help="SigLIP vision encoder id or path.")
@click.option("--llm", default=SelectorConfig.llm, show_default=True, help="Qwen2/2.5 LLM id or path (0.5B, 1.5B, 7B).")
@click.option("--stage", type=click.Choice(["1", "2", "both"]), default="both", show_default=True)
@click.option("--epochs", type=int, default=None, help="Epochs per stage [default: 2 for stage 1, 5 for stage 2].")
@click.option("--batch-size", default=128, show_default=True)
@click.option("--lr1", default=1e-3, show_default=True, help="Stage 1 learning rate.")
@click.option("--lr2", default=1e-5, show_default=True, help="Stage 2 learning rate.")
@click.option("--warmup", default=0.03, show_default=True, help="Warm-up share of each stage's steps.")
@click.option("--grad-accum", default=1, show_default=True, help="Batches per optimizer step.")
@click.option("--heldout", default=0.1, show_default=True, help="Share of samples held out for evaluation.")
@click.option("--eval-k", default=4, show_default=True, help="k of the held-out top-k hit rate.")
@click.option("--lora-r", default=16, show_default=True)
@click.option("--lora-alpha", default=32, show_default=True)
@click.option("--save-every", default=100, show_default=True, help="Optimizer steps between checkpoints.")
@options(SEED, CACHE_DIR, DEVICE, VERBOSE)
def command(verbose: bool, tokens: str, cache_dir: Path | None, **kwargs) -> None:
    """Train the selector on pseudo labels (stage 1: projector, query, head; stage 2: plus LoRA).

    Runs data-parallel unchanged under `accelerate launch -m bench train ...`.

    \b
    Example:
      bench train --labels labels.jsonl --out selector/ --size tiny --head frame --epochs 20 --batch-size 8
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.store import default_root
    from bench.selector_model.train import TrainConfig, train

    setup_logging(verbose)
    config = TrainConfig(tokens=int(tokens), cache_dir=cache_dir or default_root(), **kwargs)
    with ExitStack() as stack:
        bars = stack.enter_context(Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("loss {task.fields[loss]}"), console=err))

        def progress(description: str, total: int):
            task = bars.add_task(description, total=total, loss="-")
            return lambda loss: bars.update(task, advance=1, loss=f"{loss:.4f}")

        logs = train(config, progress)
    for log in logs:
        heldout = f"held-out loss {log.heldout_loss:.4f}, top-{config.eval_k} hit {log.heldout_topk_hit:.1%}" if log.heldout_loss is not None else "no held-out split"
        err.print(f"stage {log.stage} epoch {log.epoch} (step {log.step}): train loss {log.train_loss:.4f}; {heldout}")
    err.print(f"saved {config.out}/model.safetensors; use --selector trained:ckpt={config.out}")
