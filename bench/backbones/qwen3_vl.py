"""qwen3-vl: Qwen3-VL (default Qwen/Qwen3-VL-8B-Instruct), the k frames as one video input, each pair told its time.

Follows the published checkpoint: `Qwen3VLForConditionalGeneration` with its processor, the
instruct chat template (no default system turn; `<|vision_start|><|video_pad|><|vision_end|>`
then the prompt in the user turn), greedy decoding. The vision encoder patches 16 px, pairs
frames in time (temporal patch 2) and merges 2x2 patches, so

    n_visual_tokens = ceil(k / 2) * (H' / 32) * (W' / 32)

with (H', W') the frame resized to multiples of 32 (`round`, so a half rounds to even) within the
video processor's bounds keeping its aspect. A 336x597 frame becomes 320x608 (10.5 rounds to 10
blocks, 18.7 to 19): 190 tokens per pair of frames, 760 at k = 8. The 2B, 4B and 32B variants
load by id (`path=Qwen/Qwen3-VL-4B-Instruct`); the MoE ones are another class.

Time. Qwen3-VL reads time as text: the processor writes `<t seconds>` before each pair's
`<|vision_start|>...<|vision_end|>`, t the mean of the pair's two frame times to 0.1 s. It is
given the true times of the selected frames (video metadata: the frame times on a 1 ms clock,
`fps=1000`, `frames_indices` = round(1000 t); `do_sample_frames=False`, so the processor keeps
the k frames and resamples nothing), so a non-uniform selection is described as it is: frames at
1, 2, 7, 9 s are told `<1.5 seconds>` and `<8.0 seconds>`. At odd k the last frame is repeated
with its own time, so the last pair is told that frame's time (1, 2, 7 s: `<1.5 seconds>`,
`<7.0 seconds>`), as transformers pads; this is done before the processor, whose resize refuses
a single frame. Called without times (the runner does not pass them yet) it assumes 2 fps from
0 s, as qwen-vl-utils does for a list of frames: frame i at i / 2 s.

Departs from qwen-vl-utils (0.0.14, `image_patch_size=16`), the reference preprocessing, in four
ways. It samples frames itself at 2 fps; here the selector's k frames are all used. It resizes
each frame to multiples of 64, not 32 (`fetch_video` passes the 32-px factor where `fetch_image`
takes the patch size and doubles it), then within its per-frame bounds (131072 to 786432 px), and
the model card then has the processor not resize; here the processor resizes with the
checkpoint's video bounds (at least 4096 px a clip) and qwen-vl-utils' per-frame cap of 768 tokens
(`cap_pixels_per_frame`, never binding for framebench's frames at k <= 32): 336x597 is 320x576
there, 320x608 here, and needle's 120x160 is 384x384 there, 128x160 here. Frames that are
multiples of 64 inside both bounds give the same input ids and pixels both ways. Untimed at odd k
it pads with a frame half a second after the last: at k = 3 the last pair is `<1.2 seconds>`
there, `<1.0 seconds>` here.

The `weights=random` build uses the 8B-Instruct config.json values (as quoted in third-party
code found by search, e.g. for nvidia/Cosmos-Reason2-8B, built on it): hidden 4096, 36 layers, 32
heads, 8 KV heads, head dim 128, MLP 12288, vocab 151936, interleaved mrope 24/20/20, rope theta
5e6, 262144 positions, untied head; a 27-layer 1152-wide vision encoder (MLP 4304, 16 heads, 2304
position embeddings, deepstack layers 8, 16, 24) merged to 4096. It has 8,767,123,696
parameters, the checkpoint's safetensors index total (17534247392 bf16 bytes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.backbones._hf import HFBackbone
from bench.backbones.qwen2_vl import SPECIAL, Qwen2VL
from bench.records import Reply
from bench.registry import backbones
from bench.timing import timed

DEFAULT = "Qwen/Qwen3-VL-8B-Instruct"
# renders what the checkpoint's chat_template.json renders for a single user turn (no system turn)
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FULL_IMAGE = {"shortest_edge": 65536, "longest_edge": 16777216}  # preprocessor_config.json
FULL_VIDEO = {"shortest_edge": 4096, "longest_edge": 25165824}  # video_preprocessor_config.json
TINY_IMAGE = {"shortest_edge": 64 * 64, "longest_edge": 64 * 96}  # a 120x160 needle frame becomes 64x64
TINY_VIDEO = {"shortest_edge": 64 * 96, "longest_edge": 64 * 96}  # at most int(1.05 * 6144) px a frame at any k: 64x64
MEAN_STD = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
UNTIMED_FPS = 2.0  # qwen-vl-utils' `sample_fps` for a list of frames, assumed when no times come
CLOCK_FPS = 1000  # the metadata's clock: frame indices in milliseconds


def video_metadata(times: np.ndarray) -> dict:
    """What the processor is told about frames at `times` (seconds): their indices on a 1 ms clock, no resampling."""
    indices = [round(CLOCK_FPS * float(t)) for t in times]
    return {"fps": CLOCK_FPS, "frames_indices": indices, "total_num_frames": indices[-1] + 1}


def padded(frames: np.ndarray, times: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """frames and their times (None: 2 fps from 0 s), the last frame repeated with its time at odd k so frames pair."""
    times = np.arange(len(frames)) / UNTIMED_FPS if times is None else np.asarray(times, dtype=np.float64)
    if len(times) != len(frames):
        raise ValueError(f"{len(times)} times for {len(frames)} frames")
    if len(frames) % 2 == 0:
        return frames, times
    return np.concatenate([frames, frames[-1:]]), np.append(times, times[-1])


@backbones.register("qwen3-vl")
class Qwen3VL(HFBackbone):
    """Qwen3-VL (default 8B-Instruct): the k frames as one video, each pair told its time; also judges and captions frames."""

    spec = "qwen3-vl"

    default_path = DEFAULT
    visual_token = Qwen2VL.visual_token  # Qwen2-VL's special tokens and config placeholders
    placeholders = Qwen2VL.placeholders

    def model_class(self) -> type:
        from transformers import Qwen3VLForConditionalGeneration

        return Qwen3VLForConditionalGeneration

    def local_processor(self, tiny: bool) -> Any:
        from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

        from bench.tiny import tiny_tokenizer

        image, video = (TINY_IMAGE, TINY_VIDEO) if tiny else (FULL_IMAGE, FULL_VIDEO)
        tokenizer = tiny_tokenizer(SPECIAL, eos_token="<|im_end|>", pad_token="<|endoftext|>")
        return Qwen3VLProcessor(
            image_processor=Qwen2VLImageProcessor(size=image, patch_size=16, merge_size=2, **MEAN_STD),
            video_processor=Qwen3VLVideoProcessor(size=video, patch_size=16, merge_size=2, cap_pixels_per_frame=True, **MEAN_STD),
            tokenizer=tokenizer,
            chat_template=CHAT_TEMPLATE,
        )

    def published_config(self) -> Any:
        from transformers import Qwen3VLConfig

        return Qwen3VLConfig(
            text_config=dict(
                vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6, max_position_embeddings=262144, attention_bias=False,
                rope_parameters={"rope_type": "default", "rope_theta": 5e6, "mrope_section": [24, 20, 20], "mrope_interleaved": True},
                bos_token_id=151643, eos_token_id=151645,
            ),
            vision_config=dict(
                depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, patch_size=16, spatial_merge_size=2,
                temporal_patch_size=2, out_hidden_size=4096, num_position_embeddings=2304, deepstack_visual_indexes=[8, 16, 24],
            ),
            tie_word_embeddings=False,
        )

    def tiny_config(self, vocab_size: int) -> Any:
        from transformers import Qwen3VLConfig

        return Qwen3VLConfig(
            text_config=dict(
                vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=16,
                rope_parameters={"rope_type": "default", "rope_theta": 5e6, "mrope_section": [4, 2, 2], "mrope_interleaved": True},
                bos_token_id=None, eos_token_id=None,
            ),
            vision_config=dict(
                depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32, num_position_embeddings=16, deepstack_visual_indexes=[0],
            ),
        )

    def pretrained(self) -> tuple[Any, Any]:
        model, processor = super().pretrained()
        processor.video_processor.cap_pixels_per_frame = True  # qwen-vl-utils' per-frame cap, as in the local build
        return model, processor

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        return [{"type": "video" if video else "image"}]

    def process(self, prompts: list[str], clips: list[np.ndarray], video: bool, times: np.ndarray | None = None) -> Any:
        """The processor's output: each clip a video (padded to even k) told `times` (float (k,) seconds; None: 2 fps), or its first frame an image."""
        if not video:
            return super().process(prompts, clips, video)
        videos = [padded(clip, times) for clip in clips]
        metadata = [video_metadata(frame_times) for _, frame_times in videos]
        return self.processor(
            text=prompts, videos=[frames for frames, _ in videos], video_metadata=metadata, do_sample_frames=False, return_tensors="pt", padding=True
        )

    def answer(self, frames: np.ndarray, prompt: str, max_new_tokens: int, times: np.ndarray | None = None) -> Reply:
        """Greedy answer about frames uint8 (k, H, W, 3) in time order; times: float (k,) seconds, or None (2 fps from 0 s)."""
        with timed(self.device) as took:
            turn = [{"role": "user", "content": [*self.visual_content(len(frames), True), {"type": "text", "text": prompt}]}]
            text = self.processor.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
            inputs = self.process([text], [frames], True, times).to(self.device, dtype=self.dtype)
        new = self.generate(inputs, max_new_tokens)
        reply = self.processor.tokenizer.decode(new[0], skip_special_tokens=True)
        return Reply(reply, n_visual_tokens=self.count_visual(inputs), t_preprocess_s=took[0])

