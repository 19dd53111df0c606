import numpy as np
import pytest

from bench.sampling import segment_centres
from bench.selectors.pick import nms_greedy, topk, uniform_indices


@pytest.mark.parametrize("scores, k, expected", [
    ([0, 0, 0, 5, 4, 0, 0, 3], 2, [3, 7]),  # delta = 8 // 8 = 1 suppresses neighbour 4
    ([0.1, 0.9, 0.2, 0.8], 2, [1, 3]),  # delta = 4 // 8 = 0: only the pick itself is removed
    ([9, 8, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6], 2, [0, 15]),  # delta = 16 // 8 = 2: 1 and 2 suppressed
    ([1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1, 1, 1, 1, 1, 1, 4, 0, 0, 0], 2, [8, 16]),  # 16 - 8 = 8 > delta 2
])
def test_nms_keeps_k_best_in_time_order(scores, k, expected):
    assert nms_greedy(np.array(scores), k).tolist() == expected


def test_nms_suppression_radius_is_inclusive():
    # N = 16, k = 2: delta = 2, so index 7 (distance 2 from 5) is suppressed but 8 (distance 3) is not
    scores = np.zeros(16)
    scores[5], scores[7], scores[8] = 10, 9, 8
    assert nms_greedy(scores, 2).tolist() == [5, 8]


def test_nms_delta_follows_n_over_4k():
    # N = 128, k = 4: delta = 8. Picks: 60 (kills 52..68, so 68 at distance 8 goes), then 69
    # (distance 9 survives; kills 61..77), then the zeros: 0 (earliest; kills 0..8), then 9.
    scores = np.zeros(128)
    scores[[60, 68, 69]] = [3, 2, 1]
    assert nms_greedy(scores, 4).tolist() == [0, 9, 60, 69]


def test_nms_takes_every_candidate_when_k_equals_n():
    # N = 4, k = 4: delta = 0, all four are taken, returned in time order
    assert nms_greedy(np.array([0.4, 0.1, 0.3, 0.2]), 4).tolist() == [0, 1, 2, 3]


def test_nms_on_a_ramp_steps_by_delta_plus_one():
    # N = 12, k = 3: delta = 1. Ascending scores: 11 (kills 10), 9 (kills 8), 7
    assert nms_greedy(np.arange(12, dtype=float), 3).tolist() == [7, 9, 11]


@pytest.mark.parametrize("n, k, expected", [
    (128, 4, [16, 48, 80, 112]),  # floor((j + 0.5) * 32)
    (128, 8, [8, 24, 40, 56, 72, 88, 104, 120]),
    (10, 3, [1, 5, 8]),  # floor(1.67), floor(5.0), floor(8.33)
    (5, 5, [0, 1, 2, 3, 4]),
])
def test_uniform_indices_are_segment_centres(n, k, expected):
    assert uniform_indices(n, k).tolist() == expected


def test_segment_centres_repeat_when_asked_for_more_than_exist():
    assert segment_centres(3, 6).tolist() == [0, 0, 1, 1, 2, 2]


def test_topk_breaks_ties_toward_earlier_index_and_sorts():
    assert topk(np.array([1.0, 3.0, 3.0, 2.0, 3.0]), 2).tolist() == [1, 2]


@pytest.mark.parametrize("pick", [nms_greedy, topk])
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 4, 8, 16, 32])
def test_picks_return_k_distinct_sorted_indices_in_range(pick, seed, k):
    scores = np.random.default_rng(seed).normal(size=128)
    chosen = pick(scores, k)
    assert len(chosen) == k == len(set(chosen.tolist()))
    assert np.all(np.diff(chosen) > 0) and chosen.min() >= 0 and chosen.max() < 128


@pytest.mark.parametrize("pick", [nms_greedy, topk, lambda s, k: uniform_indices(len(s), k)])
def test_picks_refuse_more_frames_than_candidates(pick):
    with pytest.raises(ValueError, match="cannot pick k=5 of 4"):
        pick(np.zeros(4), 5)
