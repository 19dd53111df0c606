"""What the selector model reads: pooled visual tokens per candidate and the question's tokens.

The vision encoder is frozen in both training stages, so each video's pooled tokens are
computed once and cached on disk by (candidates, encoder, tokens); training epochs and
inference then skip the encoder entirely.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.records import Candidates
from bench.selector_model import FEATURES
from bench.store import ArrayStore, digest

FRAMES_PER_PASS = 32  # frames through the encoder at once
MAX_QUESTION_TOKENS = 256


class FeatureCache:
    """Pooled visual tokens (N, tokens, width) per candidates, computed with a frozen encoder."""

    def __init__(self, cache_dir: Path) -> None:
        self.store = ArrayStore(Path(cache_dir) / FEATURES)
        self._memory: dict[str, torch.Tensor] = {}

    def get(self, candidates: Candidates, model, processor, device: str) -> torch.Tensor:
        config = model.config
        # the encoder is its config plus, when random (tiny), the seed that drew its weights
        encoder = (config.size, config.vision, config.tokens, config.seed if config.size == "tiny" else None, model.vision.config.to_json_string())
        key = digest(encoder, candidates.key)
        if key not in self._memory:
            hit = self.store.load(key)
            if hit is None:
                tokens = encode(np.asarray(candidates.frames), model, processor, device).cpu()
                self.store.save(key, {"tokens": tokens.float().numpy()}, {})
            else:
                tokens = torch.from_numpy(np.array(hit[0]["tokens"]))
            self._memory[key] = tokens
        return self._memory[key]


def encode(frames: np.ndarray, model, processor, device: str) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> pooled visual tokens (N, tokens, width) on `device`."""
    chunks = []
    dtype = next(model.vision.parameters()).dtype
    for start in range(0, len(frames), FRAMES_PER_PASS):
        pixels = processor(images=list(np.array(frames[start : start + FRAMES_PER_PASS])), return_tensors="pt").pixel_values
        chunks.append(model.visual_tokens(pixels.to(device, dtype)))
    return torch.cat(chunks)


def question_batch(tokenizer, texts: list[str], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded token ids (B, L) and each text's length (B,)."""
    encoded = [tokenizer(t, add_special_tokens=False).input_ids[:MAX_QUESTION_TOKENS] or [tokenizer.pad_token_id] for t in texts]
    lengths = torch.tensor([len(ids) for ids in encoded])
    ids = torch.full((len(texts), int(lengths.max())), tokenizer.pad_token_id, dtype=torch.long)
    for row, tokens in enumerate(encoded):
        ids[row, : len(tokens)] = torch.tensor(tokens)
    return ids.to(device), lengths.to(device)
