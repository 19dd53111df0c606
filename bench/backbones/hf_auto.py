"""hf: any transformers image-text-to-text checkpoint (`hf:path=ID_OR_DIR`) with its own processor and chat template.

Loads `AutoModelForImageTextToText` and `AutoProcessor` from `path`, a Hub id or a directory
written by `save_pretrained`, and keeps what the checkpoint brings: its image and video
settings, chat template, generation config and default attention; bf16 on CUDA, fp32 on CPU,
greedy decoding. `input` says how the k frames go in:

- `video` (default): one video entry, through the processor's video path; its own frame
  sampling is turned off (`do_sample_frames=False`): the k frames given are the video.
- `images`: k image entries in time order, each frame through the processor's image path
  (tiling, thumbnails and so on, as the checkpoint does for images).

A judged frame is always one image. `n_visual_tokens` is read from the processor's output: the
positions of `input_ids` holding a placeholder the model fills with visual features (the
processor's `image_token_id` and `video_token_id`, else the config's). Markers around them
(`<img>`, `<|vision_start|>`, "Frame1:") are not counted. For Qwen2-VL-7B and 8 frames of
336x597: `input=video` gives 4 pairs of frames * (336/28) * (588/28) = 4 * 252 = 1008;
`input=images` gives 8 * 252 = 2016 (each image is its frame doubled in time).

Refused at load, naming the checkpoint: an architecture that is not image-text-to-text (a
text-only LM), a processor with no image processor, and `input=video` with a processor that
has no video processor. Checkpoints that need `trust_remote_code` are not run (transformers
refuses them). `weights=random` builds the checkpoint's config with random weights (seed 0)
and its processor, for timing without downloading the weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.backbones._hf import HFBackbone
from bench.registry import backbones

PLACEHOLDERS = ("image_token_id", "video_token_id", "image_token_index", "video_token_index")


@backbones.register("hf")
class HFAuto(HFBackbone):
    """Any transformers image-text-to-text checkpoint (path=), its processor and chat template; frames as a video or images."""

    spec = "hf"

    default_path = ""
    visual_token = ""  # read from the processor instead (see `placeholder_ids`)
    placeholders: dict[str, str] = {}

    def __init__(self, path: str = "", input: str = "video", weights: str = "pretrained", judge_batch: int = 8) -> None:
        if not path:
            raise ValueError("path= is required: a Hub id or a directory written by save_pretrained")
        if input not in ("video", "images"):
            raise ValueError(f"input must be video or images, not {input!r}")
        super().__init__(path=path, weights=weights, judge_batch=judge_batch)
        self.input = input
        self.placeholder_ids: tuple[int, ...] = ()

    def load(self, device: str) -> None:
        """The checkpoint's model and processor, refused with a clear message if it cannot take the frames."""
        import torch
        from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING

        self.device = device
        self.dtype = torch.bfloat16 if device == "cuda" else torch.float32
        config = AutoConfig.from_pretrained(self.path)
        if type(config) not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING:
            names = "/".join(config.architectures or [config.model_type])
            raise ValueError(f"{self.path}: {names} cannot take images: it is not an image-text-to-text architecture")
        self.processor = AutoProcessor.from_pretrained(self.path)
        kind = type(self.processor).__name__
        if not hasattr(self.processor, "image_processor"):
            raise ValueError(f"{self.path}: its processor ({kind}) takes no images")
        if self.input == "video" and not hasattr(self.processor, "video_processor"):
            raise ValueError(f"{self.path}: its processor ({kind}) takes no video; use input=images")
        self.placeholder_ids = placeholder_ids(self.processor, config)
        if not self.placeholder_ids:
            raise ValueError(f"{self.path}: neither its processor nor its config names an image or video token to count")
        if self.weights == "random":
            torch.manual_seed(0)  # the same random weights on every load
            with torch.device(device):
                self.model = AutoModelForImageTextToText.from_config(config, dtype=self.dtype)
        else:
            self.model = AutoModelForImageTextToText.from_pretrained(self.path, dtype=self.dtype, device_map=device)
        self.model.eval()
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"  # batched judging reads every row's last position
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

    def as_video(self, video: bool) -> bool:
        """Whether a clip goes in as a video: answers follow `input`; a judged frame is an image."""
        return video and self.input == "video"

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        if self.as_video(video):
            return [{"type": "video"}]
        return [{"type": "image"}] * n_frames

    def process(self, prompts: list[str], clips: list[np.ndarray], video: bool) -> Any:
        if self.as_video(video):
            return self.processor(text=prompts, videos=list(clips), do_sample_frames=False, return_tensors="pt", padding=True)
        return self.processor(text=prompts, images=[list(clip) for clip in clips], return_tensors="pt", padding=True)

    def count_visual(self, inputs: Any) -> int:
        """Positions of the first item's input_ids that the model fills with visual features."""
        return int(np.isin(inputs["input_ids"][0].cpu().numpy(), self.placeholder_ids).sum())


def placeholder_ids(processor: Any, config: Any) -> tuple[int, ...]:
    """The image and video placeholder ids: the processor's, else the config's."""
    for source in (processor, config):
        found = {getattr(source, name, None) for name in PLACEHOLDERS}
        ids = tuple(sorted(i for i in found if isinstance(i, int) and i >= 0))
        if ids:
            return ids
    return ()
