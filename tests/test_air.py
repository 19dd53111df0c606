"""A.I.R.'s initial sampling as its paper states it (Sec. 3.2, A.2.2, A.3.1), on cases worked by hand.

The rule: S >= T with T = max(mu) - gamma * max(sigma), gamma = 0.7; events are runs above T as
[time of first, time of last] in seconds, merged when less than d_min = 2 s apart and dropped
when they last <= l_min = 3 s; K initial frames shared by duration, at least one per event, each
event giving its most similar candidates.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench.registry import RegistryError, selectors
from bench.selectors.air import Air, above_threshold, allocate, events, initial_frames


def _mask(text: str) -> np.ndarray:
    return np.array([c == "1" for c in text])


# ---- the mask: S >= T with gamma 0.7


@pytest.mark.parametrize("gamma, expected", [
    # {-1, 1} and {9, 10, 11} are EM's clusters (responsibilities 0 or 1): means 0 and 10, sds 1 and sqrt(2/3),
    # each variance plus the floor 1e-6 * var(x) = 1e-6 * 124 / 5, so max sigma = sqrt(1.0000248) = 1.0000124.
    (0.7, "00011"),  # T = 10 - .7 * 1.0000124 = 9.29999: 9 is below
    (1.0, "00111"),  # T = 10 - 1.0000124 = 8.99999: 9 is above (framebench's old gamma)
    (0.0, "00011"),  # T = 10: 10 itself counts, S >= T
])
def test_the_mask_is_s_at_least_the_higher_mean_less_gamma_larger_sigmas(gamma, expected):
    assert above_threshold(np.array([-1.0, 1.0, 9.0, 10.0, 11.0]), gamma).tolist() == _mask(expected).tolist()


# ---- events: d_min and l_min in seconds of the candidates' own times


HALF = np.arange(12) * 0.5  # candidates 0.5 s apart (a 64 s video of 128)
SECOND = np.arange(16) * 1.0  # candidates at 1 fps, the paper's own frames
SPARSE = np.arange(8) * 25.0  # candidates 25 s apart (a 200 s video of 8)


@pytest.mark.parametrize("above, times, d_min, l_min, expected", [
    # runs 1..4 (0.5-2.0 s, 1.5 s long) and 7..11 (3.5-5.5 s, 2 s long), 3.5 - 2.0 = 1.5 s apart < 2: one event
    # 0.5-5.5 s, 5 s > 3: kept. Counted in candidates (gap 2, lengths 4 and 5) nothing would merge and both would stay.
    ("011110011111", HALF, 2.0, 3.0, [(1, 12)]),
    ("011110011111", HALF, 1.5, 3.0, []),  # 1.5 s apart is not < 1.5: both stay apart, 1.5 s and 2 s are <= 3 s: dropped
    # at 1 fps: run 1..4 lasts 4 - 1 = 3 s = l_min, dropped (<=); run 8..12 lasts 4 s, kept; 8 - 4 = 4 s apart
    ("0111100011111000", SECOND, 2.0, 3.0, [(8, 13)]),
    # at 1 fps runs one frame apart are 6 - 4 = 2 s apart: not < 2, so d_min = 2 s merges nothing; each lasts 4 s
    ("1111101111100000", SECOND, 2.0, 3.0, [(0, 5), (6, 11)]),
    ("1111101111100000", SECOND, 2.5, 3.0, [(0, 11)]),  # 2 < 2.5: merged, 0-10 s
    ("0100000000000000", SECOND, 2.0, 0.0, []),  # one candidate lasts 0 s <= 0: always dropped
    ("01100000", SPARSE, 2.0, 3.0, [(1, 3)]),  # two candidates 25 s apart last 25 s: an event in seconds
    ("000000", HALF[:6], 2.0, 3.0, []),
])
def test_events_merge_and_prune_in_seconds(above, times, d_min, l_min, expected):
    assert events(_mask(above), times, d_min, l_min) == expected


# ---- the shares: by duration, at least one per event, at most the event's candidates


@pytest.mark.parametrize("durations, room, total, expected", [
    ([3, 1], [10, 10], 5, [4, 1]),  # quotas 3.75, 1.25: floors 3, 1; the frame left to the larger remainder .75
    ([40, 4], [40, 5], 4, [3, 1]),  # quotas 3.64, .36: the short event gets its one frame (by remainders alone: 4, 0)
    ([5, 5, 5, 5, 5], [6, 6, 6, 6, 6], 3, [1, 1, 1, 1, 1]),  # more events than frames: one each, 5 > 3
    ([10, 1], [2, 10], 6, [2, 4]),  # quotas 5.45, .55: 2 (its room) and 1; the 3 left can only go to the second
    ([1, 1], [5, 5], 3, [2, 1]),  # quotas 1.5 each: 1, 1, and the tie to the earlier
    ([2, 2], [1, 2], 8, [1, 2]),  # more frames than candidates: every event full
])
def test_initial_frames_are_shared_by_duration_at_least_one_each(durations, room, total, expected):
    assert allocate(np.array(durations, dtype=float), np.array(room), total).tolist() == expected


def test_an_allocation_drops_the_short_events_and_takes_each_events_most_similar_frames():
    # 30 candidates at 1 fps. Runs above T: A 2..3 (1 s), B 6..10 (4 s), E 14..17 (3 s = l_min), C 20..28 (8 s);
    # 3, 4 and 3 s apart, nothing merges. A is shorter than l_min and E lasts exactly l_min: both dropped, though
    # they hold the most similar candidates (.95, .99). K = 8 over B and C: quotas 8 * 4 / 12 = 2.67 and 5.33,
    # floors 2 and 5, the frame left to B (remainder .67 > .33): B 3, C 5. B's 3 most similar: 7 (.5), 10 (.45),
    # 8 (.4), not its centre 8 alone; C's 5: 22 (.9), 24 (.8), 26 (.7), 27 (.6), 28 (.35).
    times = np.arange(30) * 1.0
    above = _mask("001100111110001111001111111110")
    similarity = np.full(30, 0.1)
    similarity[2:4] = 0.95
    similarity[6:11] = [0.30, 0.50, 0.40, 0.20, 0.45]
    similarity[14:18] = 0.99
    similarity[20:29] = [0.31, 0.32, 0.90, 0.33, 0.80, 0.34, 0.70, 0.60, 0.35]
    found = events(above, times, 2.0, 3.0)
    assert found == [(6, 11), (20, 29)]
    assert initial_frames(similarity, times, found, 8) == [7, 8, 10, 22, 24, 26, 27, 28]


def test_every_event_gets_a_frame_even_a_short_one():
    # events 0..40 s (40 s) and 50..54 s (4 s), K = 4: quotas 3.64 and .36, so 3 and 1 (largest remainders
    # alone would give 4 and 0). The long event's 3 best: 5, 17, 30; the short one's best: 52.
    times = np.arange(60) * 1.0
    similarity = np.zeros(60)
    similarity[[5, 17, 30, 31]] = [0.9, 0.8, 0.7, 0.6]
    similarity[52] = 0.2
    assert initial_frames(similarity, times, [(0, 41), (50, 55)], 4) == [5, 17, 30, 52]


@pytest.mark.parametrize("similarity, expected", [
    ([0.1, 0.7, 0.3, 0.7, 0.9, 0.2], [1, 3, 4]),  # .9, then the two .7s
    ([0.5] * 20 + [0.9], [0, 1, 20]),  # .9, then of twenty equal .5s the earliest two (an unstable sort may not)
])
def test_with_no_event_the_whole_video_gives_its_most_similar_candidates(similarity, expected):
    # framebench's choice where the paper is silent: one event over everything. Equal similarities go to the earlier.
    assert initial_frames(np.array(similarity), np.arange(len(similarity)) * 1.0, [], 3) == expected


# ---- the selector: defaults from A.3.1, seconds from the candidates' times, the first batch


def test_the_defaults_are_the_papers_and_seconds_are_floats():
    air = selectors.build("air:scorer=probe:size=tiny")
    assert (air.gamma, air.d_min, air.l_min) == (0.7, 2.0, 3.0)
    assert selectors.canonical("air:gamma=0.7:d_min=2:l_min=3") == "air"
    assert selectors.canonical("air:l_min=2.5") == "air:l_min=2.5"


def test_negative_seconds_are_refused():
    with pytest.raises(RegistryError, match="air needs gamma, d_min and l_min"):
        selectors.build("air:l_min=-1")


@pytest.mark.parametrize("spacing, expected", [
    # 0.5 s apart (a 10 s video): the runs are 5.0 - 3.0 = 2 s apart, not < 2: not merged. 3..6 lasts 1.5 s <= 3:
    # dropped, though it holds 4 candidates and the video's best. 10..17 lasts 3.5 s: the one event, all K = 3 frames
    # its most similar: 13 (10.3), 15 (10.2), 11 (10.1).
    (0.5, [11, 13, 15]),
    # 2 s apart (a 40 s video): 3..6 lasts 6 s and 10..17 14 s, 20 - 12 = 8 s apart: two events. Quotas
    # 3 * 6 / 20 = .9 and 2.1: at least one, so 1 and 2: 4 (10.5), then 13 and 15.
    (2.0, [4, 13, 15]),
])
def test_the_judge_first_sees_the_surviving_events_most_similar_frames(spacing, expected):
    # 20 candidates. S is -1/1 by parity on the background (8 values: mean 0, sd 1) and ~10 on two runs, 3..6 (the
    # video's best, 10.5) and 10..17. The mixture splits there: T = ~10.04 - .7 * 1.0 = ~9.34, so exactly the runs are
    # above. initial = 3, B = min(32, 20, 3 + 4 * ceil(duration / 60)) = 7, so K = 3. Judged .1 each, no interval
    # reaches the .5 stop, so the first batch is the only one.
    similarity = np.array([-1, 1, -1, 10.0, 10.5, 10.0, 10.0, 1, -1, 1,
                           9.9, 10.1, 10.0, 10.3, 9.8, 10.2, 10.0, 9.7, -1, 1])
    air = Air(scorer="probe", size="tiny", initial=3)
    batches = []
    air.embedder = SimpleNamespace(cosine=lambda query: similarity)
    air.judge = SimpleNamespace(frame_relevance=lambda frames, question: batches.append(frames.tolist()) or [0.1] * len(frames))
    candidates = SimpleNamespace(times=np.arange(20) * spacing, frames=np.arange(20))  # a frame is its index, to read back
    query = SimpleNamespace(candidates=candidates, question="q", options=(), duration_s=20 * spacing)
    scores = air.score(query)
    assert batches == [expected]
    assert np.flatnonzero(scores > 1).tolist() == expected and scores[expected] == pytest.approx(1.1)
