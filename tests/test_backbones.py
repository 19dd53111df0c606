"""The four transformers backbones, tiny with random weights: needle runs, visual token counts, frame order, determinism, frame judging."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.backbones._hf import JUDGE_PROMPT
from bench.registry import backbones
from bench.results import read_all
from bench.runner import RunConfig, run

NAMES = ("qwen2-vl", "llava-next-video", "idefics2", "pllava")
PROMPT = "What colour is the shape that appears in the video?\nA. red\nB. blue\nAnswer with the option's letter from the given choices directly."

# Visual tokens for k needle frames (120x160) at tiny size, worked out from each model's design:
# - qwen2-vl: smart_resize(120, 160, factor 28, max_pixels 56*84) gives 56x56 (beta = sqrt(19200/4704)
#   = 2.02; floor(59.4/28) = floor(79.2/28) = 2 blocks of 28), i.e. 4x4 patches of 14 merged 2x2 = 4
#   tokens per pair of frames; frames pair in time, an odd one is padded: 4 * ceil(k / 2).
# - llava-next-video: short side 56, centre crop 56x56, 4x4 patches average-pooled by 2: 4 per frame.
# - idefics2: the perceiver resamples each frame to 4 latents: 4 per frame.
# - pllava: (k, 4, 4) patches pooled to (4, 2, 2) whatever k: 16.
TOKENS = {
    "qwen2-vl": lambda k: 4 * math.ceil(k / 2),
    "llava-next-video": lambda k: 4 * k,
    "idefics2": lambda k: 4 * k,
    "pllava": lambda k: 16,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def needle_frames(k: int, seed: int = 0) -> np.ndarray:
    """k random frames of needle's size, 120x160."""
    return np.random.default_rng(seed).integers(0, 256, size=(k, 120, 160, 3), dtype=np.uint8)


def test_each_backbone_answers_needle_at_k4_and_k8_through_bench_run(private_cache, results_dir):
    specs = tuple(f"{name}:size=tiny" for name in NAMES)
    config = RunConfig(datasets=("needle",), selectors=("uniform",), backbones=specs, frames=(4, 8), limit=2,
                       results_dir=results_dir, cache_dir=private_cache, device="cpu", weights="random")
    summary = run(config)
    data = read_all(results_dir)
    assert summary.errors == 0 and (data.error == "").all()
    assert data.groupby(["backbone", "frames"]).size().to_dict() == {(f"{n}:size=tiny:weights=random", k): 2 for n in NAMES for k in (4, 8)}
    for row in data.itertuples():
        name = row.backbone.split(":")[0]
        assert row.n_visual_tokens == TOKENS[name](row.frames), (row.backbone, row.frames)
        assert 0 < row.t_preprocess_s < row.t_answer_s


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [1, 3, 4, 8])
def test_visual_tokens_follow_each_models_design(tiny, name, k):
    assert tiny(name).answer(needle_frames(k), PROMPT, 2).n_visual_tokens == TOKENS[name](k)


def encoder_input_brightness(name: str, pixels: torch.Tensor) -> np.ndarray:
    """Mean value of each frame as the vision encoder received it, in the order it received them."""
    if name == "qwen2-vl":
        # a row is one 14x14 patch of a pair of frames laid out (channel, frame of the pair, 14, 14);
        # rows come pair by pair, 16 per pair (56x56 frames)
        per_row = pixels.reshape(-1, 3, 2, 14 * 14).mean(dim=(1, 3))
        return per_row.reshape(-1, 16, 2).mean(dim=1).flatten().numpy()
    return pixels.mean(dim=(1, 2, 3)).numpy()


def vision_encoder(name: str, model):
    """The module that takes the pixels: where frame order is checked."""
    return {
        "qwen2-vl": lambda: model.model.visual,
        "llava-next-video": lambda: model.model.vision_tower,
        "idefics2": lambda: model.model.vision_model,
        "pllava": lambda: model["vision_tower"]["vision_model"],
    }[name]()


@pytest.mark.parametrize("name", NAMES)
def test_frames_reach_the_model_in_the_order_given(tiny, name):
    backbone = tiny(name)
    order = [2, 0, 3, 1]
    levels = np.array([40, 90, 140, 190])[order]  # frame i is a flat grey of levels[i]
    frames = np.repeat(levels[:, None, None, None], 120 * 160 * 3, axis=1).reshape(4, 120, 160, 3).astype(np.uint8)
    seen = []

    def record(module, args, kwargs):
        pixels = args[0] if args else kwargs.get("pixel_values", kwargs.get("hidden_states"))
        seen.append(pixels.detach().float())

    hook = vision_encoder(name, backbone.model).register_forward_pre_hook(record, with_kwargs=True)
    try:
        backbone.answer(frames, PROMPT, 1)
    finally:
        hook.remove()
    brightness = encoder_input_brightness(name, seen[0])
    assert len(brightness) == 4
    assert np.argsort(brightness).tolist() == np.argsort(levels).tolist()  # = [1, 3, 0, 2]; shuffled frames would differ


@pytest.mark.parametrize("name", NAMES)
def test_the_same_input_gives_the_same_output(tiny, name):
    frames = needle_frames(4, seed=1)
    first = tiny(name).answer(frames, PROMPT, 8)
    again = backbones.build(f"{name}:size=tiny")
    again.load("cpu")  # a second build: the random weights come from a fixed seed
    try:
        second = again.answer(frames, PROMPT, 8)
        assert (first.text, first.n_visual_tokens) == (second.text, second.n_visual_tokens)
        assert np.array_equal(tiny(name).frame_relevance(frames, "What colour?"), again.frame_relevance(frames, "What colour?"))
        assert tiny(name).caption(frames[:2]) == again.caption(frames[:2])
    finally:
        again.release()


@pytest.mark.parametrize("name", NAMES)
def test_frame_relevance_is_p_true_over_p_true_plus_p_false_batched(tiny, name, monkeypatch):
    backbone = tiny(name)
    frames, question = needle_frames(7, seed=2), "What colour is the shape?"
    monkeypatch.setattr(backbone, "judge_batch", 3)  # 7 frames in batches of 3, 3 and 1
    scores = backbone.frame_relevance(frames, question)
    tokenizer = backbone.processor.tokenizer
    true, false = tokenizer.encode("True", add_special_tokens=False)[0], tokenizer.encode("False", add_special_tokens=False)[0]
    expected = []
    for frame in frames:  # one frame at a time, through the full softmax
        inputs = backbone.inputs([frame[None]], [JUDGE_PROMPT.format(question=question)], video=False)
        p = torch.softmax(backbone.next_token_logits(inputs)[0].double(), dim=-1)
        expected.append(float(p[true] / (p[true] + p[false])))
    assert scores.dtype == np.float32 and scores.shape == (7,)
    np.testing.assert_allclose(scores, expected, rtol=1e-4)
    captions = backbone.caption(frames[:3])
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)


@pytest.mark.parametrize("spec", ["qwen2-vl:size=huge", "pllava:weights=trained"])
def test_unknown_size_or_weights_is_refused(spec):
    with pytest.raises(ValueError, match="size|weights"):
        backbones.build(spec)
