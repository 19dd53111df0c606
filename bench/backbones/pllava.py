"""pllava: PLLaVA (default ermu2001/pllava-7b), the k frames pooled to a fixed grid of visual tokens.

PLLaVA is not in transformers; `_pllava` builds it from CLIP ViT-L/14-336, a two-layer GELU
projector, adaptive average pooling and LLaMA (Vicuna-7B for the 7B model) with LoRA, under the
published parameter names. The k frames (short side 336, centre crop 336) give a (k, 24, 24)
feature grid pooled to the checkpoint's `pooling_shape` (16, 12, 12) whatever k is, so

    n_visual_tokens = 16 * 12 * 12 = 2304 for every k

Pooling repeats frames when k < 16 (each frame 4 times at k = 4) and averages neighbours when
k > 16. The prompt is PLLaVA's Vicuna conversation (`USER: <image>\\n{prompt} ASSISTANT:`, its
`eval_videoqabench` layout) without that mode's system text and question wrapping, since the
benchmark owns the wording. The 13B and 34B checkpoints load by id; the 34B one's Yi prompt
style is not reproduced.

What was checked, and how (through the search tool, 2026-11):
- model code, magic-research/PLLaVA `models/pllava/modeling_pllava.py`: the attribute names
  `vision_tower`, `multi_modal_projector.linear_1/linear_2`, `language_model`; projector before
  pooling; `vision_feature_layer` hidden state with CLS dropped; `(frames h w)` rearranged to
  `(d, frames, h, w)`, `AdaptiveAvgPool3d(pooling_shape)`, flattened frames-major.
- transformers 5.24 `conversion_mapping.py` strips a `vision_model.` level from CLIPVisionModel
  checkpoints on load: PLLaVA's files (transformers 4.37) name the CLIP weights
  `vision_tower.vision_model.…`, which `_pllava` keeps.
- `tasks/eval/model_utils.py` `load_pllava`: the LLaMA is wrapped by peft LoRA (r 128,
  q_proj and v_proj; the eval scripts pass lora_alpha 4) before the checkpoint's safetensors are
  copied in by name, so the checkpoint holds peft-prefixed LLaMA names.
- ermu2001/pllava-7b on the Hub: config.json (CLIP 1024 wide, 24 layers, 336 px, patch 14;
  Vicuna-7B text config with vocab 32064, 4096 positions, pad 0; image_token_index 32000;
  vision_feature_layer -2, "default" strategy; GELU projector; pooling_shape [16, 12, 12],
  frame_shape [24, 24], num_frames 16) and the file list: three shards of 4.91 + 5 + 4.35 GB
  and a 92.4 kB model.safetensors.index.json. The index itself could not be read. The sizes
  agree with this layout: 14.26 GB in bf16 is 7.13 B parameters, LLaVA-NeXT-Video-7B's 7.06 B
  (same CLIP and Vicuna) plus 67 M of LoRA (32 layers x 2 projections x 128 x (4096 + 4096));
  and the index is 22 kB longer than that model's 70.2 kB, what 291 `base_model.model.`
  prefixes, 64 `.base_layer` infixes and 128 LoRA entries add. `tests/test_backbones_full.py`
  checks the parameter count, names and shapes against a meta-device build.

Departs from `load_pllava` in one way: a parameter the checkpoint lacks is an error here, where
PLLaVA's loader (strict=False) would leave it random without a word.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.backbones import _pllava
from bench.backbones._hf import HFBackbone
from bench.registry import backbones

DEFAULT = "ermu2001/pllava-7b"
SPECIAL = ("<unk>", "<s>", "</s>", "<image>")
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>\n{% else %}{{ part['text'] }}{% endif %}{% endfor %}"
    " {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
LORA = {"full": (128, 4), "tiny": (4, 4)}  # (rank, alpha)
FULL_SIDE, TINY_SIDE = 336, 56


@dataclass(frozen=True)
class Processor:
    """PLLaVA's processor: a LLaMA tokenizer carrying the conversation template, and a CLIP image processor."""

    tokenizer: Any
    image_processor: Any

    def apply_chat_template(self, messages: list[dict], **kwargs: Any) -> str:
        """The prompt in PLLaVA's conversation layout."""
        return self.tokenizer.apply_chat_template(messages, **kwargs)


def llava_config(side: int, text: dict, vision: dict, pooling_shape: list[int]) -> Any:
    """A LlavaConfig carrying PLLaVA's pooling fields, as PLLaVA's own config.json does."""
    from transformers import LlavaConfig

    return LlavaConfig(
        text_config={"model_type": "llama", **text},
        vision_config={"model_type": "clip_vision_model", "image_size": side, "patch_size": 14, **vision},
        projector_hidden_act="gelu", vision_feature_layer=-2, vision_feature_select_strategy="default",
        pooling_shape=pooling_shape, frame_shape=[side // 14, side // 14], tie_word_embeddings=False,
    )


@backbones.register("pllava")
class Pllava(HFBackbone):
    """PLLaVA (default 7B): the k frames pooled to 16x12x12 visual tokens; also judges and captions frames."""

    spec = "pllava"

    default_path = DEFAULT
    visual_token = "<image>"
    placeholders = {"image_token_index": "<image>"}
    llava: Any = None  # the LlavaConfig with PLLaVA's pooling fields, once loaded

    def local_processor(self, tiny: bool) -> Any:
        from transformers import CLIPImageProcessor

        from bench.tiny import tiny_tokenizer

        side = TINY_SIDE if tiny else FULL_SIDE
        tokenizer = tiny_tokenizer(
            SPECIAL, chat_template=CHAT_TEMPLATE, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>"
        )
        images = CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
        return Processor(tokenizer, images)

    def published_config(self) -> Any:
        text = dict(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                    num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5, pad_token_id=0)
        vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, projection_dim=768)
        return llava_config(FULL_SIDE, text, vision, [16, 12, 12])

    def tiny_config(self, vocab_size: int) -> Any:
        text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=2, bos_token_id=None, eos_token_id=None)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, projection_dim=32)
        return llava_config(TINY_SIDE, text, vision, [4, 2, 2])

    def config(self, tokenizer: Any) -> Any:
        self.llava = super().config(tokenizer)
        return self.llava

    def random(self, config: Any) -> Any:
        return _pllava.build(config, *LORA[self.size], dtype=self.dtype)

    def pretrained(self) -> tuple[Any, Any]:
        import torch
        from huggingface_hub import snapshot_download
        from transformers import AutoTokenizer, CLIPImageProcessor, LlavaConfig

        local = Path(self.path).is_dir()
        folder = Path(self.path) if local else Path(snapshot_download(self.path, allow_patterns=["*.json", "*.safetensors"]))
        self.llava = LlavaConfig.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        tokenizer.chat_template = CHAT_TEMPLATE
        with torch.device(self.device):
            model = _pllava.build(self.llava, *LORA["full"], dtype=self.dtype)
        _pllava.load_checkpoint(model, folder)
        return model, Processor(tokenizer, CLIPImageProcessor.from_pretrained(folder))

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        return [{"type": "image"}]  # one placeholder for the whole clip, replaced by the pooled tokens

    def process(self, prompts: list[str], clips: list[np.ndarray], video: bool) -> Any:
        from transformers import BatchFeature

        text = self.processor.tokenizer(prompts, return_tensors="pt", padding=True)
        pixels = self.processor.image_processor(images=[f for clip in clips for f in clip], return_tensors="pt")["pixel_values"]
        return BatchFeature({**text, "pixel_values": pixels.unflatten(0, (len(clips), -1))})

    def count_visual(self, inputs: Any) -> int:
        return math.prod(self.llava.pooling_shape)

    def generate(self, inputs: Any, max_new_tokens: int) -> Any:
        import torch

        with torch.inference_mode():
            embeds, mask = _pllava.prompt_embeddings(self.model, self.llava, inputs)
            # from embeddings alone, generate returns only the new tokens
            language = self.model["language_model"]
            return language.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False)

    def next_token_logits(self, inputs: Any) -> Any:
        import torch

        with torch.inference_mode():
            embeds, mask = _pllava.prompt_embeddings(self.model, self.llava, inputs)
            return self.model["language_model"](inputs_embeds=embeds, attention_mask=mask, logits_to_keep=1).logits[:, -1].float()
