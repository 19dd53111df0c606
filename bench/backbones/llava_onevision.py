"""llava-onevision: LLaVA-OneVision (default llava-hf/llava-onevision-qwen2-7b-ov-hf), the k frames as one video.

Follows the published Hugging Face port: `LlavaOnevisionForConditionalGeneration` with its
processor and its chat template (`<|im_start|>user <video>\\n{prompt}<|im_end|><|im_start|>assistant\\n`,
no system turn), greedy decoding. Each frame is resized to 384x384 (no crop, aspect not kept),
encoded by SigLIP so400m/14 (27x27 patches, last of its 26 kept layers, no CLS), projected, and
bilinearly pooled to ceil(27 / 2) = 14 per side; one learned newline token closes the video, so

    n_visual_tokens = 196 * k + 1      (785, 1569, 3137, 6273 at k = 4, 8, 16, 32)

whatever the frame size. The 0.5B and 72B variants load by id (`path=llava-hf/llava-onevision-
qwen2-0.5b-ov-hf`), and so does LLaVA-Video in this format (`path=llava-hf/LLaVA-Video-7B-Qwen2-hf`,
Qwen2-7B with the same SigLIP tower): the port runs it with the OneVision video path above,
while lmms-eval's llava_vid wrapper runs the original with average pooling (27 // 2 = 13 a side)
and a newline after every row of every frame (mm_newline_position=grid: 13 * 14 = 182 tokens a
frame), so LLaVA-Video numbers here are the port's, not lmms-eval's. A judged frame goes in as one image through
the any-resolution tiling (anyres_max_9), as the model answers image questions.

Departs from the model card in one way: the card's example samples 8 frames uniformly from
the file (lmms-eval's llava_onevision wrapper, 32); here the selector's k frames, in time order,
are the video. The port's video pooling (bilinear, one newline per video) is the reference code's
OneVision setting (mm_spatial_pool_mode=bilinear, mm_newline_position=one_token) and is kept.

The `weights=random` build uses the 7B-ov config.json values: Qwen2-7B-Instruct (hidden 3584,
28 layers, 28 heads, 4 KV heads, rope theta 1e6, vocab 152128: 152064 + <image>, <video> padded
to a multiple of 64 by the port's conversion), SigLIP so400m/14 at 384 px with 26 of its 27
layers and no head, a 2-layer GELU projector with bias, feature layer -1, "full" features.
Image and video frames are normalised with SigLIP's mean and std of 0.5.
"""

from __future__ import annotations

from typing import Any

from bench.backbones._hf import HFBackbone
from bench.registry import backbones

DEFAULT = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")
# renders what the checkpoint's chat_template.json renders for a single user turn
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + ' ' }}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>{% endif %}{% endfor %}"
    "{% for part in message['content'] %}{% if part['type'] == 'video' %}<video>{% endif %}{% endfor %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ '\n' + part['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FULL_SIDE, TINY_SIDE = 384, 56  # frame side; the tiny one gives 4x4 patches, pooled to 2x2: 4 tokens a frame
SIGLIP_NORM = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def grid(side: int) -> list[list[int]]:
    """The any-resolution layouts: 1 to 6 tiles of `side` each way (the port's image_grid_pinpoints at side 384)."""
    return [[side * h, side * w] for h in range(1, 7) for w in range(1, 7)]


@backbones.register("llava-onevision")
class LlavaOnevision(HFBackbone):
    """LLaVA-OneVision (default 7B-ov): the k frames as one video, 196 tokens each plus 1; also judges and captions frames."""

    spec = "llava-onevision"

    default_path = DEFAULT
    visual_token = "<video>"
    placeholders = {"image_token_id": "<image>", "video_token_id": "<video>"}

    def model_class(self) -> type:
        from transformers import LlavaOnevisionForConditionalGeneration

        return LlavaOnevisionForConditionalGeneration

    def local_processor(self, tiny: bool) -> Any:
        from transformers import LlavaOnevisionImageProcessor, LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor

        from bench.tiny import tiny_tokenizer

        side = TINY_SIDE if tiny else FULL_SIDE
        size = {"height": side, "width": side}
        tokenizer = tiny_tokenizer(SPECIAL, eos_token="<|im_end|>", pad_token="<|endoftext|>")
        return LlavaOnevisionProcessor(
            image_processor=LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=grid(side), **SIGLIP_NORM),
            video_processor=LlavaOnevisionVideoProcessor(size=size, **SIGLIP_NORM),
            tokenizer=tokenizer,
            chat_template=CHAT_TEMPLATE,
            num_image_tokens=(side // 14) ** 2,  # patches per frame before pooling: 729 at 384 px
            vision_feature_select_strategy="full",
            vision_aspect_ratio="anyres_max_9",
        )

    def published_config(self) -> Any:
        from transformers import LlavaOnevisionConfig

        return LlavaOnevisionConfig(
            text_config=dict(
                model_type="qwen2", vocab_size=152128, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                num_attention_heads=28, num_key_value_heads=4, rms_norm_eps=1e-6, max_position_embeddings=32768,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6}, bos_token_id=151643, eos_token_id=151645,
                tie_word_embeddings=False,
            ),
            vision_config=dict(
                model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304, num_hidden_layers=26,
                num_attention_heads=16, image_size=FULL_SIDE, patch_size=14, vision_use_head=False,
            ),
            image_grid_pinpoints=grid(FULL_SIDE), vision_aspect_ratio="anyres_max_9", vision_feature_layer=-1,
            vision_feature_select_strategy="full", projector_hidden_act="gelu", multimodal_projector_bias=True,
            tie_word_embeddings=False,
        )

    def tiny_config(self, vocab_size: int) -> Any:
        from transformers import LlavaOnevisionConfig

        return LlavaOnevisionConfig(
            text_config=dict(
                model_type="qwen2", vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, bos_token_id=None, eos_token_id=None,
            ),
            vision_config=dict(
                model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, image_size=TINY_SIDE, patch_size=14, vision_use_head=False,
            ),
            image_grid_pinpoints=grid(TINY_SIDE),
        )

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        return [{"type": "video" if video else "image"}]
