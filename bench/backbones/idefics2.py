"""idefics2: Idefics2 (default HuggingFaceM4/idefics2-8b), one image per frame.

Follows the published checkpoint: `Idefics2ForConditionalGeneration` with its processor and
chat template (`User:<image>...<image>{prompt}<end_of_utterance>\\nAssistant:`), one `<image>`
entry per frame in time order, greedy decoding. Each frame is resized (short side 378, long side
at most 980), encoded by the SigLIP so400m encoder and compressed by the perceiver resampler
to 64 latents, so

    n_visual_tokens = 64 * k           (256, 512, 1024, 2048 at k = 4, 8, 16, 32)

Departs from the checkpoint's processor in one way, as lmms-eval's idefics2 video wrapper does:
`do_image_splitting=False`, one 64-token image per frame rather than four crops plus the whole
(320 tokens a frame, 10240 at k = 32), which a video of many frames does not need. The
`weights=random` build uses the 8B config.json values: Mistral-7B (hidden 4096, 32 layers, 8 KV
heads, vocab 32003, sliding window 4096), a 27-layer 1152-wide SigLIP encoder at 980 px, a
3-layer perceiver with 64 latents.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.backbones._hf import HFBackbone
from bench.registry import backbones

DEFAULT = "HuggingFaceM4/idefics2-8b"
SPECIAL = ("<unk>", "<s>", "</s>", "<fake_token_around_image>", "<image>", "<end_of_utterance>")
# renders what the checkpoint's chat template renders for a single user turn
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].capitalize() }}"
    "{% if message['content'][0]['type'] == 'image' %}:{% else %}: {% endif %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>{% else %}{{ part['text'] }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
FULL_SIZE = {"shortest_edge": 378, "longest_edge": 980}
TINY_SIZE = {"shortest_edge": 28, "longest_edge": 28}
TINY_LATENTS = 4


@backbones.register("idefics2")
class Idefics2(HFBackbone):
    """Idefics2 (default 8B): one 64-token image per frame; also judges and captions frames."""

    spec = "idefics2"

    default_path = DEFAULT
    visual_token = "<image>"
    placeholders = {"image_token_id": "<image>"}

    def model_class(self) -> type:
        from transformers import Idefics2ForConditionalGeneration

        return Idefics2ForConditionalGeneration

    def local_processor(self, tiny: bool) -> Any:
        from transformers import Idefics2ImageProcessor, Idefics2Processor

        from bench.tiny import tiny_tokenizer

        tokenizer = tiny_tokenizer(SPECIAL, bos_token="<s>", eos_token="<end_of_utterance>", unk_token="<unk>", pad_token="<unk>")
        return Idefics2Processor(
            image_processor=Idefics2ImageProcessor(size=TINY_SIZE if tiny else FULL_SIZE, do_image_splitting=False),
            tokenizer=tokenizer,
            image_seq_len=TINY_LATENTS if tiny else 64,
            chat_template=CHAT_TEMPLATE,
        )

    def published_config(self) -> Any:
        from transformers import Idefics2Config

        return Idefics2Config(
            text_config=dict(
                model_type="mistral", vocab_size=32003, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=8, rms_norm_eps=1e-5, max_position_embeddings=32768,
                sliding_window=4096, pad_token_id=0,
            ),
            vision_config=dict(
                hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=980, patch_size=14,
            ),
            perceiver_config=dict(
                hidden_size=4096, resampler_n_latents=64, resampler_depth=3, resampler_n_heads=16, resampler_head_dim=96, num_key_value_heads=4,
            ),
            tie_word_embeddings=False,
        )

    def tiny_config(self, vocab_size: int) -> Any:
        from transformers import Idefics2Config

        return Idefics2Config(
            text_config=dict(
                model_type="mistral", vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, bos_token_id=None, eos_token_id=None,
            ),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14),
            perceiver_config=dict(
                hidden_size=32, resampler_n_latents=TINY_LATENTS, resampler_depth=1, resampler_n_heads=2, resampler_head_dim=16, num_key_value_heads=1,
            ),
        )

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        return [{"type": "image"}] * n_frames

    def process(self, prompts: list[str], clips: list[np.ndarray], video: bool) -> Any:
        from PIL import Image

        images = [[Image.fromarray(frame) for frame in clip] for clip in clips]  # its processor takes PIL images only
        return self.processor(text=prompts, images=images, do_image_splitting=False, return_tensors="pt", padding=True)
