"""Qwen2.5-VL and Qwen3-VL: tiny needle answers, what each is told about time, qwen-vl-utils' preprocessing, published sizes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from bench.registry import backbones

NAMES = ("qwen2.5-vl", "qwen3-vl")
PROMPT = "What colour is the shape that appears in the video?\nA. red\nB. blue\nAnswer with the option's letter from the given choices directly."

# Visual tokens for k needle frames (120x160) at tiny size:
# - qwen2.5-vl: smart_resize(120, 160, factor 28, max_pixels 56*84 = 4704): 112x168 is too big, beta = sqrt(19200 / 4704)
#   = 2.02, floor(59.4 / 28) = floor(79.2 / 28) = 2 blocks: 56x56, 4x4 patches of 14 merged 2x2 = 4 tokens per pair.
# - qwen3-vl: the per-frame cap is the floor int(1.05 * 6144) = 6451 px; 128x160 is too big, beta = sqrt(19200 / 6451)
#   = 1.73, floor(69.6 / 32) = floor(92.7 / 32) = 2 blocks: 64x64, 4x4 patches of 16 merged 2x2 = 4 tokens per pair.
# Both pair frames in time, an odd last frame repeated: 4 * ceil(k / 2).
TINY_TOKENS = {"qwen2.5-vl": lambda k: 4 * math.ceil(k / 2), "qwen3-vl": lambda k: 4 * math.ceil(k / 2)}

# Parameter counts of the published checkpoints: model.safetensors.index.json `total_size`, bf16 bytes / 2.
# Qwen2.5-VL-7B-Instruct 16584333312 B (the Hub page rounds to 8.29B); Qwen3-VL-8B-Instruct 17534247392 B (8.77B).
PUBLISHED_PARAMS = {"qwen2.5-vl": 16584333312 // 2, "qwen3-vl": 17534247392 // 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def needle_frames(k: int, height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    """k random uint8 frames, needle's size unless told."""
    return np.random.default_rng(seed).integers(0, 256, size=(k, height, width, 3), dtype=np.uint8)


def full_processor(name: str):
    """The backbone at full size with its local processor (published image/video settings), no model."""
    backbone = backbones.build(name, weights="random")
    backbone.processor, backbone.dtype = backbone.local_processor(tiny=False), torch.float32
    return backbone


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [1, 3, 4])
def test_tiny_answers_needle_frames_with_the_worked_visual_token_count(tiny, name, k):
    reply = tiny(name).answer(needle_frames(k), PROMPT, 4)
    assert isinstance(reply.text, str) and reply.n_visual_tokens == TINY_TOKENS[name](k)
    assert backbones.build(name).spec == name


def rope_calls(backbone, monkeypatch) -> list:
    """(second_per_grid_ts, position_ids, input_ids) of each call of the model's get_rope_index."""
    calls, original = [], backbone.model.model.get_rope_index

    def record(input_ids, *args, **kwargs):
        position_ids, deltas = original(input_ids, *args, **kwargs)
        calls.append((kwargs.get("second_per_grid_ts"), position_ids, input_ids))
        return position_ids, deltas

    monkeypatch.setattr(backbone.model.model, "get_rope_index", record)
    return calls


@pytest.mark.parametrize("times, seconds, steps", [
    ([1.0, 2.0, 4.0, 9.0], 16 / 3, [0, 10]),          # mean gap (9 - 1) / 3 = 8/3 s, x 2 frames a patch; floor(1 * 2 * 16/3) = 10
    ([0.0, 1.0, 2.0, 3.0, 4.0, 30.0], 12.0, [0, 24, 48]),  # mean gap 30 / 5 = 6 s: 12 s a patch, 2 tokens a second
    ([0.5, 1.0, 1.5, 2.0], 1.0, [0, 2]),                # evenly at 2 fps: the same as untimed
    ([3.0, 63.0], 120.0, [0]),                           # one patch: the value is told, no second patch to place
    ([5.0], 1.0, [0]),                                   # one frame, no spacing: 2 fps assumed
    (None, 1.0, [0, 2]),                                 # untimed: 2 fps, as qwen-vl-utils for a list of frames
])
def test_qwen25_is_told_twice_the_mean_gap_of_the_selected_times(tiny, monkeypatch, times, seconds, steps):
    backbone = tiny("qwen2.5-vl")
    calls = rope_calls(backbone, monkeypatch)
    frames = needle_frames(len(times) if times else 4)
    backbone.answer(frames, PROMPT, 1, times=None if times is None else np.array(times))
    told, positions, input_ids = calls[0]
    assert told.dtype == torch.float32 and told.tolist() == [pytest.approx(seconds, rel=1e-6)]
    video = input_ids[0] == backbone.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    temporal = positions[0, 0, video]
    assert (temporal - temporal[0]).tolist() == [step for step in steps for _ in range(4)]  # 4 tokens a patch


def told_times(backbone, monkeypatch, frames, times) -> list[str]:
    """The `<t seconds>` labels in the input ids of one answer, each right before a pair's visual tokens."""
    seen, generate = [], backbone.generate
    monkeypatch.setattr(backbone, "generate", lambda inputs, n: seen.append(inputs) or generate(inputs, n))
    backbone.answer(frames, PROMPT, 1, times=None if times is None else np.array(times))
    text = backbone.processor.tokenizer.decode(seen[0]["input_ids"][0])
    labels = re.findall(r"<([\d.]+) seconds>", text)
    assert len(re.findall(r"<[\d.]+ seconds><\|vision_start\|>(?:<\|video_pad\|>)+<\|vision_end\|>", text)) == len(labels)
    return labels


@pytest.mark.parametrize("times, labels", [
    ([1.0, 2.0, 7.0, 9.0], ["1.5", "8.0"]),                 # each pair told its mean time: (1 + 2) / 2, (7 + 9) / 2
    ([1.0, 2.0, 7.0, 9.0, 30.0], ["1.5", "8.0", "30.0"]),   # odd k: 30 s repeated, (30 + 30) / 2
    ([1.0, 2.0, 7.0], ["1.5", "7.0"]),
    ([12.345, 12.6, 300.0, 301.0], ["12.5", "300.5"]),      # 12.345 s on the 1 ms clock is 12345 ms; (12.345 + 12.6) / 2 = 12.4725
    ([4.25], ["4.2"]),                                      # one frame paired with itself; 4.25 is a binary tie, printed to even
    (None, ["0.2", "1.2"]),                                 # untimed, 2 fps from 0: (0 + 0.5) / 2, (1 + 1.5) / 2, ties to even
])
def test_qwen3_prompt_carries_the_selected_frames_times(tiny, monkeypatch, times, labels):
    backbone = tiny("qwen3-vl")
    assert told_times(backbone, monkeypatch, needle_frames(len(times) if times else 4), times) == labels


def reference_inputs(backbone, frames: np.ndarray, patch: int, **call):
    """What qwen-vl-utils' process_vision_info and the processor make of frames given as a list of images, the model cards' way."""
    from PIL import Image
    from qwen_vl_utils import process_vision_info

    messages = [{"role": "user", "content": [{"type": "video", "video": [Image.fromarray(f) for f in frames]}, {"type": "text", "text": PROMPT}]}]
    text = backbone.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    # return_video_metadata: transformers 5 refuses the older `fps=[2.0]` video kwarg; the metadata says the same 2 fps
    _, videos, kwargs = process_vision_info(messages, return_video_kwargs=True, return_video_metadata=True, image_patch_size=patch)
    videos, metadata = zip(*videos)
    return backbone.processor(text=[text], videos=list(videos), video_metadata=list(metadata), return_tensors="pt", **kwargs, **call)


REFERENCE = {"qwen2.5-vl": dict(patch=14), "qwen3-vl": dict(patch=16, do_resize=False)}  # Qwen3-VL's card: no second resize


@pytest.mark.parametrize("name, k, size", [
    ("qwen2.5-vl", 4, (336, 448)),  # multiples of 56, 150528 px a frame: inside qwen-vl-utils' [100352, 602112]
    ("qwen2.5-vl", 3, (336, 448)),  # odd k: both repeat the last frame
    ("qwen3-vl", 4, (384, 448)),    # multiples of 64, 172032 px a frame: inside its [131072, 786432]
])
def test_qwen_vl_utils_gives_the_same_input_ids_and_pixels(name, k, size):
    backbone = full_processor(name)
    frames = needle_frames(k, *size)
    ours = backbone.inputs([frames], [PROMPT], video=True)
    reference = reference_inputs(backbone, frames, **REFERENCE[name])
    assert torch.equal(ours["input_ids"], reference["input_ids"])
    assert torch.equal(ours["video_grid_thw"], reference["video_grid_thw"])
    assert torch.equal(ours["pixel_values_videos"], reference["pixel_values_videos"])
    if name == "qwen2.5-vl":  # untimed, both 2 fps: 2 frames a patch / 2 fps = 1 s
        assert ours["second_per_grid_ts"].tolist() == reference["second_per_grid_ts"].tolist() == [1.0]


@pytest.mark.parametrize("name, size, grid, reference_grid", [
    # qwen-vl-utils first resizes each frame to multiples of 2 x 28 = 56 (fetch_video passes 28 as fetch_image's patch size):
    # 597 / 56 = 10.7 -> 11 blocks, 616 px; here 597 / 28 = 21.3 -> 21 blocks, 588 px. 336 stays. Patches of 14.
    ("qwen2.5-vl", (336, 597), [2, 24, 42], [2, 24, 44]),
    # needle's 120x160: here 112x168 (4 and 6 blocks of 28); there 112x168 is below 100352 px and scaled by
    # sqrt(100352 / 18816) = 2.31 up to ceil(9.24) x ceil(13.9) blocks of 28: 280x392.
    ("qwen2.5-vl", (120, 160), [2, 8, 12], [2, 20, 28]),
    # qwen3-vl, multiples of 64 there: 336 / 64 = 5.25 -> 320, 597 / 64 = 9.3 -> 576; here multiples of 32: 10.5 -> 10
    # blocks (to even), 320, and 18.7 -> 19, 608. Patches of 16.
    ("qwen3-vl", (336, 597), [2, 20, 38], [2, 20, 36]),
    # needle's 120x160: here 128x160 (4 and 5 blocks of 32); there 128x128 (2.5 -> 2 blocks of 64), below 131072 px,
    # scaled by sqrt(131072 / 16384) = 2.83 up to ceil(11.3) blocks of 32 a side: 384x384.
    ("qwen3-vl", (120, 160), [2, 8, 10], [2, 24, 24]),
])
def test_qwen_vl_utils_departures_are_the_stated_sizes(name, size, grid, reference_grid):
    backbone = full_processor(name)
    frames = needle_frames(4, *size)
    assert backbone.inputs([frames], [PROMPT], video=True)["video_grid_thw"].tolist() == [grid]
    assert reference_inputs(backbone, frames, **REFERENCE[name])["video_grid_thw"].tolist() == [reference_grid]


def test_qwen3_untimed_odd_k_repeats_the_last_frame_with_its_time_where_qwen_vl_utils_adds_half_a_second():
    backbone = full_processor("qwen3-vl")
    frames = needle_frames(3, 384, 448)
    ours, reference = backbone.inputs([frames], [PROMPT], video=True), reference_inputs(backbone, frames, **REFERENCE["qwen3-vl"])
    assert torch.equal(ours["pixel_values_videos"], reference["pixel_values_videos"])  # the same repeated frame
    labels = [re.findall(r"<([\d.]+) seconds>", backbone.processor.tokenizer.decode(x["input_ids"][0])) for x in (ours, reference)]
    assert labels == [["0.2", "1.0"], ["0.2", "1.2"]]  # frame 2 at 1 s twice here; there a pad at 1.5 s: (1 + 1.5) / 2


@pytest.mark.parametrize("name, k, tokens", [
    ("qwen2.5-vl", 8, 1008),  # 336x597 -> 336x588: 24 x 42 patches merged 2x2 = 252 a pair, 4 pairs
    ("qwen3-vl", 8, 760),     # 336x597 -> 320x608: 20 x 38 patches merged 2x2 = 190 a pair, 4 pairs
    ("qwen3-vl", 7, 760),     # odd k padded to 8
])
def test_full_size_processors_give_the_docstring_visual_token_counts(name, k, tokens):
    backbone = full_processor(name)
    assert backbone.count_visual(backbone.inputs([needle_frames(k, 336, 597)], [PROMPT], video=True)) == tokens


@pytest.mark.parametrize("name", NAMES)
def test_the_random_build_has_the_published_parameter_count(name):
    backbone = backbones.build(name, weights="random")
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = backbone.model_class()._from_config(backbone.published_config(), dtype=torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMS[name]


def test_times_of_another_length_than_the_frames_are_refused(tiny):
    for name in NAMES:
        with pytest.raises(ValueError, match="times"):
            tiny(name).answer(needle_frames(4), PROMPT, 1, times=np.array([1.0, 2.0, 3.0]))
