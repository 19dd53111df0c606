"""internvl3: InternVL3 (default OpenGVLab/InternVL3-8B-hf), the k frames as one video input.

Follows the Hugging Face port: `InternVLForConditionalGeneration` with its processor and chat
template (`<|im_start|>user\\n<video>\\n{prompt}<|im_end|>\\n<|im_start|>assistant\\n`), greedy
decoding. Each frame is resized to one 448x448 tile (no crop, aspect not kept, ImageNet mean and
std), encoded by InternViT-300M/14 (32x32 patches, last layer, CLS dropped), pixel-shuffled by
0.5 (each 2x2 block of patches becomes one token of 4x the width: 16x16) and projected, so

    n_visual_tokens = 256 * k          (1024, 2048, 4096, 8192 at k = 4, 8, 16, 32)

whatever the frame size: the `<IMG_CONTEXT>` tokens the language model reads as frame features.
The processor writes the video as `Frame1: <img>...</img>\\nFrame2: <img>...</img>...`, 256
`<IMG_CONTEXT>` between each pair of markers. The 1B to 78B variants load by id
(`path=OpenGVLab/InternVL3-38B-hf`). A judged frame goes in as one image through the port's
dynamic tiling (1 to 12 448-px tiles by aspect, plus a 448-px thumbnail when there are several),
as the model answers image questions.

Video or images: the model card (OpenGVLab/InternVL3-8B) gives a video as a list of images,
each frame one 448-px tile (`load_video(..., max_num=1)`: no tiling, no thumbnail), behind
`Frame{i}: <image>` labels. The port's video input renders the same tiles behind the same
labels, so the frames go in as one video: the same tokens, one input, and the port's own path.

Departs from the model card in two ways. The card samples 8 frames uniformly from the file;
here the selector's k frames, in time order, are the video. The card's chat template
(`internvl2_5`) opens with a system turn introducing the model (书生·万象 / InternVL); the port's
chat template has none, and that is the one used, as the port is what loads.

The `weights=random` build uses the 8B config values (the port's conversion of the original
config.json): Qwen2.5-7B (hidden 3584, 28 layers, 28 heads, 4 KV heads, vocab 151674, rope theta
1e6 with dynamic scaling factor 2, untied embeddings), InternViT-300M-448px-V2.5 (hidden 1024,
24 layers, 16 heads, qkv bias, layer norm), downsample ratio 0.5, a GELU projector.
"""

from __future__ import annotations

from typing import Any

from bench.backbones._hf import HFBackbone
from bench.registry import backbones

DEFAULT = "OpenGVLab/InternVL3-8B-hf"
MARKERS = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"}
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", *MARKERS.values())
# renders what the port's chat template renders for a single user turn
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif part['type'] == 'video' %}<video>\n{% else %}{{ part['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FULL_SIDE, TINY_SIDE = 448, 56  # tile side; the tiny one gives 4x4 patches, shuffled to 2x2: 4 tokens a frame
IMAGENET_NORM = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])


@backbones.register("internvl3")
class InternVL3(HFBackbone):
    """InternVL3 (default 8B): the k frames as one video, one 256-token tile each; also judges and captions frames."""

    spec = "internvl3"

    default_path = DEFAULT
    visual_token = "<IMG_CONTEXT>"
    placeholders = {"image_token_id": "<IMG_CONTEXT>"}

    def model_class(self) -> type:
        from transformers import InternVLForConditionalGeneration

        return InternVLForConditionalGeneration

    def local_processor(self, tiny: bool) -> Any:
        from transformers import GotOcr2ImageProcessor, InternVLProcessor, InternVLVideoProcessor

        from bench.tiny import tiny_tokenizer

        side = TINY_SIDE if tiny else FULL_SIDE
        size = {"height": side, "width": side}
        tokenizer = tiny_tokenizer(SPECIAL, eos_token="<|im_end|>", pad_token="<|endoftext|>", extra_special_tokens=MARKERS)
        return InternVLProcessor(
            image_processor=GotOcr2ImageProcessor(size=size, crop_to_patches=True, min_patches=1, max_patches=12, **IMAGENET_NORM),
            video_processor=InternVLVideoProcessor(size=size, **IMAGENET_NORM),
            tokenizer=tokenizer,
            image_seq_length=(side // 14 // 2) ** 2,  # 256 at 448 px
            chat_template=CHAT_TEMPLATE,
        )

    def published_config(self) -> Any:
        from transformers import InternVLConfig

        return InternVLConfig(
            text_config=dict(
                model_type="qwen2", vocab_size=151674, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                num_attention_heads=28, num_key_value_heads=4, rms_norm_eps=1e-6, max_position_embeddings=32768,
                rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1e6}, bos_token_id=151643,
                eos_token_id=151645, tie_word_embeddings=False,
            ),
            vision_config=dict(
                hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, image_size=FULL_SIDE,
                patch_size=14, attention_bias=True, use_qk_norm=False, norm_type="layer_norm", layer_norm_eps=1e-6,
            ),
            image_seq_length=256, downsample_ratio=0.5, projector_hidden_act="gelu", vision_feature_layer=-1,
            vision_feature_select_strategy="default", tie_word_embeddings=False,
        )

    def tiny_config(self, vocab_size: int) -> Any:
        from transformers import InternVLConfig

        return InternVLConfig(
            text_config=dict(
                model_type="qwen2", vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, bos_token_id=None, eos_token_id=None, tie_word_embeddings=False,
            ),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=TINY_SIDE, patch_size=14),
            image_seq_length=4, tie_word_embeddings=False,
        )

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        return [{"type": "video" if video else "image"}]
