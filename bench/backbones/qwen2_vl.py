"""qwen2-vl: Qwen2-VL (default Qwen/Qwen2-VL-7B-Instruct), the k frames as one video input.

Follows the published checkpoint: `Qwen2VLForConditionalGeneration` with its processor, the
instruct chat template (default system turn, `<|vision_start|><|video_pad|><|vision_end|>` then
the prompt in the user turn), greedy decoding. The vision encoder patches 14 px, pairs frames
in time (temporal patch 2, an odd last frame is repeated) and merges 2x2 patches, so

    n_visual_tokens = ceil(k / 2) * (H' / 28) * (W' / 28)

with (H', W') the frame resized to multiples of 28 within [min_pixels, max_pixels] keeping its
aspect (`smart_resize`). A 336x597 frame becomes 336x588: 252 tokens per pair of frames, 1008
at k = 8. The 72B and 2B variants load by id (`path=Qwen/Qwen2-VL-72B-Instruct`).

Departs from qwen-vl-utils, the reference video loader, in two ways. It samples frames itself
at 2 fps; here the selector has chosen the k frames, which arrive in time order and are all
used. Its video pixel bounds (100352 to 602112 per frame) give way to the checkpoint
processor's (3136 to 12845056, preprocessor_config.json): the same size for framebench's
336-px frames (336x588 is 197568 px), but smaller frames (needle's 120x160) are not scaled up.
Its total-pixel cap per video is applied (`cap_pixels_per_frame`); at k <= 32 it never binds.
The `weights=random` build uses the 7B-Instruct config.json values (hidden 3584, 28 layers, 28
heads, 4 KV heads, mrope sections 16/24/24, a 32-layer 1280-wide vision encoder).
"""

from __future__ import annotations

from typing import Any

from bench.backbones._hf import HFBackbone
from bench.registry import backbones

DEFAULT = "Qwen/Qwen2-VL-7B-Instruct"
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
# renders what the checkpoint's chat_template.json renders for a single user turn
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FULL_PIXELS = (56 * 56, 28 * 28 * 16384)  # preprocessor_config.json min_pixels, max_pixels
TINY_PIXELS = (56 * 56, 56 * 84)  # a 120x160 needle frame becomes 56x56: 4 tokens per pair of frames


@backbones.register("qwen2-vl")
class Qwen2VL(HFBackbone):
    """Qwen2-VL (default 7B-Instruct): the k frames as one video input; also judges and captions frames."""

    spec = "qwen2-vl"

    default_path = DEFAULT
    visual_token = "<|video_pad|>"
    placeholders = {
        "image_token_id": "<|image_pad|>",
        "video_token_id": "<|video_pad|>",
        "vision_start_token_id": "<|vision_start|>",
        "vision_end_token_id": "<|vision_end|>",
    }

    def model_class(self) -> type:
        from transformers import Qwen2VLForConditionalGeneration

        return Qwen2VLForConditionalGeneration

    def processor_class(self) -> type:
        """The transformers processor that joins the image and video processors and the tokenizer."""
        from transformers import Qwen2VLProcessor

        return Qwen2VLProcessor

    def local_processor(self, tiny: bool) -> Any:
        from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        from bench.tiny import tiny_tokenizer

        low, high = TINY_PIXELS if tiny else FULL_PIXELS
        tokenizer = tiny_tokenizer(SPECIAL, eos_token="<|im_end|>", pad_token="<|endoftext|>")
        return self.processor_class()(
            image_processor=Qwen2VLImageProcessor(min_pixels=low, max_pixels=high),
            video_processor=Qwen2VLVideoProcessor(min_pixels=low, max_pixels=high, cap_pixels_per_frame=True),
            tokenizer=tokenizer,
            chat_template=CHAT_TEMPLATE,
        )

    def published_config(self) -> Any:
        from transformers import Qwen2VLConfig

        return Qwen2VLConfig(
            text_config=dict(
                vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                num_attention_heads=28, num_key_value_heads=4, rms_norm_eps=1e-6, max_position_embeddings=32768,
                max_window_layers=28, rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
                bos_token_id=151643, eos_token_id=151645,
            ),
            vision_config=dict(
                depth=32, embed_dim=1280, hidden_size=3584, num_heads=16, mlp_ratio=4, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
            ),
            tie_word_embeddings=False,
        )

    def tiny_config(self, vocab_size: int) -> Any:
        from transformers import Qwen2VLConfig

        return Qwen2VLConfig(
            text_config=dict(
                vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                bos_token_id=None, eos_token_id=None,
            ),
            vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2),
        )

    def pretrained(self) -> tuple[Any, Any]:
        model, processor = super().pretrained()
        processor.video_processor.cap_pixels_per_frame = True  # qwen-vl-utils' per-frame cap, as in the local build
        return model, processor

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        return [{"type": "video" if video else "image"}]

