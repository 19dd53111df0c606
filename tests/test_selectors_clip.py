"""clip and the CLIP-based peers with tiny random CLIP and SigLIP models: scores, the embedding cache, picks."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from bench.store.frames import FrameCache
from bench.records import DataOptions
from bench.registry import RegistryError, benchmarks, selectors
from bench.selectors import query_for
from bench.selectors._embed import Embedder, normalise
from bench.selectors.choose import choose
from bench.selectors.mdp3 import mdp3
from bench.selectors.pick import aks, minmax, nms_greedy

SIGLIP = "google/siglip-base-patch16-224"


@pytest.fixture(scope="module")
def video(cache_dir):
    """(sample, candidates) of the first needle test video, 128 candidates."""
    sample = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=1))[0]
    return sample, FrameCache(cache_dir).candidates(sample.videos, 128, 336)


def _scores(spec, video, store):
    selector = selectors.build(spec, cache_dir=store)
    selector.load("cpu")
    try:
        return selector, selector.score(query_for(selector, video[1], video[0]))
    finally:
        selector.release()


@pytest.mark.parametrize("model", ["openai/clip-vit-large-patch14", SIGLIP])
def test_tiny_models_are_built_the_same_in_every_process(model, tmp_path):
    # the embedding cache is keyed by model and size, so a second build must have the same weights
    first, second = Embedder(model, "tiny", cache_dir=tmp_path), Embedder(model, "tiny", cache_dir=tmp_path)
    first.load("cpu"), second.load("cpu")
    a, b = first._model.state_dict(), second._model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("model", ["openai/clip-vit-large-patch14", SIGLIP])
def test_clip_scores_are_the_cosines_the_model_itself_computes(model, video, tmp_path):
    # independent reference: the model's forward gives logits = exp(scale) * cos (+ bias for SigLIP)
    selector, scores = _scores(f"clip:size=tiny:model={model}", video, tmp_path)
    embedder = selector.embedder
    embedder.load("cpu")
    sample, cands = video
    pixels = embedder._processor(images=list(np.array(cands.frames)), return_tensors="pt").pixel_values
    # SigLIP reads text padded to its whole context (64 tokens here), CLIP unpadded
    padding = dict(padding="max_length", max_length=64) if "siglip" in model else {}
    tokens = embedder._tokenizer([sample.question], return_tensors="pt", **padding)
    with torch.inference_mode():
        out = embedder._model(input_ids=tokens.input_ids, pixel_values=pixels)
        bias = getattr(embedder._model, "logit_bias", torch.zeros(1))
        reference = ((out.logits_per_image[:, 0] - bias) / embedder._model.logit_scale.exp()).numpy()
    assert scores.dtype == np.float32 and scores.shape == (128,)
    np.testing.assert_allclose(scores, reference, atol=1e-5)
    assert scores.std() > 0  # a random model still tells frames apart


def test_image_embeddings_are_computed_once_per_video_and_reused_across_questions(video, tmp_path, monkeypatch):
    sample, cands = video
    selector = selectors.build("clip:size=tiny", cache_dir=tmp_path)
    selector.load("cpu")
    model = selector.embedder._model
    calls = []
    original = model.get_image_features
    monkeypatch.setattr(model, "get_image_features", lambda **kw: calls.append(len(kw["pixel_values"])) or original(**kw))
    first = selector.score(query_for(selector, cands, sample))
    assert calls == [32, 32, 32, 32]  # 128 candidates in batches of 32
    other = selector.score(query_for(selector, cands, replace(sample, question="Where is the red square?")))
    assert len(calls) == 4 and not np.allclose(first, other)
    # a fresh selector with the same cache reads them without loading a model
    cached = selectors.build("clip:size=tiny", cache_dir=tmp_path).embedder.cached_images(cands)
    assert cached.shape == (128, 16) and np.array_equal(cached, selector.embedder.images(cands))
    assert selectors.build("clip:size=tiny", cache_dir=tmp_path / "elsewhere").embedder.cached_images(cands) is None


def test_bolt_scores_are_clip_similarities_min_max_normalised_to_the_power_alpha(video, tmp_path):
    _, cosine = _scores("clip:size=tiny", video, tmp_path)
    _, bolt = _scores("bolt:size=tiny:alpha=2.5", video, tmp_path)
    np.testing.assert_allclose(bolt, minmax(cosine.astype(np.float64)) ** 2.5, atol=1e-5)
    assert bolt.min() == 0 and bolt.max() == pytest.approx(1)


def test_qframe_draw_depends_on_seed_video_and_question_only(video, tmp_path):
    sample, _ = video
    _, first = _scores("qframe:size=tiny", video, tmp_path)
    _, again = _scores("qframe:size=tiny", video, tmp_path)
    _, reseeded = _scores("qframe:size=tiny:seed=1", video, tmp_path)
    _, asked = _scores("qframe:size=tiny", (replace(sample, question="Which colour?"), video[1]), tmp_path)
    assert np.array_equal(first, again)
    assert not np.allclose(first, reseeded) and not np.allclose(first, asked)


def test_a_selectors_own_rule_runs_with_its_parameters_and_pick_overrides_it(video, tmp_path):
    _, cands = video
    selector, scores = _scores("aks:size=tiny:threshold=0.3:depth=2", video, tmp_path)
    assert choose(selector, "aks", scores, 8, cands).tolist() == aks(scores, 8, threshold=0.3, depth=2).tolist()
    assert choose(selector, "nms", scores, 8, cands).tolist() == nms_greedy(scores, 8).tolist()
    clip = selectors.build("clip:size=tiny", cache_dir=tmp_path)
    with pytest.raises(RegistryError, match="pick must be one of"):
        choose(clip, "aks", scores, 8, cands)


def test_mdp3_selects_from_the_cached_embeddings_after_release(video, tmp_path):
    _, cands = video
    selector, relevance = _scores("mdp3:size=tiny:segment=16", video, tmp_path)
    assert np.all(relevance > 0) and np.all(relevance <= 5)  # a sum of five Gaussians of a distance
    images = normalise(selector.embedder.cached_images(cands).astype(np.float64))
    expected = mdp3(relevance, images, 8, segment=16, lam=0.2)
    assert choose(selector, "mdp3", relevance, 8, cands).tolist() == expected.tolist()
    with pytest.raises(LookupError, match="no cached embeddings"):
        selectors.build("mdp3:size=tiny", cache_dir=tmp_path / "empty").select(relevance, 8, cands)


@pytest.mark.parametrize("spec, message", [
    ("clip:size=huge", "size must be one of full, tiny"),
    ("bolt:text=caption", "text must be one of question, question[+]options"),
    ("bolt:alpha=0", "alpha must be positive"),
    ("mdp3:segment=0", "segment >= 1"),
])
def test_bad_parameters_are_refused_when_built(spec, message):
    with pytest.raises(ValueError, match=message):
        selectors.build(spec)
