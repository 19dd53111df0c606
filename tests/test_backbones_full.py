"""The full-size path without 7B weights: published architectures on the meta device, published visual token counts, PLLaVA's checkpoint names."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from bench.backbones import _pllava
from bench.registry import backbones

NAMES = ("qwen2-vl", "llava-next-video", "idefics2", "pllava")

# Parameter counts of the published checkpoints, from their safetensors shard sizes on the Hub:
# Qwen2-VL-7B-Instruct 3.9 + 3.86 * 3 + 1.09 = 16.57 GB bf16; LLaVA-NeXT-Video-7B-hf 4.99 + 4.96 +
# 4.18 = 14.13 GB bf16; idefics2-8b 4.64 + 4.99 + 4.9 + 5 + 5 + 4.83 + 4.25 = 33.61 GB fp32;
# pllava-7b 4.91 + 5 + 4.35 = 14.26 GB bf16. (The Hub pages show 8.29B, 7.06B and 8.4B params.)
# Sizes are shown to 0.01 GB, so the totals are good to within 0.15%.
PUBLISHED_PARAMS = {"qwen2-vl": 16.57e9 / 2, "llava-next-video": 14.13e9 / 2, "idefics2": 33.61e9 / 4, "pllava": 14.26e9 / 2}

# Visual tokens for k frames of 336x597 (a 16:9 video decoded at short side 336):
# - qwen2-vl: smart_resize keeps 336 and rounds 597 to 588 (21 * 28); 24x42 patches merged 2x2 = 252 per pair of frames.
# - llava-next-video: crop 336x336, 24x24 patches pooled by 2 = 144 per frame.
# - idefics2: 64 perceiver latents per frame.
# - pllava: pooled to (16, 12, 12) whatever k.
PUBLISHED_TOKENS = {"qwen2-vl": lambda k: 252 * k // 2, "llava-next-video": lambda k: 144 * k, "idefics2": lambda k: 64 * k, "pllava": lambda k: 2304}


def full(name: str):
    """The backbone at full size with random weights, not loaded."""
    return backbones.build(name, weights="random")


def meta_model(name: str):
    """The full-size model on the meta device, from the published config."""
    backbone = full(name)
    config = backbone.published_config()
    with torch.device("meta"):  # shapes only: no memory, no init cost
        if name == "pllava":
            return _pllava.build(config, 128, 4, dtype=torch.bfloat16)
        return backbone.model_class()._from_config(config, dtype=torch.bfloat16)


@pytest.mark.parametrize("name", NAMES)
def test_the_random_build_has_the_published_parameter_count(name):
    count = sum(p.numel() for p in meta_model(name).parameters())
    assert count == pytest.approx(PUBLISHED_PARAMS[name], rel=0.002)


@pytest.mark.parametrize("name, checks", [
    ("qwen2-vl", {"text_config.hidden_size": 3584, "text_config.num_hidden_layers": 28, "text_config.num_key_value_heads": 4,
                  "vision_config.depth": 32, "vision_config.embed_dim": 1280, "vision_config.temporal_patch_size": 2}),
    ("llava-next-video", {"text_config.hidden_size": 4096, "text_config.vocab_size": 32064, "vision_config.num_hidden_layers": 24, "vision_config.image_size": 336,
                          "spatial_pool_stride": 2, "spatial_pool_mode": "average", "vision_feature_layer": -2}),
    ("idefics2", {"text_config.num_key_value_heads": 8, "text_config.sliding_window": 4096, "vision_config.hidden_size": 1152,
                  "vision_config.num_hidden_layers": 27, "vision_config.image_size": 980, "perceiver_config.resampler_n_latents": 64}),
    ("pllava", {"text_config.vocab_size": 32064, "text_config.num_hidden_layers": 32, "vision_config.num_hidden_layers": 24, "vision_config.image_size": 336, "pooling_shape": [16, 12, 12],
                "frame_shape": [24, 24], "vision_feature_layer": -2, "projector_hidden_act": "gelu"}),
    ("llava-onevision", {"text_config.vocab_size": 152128, "text_config.num_key_value_heads": 4, "vision_config.num_hidden_layers": 26,
                         "vision_config.image_size": 384, "vision_feature_select_strategy": "full", "vision_aspect_ratio": "anyres_max_9"}),
    ("internvl3", {"text_config.vocab_size": 151674, "text_config.hidden_size": 3584, "vision_config.hidden_size": 1024,
                   "vision_config.num_hidden_layers": 24, "downsample_ratio": 0.5, "image_seq_length": 256}),
])
def test_the_random_build_is_the_published_config_with_only_placeholder_ids_moved(name, checks):
    backbone = full(name)
    tokenizer = backbone.local_processor(tiny=False).tokenizer
    config = backbone.config(tokenizer)
    for path, expected in checks.items():
        value = config
        for part in path.split("."):
            value = getattr(value, part)
        assert value == expected, path
    for key, token in backbone.placeholders.items():
        assert getattr(config, key) == tokenizer.convert_tokens_to_ids(token) < 600  # the local tokenizer's small ids


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [4, 8, 32])
def test_full_size_processors_give_the_published_visual_token_counts(name, k):
    backbone = full(name)
    backbone.processor = backbone.local_processor(tiny=False)
    backbone.llava = backbone.published_config()  # what pllava counts from
    backbone.dtype = torch.float32
    frames = np.random.default_rng(0).integers(0, 256, size=(k, 336, 597, 3), dtype=np.uint8)
    inputs = backbone.inputs([frames], ["Which colour?"], video=True)
    assert backbone.count_visual(inputs) == PUBLISHED_TOKENS[name](k)


def test_pllava_parameters_have_the_published_checkpoint_names_and_shapes():
    shapes = {name: tuple(p.shape) for name, p in meta_model("pllava").state_dict().items()}
    expected = {  # names as magic-research/PLLaVA's model, wrapped by peft as load_pllava does
        "vision_tower.vision_model.embeddings.patch_embedding.weight": (1024, 3, 14, 14),
        "vision_tower.vision_model.encoder.layers.23.mlp.fc2.weight": (1024, 4096),
        "vision_tower.vision_model.post_layernorm.weight": (1024,),
        "multi_modal_projector.linear_1.weight": (4096, 1024),
        "multi_modal_projector.linear_2.bias": (4096,),
        "language_model.base_model.model.model.embed_tokens.weight": (32064, 4096),
        "language_model.base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight": (4096, 4096),
        "language_model.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight": (128, 4096),
        "language_model.base_model.model.model.layers.31.self_attn.v_proj.lora_B.default.weight": (4096, 128),
        "language_model.base_model.model.model.layers.31.self_attn.k_proj.weight": (4096, 4096),
        "language_model.base_model.model.lm_head.weight": (32064, 4096),
    }
    assert {name: shapes.get(name) for name in expected} == expected
    assert sum(".lora_" in name for name in shapes) == 32 * 2 * 2  # q and v, A and B, in 32 layers


def tiny_pllava(seed: int):
    """PLLaVA's module at tiny size, its random weights from `seed`."""
    backbone = backbones.build("pllava:size=tiny")
    config = backbone.tiny_config(40)
    config.image_token_index = 3
    torch.manual_seed(seed)
    return _pllava.build(config, 4, 4, dtype=torch.float32)


def save_shards(model, folder):
    """The model's tensors in two safetensors shards with an index, as the Hub checkpoints are laid out."""
    tensors = {name: t.detach().clone().contiguous() for name, t in model.state_dict().items()}
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, part in shards.items():
        save_file({n: tensors[n] for n in part}, str(folder / file))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {n: f for f, part in shards.items() for n in part}}))
    return shards


def test_pllava_loads_a_sharded_checkpoint_by_name_and_refuses_one_with_parameters_missing(tmp_path):
    source, target = tiny_pllava(seed=1), tiny_pllava(seed=2)
    shards = save_shards(source, tmp_path)
    assert not torch.equal(source["multi_modal_projector"]["linear_1"].weight, target["multi_modal_projector"]["linear_1"].weight)
    _pllava.load_checkpoint(target, tmp_path)
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert torch.equal(a, b), name
    first = next(iter(shards))
    kept = {n: t for n, t in target.state_dict().items() if n in shards[first] and "linear_2" not in n}
    save_file({n: t.contiguous() for n, t in kept.items()}, str(tmp_path / first))
    with pytest.raises(ValueError, match="missing"):
        _pllava.load_checkpoint(tiny_pllava(seed=3), tmp_path)
