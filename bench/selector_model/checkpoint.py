"""Selector checkpoints: `model.safetensors` + `config.json` in a directory.

Only what training changed is saved (projector, score query, head and, after stage 2, the
LoRA adapters); the frozen SigLIP and Qwen2.5 come back from their ids. A tiny model's frozen
parts are random, so its checkpoint holds every weight.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import torch

from bench.store import atomic_write_text
from bench.selector_model.config import SelectorConfig
from bench.selector_model.model import build


def _kept(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    everything = model.config.size == "tiny"
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if everything or k in trainable}


def save(model: torch.nn.Module, directory: Path) -> None:
    """Write the model's weights and config to `directory` (weights first, config last)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / "model.safetensors.tmp"
    save_file(_kept(model), str(tmp))
    tmp.replace(directory / "model.safetensors")
    atomic_write_text(directory / "config.json", json.dumps(model.config.to_dict(), indent=1))


def load(directory: Path, device: str = "cpu"):
    """(model, tokenizer, processor) from a checkpoint directory, in eval mode on `device`."""
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in ("config.json", "model.safetensors"):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory}: no {name}; is this a `bench train --out` directory?")
    config = SelectorConfig(**json.loads((directory / "config.json").read_text()))
    model, tokenizer, processor = build(config)
    saved = load_file(str(directory / "model.safetensors"))
    result = model.load_state_dict(saved, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{directory}/model.safetensors holds weights this model lacks: {result.unexpected_keys[:5]}")
    missing_trained = [k for k in result.missing_keys if k in _kept(model)]
    if missing_trained:
        raise ValueError(f"{directory}/model.safetensors lacks trained weights: {missing_trained[:5]}")
    return model.to(device).eval(), tokenizer, processor


# A training checkpoint is a directory whose state.json is written last. A save writes a whole
# new one beside the current one, then swaps; these are the names, newest first.
TRAINING = ("checkpoint.new", "checkpoint", "checkpoint.old")


def newest(out: Path) -> Path | None:
    """The newest whole training checkpoint under `out`, or None: a kill at any step of `swap_in` leaves one."""
    for name in TRAINING:
        if (Path(out) / name / "state.json").exists():
            return Path(out) / name
    return None


def swap_in(out: Path, write: Callable[[Path], None]) -> None:
    """Make `<out>/checkpoint` what `write(directory)` writes (state.json last), never leaving `out` without a whole one.

    Leftovers of a save that was killed are settled first: the newest whole checkpoint becomes
    `checkpoint` and the others go, so the renames below always find their targets free.
    """
    final, new, old = (Path(out) / name for name in ("checkpoint", "checkpoint.new", "checkpoint.old"))
    best = newest(out)
    if best is not None and best != final:
        shutil.rmtree(final, ignore_errors=True)
        best.rename(final)
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    write(new)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
