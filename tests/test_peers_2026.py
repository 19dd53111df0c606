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
from bench.selectors.air import Mixture, allocate, events, fit_mixture, next_batch, threshold
from bench.selectors.dig import UnusableRoute, parse_route, representatives
from bench.selectors.focus import Bandit, arm_bounds, bernstein_ucb, focus_pick, interpolate, rank_arms, run_bandit
from bench.selectors.pick import PICKS, timeline_centres, uniform_indices
from tests.chat_server import Reply

SAMPLES = 40
SIZE = 112  # short side of the decoded candidates: the probe reads the shape at any size, and smaller frames keep the grid fast


# ---- FOCUS: arms, the bound, the bandit's arm choice, the pick


@pytest.mark.parametrize("n, duration, arm, expected", [
    (128, 60.0, 16.0, [0, 16, 32, 48, 64, 80, 96, 112, 128]),  # ceil(60 / 16) = 4 < 8 arms: the minimum 8, 16 candidates each
    (128, 180.0, 16.0, [0, 10, 21, 32, 42, 53, 64, 74, 85, 96, 106, 117, 128]),  # ceil(180 / 16) = 12 arms: floor(a * 128 / 12)
    (128, 3600.0, 16.0, [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128]),  # 225 arms capped at 128 // 8 = 16
    (32, 60.0, 16.0, [0, 8, 16, 24, 32]),  # 8 arms wanted, 32 // 8 = 4 allowed
    (5, 60.0, 16.0, [0, 5]),  # fewer than 8 candidates: one arm
])
def test_arms_are_16_second_segments_at_least_8_each_holding_at_least_8_candidates(n, duration, arm, expected):
    assert arm_bounds(n, duration, arm).tolist() == expected


def test_the_bernstein_bound_prefers_an_uncertain_arm_to_a_steady_better_mean():
    # t = 9, n = 3 each, ln 9 = 2.19722: every arm gets 3 ln 9 / 3 = 2.19722.
    # arm 0: mean .2, var 0 -> 2.39722; arm 2: mean .4, var 0 -> 2.59722;
    # arm 1: mean .3, var ((-.1)^2 + .2^2 + (-.1)^2) / 3 = .02, sqrt(2 * 2.19722 * .02 / 3) = .17117 -> 2.66839
    ucb = bernstein_ucb([np.array([.2, .2, .2]), np.array([.2, .5, .2]), np.array([.4, .4, .4])], 9)
    assert ucb == pytest.approx([2.39722, 2.66839, 2.59722], abs=1e-5)
    # ranked from the scored frames of three 3-frame arms: arm 1 first, then 2, then 0
    bounds, values = np.array([0, 3, 6, 9]), np.array([.2, .2, .2, .2, .5, .2, .4, .4, .4])
    assert rank_arms(bounds, np.ones(9, dtype=bool), values).tolist() == [1, 2, 0]


def test_the_bound_counts_only_scored_frames_and_a_thin_arm_gets_the_larger_bonus():
    # arm 0 scored twice (.5, .5), arm 1 four times (.6 each); t = 6, ln 6 = 1.79176
    # arm 0: .5 + 0 + 3 * 1.79176 / 2 = 3.18764; arm 1: .6 + 3 * 1.79176 / 4 = 1.94382 -> arm 0 first despite its lower mean
    bounds = np.array([0, 4, 8])
    scored = np.array([1, 1, 0, 0, 1, 1, 1, 1], dtype=bool)
    values = np.array([.5, .5, 9, 9, .6, .6, .6, .6])  # 9: unscored, must be ignored
    assert rank_arms(bounds, scored, values).tolist() == [0, 1]


def test_the_bandit_pulls_centre_and_two_random_frames_per_arm_then_densifies_the_arm_whose_bound_leads():
    # 64 candidates over 32 s: 8 arms of 8 (0.5 s per candidate, 4 s per arm). Coarse: each arm's centre lo + 4 and
    # 2 random others, 24 in all. Candidate 44, arm 5's centre, is the needle (1.0; the rest .1), so arm 5's scores
    # (1, .1, .1) give it the only positive variance and the top bound. Fine: the top max(4, ceil(8 / 4)) = 4 arms,
    # 5 and then 0, 1, 2 (equal bounds: the earlier arm), ceil(8 * .5 s * 1 fps) = 4 frames each: segment centres
    # lo + floor((j + .5) * 8 / 2) = lo + 2, lo + 6 and 2 random, the ones not scored yet.
    calls = []

    def score(indices):
        calls.append(indices.tolist())
        return np.where(indices == 44, 1.0, 0.1).astype(np.float32)

    bandit = run_bandit(64, 32.0, 16.0, score, np.random.default_rng(0))
    coarse, fine = calls
    assert len(coarse) == 24 and [sum(lo <= i < lo + 8 for i in coarse) for lo in range(0, 64, 8)] == [3] * 8
    assert {lo + 4 for lo in range(0, 64, 8)} <= set(coarse)
    assert not set(fine) & set(coarse) and all(i < 24 or 40 <= i < 48 for i in fine)  # arms 0, 1, 2 and 5 only
    assert {40 + 2, 40 + 6} <= set(np.flatnonzero(bandit.scored).tolist())
    assert bandit.scored.sum() == 24 + len(fine) < 64 and bandit.ranking[0] == 5


def test_interpolation_copies_the_nearest_scored_score_inside_each_arm():
    # arm [0, 4): scored 1 (.5) and 3 (.9): 0 <- 1, 2 ties between 1 and 3 -> the earlier, 1;
    # arm [4, 8): only 6 (.2) is scored, so every member gets .2
    bandit = Bandit(np.array([0, 4, 8]), np.array([0, 1, 0, 1, 0, 0, 1, 0], dtype=bool), np.array([0, .5, 0, .9, 0, 0, .2, 0]), np.array([0, 1]))
    assert interpolate(bandit).tolist() == [.5, .5, .5, .9, .2, .2, .2, .2]


def test_focus_pick_takes_a_fifth_of_k_from_the_best_scores_and_the_rest_from_the_top_arms():
    # 8 arms of 4 over 32 candidates; arms ranked 6, 1, 3, 0, then the rest; the top clamp(ceil(8 / 4), 4, 32) = 4 arms.
    # k = 5: floor(.2 * 5) = 1 frame is the best score anywhere, candidate 9 (arm 2, not a top arm).
    # The other 4 go one per top arm, each drawn from softmax(minmax(arm) / .06): an arm's peak (1) outweighs each
    # other member (0) by e^(1 / .06) = 1.7e7, so each top arm gives its peak: 26 (arm 6), 5 (1), 13 (3), 2 (0).
    values = np.zeros(32)
    values[[2, 5, 9, 13, 26]] = [.5, .6, .99, .7, .8]
    bandit = Bandit(np.arange(0, 33, 4), np.ones(32, dtype=bool), values, np.array([6, 1, 3, 0, 2, 4, 5, 7]))
    assert focus_pick(bandit, values, 5, np.random.default_rng(0)).tolist() == [2, 5, 9, 13, 26]


def test_focus_pick_passes_a_full_arms_share_to_the_next_arm():
    # 4 arms of 2; k = 8 = every candidate. floor(1.6) = 1 best frame (candidate 7, arm 3); the top min(4, 4) = 4 arms
    # get 7 // 4 = 1 each plus the remainder 3 to the best three: 2, 2, 2, 1 in rank order 3, 2, 1, 0.
    # Arm 3 has one free place left for its 2, so its extra frame carries on; in the end all 8 are kept.
    values = np.array([.1, .2, .3, .4, .5, .6, .7, .9])
    bandit = Bandit(np.array([0, 2, 4, 6, 8]), np.ones(8, dtype=bool), values, np.array([3, 2, 1, 0]))
    assert focus_pick(bandit, values, 8, np.random.default_rng(0)).tolist() == list(range(8))


# ---- DIG: the verdict, the r-frames, the reward-weighted timeline


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


def test_representatives_cut_at_the_largest_feature_changes_and_take_the_member_nearest_the_mean():
    # unit features: 0-2 along x, 3-4 along y, 5 at 45 degrees between x and y.
    # Changes (1 - cosine): 0-1 0, 1-2 0, 2-3 1, 3-4 0, 4-5 1 - .70711 = .29289. m = 3: cut at 3 and 5.
    # Segments [0, 3), [3, 5), [5, 6); inside each all members equal the mean direction, so the earliest wins.
    s = math.sqrt(0.5)
    features = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [s, s]])
    bounds, rframes = representatives(features, 3)
    assert bounds.tolist() == [0, 3, 5, 6] and rframes.tolist() == [0, 3, 5]


def test_the_r_frame_is_the_member_nearest_its_segments_mean():
    # one segment of (1, 0), (.8, .6), (0, 1): their sum (1.8, 1.6) / sqrt(5.8) = (.74741, .66436) is the mean's
    # direction; cosines .74741, .8 * .74741 + .6 * .66436 = .99655, and .66436: the middle one
    bounds, rframes = representatives(np.array([[1, 0], [.8, .6], [0, 1.0]]), 1)
    assert bounds.tolist() == [0, 3] and rframes.tolist() == [1]


@pytest.mark.parametrize("weights, k, expected", [
    # equal weights: points (j + .5) * 8 / 4 = 1, 3, 5, 7, the candidates holding them: uniform's segment centres
    ([1] * 8, 4, [1, 3, 5, 7]),
    # ends of the spans [0, 0, 6, 6, 6, 7, 8, 8], W = 8: points 1, 3, 5 fall in candidate 2's span [0, 6), 7 in
    # candidate 6's [7, 8). 2 is kept once; the second point takes its nearest free neighbour, 1 (earlier on the
    # tie with 3), the third 3; then 6.
    ([0, 0, 6, 0, 0, 1, 1, 0], 4, [1, 2, 3, 6]),
    # spans of [1, 3] are [0, 1) and [1, 4), W = 4, k = 2: points 1 and 3 both in candidate 1 -> 1, then its neighbour 0
    ([1, 3], 2, [0, 1]),
    # negative weights count as 0: [0, 2, 0, 2], ends [0, 2, 2, 4], k = 2: points 1 and 3 -> 1 and 3
    ([-5, 2, 0, 2], 2, [1, 3]),
    ([0, 0, 0, 0], 2, [1, 3]),  # all zero: equal weights, uniform's floor((j + .5) * 2) = 1, 3
])
def test_the_timeline_pick_samples_uniformly_over_the_reward_weighted_timeline(weights, k, expected):
    assert timeline_centres(np.array(weights, dtype=float), k).tolist() == expected
    assert PICKS["timeline"](np.array(weights, dtype=float), k).tolist() == expected


@pytest.mark.parametrize("n, k", [(128, 4), (128, 32), (32, 4), (7, 3)])
def test_equal_weights_give_exactly_the_uniform_pick(n, k):
    assert timeline_centres(np.ones(n), k).tolist() == uniform_indices(n, k).tolist()


# ---- A.I.R.: the mixture, the threshold, events, the initial split, the next batch


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


@pytest.mark.parametrize("above, d_min, l_min, expected", [
    # runs [1, 3), [4, 7), [10, 11); gaps 1 and 3: d_min 2 merges the first two into [1, 7); [10, 11) is 1 long < 2
    ("011011100010", 2, 2, [(1, 7)]),
    ("011011100010", 1, 2, [(1, 3), (4, 7)]),  # no gap is shorter than 1: nothing merges
    ("011011100010", 4, 1, [(1, 11)]),  # the gap of 3 merges too, and a length of 1 is enough
    ("111000000111", 2, 3, [(0, 3), (9, 12)]),  # runs at both ends
    ("000000", 2, 2, []),
])
def test_events_are_runs_above_the_threshold_merged_across_short_gaps_and_pruned_when_short(above, d_min, l_min, expected):
    assert events(np.array([c == "1" for c in above]), d_min, l_min) == expected


@pytest.mark.parametrize("weights, caps, total, expected", [
    ([3, 1], [10, 10], 5, [4, 1]),  # quotas 3.75, 1.25: floors 3 and 1, the frame left to the larger remainder
    ([1, 1, 1], [9, 9, 9], 2, [1, 1, 0]),  # quotas 2/3 each: one frame to each of the first two
    ([10, 1], [2, 10], 6, [2, 4]),  # quotas 5.45 and .55: the first is capped at 2, its frames go to the second
    ([0, 0], [3, 3], 3, [2, 1]),  # zero weights split evenly: quotas 1.5, 1.5 -> 1, 1, and the tie to the earlier
    ([1, 1], [1, 2], 8, [1, 2]),  # more frames than room: every cap filled
])
def test_initial_frames_split_by_largest_remainders_within_each_events_length(weights, caps, total, expected):
    assert allocate(np.array(weights, dtype=float), np.array(caps), total).tolist() == expected


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
        rows = [[min(coloured_share(f[::2, ::2]) / FULL_SHARE, 1.0) + 0.05 * f.mean() / 255, 0.2] for f in frames]
        return SimpleNamespace(pooler_output=torch.tensor(rows, dtype=torch.float32))

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
    return [cached(store, scorer, frames.candidates(s.videos, 128, SIZE), s).n_scored for s in samples]


def test_uniform_catches_the_needle_about_one_time_in_eight_and_scores_nothing(grid):
    # the needle covers 3% of the 128 candidates, about 3.84; uniform's 4 frames are 32 apart: 3.84 / 32 = 12%
    assert _accuracy(grid[0], "uniform") <= 0.2
    assert _n_scored(grid, "uniform") == [0] * SAMPLES


def test_focus_finds_the_needle_in_most_videos_while_scoring_well_under_n(grid):
    # The needle's arm (16 s, 10-16 candidates in 60-180 s videos) is hit by its centre and 2 random frames with
    # probability 1 - (1 - 3.84 / L)^3-ish, .6 to .8; missed, it is still among the 4 fine-pass arms of 8-12 by chance,
    # 1/3 to 1/2. So about 1 - .4 * .6 = .76 of the videos; found, the arm leads, the fine pass scores it densely and
    # the softmax at 1 / .06 takes a needle frame. Scored: 3 per arm + 4 arms at 1 fps, 44 to 76 of 128 (a 140 s video:
    # 9 arms of 14, 27 + 4 * 11).
    rows = grid[0]
    assert _accuracy(rows, FOCUS) >= 0.6 and _accuracy(rows, FOCUS) - _accuracy(rows, "uniform") >= 0.45
    counts = _n_scored(grid, FOCUS)
    assert all(24 <= c < 128 for c in counts) and np.mean(counts) <= 0.6 * 128


def test_dig_grounds_a_localized_question_on_the_needles_segment(grid):
    # The needle's edges are the two largest feature changes, so it is a segment of its own with an r-frame that
    # shows it: reward .98 against .02 elsewhere. Its ~3.84 candidates weigh 3.76 of 3.76 + 124 * .02 = 6.24, 60% of
    # the timeline, and 4 points spaced 25% apart put 2 or 3 there: every video. 16 r-frames judged.
    rows = grid[0]
    assert _accuracy(rows, DIG) >= 0.95 and _accuracy(rows, DIG) - _accuracy(rows, "uniform") >= 0.75
    assert _n_scored(grid, DIG) == [16] * SAMPLES


def test_air_finds_the_needle_event_and_the_judge_confirms_it(grid):
    # Similarities are ~.98 on the needle and ~.1-.2 elsewhere: the two Gaussians split there, T sits just below the
    # needle's mean, the needle is the one event, its frames are judged .98, and topk keeps them: every video.
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
    for k in (4, 8, 32):
        assert PICKS[dig.pick](scores, k).tolist() == uniform_indices(128, k).tolist()


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
    ("dig:rframes=0", "dig needs rframes >= 1"),
    ("focus:arm=0", "focus needs arm > 0"),
    ("air:budget=0", "air needs gamma >= 0 and d_min, l_min, initial, batch and budget >= 1"),
])
def test_bad_parameters_are_refused_when_built(spec, message):
    with pytest.raises(RegistryError, match=message):
        selectors.build(spec)


def test_dig_retries_are_a_setting_not_part_of_the_cell():
    assert selectors.canonical("dig:retries=5:scorer=probe") == "dig:scorer=probe"


# ---- A.I.R.: the judge's budget


@pytest.mark.parametrize("budget, second", [
    (4, 1),  # B = min(4, 128, 8 + 4 * ceil(minutes)) = 4: one frame of budget left after the event's
    (10, 2),  # B = 10: both neighbours of the event (potential .98); judged .02, nothing promising is left
])
def test_air_judges_the_event_then_its_neighbours_within_the_budget(budget, second, sees_shape, needle, tmp_path, monkeypatch):
    from bench.backbones.probe import MIN_SHARE, Probe

    samples, cands = needle
    shows = [i for i, frame in enumerate(cands.frames) if coloured_share(frame) > MIN_SHARE]  # the event: 3 candidates here
    judged = []
    original = Probe.frame_relevance
    monkeypatch.setattr(Probe, "frame_relevance", lambda self, frames, question: judged.append(len(frames)) or original(self, frames, question))
    scores = _ask(selectors.build(f"{AIR}:budget={budget}", cache_dir=tmp_path), cands, samples[0])
    assert judged == [len(shows), second]
    # judged frames score 1 + relevance, the rest their normalised similarity (at most 1): the needle first
    assert set(np.flatnonzero(scores > 1.5).tolist()) == set(shows) and (scores >= 1).sum() == len(shows) + second


# ---- n_scored: what the score cache records for every selector


@pytest.mark.parametrize("spec, expected", [
    ("uniform", 0),  # its own pick never reads its scores
    ("oracle", 32),  # every candidate gets a score, from the ground truth, at no model cost
    ("spatial:scorer=probe", 32),  # a selector that says nothing scored all N
    ("dig:route=global:scorer=qwen2-vl", 0),  # says so itself: nothing judged, and no model loaded (nothing to download)
    ("dig:model=sees-shape:route=localized:scorer=probe:size=tiny", 16),  # its 16 r-frames
])
def test_the_score_cache_records_how_many_candidates_each_selector_scored(spec, expected, sees_shape, needle, tmp_path):
    samples, _ = needle
    cands = FrameCache(tmp_path).candidates(samples[0].videos, 32, 64)
    selector = selectors.build(spec, cache_dir=tmp_path)
    store = score_store(tmp_path / "scores")
    assert score_all(Scorer(selector, selector.spec, store, "cpu"), [samples[0]], lambda s: cands, Reporter())[0] == {}
    assert cached(store, selector.spec, cands, samples[0]).n_scored == expected


def test_a_score_entry_cached_before_n_scored_was_kept_reads_back_unknown(needle, tmp_path):
    from bench.store.scores import score_key

    samples, _ = needle
    cands = FrameCache(tmp_path).candidates(samples[0].videos, 32, 64)
    store = score_store(tmp_path / "scores")
    store.save(score_key("clip", cands, samples[0]), {"scores": np.zeros(32, dtype=np.float32)}, {"score_s": 0.5})  # the old meta
    hit = cached(store, "clip", cands, samples[0])
    assert hit.n_scored is None and hit.seconds == 0.5
