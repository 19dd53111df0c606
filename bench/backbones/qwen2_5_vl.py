"""qwen2.5-vl: Qwen2.5-VL (default Qwen/Qwen2.5-VL-7B-Instruct), the k frames as one video input.

Follows the published checkpoint: `Qwen2_5_VLForConditionalGeneration` with its processor, the
instruct chat template (Qwen2-VL's: default system turn, `<|vision_start|><|video_pad|>
<|vision_end|>` then the prompt in the user turn), greedy decoding. The vision encoder patches
14 px, pairs frames in time (temporal patch 2, an odd last frame is repeated) and merges 2x2
patches, so

    n_visual_tokens = ceil(k / 2) * (H' / 28) * (W' / 28)

with (H', W') the frame resized to multiples of 28 within [min_pixels, max_pixels] keeping its
aspect (`smart_resize`). A 336x597 frame becomes 336x588: 252 tokens per pair of frames, 1008
at k = 8. The 3B, 32B and 72B variants load by id (`path=Qwen/Qwen2.5-VL-72B-Instruct`).

Time. Qwen2.5-VL puts temporal patch g (frames 2g and 2g + 1) at rotary time position
floor(g * second_per_grid_ts * tokens_per_second), tokens_per_second = 2: one number per video,
so it assumes evenly spaced frames, and a selection is not. The model is told the selection's
mean spacing: second_per_grid_ts = temporal_patch_size (2) x the mean gap between consecutive
selected frame times, (t[k-1] - t[0]) / (k - 1). The clip then covers as many seconds as the
selection does; the patches in between are placed as if evenly spaced. Frames at 1, 2, 4 and
9 s: mean gap 8 / 3 s, second_per_grid_ts 16 / 3, the second patch at time position 10.
Called without times (the runner does not pass them yet), or with one frame or no spread, it
assumes 2 fps, as qwen-vl-utils does for a list of frames: second_per_grid_ts 1.0 (the
processor alone would assume 24 fps). The value reaches the model in float32: `HFBackbone.inputs`
casts every float input to bf16 on CUDA, which would move late patches by up to 0.2%.

Departs from qwen-vl-utils (0.0.14), the reference preprocessing, in three ways. It samples
frames itself at 2 fps; here the selector has chosen the k frames, which arrive in time order and
are all used. Its video pixel bounds (100352 to 602112 per frame) give way to the checkpoint
processor's (3136 to 12845056, preprocessor_config.json): the same size for framebench's 336-px
frames, but smaller frames (needle's 120x160) are not scaled up to 280x392. For a list of
frames it first resizes each frame to multiples of 56, not 28 (`fetch_video` passes the 28-px
factor where `fetch_image` takes the patch size and doubles it), then to multiples of 28: a
336x597 frame becomes 336x616 there (264 tokens per pair), 336x588 here. Frames that are
multiples of 56 inside both bounds give the same input ids and pixels both ways. Its total-pixel
cap per video is applied (`cap_pixels_per_frame`); at k <= 32 it never binds.

The `weights=random` build uses the 7B-Instruct config.json values (read from the copy in
NVIDIA TensorRT-LLM's Qwen2.5-VL modeling test, QWEN2_5_VL_7B_CONFIG): hidden 3584, 28 layers, 28
heads, 4 KV heads, MLP 18944, vocab 152064, mrope sections 16/24/24, rope theta 1e6, 128000
positions, untied head; a 32-layer 1280-wide vision encoder with gated SiLU MLP 3420, window
attention (112 px, full attention in blocks 7, 15, 23, 31), 2 tokens per second, merged to 3584.
It has 8,292,166,656 parameters, the checkpoint's safetensors index total (16584333312 bf16 bytes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.backbones.qwen2_vl import Qwen2VL
from bench.records import Reply
from bench.registry import backbones
from bench.timing import timed

DEFAULT = "Qwen/Qwen2.5-VL-7B-Instruct"
UNTIMED_FPS = 2.0  # qwen-vl-utils' `sample_fps` for a list of frames, assumed when no times come


def seconds_per_grid(times: np.ndarray | None, temporal_patch_size: int = 2) -> float:
    """second_per_grid_ts told to the model: temporal_patch_size x the mean gap of `times` (seconds, ascending)."""
    if times is None or len(times) < 2 or times[-1] <= times[0]:
        return temporal_patch_size / UNTIMED_FPS
    gap = (float(times[-1]) - float(times[0])) / (len(times) - 1)  # = the mean of np.diff(times)
    return temporal_patch_size * gap


@backbones.register("qwen2.5-vl")
class Qwen25VL(Qwen2VL):
    """Qwen2.5-VL (default 7B-Instruct): the k frames as one video at their mean spacing; also judges and captions frames."""

    spec = "qwen2.5-vl"

    default_path = DEFAULT  # the chat template, special tokens, placeholders and pixel bounds are Qwen2-VL's

    def model_class(self) -> type:
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration

    def processor_class(self) -> type:
        from transformers import Qwen2_5_VLProcessor

        return Qwen2_5_VLProcessor

    def published_config(self) -> Any:
        from transformers import Qwen2_5_VLConfig

        return Qwen2_5_VLConfig(
            text_config=dict(
                vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                num_attention_heads=28, num_key_value_heads=4, rms_norm_eps=1e-6, max_position_embeddings=128000,
                max_window_layers=28, rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
                bos_token_id=151643, eos_token_id=151645,
            ),
            vision_config=dict(
                depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584, patch_size=14,
                spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2,
            ),
            tie_word_embeddings=False,
        )

    def tiny_config(self, vocab_size: int) -> Any:
        from transformers import Qwen2_5_VLConfig

        return Qwen2_5_VLConfig(
            text_config=dict(
                vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                bos_token_id=None, eos_token_id=None,
            ),
            vision_config=dict(
                depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32, fullatt_block_indexes=[1], tokens_per_second=2,
            ),
        )

    def process(self, prompts: list[str], clips: list[np.ndarray], video: bool) -> Any:
        batch = super().process(prompts, clips, video)
        if video:  # the untimed assumption (2 fps), not the processor's 24 fps; `answer` tells the selection's spacing
            batch["second_per_grid_ts"] = batch["second_per_grid_ts"].new_full((len(clips),), seconds_per_grid(None))
        return batch

    def answer(self, frames: np.ndarray, prompt: str, max_new_tokens: int, times: np.ndarray | None = None) -> Reply:
        """Greedy answer about frames uint8 (k, H, W, 3) in time order; times: float (k,) seconds, or None (2 fps assumed)."""
        import torch

        if times is not None and len(times) != len(frames):
            raise ValueError(f"{len(times)} times for {len(frames)} frames")
        with timed(self.device) as took:
            inputs = self.inputs([frames], [prompt], video=True)
            # set after the cast to the model's dtype: in bf16 it would move the time positions of late patches
            inputs["second_per_grid_ts"] = torch.tensor([seconds_per_grid(times)], dtype=torch.float32, device=self.device)
        new = self.generate(inputs, max_new_tokens)
        text = self.processor.tokenizer.decode(new[0], skip_special_tokens=True)
        return Reply(text, n_visual_tokens=self.count_visual(inputs), t_preprocess_s=took[0])
