"""PLLaVA's model from transformers building blocks, under the published checkpoints' parameter names.

A `torch.nn.ModuleDict` holds the three parts under the names of magic-research/PLLaVA's
`PllavaForConditionalGeneration` (models/pllava/modeling_pllava.py), so the safetensors of the
published checkpoints load by name:

- `vision_tower.vision_model`: `CLIPVisionModel`. transformers 5 dropped that model's inner
  `vision_model` module (it renames old checkpoints on `from_pretrained`); the extra level here
  keeps the published names `vision_tower.vision_model.encoder.layers.0.…` as they are;
- `multi_modal_projector`: `linear_1` (vision width -> text width), `linear_2` (text -> text);
  the pooling that follows has no parameters;
- `language_model`: `LlamaForCausalLM` wrapped by peft LoRA (q_proj, v_proj), as PLLaVA's
  `load_pllava` wraps it before reading the weights, so its names carry peft's prefixes
  (`language_model.base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight`,
  `….q_proj.lora_A.default.weight`, `language_model.base_model.model.lm_head.weight`).

The forward pass follows PLLaVA's: CLIP's penultimate hidden states without CLS, the projector
(linear_1, activation, linear_2) on every patch, the (frames, 24, 24) grid average-pooled to the
checkpoint's `pooling_shape` (16, 12, 12), flattened time-major, and written in place of the
single `<image>` token of the prompt.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def build(config: Any, lora_r: int, lora_alpha: int, dtype: Any) -> Any:
    """The PLLaVA module with random weights, on the current default device."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import CLIPVisionModel, LlamaForCausalLM

    text, vision = config.text_config, config.vision_config
    language = LlamaForCausalLM._from_config(text, dtype=dtype, attn_implementation="sdpa")
    lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    projector = torch.nn.ModuleDict({
        "linear_1": torch.nn.Linear(vision.hidden_size, text.hidden_size, dtype=dtype),
        "linear_2": torch.nn.Linear(text.hidden_size, text.hidden_size, dtype=dtype),
    })
    model = torch.nn.ModuleDict({
        "vision_tower": torch.nn.ModuleDict({"vision_model": CLIPVisionModel._from_config(vision, dtype=dtype, attn_implementation="sdpa")}),
        "multi_modal_projector": projector,
        "language_model": get_peft_model(language, lora),
    })
    model.generation_config = language.generation_config  # what HFBackbone.load sets eos and pad on
    return model


def load_checkpoint(model: Any, folder: Path) -> None:
    """Copy the safetensors shards in `folder` into `model` by name; every parameter must be found."""
    from safetensors.torch import load_file

    index = folder / "model.safetensors.index.json"
    shards = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    expected = set(model.state_dict())
    found: set[str] = set()
    for shard in shards:
        tensors = load_file(folder / shard)
        model.load_state_dict({k: v for k, v in tensors.items() if k in expected}, strict=False)
        found |= expected & set(tensors)
        extra = sorted(set(tensors) - expected)
        if extra:
            log.warning("%s: %d tensors no PLLaVA module uses, e.g. %s", shard, len(extra), extra[0])
    if expected - found:
        missing = sorted(expected - found)
        raise ValueError(f"{folder}: {len(missing)} parameters missing from the checkpoint, e.g. {missing[:3]}")


def visual_embeddings(model: Any, config: Any, pixel_values: Any) -> Any:
    """(B, prod(pooling_shape), text width): clips (B, T, 3, S, S) encoded, projected and pooled."""
    import torch.nn.functional as F
    from transformers.activations import ACT2FN

    batch, frames = pixel_values.shape[:2]
    states = model["vision_tower"]["vision_model"](pixel_values.flatten(0, 1), output_hidden_states=True).hidden_states
    patches = states[config.vision_feature_layer][:, 1:]  # the "default" strategy drops CLS
    projector = model["multi_modal_projector"]
    patches = projector["linear_2"](ACT2FN[config.projector_hidden_act](projector["linear_1"](patches)))
    height, width = config.frame_shape
    grid = patches.reshape(batch, frames, height, width, -1).permute(0, 4, 1, 2, 3)  # (B, channels, T, h, w)
    pooled = F.adaptive_avg_pool3d(grid, tuple(config.pooling_shape))
    return pooled.flatten(2).transpose(1, 2)


def prompt_embeddings(model: Any, config: Any, inputs: Any) -> tuple[Any, Any]:
    """(embeddings, attention mask) of each prompt with its `<image>` token replaced by its clip's tokens."""
    import torch

    embed = model["language_model"].get_input_embeddings()
    visual = visual_embeddings(model, config, inputs["pixel_values"])
    rows, masks = [], []
    for ids, mask, tokens in zip(inputs["input_ids"], inputs["attention_mask"], visual):
        at = int((ids == config.image_token_index).nonzero()[0, 0])
        rows.append(torch.cat([embed(ids[:at]), tokens.to(embed.weight.dtype), embed(ids[at + 1 :])]))
        masks.append(torch.cat([mask[:at], mask.new_ones(len(tokens)), mask[at + 1 :]]))
    return torch.stack(rows), torch.stack(masks)
