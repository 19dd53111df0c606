"""The seed paper's trained frame selector as a torch module.

SigLIP vision encoder (frozen) -> each frame's patch grid average-pooled to `tokens` tokens
(3x3 = 9 by default; 1 and 25 as in the paper's Table 7) -> MLP projector into the LLM's width
-> Qwen2 (Qwen2.5-1.5B-Instruct by default; 0.5B and 7B as in Table 8) over

    [frame tokens of all N candidates][question tokens][one learned score query]

Two heads read the LLM's penultimate layer:
- `query` (the paper's): the score query's hidden state -> MLP -> N logits, so N is fixed at
  training time (128 in the paper).
- `frame` (an ablation): each frame's hidden states averaged over its tokens -> one small
  MLP shared by all frames -> one logit each, so it works for any N and learns from far fewer
  samples.

Sequences are packed as [frames][question][query] and padded after the query: attention is
causal, so no position ever attends to padding and every query sits right after its question.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.selector_model.config import SelectorConfig

TINY_IMAGE = 64  # tiny SigLIP: 64 px images in 8 px patches, an 8x8 grid


def _mlp(width_in: int, width: int, width_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width_in, width), nn.GELU(), nn.Linear(width, width_out))


class FrameSelectorModel(nn.Module):
    """Scores N candidate frames for a question: pooled visual tokens + question -> N logits."""

    def __init__(self, config: SelectorConfig, vision: nn.Module, llm: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.vision = vision
        self.llm = llm
        width = llm.config.hidden_size
        self.projector = _mlp(vision.config.hidden_size, width, width)
        self.query = nn.Parameter(torch.randn(1, width) * 0.02)
        self.head = _mlp(width, width, config.candidates) if config.head == "query" else _mlp(width, width // 2, 1)
        for module in (self.vision, self.llm):
            module.requires_grad_(False)

    @torch.no_grad()
    def visual_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Frozen SigLIP features pooled per frame: (F, 3, H, W) -> (F, tokens, vision width)."""
        hidden = self.vision(pixel_values=pixel_values).last_hidden_state  # (F, P, D), P a square grid
        frames, patches, width = hidden.shape
        side = math.isqrt(patches)
        grid = hidden.transpose(1, 2).reshape(frames, width, side, side)
        pooled = nn.functional.adaptive_avg_pool2d(grid, math.isqrt(self.config.tokens))
        return pooled.flatten(2).transpose(1, 2)

    def forward(self, visual: torch.Tensor, question_ids: torch.Tensor, question_lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, N) from visual tokens (B, N, T, D) and right-padded question ids (B, L)."""
        batch, n, per_frame, _ = visual.shape
        if self.config.head == "query" and n != self.config.candidates:
            raise ValueError(f"this query-head model scores exactly {self.config.candidates} candidates, not {n}")
        frames = self.projector(visual.to(self.query.dtype)).reshape(batch, n * per_frame, -1)
        question = self.llm.get_input_embeddings()(question_ids)
        # place the query right after each question's last real token; padding follows it
        rows = torch.arange(batch, device=visual.device)
        text = torch.cat([question, question.new_zeros(batch, 1, question.shape[-1])], dim=1)
        text[rows, question_lengths] = self.query.to(text.dtype)
        hidden = self.llm(inputs_embeds=torch.cat([frames, text], dim=1), output_hidden_states=True).hidden_states[-2]
        if self.config.head == "query":
            return self.head(hidden[rows, n * per_frame + question_lengths]).float()
        per_frame_states = hidden[:, : n * per_frame].reshape(batch, n, per_frame, -1).mean(dim=2)
        return self.head(per_frame_states).squeeze(-1).float()

    def add_lora(self, r: int, alpha: int) -> None:
        """Wrap the LLM's attention projections in LoRA adapters (stage 2); only they train in the LLM."""
        from peft import LoraConfig, get_peft_model

        target = ["q_proj", "k_proj", "v_proj", "o_proj"]
        self.llm = get_peft_model(self.llm, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=target))


def build(config: SelectorConfig):
    """(model, tokenizer, image processor) for `config`: tiny is random and offline, full loads by id."""
    from transformers import Qwen2Config, Qwen2Model, SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(config.seed)
    if config.size == "tiny":
        from bench.tiny import tiny_tokenizer

        tokenizer = tiny_tokenizer(pad_token="<pad>", special_tokens=["<pad>"])
        vision = SiglipVisionModel(SiglipVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2, image_size=TINY_IMAGE, patch_size=8))
        llm = Qwen2Model(Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=8192))
        processor = SiglipImageProcessor(size={"height": TINY_IMAGE, "width": TINY_IMAGE})
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(config.llm)
        vision = SiglipVisionModel.from_pretrained(config.vision)
        llm = Qwen2Model.from_pretrained(config.llm)
        processor = SiglipImageProcessor.from_pretrained(config.vision)
    model = FrameSelectorModel(config, vision, llm)
    if config.lora_r:
        model.add_lora(config.lora_r, config.lora_alpha)
    return model, tokenizer, processor
