"""DIG as its authors' code selects (Jialuo-Li/DIG @ ffe6d25, cafs.py and video_refinement.py): cases worked by hand.

CAFS cuts and r-frames, the reward thresholds, the +-2-cut windows, the even spread over them,
the global spread with both ends, k distinct frames by default and DIG's own output with
strict=true, and features as the mean of DINOv2's tokens. The needle world is in test_peers_2026.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench.records import Candidates, Query, VideoMeta
from bench.registry import RegistryError, selectors
from bench.selectors.dig import cafs, dig_frames, global_frames, prominent_peaks, spread, windows

LOCAL = "dig:route=localized:scorer=probe:size=tiny"


def _candidates(n: int, key: str = "video-a") -> Candidates:
    meta = VideoMeta(Path("a.mp4"), float(n), 1.0, n, 8, 8)
    frames = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 3), dtype=np.uint8)  # frame i's pixels are all i
    return Candidates(frames, np.arange(n) + 0.5, key, meta, "exact", "pyav", 0.0, False)


def _scenes(lengths: list[int]) -> np.ndarray:
    """Features (sum(lengths), len(lengths)): scene j's frames all point along axis j, so only a scene change changes them."""
    return np.concatenate([np.tile(np.eye(len(lengths))[j], (length, 1)) for j, length in enumerate(lengths)])


# ---- CAFS: peaks, cuts, r-frames


@pytest.mark.parametrize("values, expected", [
    ([0, 1, 0, .05, 0], [1]),  # 1 stands 1 above both sides; .05 stands .05 above, under the .1 asked for
    ([0, .4, .2, 1, 0], [1, 3]),  # .4: left lowest 0, right lowest .2 before the higher 1: .4 - .2 = .2; 1: 1 - 0
    ([0, .25, .2, 1, 0], [3]),  # .25 - .2 = .05 is too little
    ([0, .5, .5, .5, 0], [2]),  # a flat top counts once, at its middle (1 + 3) // 2
    ([0, .5, .5, 0], [1]),  # an even flat top: the lower middle (1 + 2) // 2
    ([0, .5, .5], []),  # a top that reaches the end never falls: no peak
    ([1, 0, .5], []),  # the ends are never peaks
])
def test_prominent_peaks_follow_find_peaks(values, expected):
    assert prominent_peaks(np.array(values), 0.1).tolist() == expected


def test_cafs_cuts_at_the_earlier_frame_of_each_change_and_takes_midpoints():
    # scenes of 4: changes 1 - cos = 1 between frames 3|4, 7|8, 11|12, 15|16, else 0; each is an interior peak of
    # prominence 1, and the cut is its earlier frame. Cuts 0, 3, 7, 11, 15, 19; r-frames (0+3)//2 = 1, 5, 9, 13, 17.
    cuts, rframes = cafs(_scenes([4, 4, 4, 4, 4]))
    assert cuts.tolist() == [0, 3, 7, 11, 15, 19] and rframes.tolist() == [1, 5, 9, 13, 17]


def test_cafs_looks_within_chunks_only():
    # frames 0-2 along x, 3-7 along y: one chunk sees the change 2|3 as a peak (cuts 0, 2, 7; r-frames 1, 4).
    # With chunk=4, ceil(8 / 4) = 2 chunks with borders floor(linspace(0, 7, 3)) = 0, 3, 7: frames 0-2 and 3-7, and the
    # change 2|3 crosses the border, so nobody sees it: one segment, cuts 0, 7, r-frame 3.
    features = _scenes([3, 5])
    assert [a.tolist() for a in cafs(features)] == [[0, 2, 7], [1, 4]]
    assert [a.tolist() for a in cafs(features, chunk=4)] == [[0, 7], [3]]


def test_cafs_on_one_scene_is_one_segment():
    # no change at all (all-black frames): no peak, cuts 0 and N - 1, r-frame (0 + 9) // 2 = 4
    assert [a.tolist() for a in cafs(np.ones((10, 3)))] == [[0, 9], [4]]


# ---- the rewards: which r-frames are kept, and their windows

CUTS = np.array([0, 10, 20, 30, 40, 50, 60, 70, 79])  # m = 8 segments of 80 candidates


@pytest.mark.parametrize("rewards, expected", [
    # one live r-frame (rescaled 100, the rest 0): s = 2 keeps cuts 0 .. 4
    ([0, 0, 5, 0, 0, 0, 0, 0], [(0, 40)]),
    # live (rescaled) 60, 55, 100, 10 at s = 1, 2, 5, 7. Mean-peel: minus 56.25 -> 3.75, 0, 43.75, 0; minus 11.875 ->
    # 0, 0, 31.875, 0; minus 7.97 -> no new zero: keeps 1. Half of 100: 60, 55, 100 stay, 3. The sparser, s = 5,
    # keeps cuts 3 .. 7.
    ([0, 60, 55, 0, 0, 100, 0, 10], [(30, 70)]),
    # live 100, 45, 45, 1, 1, 1, 1 at s = 1..7. Mean-peel: minus 194 / 7 = 27.71 -> 72.29, 17.29, 17.29, 0 x 4; minus
    # 15.27 -> 57.02, 2.02, 2.02, 0 x 4, no new zero: keeps 3. Half: only 100. Half is sparser: s = 1, cuts 0 .. 3.
    ([0, 100, 45, 45, 1, 1, 1, 1], [(0, 30)]),
    # live 100, 10, 100 at s = 1, 2, 4: minus 70 -> 30, 0, 30; minus 20 -> 10, 0, 10, no new zero: s = 1 and 4 (half
    # keeps them too; the tie goes to the mean-peel). Windows cuts 0 .. 3 and 2 .. 6 overlap and merge.
    ([0, 10, 1, 0, 10, 0, 0, 0], [(0, 60)]),
    ([0, 10, 1, 0, 0, 0, 10, 0], [(0, 30), (40, 70)]),  # s = 1 and 6: cuts 0 .. 3 and 4 .. min(8, m - 1 = 7) stay apart
    ([3, 3, 3, 3, 3, 3, 3, 3], [(0, 79)]),  # all equal: the whole video
    # live rewards all equal (100, 100): the mean-peel zeroes both and keeps none, fewer than half's 2, so nothing is
    # kept and the whole video is the window. DIG's rule as released; it bites on two-level rewards.
    ([0, 7, 0, 0, 7, 0, 0, 0], [(0, 79)]),
])
def test_windows_keep_plus_minus_two_cuts_around_the_kept_r_frames(rewards, expected):
    assert windows(np.array(rewards, dtype=float), CUTS) == expected


def test_the_window_of_a_late_r_frame_stops_where_the_last_segment_begins_as_released():
    # s = 7 of m = 8: DIG's min(m - 1, s + 2) = 7, so cuts 5 .. 7; the last segment, s's own, is left out
    assert windows(np.array([0, 0, 0, 0, 0, 0, 0, 1.0]), CUTS) == [(50, 70)]


# ---- k frames over the windows, and the global spread


@pytest.mark.parametrize("spans, k, n, expected", [
    ([(0, 30)], 4, 80, [0, 10, 20, 30]),  # 31 candidates, positions linspace(0, 30, 4)
    # 20 candidates 0-9, 20-29; positions floor(linspace(0, 19, 4)) = 0, 6, 12, 19 -> candidates 0, 6, 22, 29
    ([(0, 9), (20, 29)], 4, 80, [0, 6, 22, 29]),
    # 3 candidates for k = 6: all of them, then the nearest outside: 9 and 13 (1 away), then 8 (2 away, before 14)
    ([(10, 12)], 6, 20, [8, 9, 10, 11, 12, 13]),
    ([(0, 1)], 4, 10, [0, 1, 2, 3]),  # at the video's start the windows can only grow right
])
def test_k_distinct_frames_spread_over_the_windows(spans, k, n, expected):
    assert spread(spans, k, n).tolist() == expected


def test_strict_repeats_positions_when_the_windows_are_short():
    # DIG's positions floor(linspace(0, 2, 6)) = 0, 0, 0, 1, 1, 2 over candidates 10-12
    assert spread([(10, 12)], 6, 20, strict=True).tolist() == [10, 10, 10, 11, 11, 12]


@pytest.mark.parametrize("n, k, expected", [
    (128, 4, [0, 42, 84, 127]),  # floor(j * 127 / 3): both ends; uniform's centres would be 16, 48, 80, 112
    (128, 8, [0, 18, 36, 54, 72, 90, 108, 127]),  # steps of 127 / 7 = 18.14
    (5, 5, [0, 1, 2, 3, 4]),
])
def test_a_global_question_gets_linspace_with_both_ends(n, k, expected):
    assert global_frames(n, k).tolist() == expected


def test_default_always_gives_k_distinct_frames():
    rng = np.random.default_rng(0)
    for _ in range(200):
        m = int(rng.integers(1, 12))
        cuts = np.r_[0, np.sort(rng.choice(np.arange(1, 126), size=m - 1, replace=False)), 127]
        rewards = rng.choice([0, 0, 0, 50, 100], size=m) * 1.0 if rng.random() < .5 else rng.random(m)
        for k in (4, 8, 16, 32, 128):
            picked = dig_frames(rewards, cuts, k)
            assert len(set(picked.tolist())) == k and picked.tolist() == sorted(picked.tolist()) and 0 <= picked.min() and picked.max() <= 127


# ---- the selector: features, scores, select


class TokenModel(torch.nn.Module):
    """A DINOv2 stand-in: frame value v gives tokens (v, 0), (0, v), (0, v) and a pooled output (5, 5)."""

    dtype = torch.float32

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        v = pixel_values[:, 0, 0, 0].float()
        zero = torch.zeros_like(v)
        tokens = torch.stack([torch.stack([v, zero], 1), torch.stack([zero, v], 1), torch.stack([zero, v], 1)], 1)
        return SimpleNamespace(last_hidden_state=tokens, pooler_output=torch.full((len(v), 2), 5.0))


def test_features_are_the_mean_of_dinov2s_tokens(tmp_path):
    dig = selectors.build(LOCAL, cache_dir=tmp_path)
    dig._model, dig._device = TokenModel(), "cpu"
    dig._processor = lambda images, return_tensors: SimpleNamespace(pixel_values=torch.tensor(np.stack(images)))
    features = dig.features(_candidates(3))
    # frame v: mean of (v, 0), (0, v), (0, v) = (v / 3, 2v / 3), not the pooled (5, 5)
    assert np.allclose(features, [[0, 0], [1 / 3, 2 / 3], [2 / 3, 4 / 3]])


def _dig_with_features(tmp_path: Path, spec: str, features: np.ndarray, cands: Candidates):
    dig = selectors.build(spec, cache_dir=tmp_path)
    dig.features_store.save(dig._key(cands), {"features": features.astype(np.float32)}, {})
    return dig


def test_the_judge_sees_the_r_frames_and_each_candidate_scores_its_segments_reward(tmp_path, monkeypatch):
    cands = _candidates(20)
    dig = _dig_with_features(tmp_path, LOCAL, _scenes([4, 4, 4, 4, 4]), cands)  # cuts 0, 3, 7, 11, 15, 19
    seen = []
    monkeypatch.setattr(dig.judge, "frame_relevance", lambda frames, question: seen.append(frames[:, 0, 0, 0].tolist()) or [.1, .2, .3, .4, .5])
    scores = dig.score(Query(cands, "What happens?", (), 20.0, "s", "needle", None))
    assert seen == [[1, 5, 9, 13, 17]] and dig.n_scored == 5
    # segments hold 0-2, 3-6, 7-10, 11-14, 15-19 (a cut opens the segment that follows it)
    assert scores.tolist() == pytest.approx([.1] * 3 + [.2] * 4 + [.3] * 4 + [.4] * 4 + [.5] * 5)


SEGMENT_REWARDS = np.array([0] * 3 + [0] * 4 + [0] * 4 + [0] * 4 + [1] * 5, dtype=np.float32)  # only the last segment, s = 4


@pytest.mark.parametrize("spec, k, expected", [
    # one live r-frame s = 4 of m = 5: cuts 2 .. min(4, 6) = 7 .. 15, 9 candidates: floor(linspace(0, 8, 4)) = 0, 2, 5, 8.
    # The r-frame 17 is left out, as DIG leaves it out.
    (LOCAL, 4, [7, 9, 12, 15]),
    (LOCAL + ":strict=true", 4, [7, 9, 12, 15]),
    # k = 16 > 9: all of 7-15, then 6 and 16 (1 away), 5 and 17, 4 and 18, 3 (4 away; the earlier first on each tie)
    (LOCAL, 16, list(range(3, 19))),
])
def test_select_rebuilds_the_segments_from_the_cached_features(tmp_path, spec, k, expected):
    cands = _candidates(20)
    dig = _dig_with_features(tmp_path, spec, _scenes([4, 4, 4, 4, 4]), cands)
    assert dig.select(SEGMENT_REWARDS, k, cands).tolist() == expected


def test_strict_refuses_to_repeat_frames(tmp_path):
    cands = _candidates(20)
    dig = _dig_with_features(tmp_path, LOCAL + ":strict=true", _scenes([4, 4, 4, 4, 4]), cands)
    with pytest.raises(ValueError, match="hold 9 candidates, fewer than k=16"):
        dig.select(SEGMENT_REWARDS, 16, cands)


def test_equal_scores_need_no_features_and_spread_with_both_ends(tmp_path):
    dig = selectors.build("dig:route=global:scorer=probe", cache_dir=tmp_path)
    cands = _candidates(128)
    scores = dig.score(Query(cands, "What is the video about?", (), 128.0, "s", "needle", None))
    assert dig.n_scored == 0 and dig.select(scores, 4, cands).tolist() == [0, 42, 84, 127]


def test_select_without_cached_features_says_so(tmp_path):
    dig = selectors.build(LOCAL, cache_dir=tmp_path)
    with pytest.raises(LookupError, match="no cached DINOv2 features"):
        dig.select(SEGMENT_REWARDS, 4, _candidates(20))


def test_strict_is_part_of_the_cell_and_rframes_is_gone():
    assert selectors.canonical("dig:strict=true:scorer=probe") == "dig:scorer=probe:strict=true"
    with pytest.raises(RegistryError):
        selectors.build("dig:rframes=16")
