"""The selector model's configuration, kept free of torch so the CLI can show its defaults instantly."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SelectorConfig:
    """What builds a selector model; saved as JSON beside its weights."""

    size: str = "full"  # "full": pretrained SigLIP and Qwen2.5 by id; "tiny": small, random, offline
    vision: str = "google/siglip-large-patch16-256"  # SigLIP ViT-L: a 16x16 patch grid, as the paper pools 16x16 -> 3x3
    llm: str = "Qwen/Qwen2.5-1.5B-Instruct"
    tokens: int = 9  # visual tokens per frame after pooling: 1, 9 or 25 (a square)
    head: str = "query"
    candidates: int = 128  # N; the query head outputs exactly this many logits
    lora_r: int = 0  # 0 until stage 2 adds LoRA to the LLM
    lora_alpha: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size not in ("full", "tiny"):
            raise ValueError(f"size must be full or tiny, not {self.size!r}")
        if self.head not in ("query", "frame"):
            raise ValueError(f"head must be query or frame, not {self.head!r}")
        if math.isqrt(self.tokens) ** 2 != self.tokens:
            raise ValueError(f"tokens must be a square (1, 9, 25), not {self.tokens}")

    def to_dict(self) -> dict:
        return asdict(self)
