"""One battery over every registered backbone: it builds, its spec round-trips, it answers needle frames, its errors are clear.

A backbone registered without an entry in TINY fails here, so a new one comes with an
offline way to run it.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.records import Reply
from bench.registry import RegistryError, backbones
from tests.image_server import ImageServer

PROMPT = "What colour is the shape that appears in the video?\nA. red\nB. blue\nAnswer with the option's letter from the given choices directly."
TINY = {  # name -> a spec that runs offline on the CPU ({url}: the local OpenAI-compatible server)
    "probe": "probe",
    "qwen2-vl": "qwen2-vl:size=tiny",
    "llava-next-video": "llava-next-video:size=tiny",
    "idefics2": "idefics2:size=tiny",
    "pllava": "pllava:size=tiny",
    "qwen2.5-vl": "qwen2.5-vl:size=tiny",
    "qwen3-vl": "qwen3-vl:size=tiny",
    "llava-onevision": "llava-onevision:size=tiny",
    "internvl3": "internvl3:size=tiny",
    "hf": "hf:path={hf_dir}",  # a tiny Qwen2-VL saved with save_pretrained (tests/checkpoints.py)
    "openai": "openai:model=probe-server:base_url={url}",
}
BROKEN = {  # name -> a spec whose load must fail with an error that names what is missing
    "qwen2-vl": ("qwen2-vl:path=/nonexistent", "/nonexistent"),
    "llava-next-video": ("llava-next-video:path=/nonexistent", "/nonexistent"),
    "idefics2": ("idefics2:path=/nonexistent", "/nonexistent"),
    "pllava": ("pllava:path=/nonexistent", "/nonexistent"),
    "qwen2.5-vl": ("qwen2.5-vl:path=/nonexistent", "/nonexistent"),
    "qwen3-vl": ("qwen3-vl:path=/nonexistent", "/nonexistent"),
    "llava-onevision": ("llava-onevision:path=/nonexistent", "/nonexistent"),
    "internvl3": ("internvl3:path=/nonexistent", "/nonexistent"),
    "hf": ("hf:path=/nonexistent", "/nonexistent"),
    "openai": ("openai:model=m:base_url=http://127.0.0.1:9/v1:retries=0:timeout=2", "127.0.0.1:9"),
}


@pytest.fixture(scope="module")
def server():
    with ImageServer() as running:
        yield running


@pytest.fixture
def spec(request, server, tiny_hf_checkpoint, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    name = request.param
    assert name in TINY, f"backbone {name!r} has no offline spec in TINY"
    return TINY[name].format(url=server.url, hf_dir=tiny_hf_checkpoint)


def test_every_registered_backbone_has_an_offline_spec():
    assert sorted(TINY) == backbones.names()


@pytest.mark.parametrize("spec", backbones.names(), indirect=True)
def test_a_backbone_builds_and_its_spec_round_trips(spec):
    built = backbones.build(spec)
    assert backbones.canonical(built.spec) == built.spec
    assert backbones.build(built.spec).spec == built.spec


@pytest.mark.parametrize("spec", backbones.names(), indirect=True)
def test_a_backbone_answers_four_needle_sized_frames(spec, needle_test, cache_dir):
    from bench.store.frames import FrameCache

    frames = FrameCache(cache_dir).candidates(needle_test[0].videos, 32, 64).frames[[2, 10, 18, 26]]
    model = backbones.build(spec)
    model.load("cpu")
    try:
        reply = model.answer(np.asarray(frames), PROMPT, 8)
    finally:
        model.release()
    assert isinstance(reply, Reply) and isinstance(reply.text, str)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_backbone_that_cannot_load_or_reach_its_model_says_where(name, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    text, where = BROKEN[name]
    model = backbones.build(text)
    with pytest.raises(Exception, match=where.replace(".", r"\.")):
        model.load("cpu")
        model.answer(np.zeros((1, 64, 64, 3), np.uint8), PROMPT, 8)


@pytest.mark.parametrize("text", ["qwen2-vl:size=huge", "openai:image_format=gif:model=m"])
def test_a_bad_parameter_value_is_refused_when_the_spec_is_built(text):
    with pytest.raises(RegistryError):
        backbones.build(text)
