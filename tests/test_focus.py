"""FOCUS as its released code picks (NUS-HPC-AI-Lab/FOCUS e28a555, focus.py): cases worked by hand."""

from types import SimpleNamespace

import numpy as np
import pytest

from bench.selectors.choose import checked, choose
from bench.selectors.focus import (
    Bandit,
    Focus,
    Layout,
    arm_bounds,
    bernstein_ucb,
    focus_pick,
    gap_candidates,
    interpolate,
    layout,
    run_bandit,
)


def _bandit(bounds, coarse, fine, scored: dict[int, float], ranking, n=None) -> Bandit:
    """A bandit set by hand: only the pick reads it, so the fine windows do not matter."""
    values = np.full(n or bounds[-1], np.nan)
    values[list(scored)] = list(scored.values())
    return Bandit(Layout(np.array(bounds), 1, 1), np.array(coarse), np.array(fine, dtype=np.int64), values, np.array(ranking))


def _video(duration_s: float) -> SimpleNamespace:
    """What `Focus.select` reads of the candidates: the video's duration and the key that seeds its generator."""
    return SimpleNamespace(meta=SimpleNamespace(duration_s=duration_s), key="a-video")


# ---- where the arms and the fine windows lie


@pytest.mark.parametrize("n, duration, expected", [
    # ceil(200 / 16) = 13 wanted; stride 128 // 13 = 9; 128 // 9 = 14 arms of 128 // 14 = 9: 126 and 127 in no arm
    (128, 200.0, list(range(0, 127, 9))),
    (128, 128.0, list(range(0, 129, 16))),  # 8 wanted, stride 16, 8 arms of 16
    (128, 60.0, list(range(0, 129, 16))),  # ceil(3.75) = 4 < 8: the minimum 8
    (100, 128.0, list(range(0, 97, 12))),  # stride 100 // 8 = 12, 8 arms of 12: 96..99 in no arm
    (128, 3600.0, list(range(129))),  # 225 wanted, stride max(1, 0) = 1: 128 arms of one candidate
    (5, 60.0, [0, 1, 2, 3, 4, 5]),  # 8 wanted of 5: stride 1, 5 arms of 1
])
def test_arms_are_the_released_codes_partition_of_the_candidates(n, duration, expected):
    assert arm_bounds(n, duration, 16.0).tolist() == expected


@pytest.mark.parametrize("n, duration, step, half", [
    (128, 128.0, 1, 8),  # 1 candidate/s: step round(1) = 1; half round(max(1, 128 / 8 / 2) * 1) = 8
    (128, 60.0, 2, 8),  # 2.133/s: step round(2.133) = 2; half round(60 / 8 / 2 * 2.133) = round(8.0) = 8
    (128, 256.0, 1, 4),  # .5/s: step max(1, round(.5) = 0) = 1; half round(256 / 16 / 2 * .5) = 4
    (128, 200.0, 1, 5),  # .64/s: half round(200 / 13 / 2 * .64) = round(4.92) = 5
])
def test_the_fine_window_is_half_an_arm_each_side_sampled_at_one_frame_a_second(n, duration, step, half):
    lay = layout(n, duration, 16.0)
    assert (lay.step, lay.half_window) == (step, half)


@pytest.mark.parametrize("n, duration, k, expected", [
    (128, 64.0, 4, 2),  # 16 s apart on average: min(1 s, 4 s) at 2 candidates/s
    (128, 128.0, 4, 1),  # 1 s at 1/s: one candidate, which excludes nothing (|i - j| < 1 only for i = j)
    (128, 256.0, 32, 0),  # min(1 s, 2 s) at .5/s: round(.5) = 0, half to even
    (128, 20.0, 128, 0),  # .16 s apart <= .2 s: no gap
])
def test_the_gap_is_the_drivers(n, duration, k, expected):
    assert gap_candidates(n, duration, k) == expected


# ---- the bound


def test_the_bound_floors_the_variance_of_a_steady_arm():
    # t = 9, n = 3, ln 9 = 2.1972246: 3 ln 9 / 3 = 2.1972246; var 0 floored to 1e-6: sqrt(2 * 2.1972246 * 1e-6 / 3) = .0012103
    # steady .2: 2.3984349 (2.3972246 without the floor); .3 +- : var .02, sqrt(2 * 2.1972246 * .02 / 3) = .1711617 -> 2.6683863
    ucb = bernstein_ucb([np.array([.2, .2, .2]), np.array([.2, .5, .2])], 9)
    assert ucb == pytest.approx([2.3984349, 2.6683863], abs=1e-7)
    assert bernstein_ucb([np.array([.7])], 1).tolist() == [.7]  # one score in all: ln 1 = 0, the mean alone


# ---- the passes


def test_the_coarse_pass_takes_each_arms_centre_and_the_bound_ranks_arms_before_the_fine_pass():
    # 128 candidates over 128 s: 8 arms of 16. Coarse: arm a's centre (16a + 16a + 15) // 2 = 16a + 7 first, then 2
    # drawn. Candidate 87, arm 5's centre, scores 1, the rest .1: arm 5 (1, .1, .1) leads; the others tie, in time order.
    # Fine: the top max(4, ceil(8 / 4)) = 4 arms 5, 0, 1, 2; windows centre +- 8: [79, 95], [0, 15], [15, 31], [31, 47].
    # 17 frames at step 1: round(8.5) = 8 spaced and 9 drawn of the rest, so the whole window (16 at the edge) is scored.
    calls = []

    def score(indices):
        calls.append(indices.tolist())
        return np.where(indices == 87, 1.0, 0.1)

    bandit = run_bandit(128, 128.0, 16.0, score, np.random.default_rng(0))
    coarse, fine = calls
    assert coarse[::3] == [16 * a + 7 for a in range(8)]
    assert all(16 * a <= i < 16 * a + 16 for a in range(8) for i in coarse[3 * a:3 * a + 3]) and len(set(coarse)) == 24
    assert bandit.ranking.tolist() == [5, 0, 1, 2, 3, 4, 6, 7]
    assert set(fine) == (set(range(48)) | set(range(79, 96))) - set(coarse) and fine == sorted(fine)


def test_the_estimates_come_from_the_coarse_frames_only_nearest_first_drawn_clipped():
    # arm [0, 8): coarse 3 (the centre, .5), 7 (1.3 -> clipped 1), 1 (-.2 -> 0), drawn in that order; fine 4, 5 score
    # .99 and change nothing. 0 <- 1; 2 ties 1 and 3 -> 3, drawn first (.5); 4 <- 3; 5 ties 3 and 7 -> 3; 6 <- 7.
    # arm [8, 12): coarse 9 (.3), 11 (.6), 8 (.1): 10 ties 9 and 11 -> 9. 12 and 13 are in no arm: the last arm's 11.
    bandit = _bandit([0, 8, 12], [3, 7, 1, 9, 11, 8], [4, 5], {3: .5, 7: 1.3, 1: -.2, 9: .3, 11: .6, 8: .1, 4: .99, 5: .99}, [0, 1], n=14)
    assert interpolate(bandit).tolist() == [0, 0, .5, .5, .5, .5, 1, 1, .1, .3, .3, .6, .6, .6]


# ---- the pick

# 8 arms of 4 over 32 candidates, ranked in time order; the pick draws from the top clamp(ceil(8 / 4), 4, 32) = 4
# arms, 0-3. Arms 5, 6, 7 rank last but hold the best scores: 29 (.99), 25 (.98), 21 (.97); everything else <= .5.
OUTSIDERS = {29: .99, 25: .98, 21: .97}


@pytest.mark.parametrize("k, best", [
    (4, [29]),  # round(.2 * min(4, 24)) = round(.8) = 1 (floor would give 0)
    (8, [25, 29]),  # round(1.6) = 2 (floor: 1)
    (16, [21, 25, 29]),  # round(3.2) = 3
])
def test_the_pick_takes_round_a_fifth_of_k_best_scored_frames_then_draws_in_the_top_arms(k, best):
    coarse = [i for a in range(8) for i in (4 * a + 1, 4 * a, 4 * a + 3)]  # the centre (4a + 4a + 3) // 2, then 2 drawn
    scored = {i: .1 + .4 * i / 32 for i in coarse} | OUTSIDERS
    bandit = _bandit(list(range(0, 33, 4)), coarse, sorted(set(OUTSIDERS) - set(coarse)), scored, list(range(8)))
    chosen = focus_pick(bandit, k, np.random.default_rng(0)).tolist()
    assert len(set(chosen)) == k and [i for i in chosen if i >= 16] == best


def test_the_softmax_is_normalised_over_the_arms_free_frames():
    # 4 arms of 4, ranked 0-3; k = 4: round(.8) = 1 best scored, candidate 3 (.9, arm 0); shares 1, 1, 1, 0.
    # Arm 0's free frames 0, 1, 2 estimate .2 (<- 1), .2, .21: normalised over them 0, 0, 1, so 2 outweighs each other
    # by e^(1 / .06) = 1.7e7 and is drawn every time. Over the whole arm (with 3's .9) they would be 0, 0, .014, nearly even.
    # Arm 1: coarse 5 (.1), 7 (.5), 4 (.1): 6 ties 5 and 7 -> 5 -> .1, so 7 alone peaks. Arm 2: 9 (.6) alone peaks.
    coarse = [1, 3, 2, 5, 7, 4, 9, 8, 10, 13, 12, 15]
    values = [.2, .9, .21, .1, .5, .1, .6, .1, .1, .1, .1, .1]
    bandit = _bandit([0, 4, 8, 12, 16], coarse, [], dict(zip(coarse, values)), [0, 1, 2, 3])
    for seed in range(20):
        assert focus_pick(bandit, 4, np.random.default_rng(seed)).tolist() == [2, 3, 7, 9]
    # with a gap of 2 candidates, 2 (next to the chosen 3) is out: arm 0 draws from 0 and 1
    assert {focus_pick(bandit, 4, np.random.default_rng(seed), gap=2).tolist()[0] for seed in range(20)} == {0, 1}


# 4 arms of 2, every candidate coarse (centre, then the other); arm 3 (6, 7) holds the two best and ranks first.
# k = 8: round(1.6) = 2 best, 6 and 7; the other 6 split 2, 2, 1, 1 over arms 3, 2, 1, 0. Arm 3 has no free frame:
# its 2 are lost, and the released code returns 6 frames: 4, 5 (arm 2), one of 2, 3 and one of 0, 1.
SHORT = _bandit([0, 2, 4, 6, 8], list(range(8)), [], {i: v for i, v in enumerate([.1, .2, .3, .4, .5, .6, .9, .8])}, [3, 2, 1, 0])


def test_strict_returns_the_released_codes_short_selection_and_framebench_refuses_it():
    chosen = focus_pick(SHORT, 8, np.random.default_rng(0), strict=True).tolist()
    assert len(chosen) == 6 and {4, 5, 6, 7} <= set(chosen)
    with pytest.raises(ValueError, match="picked 6 frames, not k=8"):
        checked(chosen, 8, 8, "focus:strict=true")


def test_by_default_the_shortfall_is_drawn_again_so_k_distinct_frames_come_back():
    strict = focus_pick(SHORT, 8, np.random.default_rng(0), strict=True).tolist()
    assert focus_pick(SHORT, 8, np.random.default_rng(0)).tolist() == list(range(8))  # its 6, then 1 from arm 1, 1 from arm 0
    assert set(strict) < set(range(8))


# ---- the selector: scores in, k frames out

# 128 candidates over 256 s: 16 arms of 8. Arm 5 (40-47) scores 1, the rest .1: it ranks first (mean 1), the others
# tie. k = 32: round(6.4) = 6 best scored, all in arm 5 (its 3 coarse, then fine ones: window 43 +- 4 covers it);
# the other 26 split 7, 7, 6, 6 over arms 5, 0, 1, 2. Arm 5 has 2 free for its 7: the released code returns
# 6 + 2 + 7 + 6 + 6 = 27.
BLOCK = np.where((np.arange(128) >= 40) & (np.arange(128) < 48), 1.0, 0.1).astype(np.float32)


def test_a_strict_focus_that_falls_short_is_a_select_error():
    with pytest.raises(ValueError, match="picked 27 frames, not k=32"):
        choose(Focus(strict=True), "focus", BLOCK, 32, _video(256.0))
    chosen = choose(Focus(), "focus", BLOCK, 32, _video(256.0))
    assert len(chosen) == 32 and set(range(40, 48)) <= set(chosen.tolist())


@pytest.mark.parametrize("duration", [60.0, 200.0, 256.0, 3600.0])
def test_focus_returns_k_distinct_frames_for_every_k(duration):
    scores = np.random.default_rng(1).random(128).astype(np.float32)
    for k in (1, 2, 4, 8, 16, 32, 64, 100, 127, 128):
        chosen = Focus().select(scores, k, _video(duration))
        assert len(chosen) == k and len(set(chosen.tolist())) == k and chosen.tolist() == sorted(chosen.tolist())
