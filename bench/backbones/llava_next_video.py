"""llava-next-video: LLaVA-NeXT-Video (default llava-hf/LLaVA-NeXT-Video-7B-hf), the k frames as one video.

Follows the published Hugging Face port: `LlavaNextVideoForConditionalGeneration` with its
processor and its chat template (`USER: <video>\\n{prompt} ASSISTANT:`), greedy decoding. Each
frame is resized to short side 336 and centre-cropped to 336x336, encoded by CLIP ViT-L/14-336
(24x24 patches, penultimate layer, CLS dropped) and average-pooled with stride 2, so

    n_visual_tokens = 144 * k          (576, 1152, 2304, 4608 at k = 4, 8, 16, 32)

The 34B variant loads by id (`path=llava-hf/LLaVA-NeXT-Video-34B-hf`). A judged frame goes in as
one image through the LLaVA-NeXT any-resolution tiling, as the model answers image questions.

The `weights=random` build uses the 7B config.json values: Vicuna-7B (hidden 4096, 32 layers,
32 heads, vocab 32064, 4096 positions), CLIP ViT-L/14-336, average pooling stride 2, GELU
projector, no RoPE scaling: the config.json read (Hub commit babe571) has `"factor": 2.0,
"type": "linear"` loose in text_config, not under rope_scaling, where transformers does not
take them as scaling. Scaling would change no shape or cost, only the weights' meaning.
"""

from __future__ import annotations

from typing import Any

from bench.backbones._hf import HFBackbone
from bench.registry import backbones

DEFAULT = "llava-hf/LLaVA-NeXT-Video-7B-hf"
SPECIAL = ("<unk>", "<s>", "</s>", "<video>", "<image>")
# renders what the checkpoint's chat_template.json renders for a single user turn
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for part in message['content'] %}{% if part['type'] == 'video' %}<video>\n{% endif %}{% endfor %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
FULL_SIDE, TINY_SIDE = 336, 56  # crop side; the tiny one gives 4x4 patches, 4 tokens a frame
FULL_GRID = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


@backbones.register("llava-next-video")
class LlavaNextVideo(HFBackbone):
    """LLaVA-NeXT-Video (default 7B): the k frames as one video, 144 tokens each; also judges and captions frames."""

    spec = "llava-next-video"

    default_path = DEFAULT
    visual_token = "<video>"
    placeholders = {"image_token_id": "<image>", "video_token_id": "<video>"}

    def model_class(self) -> type:
        from transformers import LlavaNextVideoForConditionalGeneration

        return LlavaNextVideoForConditionalGeneration

    def local_processor(self, tiny: bool) -> Any:
        from transformers import LlavaNextImageProcessor, LlavaNextVideoProcessor, LlavaNextVideoVideoProcessor

        from bench.tiny import tiny_tokenizer

        side = TINY_SIDE if tiny else FULL_SIDE
        sizes = dict(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
        grid = [[side * h // FULL_SIDE, side * w // FULL_SIDE] for h, w in FULL_GRID]
        tokenizer = tiny_tokenizer(SPECIAL, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>")
        return LlavaNextVideoProcessor(
            video_processor=LlavaNextVideoVideoProcessor(**sizes),
            image_processor=LlavaNextImageProcessor(**sizes, image_grid_pinpoints=grid),
            tokenizer=tokenizer,
            chat_template=CHAT_TEMPLATE,
            patch_size=14,
            vision_feature_select_strategy="default",
            num_additional_image_tokens=1,  # the CLS token the "default" strategy drops
        )

    def published_config(self) -> Any:
        from transformers import LlavaNextVideoConfig

        return LlavaNextVideoConfig(
            text_config=dict(
                model_type="llama", vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5, pad_token_id=0,
            ),
            vision_config=dict(
                model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768,
            ),
            image_grid_pinpoints=FULL_GRID, spatial_pool_mode="average", spatial_pool_stride=2, spatial_pool_out_channels=1024,
            projector_hidden_act="gelu", vision_feature_layer=-2, vision_feature_select_strategy="default", tie_word_embeddings=False,
        )

    def tiny_config(self, vocab_size: int) -> Any:
        from transformers import LlavaNextVideoConfig

        return LlavaNextVideoConfig(
            text_config=dict(
                model_type="llama", vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=2, bos_token_id=None, eos_token_id=None,
            ),
            vision_config=dict(
                model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, image_size=TINY_SIDE, patch_size=14, projection_dim=32,
            ),
            image_grid_pinpoints=[[TINY_SIDE * h // FULL_SIDE, TINY_SIDE * w // FULL_SIDE] for h, w in FULL_GRID],
            spatial_pool_out_channels=32,
        )

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        return [{"type": "video" if video else "image"}]
