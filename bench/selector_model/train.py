"""Two-stage training of the selector on pseudo labels, with `accelerate`.

- Stage 1: SigLIP and the LLM frozen; projector, score query and head learn with BCE against
  the soft labels (paper: batch 128, lr 1e-3, 3% warm-up, 2 epochs).
- Stage 2: LoRA adapters on the LLM's attention join them, BCE only (paper: lr 1e-5, 3%
  warm-up, cosine schedule, 5 epochs). LoRA rank and alpha are not published; 16 and 32 here.

Stage 1 trains on BCE alone: the paper also alternates a visual-instruction loss through a
downstream M-LLM on 800K+ instruction samples, which this tool cannot make real offline.

Every schedule is linear warm-up then cosine decay. A held-out share of the labels gives,
after each epoch, its BCE loss and the top-k hit rate: how often the model's k best
candidates include one of the highest-labelled ones. Checkpoints (weights, optimizer,
scheduler and position) are written every `save_every` optimizer steps and at each epoch's
end under `<out>/checkpoint/`, so a crashed run resumes where it stopped. The same command
runs data-parallel under `accelerate launch`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.store.frames import FrameCache
from bench.selector_model.labels import LabelRecord, read_labels
from bench.options import with_options
from bench.selector_model import checkpoint
from bench.selector_model.config import SelectorConfig
from bench.selector_model.features import FeatureCache, question_batch
from bench.selector_model.model import build
from bench.store import atomic_write_text


@dataclass(frozen=True)
class TrainConfig:
    """`bench train`'s options; defaults are the paper's where it gives them."""

    labels: Path
    out: Path
    cache_dir: Path
    size: str = "full"
    head: str = "query"
    tokens: int = 9
    vision: str = SelectorConfig.vision
    llm: str = SelectorConfig.llm
    stage: str = "both"  # "1", "2" or "both"
    epochs: int | None = None  # None: 2 for stage 1, 5 for stage 2
    batch_size: int = 128
    lr1: float = 1e-3
    lr2: float = 1e-5
    warmup: float = 0.03
    grad_accum: int = 1
    heldout: float = 0.1
    eval_k: int = 4
    lora_r: int = 16
    lora_alpha: int = 32
    save_every: int = 100
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True, slots=True)
class EpochLog:
    """What one epoch ended with."""

    stage: int
    epoch: int
    step: int
    train_loss: float
    heldout_loss: float | None
    heldout_topk_hit: float | None


def split(records: list[LabelRecord], share: float) -> tuple[list[LabelRecord], list[LabelRecord]]:
    """(train, held out) by a hash of each sample's id, so the split never depends on order."""
    def bucket(r: LabelRecord) -> float:
        return int(hashlib.blake2b(f"{r.dataset}|{r.sample_id}".encode(), digest_size=8).hexdigest(), 16) / 2**64

    heldout = [r for r in records if bucket(r) < share]
    return [r for r in records if bucket(r) >= share], heldout


def topk_hit(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of rows whose k highest logits include a candidate with the row's highest label."""
    best = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return float(np.mean([labels[i, best[i]].max() >= labels[i].max() for i in range(len(labels))]))


def _schedule(optimizer, warmup: float, total: int):
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(optimizer, math.ceil(warmup * total), max(total, 1))


def train(cfg: TrainConfig, progress: Callable[[str, int], Callable[[float], None]] | None = None) -> list[EpochLog]:
    """Train (or resume) a selector into `cfg.out`; returns one log per epoch run now.

    `progress(description, total)` is called per epoch and returns a callback taking each batch's loss.
    """
    from accelerate import Accelerator

    from bench.timing import resolve_device

    records = read_labels(cfg.labels)
    if not records:
        raise ValueError(f"{cfg.labels}: no label records")
    sizes = {len(r.label) for r in records}
    if len(sizes) != 1:
        raise ValueError(f"{cfg.labels}: records have different candidate counts {sorted(sizes)}; label with one --candidates")
    formats = {r.cache_format for r in records}
    if len(formats) != 1:
        raise ValueError(f"{cfg.labels}: records were labelled from candidates stored as {sorted(formats)}; label with one --cache-format")
    train_set, heldout = split(records, cfg.heldout)
    device = resolve_device(cfg.device)
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision="bf16" if device == "cuda" else "no", gradient_accumulation_steps=cfg.grad_accum)
    model, tokenizer, processor = build(SelectorConfig(
        size=cfg.size, vision=cfg.vision, llm=cfg.llm, tokens=cfg.tokens, head=cfg.head, candidates=sizes.pop(), lora_alpha=cfg.lora_alpha, seed=cfg.seed))
    position = _resume(cfg, model)
    model.to(accelerator.device)
    core = model  # the unwrapped module: features and saving go through it
    frames = FrameCache(cfg.cache_dir, formats.pop())
    features = FeatureCache(cfg.cache_dir)

    def batch(rows: list[LabelRecord]):
        visual = torch.stack([features.get(frames.candidates(r.sample().videos, r.candidates, r.frame_size, r.seek), core, processor, accelerator.device) for r in rows])
        ids, lengths = question_batch(tokenizer, [with_options(r.question, r.options) for r in rows], accelerator.device)
        labels = torch.tensor([r.label for r in rows], dtype=torch.float32, device=accelerator.device)
        return visual.to(accelerator.device), ids, lengths, labels

    logs = []
    for stage in {"1": [1], "2": [2], "both": [1, 2]}[cfg.stage]:
        if position and stage < position["stage"]:
            continue
        if stage == 2 and not core.config.lora_r:
            core.add_lora(cfg.lora_r, cfg.lora_alpha)
            core.config = replace(core.config, lora_r=cfg.lora_r)
            core.to(accelerator.device)
        epochs = cfg.epochs or (2 if stage == 1 else 5)
        per_epoch = math.ceil(len(train_set) / (cfg.batch_size * cfg.grad_accum * accelerator.num_processes))
        optimizer = torch.optim.AdamW([p for p in core.parameters() if p.requires_grad], lr=cfg.lr1 if stage == 1 else cfg.lr2)
        scheduler = _schedule(optimizer, cfg.warmup, epochs * per_epoch)
        start_epoch, skip, steps = 0, 0, 0
        if position and position["stage"] == stage:
            state = torch.load(position["directory"] / "optimizer.pt", weights_only=False)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            start_epoch, skip, steps = position["epoch"], position["batches"], position["steps"]
        model, optimizer, scheduler = accelerator.prepare(core, optimizer, scheduler)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for epoch in range(start_epoch, epochs):
            order = np.random.default_rng([cfg.seed, stage, epoch]).permutation(len(train_set))
            batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
            mine = batches[accelerator.process_index :: accelerator.num_processes]
            advance = progress(f"stage {stage} epoch {epoch + 1}/{epochs}", len(mine) - skip) if progress else None
            losses = []
            model.train()
            for number in range(skip, len(mine)):
                visual, ids, lengths, labels = batch([train_set[i] for i in mine[number]])
                with accelerator.accumulate(model):
                    loss = loss_fn(model(visual, ids, lengths), labels)
                    accelerator.backward(loss)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                losses.append(loss.item())
                if advance:
                    advance(losses[-1])
                if accelerator.sync_gradients:
                    steps += 1
                    if steps % cfg.save_every == 0:
                        _save_checkpoint(accelerator, core, optimizer, scheduler, cfg, {"stage": stage, "epoch": epoch, "batches": number + 1, "steps": steps})
            skip = 0
            heldout_loss, hit = _evaluate(core, heldout, batch, cfg) if heldout else (None, None)
            logs.append(EpochLog(stage, epoch + 1, steps, float(np.mean(losses)) if losses else float("nan"), heldout_loss, hit))
            _save_checkpoint(accelerator, core, optimizer, scheduler, cfg, {"stage": stage, "epoch": epoch + 1, "batches": 0, "steps": steps})
            if accelerator.is_main_process:
                with (Path(cfg.out) / "metrics.jsonl").open("a") as f:
                    f.write(json.dumps(asdict(logs[-1])) + "\n")
        position = None
    if accelerator.is_main_process:
        checkpoint.save(core, Path(cfg.out))
    return logs


@torch.no_grad()
def _evaluate(model, heldout: list[LabelRecord], batch, cfg: TrainConfig) -> tuple[float, float]:
    model.eval()
    logits, labels = [], []
    for start in range(0, len(heldout), cfg.batch_size):
        visual, ids, lengths, target = batch(heldout[start : start + cfg.batch_size])
        logits.append(model(visual, ids, lengths).cpu().numpy())
        labels.append(target.cpu().numpy())
    logits_all, labels_all = np.concatenate(logits), np.concatenate(labels)
    loss = float(torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(logits_all), torch.from_numpy(labels_all)))
    return loss, topk_hit(logits_all, labels_all, cfg.eval_k)


def _identity(cfg: TrainConfig) -> dict[str, str]:
    """What must match for a checkpoint to continue this training (not epochs, stage or device)."""
    return {k: str(v) for k, v in asdict(cfg).items() if k not in ("epochs", "stage", "save_every", "device")}


def _resume(cfg: TrainConfig, model) -> dict | None:
    """Load `<out>/checkpoint` into `model` when there is one; returns where it stopped, or None."""
    from safetensors.torch import load_file

    directory = checkpoint.newest(Path(cfg.out))
    if directory is None:
        return None
    state = json.loads((directory / "state.json").read_text())
    differs = [k for k, v in _identity(cfg).items() if state["train"].get(k) != v]
    if differs:
        raise ValueError(f"{cfg.out} holds a checkpoint of a different training (differs in {', '.join(differs)}); use another --out")
    saved_config = json.loads((directory / "config.json").read_text())
    if saved_config["lora_r"]:
        model.add_lora(saved_config["lora_r"], saved_config["lora_alpha"])
        model.config = replace(model.config, lora_r=saved_config["lora_r"])
    result = model.load_state_dict(load_file(str(directory / "model.safetensors")), strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{directory}: checkpoint weights do not fit this model: {result.unexpected_keys[:5]}")
    return {**state["position"], "directory": directory}


def _save_checkpoint(accelerator, model, optimizer, scheduler, cfg: TrainConfig, position: dict) -> None:
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return

    def write(directory: Path) -> None:
        checkpoint.save(model, directory)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, directory / "optimizer.pt")
        atomic_write_text(directory / "state.json", json.dumps({"position": position, "train": _identity(cfg)}, indent=1))

    checkpoint.swap_in(Path(cfg.out), write)  # a kill at any step leaves a whole checkpoint to resume from
