"""Small checkpoints saved on the spot, for the `hf` backbone's offline tests: a tiny M-LLM and a text-only LM."""

from __future__ import annotations

from pathlib import Path

from bench.registry import backbones


def save_tiny(name: str, folder: Path) -> Path:
    """`NAME:size=tiny` (random weights, local tokenizer) saved with save_pretrained, model and processor: what `hf:path=` loads."""
    backbone = backbones.build(f"{name}:size=tiny")
    backbone.load("cpu")
    try:
        backbone.model.save_pretrained(folder)
        backbone.processor.save_pretrained(folder)
    finally:
        backbone.release()
    return folder


def save_text_only(folder: Path) -> Path:
    """A one-layer Qwen2 causal LM and its tokenizer: a checkpoint that cannot take images."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from bench.tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer(("<|endoftext|>",), eos_token="<|endoftext|>")
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
