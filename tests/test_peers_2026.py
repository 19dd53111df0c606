"""The 2026 training-free anchors (FOCUS, DIG, A.I.R.): their rules on hand-worked cases, then in the needle world.

In the needle world each runs through `bench.runner.run` with the probe backbone against
uniform at k = 4. Their image models are stand-ins that see the shape (`SeesShape`: a frame's
coloured share, the probe's own reading), swapped in for the tiny random CLIP and DINOv2 that
`size=tiny` builds; every other part is real: the embedding and feature caches, the lazy
per-frame path, the score cache, the frame judge (`scorer=probe`) and, for DIG, the text LLM
behind a local HTTP server.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench.backbones.probe import FULL_SHARE, coloured_share
from bench.store.frames import FrameCache
from bench.grid.progress import Reporter
from bench.records import DataOptions
from bench.registry import RegistryError, benchmarks, selectors
from bench.results import read_all
from bench.runner import RunConfig, run
from bench.grid.scoring import Scorer, score_all
from bench.store.scores import cached, score_store
from bench.selectors import query_for
from bench.selectors.air import Mixture, fit_mixture, next_batch, threshold
from bench.selectors.dig import UnusableRoute, parse_route
from tests.chat_server import Reply

SAMPLES = 40
SIZE = 112  # short side of the decoded candidates: the probe reads the shape at any size, and smaller frames keep the grid fast


# ---- DIG: the verdict (its rule: tests/test_dig.py)


@pytest.mark.parametrize("text, expected", [
    ("Type: global", "global"),
    ("It asks about one moment, not the whole video, which would be global.\nType: localized", "localized"),  # the last word wins
    ("type: LOCALISED", "localized"),
])
def test_the_route_is_the_last_verdict_in_the_reply(text, expected):
    assert parse_route(text) == expected


def test_a_reply_with_no_verdict_is_unusable():
    with pytest.raises(UnusableRoute, match="names neither global nor localized"):
        parse_route("I cannot tell.")


# ---- A.I.R.: the mixture and the judge's next frames (its events and shares: tests/test_air.py)


def test_em_finds_two_separated_clusters_in_closed_form():
    # {-1, 1} and {9, 10, 11}: responsibilities are 0 or 1 to 1e-20, so EM's fixed point is each cluster's
    # weight, mean and population sd: (2/5, 0, 1) and (3/5, 10, sqrt(2/3) = .81650)
    fitted = fit_mixture(np.array([-1.0, 1.0, 9.0, 10.0, 11.0]))
    order = np.argsort(fitted.means)
    assert fitted.weights[order] == pytest.approx([0.4, 0.6], abs=1e-9)
    assert fitted.means[order] == pytest.approx([0.0, 10.0], abs=1e-9)
    assert fitted.sigmas[order] == pytest.approx([1.0, math.sqrt(2 / 3)], rel=1e-4)  # the variance floor: 1e-6 * var 21.04


def test_em_floors_the_variance_of_a_component_that_holds_equal_values():
    # {0, 0} and {10}: each cluster's variance is 0, so each sigma is the floor's root: var(x) = 100/3 - 100/9 = 200/9,
    # floor 1e-6 * 200/9 = 2.2222e-5, sigma = .0047140; weights 2/3 and 1/3, means 0 and 10
    fitted = fit_mixture(np.array([0.0, 0.0, 10.0]))
    order = np.argsort(fitted.means)
    assert fitted.weights[order] == pytest.approx([2 / 3, 1 / 3]) and fitted.means[order] == pytest.approx([0.0, 10.0], abs=1e-9)
    assert fitted.sigmas == pytest.approx([0.0047140, 0.0047140], rel=1e-4)


def test_em_on_constant_values_stays_finite():
    fitted = fit_mixture(np.full(16, 0.25))
    assert np.isfinite(fitted.sigmas).all() and fitted.means == pytest.approx([0.25, 0.25])


@pytest.mark.parametrize("means, sigmas, gamma, expected", [
    ([0.2, 0.8], [0.05, 0.1], 1.0, 0.7),  # .8 - 1 * max(.05, .1)
    ([0.8, 0.2], [0.1, 0.3], 0.5, 0.65),  # .8 - .5 * .3: the larger sigma, whichever component has it
    ([0.3, 0.3], [0.1, 0.1], 0.0, 0.3),
])
def test_the_threshold_is_the_higher_mean_less_gamma_larger_sigmas(means, sigmas, gamma, expected):
    assert threshold(Mixture(np.array([.5, .5]), np.array(means), np.array(sigmas)), gamma) == pytest.approx(expected)


def test_the_next_batch_looks_next_to_the_most_relevant_judged_frames_first():
    # 12 candidates, judged 3 (.9), 4 (.9), 8 (.6), 10 (.1). Intervals of unjudged candidates and their potential:
    # [0, 3): max(0, .9) = .9 -> 2; [5, 8): max(.9, .6) = .9 -> 5 (next to the better end 4); [9, 10): .6 -> 9;
    # [11, 12): max(.1, 0) = .1 < .5, never. Both .9 intervals tie: the higher mean similarity first ([5, 8): .7).
    similarity = np.array([.1, .1, .1, 0, 0, .7, .7, .7, 0, .3, 0, .9])
    relevance = {3: .9, 4: .9, 8: .6, 10: .1}
    assert next_batch(relevance, similarity, 4) == [5, 2, 9]
    assert next_batch(relevance, similarity, 2) == [5, 2]
    assert next_batch({3: .2}, similarity, 4) == []  # nothing promising: stop early


# ---- the needle world: each against uniform at k = 4, with image models that see the shape

FOCUS = "focus:model=sees-shape:size=tiny"  # a model name of its own, so no cache entry of the real tiny CLIP is touched
DIG = "dig:model=sees-shape:scorer=probe:size=tiny"
AIR = "air:model=sees-shape:scorer=probe:size=tiny"
LOCALIZED = Reply("The colour can be read from the moment the shape shows.\nType: localized")


class SeesShape(torch.nn.Module):
    """Stands in for the image towers of CLIP and DINOv2: a frame's features are [coloured share / FULL_SHARE (at
    most 1) + .05 * brightness, .2], so a frame showing the shape points near [1, 0], every text's direction."""

    dtype = torch.float32

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(text_config=SimpleNamespace(max_position_embeddings=77))
        self.frames_seen = 0

    def _features(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        frames = pixel_values.numpy()
        self.frames_seen += len(frames)
        # every other pixel each way: the same share, a quarter of the work
        rows = torch.tensor([[min(coloured_share(f[::2, ::2]) / FULL_SHARE, 1.0) + 0.05 * f.mean() / 255, 0.2] for f in frames])
        return SimpleNamespace(pooler_output=rows, last_hidden_state=rows[:, None, :])  # DIG averages the tokens: one token here

    def get_image_features(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        return self._features(pixel_values)

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        return self._features(pixel_values)

    def get_text_features(self, input_ids: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(pooler_output=torch.tensor([[1.0, 0.0]]))


def _pixels(images, return_tensors: str) -> SimpleNamespace:
    return SimpleNamespace(pixel_values=torch.tensor(np.stack(images)))


def _tokens(texts, **options) -> SimpleNamespace:
    return SimpleNamespace(input_ids=torch.zeros((1, 1), dtype=torch.long))


def _see_shapes(patch: pytest.MonkeyPatch) -> SeesShape:
    model = SeesShape()
    patch.setattr("bench.selectors._embed._tiny", lambda siglip: (model, _pixels, _tokens))
    patch.setattr("bench.selectors.dig._tiny_dinov2", lambda: (model, _pixels))
    return model


@pytest.fixture
def sees_shape(monkeypatch):
    return _see_shapes(monkeypatch)


@pytest.fixture(scope="module")
def grid(cache_dir, tmp_path_factory):
    """(rows, score store, samples): uniform, FOCUS, DIG and A.I.R. at k = 4 on SAMPLES needle videos, the probe answering."""
    from tests.chat_server import ChatServer

    results = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch, ChatServer() as server:
        _see_shapes(patch)
        patch.setenv("OPENAI_BASE_URL", server.url)
        patch.setenv("OPENAI_API_KEY", "test-key")
        server.responder = lambda request: LOCALIZED
        summary = run(RunConfig(datasets=("needle",), selectors=("uniform", FOCUS, DIG, AIR), backbones=("probe",), frames=(4,), limit=SAMPLES,
                                results_dir=results, cache_dir=cache_dir, device="cpu", frame_size=SIZE))
    assert summary.errors == 0
    samples = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=SAMPLES))
    return read_all(results), score_store(cache_dir), samples


def _accuracy(rows, selector: str) -> float:
    return float(rows[rows.selector == selector].correct.mean())


def _n_scored(grid, scorer: str) -> list[int]:
    _, store, samples = grid
    frames = FrameCache(store.root.parent)
    stored_as = Scorer(selectors.build(scorer), scorer, store, "cpu").stored_as  # the spec and the rule's revision
    return [cached(store, stored_as, frames.candidates(s.videos, 128, SIZE).key, s).n_scored for s in samples]


def test_uniform_catches_the_needle_about_one_time_in_eight_and_scores_nothing(grid):
    # the needle covers 3% of the 128 candidates, about 3.84; uniform's 4 frames are 32 apart: 3.84 / 32 = 12%
    assert _accuracy(grid[0], "uniform") <= 0.2
    assert _n_scored(grid, "uniform") == [0] * SAMPLES


def test_focus_finds_the_needle_in_most_videos_while_scoring_well_under_n(grid):
    # The needle's arm (16 s, 10-16 candidates in 60-180 s videos) is hit by its centre or 2 random frames with
    # probability about .6 to .8; found, its bound leads, the fine pass scores around it densely, and at k = 4 the best
    # scored frame is taken outright (round(.2 * 4) = 1): a needle frame. Missed, the arm may still be among the
    # fine-pass arms by chance. Scored: 3 per arm and the fine windows, 51 to 79 of 128 here.
    rows = grid[0]
    assert _accuracy(rows, FOCUS) >= 0.6 and _accuracy(rows, FOCUS) - _accuracy(rows, "uniform") >= 0.45
    counts = _n_scored(grid, FOCUS)
    assert all(24 <= c < 128 for c in counts) and np.mean(counts) <= 0.6 * 128


def test_dig_grounds_a_localized_question_on_the_needles_segment(grid):
    # The needle's edges are the only feature changes, so CAFS cuts the video into 3 segments (2 where the needle
    # straddles the border of its two 64-candidate chunks) and the needle's r-frame alone is kept (reward .98 against
    # .02). DIG's window, cut s - 2 to cut min(s + 2, m - 1), runs from the start to the start of the last segment, the
    # needle's end, and its k = 4 frames spread over it end on the needle's last candidate: most videos.
    rows = grid[0]
    assert _accuracy(rows, DIG) >= 0.8 and _accuracy(rows, DIG) - _accuracy(rows, "uniform") >= 0.6
    assert set(_n_scored(grid, DIG)) <= {2, 3}  # one r-frame judged per segment


def test_air_finds_the_needle_event_and_the_judge_confirms_it(grid):
    # Similarities are ~.98 on the needle and ~.1-.2 elsewhere: the two Gaussians split there and T sits just below the
    # needle's mean. The needle lasts 3% of 60-180 s, mostly no more than l_min = 3 s, so its event is usually dropped
    # and the whole video is the event: its most similar candidates, the needle's, are judged .98 and topk keeps them.
    rows = grid[0]
    assert _accuracy(rows, AIR) >= 0.95 and _accuracy(rows, AIR) - _accuracy(rows, "uniform") >= 0.75
    assert _n_scored(grid, AIR) == [128] * SAMPLES


# ---- FOCUS: lazy scoring


@pytest.fixture(scope="module")
def needle(cache_dir):
    """(samples, candidates of the first): the first 2 needle test samples, 128 candidates."""
    samples = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=2))
    return samples, FrameCache(cache_dir).candidates(samples[0].videos, 128, 336)


def _ask(selector, candidates, sample):
    selector.load("cpu")
    try:
        return selector.score(query_for(selector, candidates, sample))
    finally:
        selector.release()


def test_focus_embeds_only_the_frames_it_scores_and_each_frame_once(sees_shape, needle, tmp_path):
    samples, cands = needle
    focus = selectors.build(FOCUS, cache_dir=tmp_path)
    _ask(focus, cands, samples[0])
    assert sees_shape.frames_seen == focus.n_scored < 128
    _ask(selectors.build(FOCUS, cache_dir=tmp_path), cands, samples[0])  # asked again, by a fresh instance: all cached
    assert sees_shape.frames_seen == focus.n_scored


def test_embedding_a_subset_runs_the_model_on_new_frames_only_and_keeps_them_per_video(sees_shape, needle, tmp_path):
    from bench.selectors._embed import Embedder

    _, cands = needle
    embedder = Embedder("sees-shape", "tiny", cache_dir=tmp_path)
    embedder.load("cpu")
    first = embedder.images_at(cands, np.array([0, 1, 2]))
    assert sees_shape.frames_seen == 3
    again = embedder.images_at(cands, np.array([2, 3, 0]))  # 3 is new; 2 and 0 come from the video's partial entry
    assert sees_shape.frames_seen == 4 and np.array_equal(again[[0, 2]], first[[2, 0]])
    fresh = Embedder("sees-shape", "tiny", cache_dir=tmp_path)  # another process would read the same entry
    fresh.load("cpu")
    assert np.array_equal(fresh.images_at(cands, np.array([3])), again[[1]]) and sees_shape.frames_seen == 4
    whole = embedder.images(cands)  # the whole-video entry the other peers share is unchanged by all this
    assert sees_shape.frames_seen == 4 + 128 and whole.shape == (128, 2) and np.allclose(whole[[0, 1, 2, 3]], fresh.images_at(cands, np.arange(4)))


def test_focus_reads_a_whole_videos_embeddings_when_another_peer_cached_them(sees_shape, needle, tmp_path):
    samples, cands = needle
    _ask(selectors.build("clip:model=sees-shape:size=tiny", cache_dir=tmp_path), cands, samples[0])
    assert sees_shape.frames_seen == 128
    focus = selectors.build(FOCUS, cache_dir=tmp_path)
    _ask(focus, cands, samples[0])
    assert sees_shape.frames_seen == 128 and 24 <= focus.n_scored < 128


def test_focus_select_replays_the_bandit_from_the_cached_scores(sees_shape, needle, tmp_path):
    # scores come back from the score cache in another process; select must find the same arms from them alone
    samples, cands = needle
    focus = selectors.build(FOCUS, cache_dir=tmp_path)
    scores = _ask(focus, cands, samples[0])
    again = selectors.build(FOCUS, cache_dir=tmp_path / "elsewhere")  # no embedding cache: it must not need one
    for k in (4, 8, 16):
        chosen = again.select(scores, k, cands)
        assert chosen.tolist() == focus.select(scores, k, cands).tolist() and len(set(chosen.tolist())) == k
    assert sees_shape.frames_seen == focus.n_scored


# ---- DIG: the route


def test_dig_asks_the_llm_once_per_question_and_caches_the_verdict(sees_shape, chat_server, needle, tmp_path):
    from dataclasses import replace

    samples, cands = needle
    chat_server.responder = lambda request: LOCALIZED
    _ask(selectors.build(DIG, cache_dir=tmp_path), cands, samples[0])
    # the same question and options about another video, asked by another instance: the cached verdict
    _ask(selectors.build(DIG, cache_dir=tmp_path), FrameCache(tmp_path).candidates(samples[1].videos, 32, 64), samples[0])
    assert len(chat_server.requests) == 1
    assert "What colour is the shape" in chat_server.requests[0]["messages"][0]["content"]
    _ask(selectors.build(DIG, cache_dir=tmp_path), cands, replace(samples[0], question="How many times does it show?"))
    assert len(chat_server.requests) == 2


def test_dig_gives_a_global_question_the_uniform_pick_and_judges_nothing(sees_shape, chat_server, needle, tmp_path, monkeypatch):
    from bench.backbones.probe import Probe

    samples, cands = needle
    chat_server.responder = lambda request: Reply("It needs the whole video.\nType: global")
    monkeypatch.setattr(Probe, "frame_relevance", lambda self, frames, question: pytest.fail("a global question was judged"))
    dig = selectors.build(DIG, cache_dir=tmp_path)
    scores = _ask(dig, cands, samples[0])
    assert dig.n_scored == 0 and sees_shape.frames_seen == 0
    # DIG's global pick: floor(linspace(0, N - 1, k)), both ends included: 127 / 3 = 42.33, 84.67
    assert dig.select(scores, 4, cands).tolist() == [0, 42, 84, 127]
    assert dig.select(scores, 8, cands).tolist() == [int(i * 127 / 7) for i in range(8)]


def test_dig_asks_again_after_a_reply_without_a_verdict_and_the_run_records_the_failure(sees_shape, chat_server, needle, tmp_path):
    samples, cands = needle
    chat_server.responder = lambda request: Reply("Hard to say.")
    dig = selectors.build(DIG + ":retries=1", cache_dir=tmp_path)
    errors, _ = score_all(Scorer(dig, dig.spec, score_store(tmp_path / "scores"), "cpu"), [samples[0]], lambda s: cands, Reporter())
    assert len(chat_server.requests) == 2  # the first reply and one retry
    assert errors == {(samples[0].dataset, samples[0].sample_id):
                      "select: UnusableRoute: gpt-4o-mini: no global/localized verdict in 2 replies; last: the reply names neither global nor localized: 'Hard to say.'"}


@pytest.mark.parametrize("spec, message", [
    ("dig:route=sometimes", "route must be one of llm, global, localized, not 'sometimes'"),
    ("dig:retries=-1", "dig needs retries >= 0"),
    ("focus:arm=0", "focus needs arm > 0"),
    ("air:budget=0", r"air needs gamma, d_min and l_min \(seconds\) >= 0 and initial, batch and budget >= 1"),
])
def test_bad_parameters_are_refused_when_built(spec, message):
    with pytest.raises(RegistryError, match=message):
        selectors.build(spec)


def test_dig_retries_are_a_setting_not_part_of_the_cell():
    assert selectors.canonical("dig:retries=5:scorer=probe") == "dig:scorer=probe"


# ---- A.I.R.: the judge's budget


@pytest.mark.parametrize("budget, batches", [
    # sample 0 (69.75 s): the needle covers 3 candidates over 1.09 s, no more than l_min = 3 s, so no event survives and
    # the first batch is the K = min(8, B) most similar candidates of the whole video, the needle's among them
    (4, [4]),  # B = 4: the first batch spends it
    (10, [8, 2]),  # B = 10: 8 first, then the 2 the judged needle makes most promising
])
def test_air_judges_its_first_frames_then_their_neighbours_within_the_budget(budget, batches, sees_shape, needle, tmp_path, monkeypatch):
    from bench.backbones.probe import MIN_SHARE, Probe

    samples, cands = needle
    shows = [i for i, frame in enumerate(cands.frames) if coloured_share(frame) > MIN_SHARE]  # the event: 3 candidates here
    judged = []
    original = Probe.frame_relevance
    monkeypatch.setattr(Probe, "frame_relevance", lambda self, frames, question: judged.append(len(frames)) or original(self, frames, question))
    scores = _ask(selectors.build(f"{AIR}:budget={budget}", cache_dir=tmp_path), cands, samples[0])
    assert judged == batches
    # judged frames score 1 + relevance, the rest their normalised similarity (at most 1): the needle first
    assert set(np.flatnonzero(scores > 1.5).tolist()) == set(shows) and (scores >= 1).sum() == budget


# ---- n_scored: what the score cache records for every selector


@pytest.mark.parametrize("spec, expected", [
    ("uniform", 0),  # its own pick never reads its scores
    ("oracle", 32),  # every candidate gets a score, from the ground truth, at no model cost
    ("spatial:scorer=probe", 32),  # a selector that says nothing scored all N
    ("dig:route=global:scorer=qwen2-vl", 0),  # says so itself: nothing judged, and no model loaded (nothing to download)
    ("dig:model=sees-shape:route=localized:scorer=probe:size=tiny", 2),  # its r-frames: CAFS finds 2 segments in this 32-candidate sample
])
def test_the_score_cache_records_how_many_candidates_each_selector_scored(spec, expected, sees_shape, needle, tmp_path):
    samples, _ = needle
    cands = FrameCache(tmp_path).candidates(samples[0].videos, 32, 64)
    selector = selectors.build(spec, cache_dir=tmp_path)
    store = score_store(tmp_path / "scores")
    assert score_all(Scorer(selector, selector.spec, store, "cpu"), [samples[0]], lambda s: cands, Reporter())[0] == {}
    assert cached(store, Scorer(selector, selector.spec, store, "cpu").stored_as, cands.key, samples[0]).n_scored == expected


def test_a_score_entry_cached_before_n_scored_was_kept_reads_back_unknown(needle, tmp_path):
    from bench.store.scores import score_key

    samples, _ = needle
    cands = FrameCache(tmp_path).candidates(samples[0].videos, 32, 64)
    store = score_store(tmp_path / "scores")
    store.save(score_key("clip", cands.key, samples[0]), {"scores": np.zeros(32, dtype=np.float32)}, {"score_s": 0.5})  # the old meta
    hit = cached(store, "clip", cands.key, samples[0])
    assert hit.n_scored is None and hit.seconds == 0.5
