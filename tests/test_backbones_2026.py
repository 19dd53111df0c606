"""The 2026 backbones: llava-onevision and internvl3 (tiny, random weights, and the published shapes), and `hf`, any saved checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.grid.loading import Lazy
from bench.records import Reply
from bench.registry import RegistryError, backbones
from tests.checkpoints import save_text_only, save_tiny

NAMES = ("llava-onevision", "internvl3")
PROMPT = "What colour is the shape that appears in the video?\nA. red\nB. blue\nAnswer with the option's letter from the given choices directly."

# Visual tokens for k needle frames (120x160) at tiny size, worked out from each model's design:
# - llava-onevision: each frame resized to 56x56, 4x4 patches of 14, bilinearly pooled to ceil(4/2) = 2
#   per side: 4 a frame, plus one newline token for the whole video: 4k + 1.
# - internvl3: each frame one 56x56 tile, 4x4 patches, pixel shuffle 0.5 makes 2x2: 4 a frame: 4k.
TINY_TOKENS = {"llava-onevision": lambda k: 4 * k + 1, "internvl3": lambda k: 4 * k}

# The same at full size for k frames of 336x597 (a 16:9 video decoded at short side 336):
# - llava-onevision: 384x384, 384 // 14 = 27 patches a side, pooled to ceil(27/2) = 14: 196 a frame, + 1.
# - internvl3: one 448x448 tile, 32x32 patches, pixel shuffle 0.5: 16x16 = 256 a frame.
FULL_TOKENS = {"llava-onevision": lambda k: 196 * k + 1, "internvl3": lambda k: 256 * k}

# Parameter counts of the published checkpoints:
# - InternVL3-8B-hf: the Hub's file list (OpenGVLab/InternVL3-8B-hf, tree/main) shows bf16 shards of 4.88 +
#   4.99 + 4.93 + 1.09 = 15.89 GB, i.e. 7.945e9 parameters; shown to 0.01 GB, so good to within 0.13%.
# - llava-onevision-qwen2-7b-ov-hf: the Hub model page's "Model size: 8.03B params", good to within 0.07%.
PUBLISHED_PARAMS = {"llava-onevision": 8.03e9, "internvl3": 15.89e9 / 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> a directory holding `NAME:size=tiny` saved with save_pretrained, written once for the module."""
    folders = {}

    def get(name: str):
        if name not in folders:
            folders[name] = save_tiny(name, tmp_path_factory.mktemp(name))
        return folders[name]

    return get


def needle_frames(k: int, seed: int = 0) -> np.ndarray:
    """k random frames of needle's size, 120x160."""
    return np.random.default_rng(seed).integers(0, 256, size=(k, 120, 160, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [1, 4])
def test_each_tiny_backbone_answers_needle_frames_with_the_visual_tokens_of_its_design(tiny, name, k):
    reply = tiny(name).answer(needle_frames(k), PROMPT, 4)
    assert isinstance(reply, Reply) and isinstance(reply.text, str)
    assert reply.n_visual_tokens == TINY_TOKENS[name](k)  # 5 and 17 for llava-onevision, 4 and 16 for internvl3


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [4, 8])
def test_full_size_processors_give_the_published_visual_token_counts(name, k):
    backbone = backbones.build(name, weights="random")
    backbone.processor = backbone.local_processor(tiny=False)
    backbone.dtype = torch.float32
    frames = np.random.default_rng(0).integers(0, 256, size=(k, 336, 597, 3), dtype=np.uint8)
    inputs = backbone.inputs([frames], ["Which colour?"], video=True)
    assert backbone.count_visual(inputs) == FULL_TOKENS[name](k)  # 785 / 1569 and 1024 / 2048


@pytest.mark.parametrize("name", NAMES)
def test_the_random_build_has_the_published_parameter_count(name):
    backbone = backbones.build(name, weights="random")
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = backbone.model_class()._from_config(backbone.published_config(), dtype=torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(PUBLISHED_PARAMS[name], rel=0.002)


# Visual tokens the `hf` backbone reads off the processor for 4 needle frames of a saved tiny checkpoint:
# - qwen2-vl: 120x160 becomes 56x56 (smart_resize within 56*84 pixels), 4x4 patches merged 2x2 = 4 tokens;
#   video: frames pair in time, 2 pairs * 4 = 8; images: each image is its frame doubled in time, 4 * 4 = 16.
# - internvl3: video: one 56-px tile a frame, 4 * 4 = 16; images: a 4:3 frame is cut into 4x3 = 12 tiles of
#   56 px (the closest grid to its aspect within 12 tiles) plus a thumbnail: 13 tiles * 4 = 52 a frame, 208.
# - llava-onevision: video: 4 * 4 + 1 = 17; images: several images get no any-res tiling, only the 56-px
#   base (4x4 = 16 features, unpooled) plus a newline: 17 a frame, 68.
HF_TOKENS = [("qwen2-vl", "video", 8), ("qwen2-vl", "images", 16), ("internvl3", "video", 16), ("internvl3", "images", 208),
             ("llava-onevision", "video", 17), ("llava-onevision", "images", 68)]


@pytest.mark.parametrize("source, given_as, expected", HF_TOKENS)
def test_hf_loads_a_saved_checkpoint_and_counts_visual_tokens_from_the_processor(saved, source, given_as, expected):
    model = backbones.build(f"hf:path={saved(source)}:input={given_as}")
    model.load("cpu")
    try:
        reply = model.answer(needle_frames(4), PROMPT, 4)
    finally:
        model.release()
    assert isinstance(reply, Reply) and isinstance(reply.text, str)
    assert reply.n_visual_tokens == expected


@pytest.mark.parametrize("source", ["qwen2-vl", "internvl3", "llava-onevision"])
def test_hf_answers_as_the_backbone_that_saved_the_checkpoint(tiny, saved, source):
    frames = needle_frames(4, seed=3)
    original = backbones.build(f"{source}:size=tiny") if source == "qwen2-vl" else tiny(source)
    if source == "qwen2-vl":
        original.load("cpu")
    generic = backbones.build(f"hf:path={saved(source)}")
    generic.load("cpu")
    try:  # the same weights, processor and chat template, read back from the directory: the same greedy answer
        assert generic.answer(frames, PROMPT, 8).text == original.answer(frames, PROMPT, 8).text
        assert np.allclose(generic.frame_relevance(frames, "What colour?"), original.frame_relevance(frames, "What colour?"), atol=1e-5)
    finally:
        generic.release()
        if source == "qwen2-vl":
            original.release()


def test_hf_refuses_a_text_only_checkpoint_at_load_naming_it(tmp_path):
    folder = save_text_only(tmp_path / "text-only")
    with pytest.raises(ValueError, match=f"{folder}: Qwen2ForCausalLM cannot take images"):
        backbones.build(f"hf:path={folder}").load("cpu")
    lazy = Lazy(backbones.build(f"hf:path={folder}"), "cpu")  # how the grid loads: the error becomes the rows' error
    assert lazy.ready() == f"load: ValueError: {folder}: Qwen2ForCausalLM cannot take images: it is not an image-text-to-text architecture"


@pytest.mark.parametrize("spec, fragment", [("hf", "path= is required"), ("hf:path=x:input=frames", "input must be video or images")])
def test_hf_spec_without_a_path_or_with_an_unknown_input_is_refused(spec, fragment):
    with pytest.raises(RegistryError, match=fragment):
        backbones.build(spec)
