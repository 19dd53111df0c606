"""focus: FOCUS (Zhu et al., ICLR 2026), a Bernstein-UCB bandit over temporal arms that scores few candidates.

The rule as the authors' released code has it (NUS-HPC-AI-Lab/FOCUS at e28a555a8d84, `focus.py`,
class FOCUS with its default settings; the minimum gap from the driver `select_keyframe.py`),
for a video of T frames at f frames per second, D = T / f seconds:
- Arms: max(8, ceil(D / 16)) wanted (16 = `arm`), stride s = max(1, T // wanted), T // s arms
  of T // (T // s) frames from frame 0 on; the frames after the last arm are in no arm.
- Coarse pass: each arm's centre (first + last) // 2 and 2 other frames of it, drawn without
  replacement. Bound of an arm over its n coarse scores, t coarse scores in all:
  mean + sqrt(2 ln t max(var, 1e-6) / n) + 3 ln t / n (var with ddof 0; the mean alone if t = 1).
  The released code files only coarse frames into an arm, so fine-pass scores never reach the
  arms: this bound ranks the arms for the fine pass and for the pick alike.
- Fine pass: the top max(4, ceil(A / 4)) arms by bound, in turn. Around an arm's centre c the
  window c - h..c + h cut to the video (w frames), h = max(1, round(f max(1 / f, D / wanted / 2)));
  in it q = max(1, w // step) frames, step = min(max(1, round(f)), s) (1 s): u = round(q / 2)
  evenly spaced at start + int((i + 1/2) w / u) (the window's centre if w <= u), those not
  scored yet, and q - u drawn among its frames neither scored nor taken yet.
- Pick: the round(0.2 min(k, S)) best of the S scored frames (either pass), then the other
  frames split evenly over the top clamp(ceil(A / 4), 4, 32) arms by bound, the better arms
  taking the remainder. An arm's free frames (not chosen yet) get the score of the nearest of
  its coarse frames (the earlier drawn on a tie), clipped to [0, 1]; those at least the gap
  away from every chosen frame are kept (all, if none is); their scores are min-max
  normalised over them (all 1 if equal) and the arm's share drawn without replacement from
  softmax(s / 0.06) (`temperature`).
- Gap (the driver's; the class alone has none): none when D / k <= 0.2 s, else
  min(1 s, D / 4k), round(gap f) = round(min(f, N / 4k)) frames: it keeps neighbours apart only
  where that is >= 2, f >= 1.5 (D <= 85 s at N = 128) and k <= N / 6.
- Ties go as Python's stable sorts leave them: arms of equal bound, and scored frames of equal
  score, in the order they were filed (coarse frames arm by arm, each arm's centre first, then
  the fine ones ascending). Rounding is Python's, half to even: round(4.5) = 4.

Mapping onto framebench: the N candidates are the video's frames, f = N / D candidates per
second, D the video's duration. At N = 128: 200 s -> 13 wanted, stride 9, 14 arms of 9 and
candidates 126, 127 in no arm; 128 s -> 8 arms of 16, a fine window of 17, every frame in it
scored; 60 s -> fine frames 2 apart. Given the same scores and the same generator state, the
default selection is the released code's wherever that returns k frames.

Departures, each with when it bites:
- k distinct frames. The released code returns fewer when an arm's share exceeds its free
  frames or the frames clear of the gap: at N = 128 and k = 32, arms of 8-9 candidates (200-256
  s), in 175-198 of 200 generated score vectors; none at k <= 16 or D <= 128 s there.
  framebench then draws the shortfall from the arms again in bound order, by the
  same softmax without the gap, then takes candidates in no arm in time order; the frames the
  released code chose are kept and its draws come first. `strict=True` returns the released
  code's selection as it is; framebench needs k frames (`choose.checked`), so a short one is a
  `select:` error row for that sample.
- D is the video's duration. The released code computes D = T / max(1, f), a guard that never
  bites at a real video's f >= 1, but would shrink D to N s if fed candidates sparser than
  1 per second (200 s: 8 arms of 16 instead of 14 of 9).
- The scorer is the CLIP/SigLIP cosine of the shared embedder (FOCUS: BLIP ITM probabilities
  in [0, 1]), so every peer has one scorer; the [0, 1] clip of the estimates bites on
  negative cosines. Only the frames the bandit pulls are embedded (`Embedder.images_at`).
- The generator is seeded by `seed` and the video; the released driver runs one generator
  over a whole dataset. From the same state both draw the same frames.
- Only the released defaults: nearest-score estimates (`interpolation_method='nearest'`),
  half the fine frames evenly spaced, the window D / wanted / 2 each side.

Scores are cached per question whatever k is, so `score` runs both passes and returns the
scored candidates' scores and the rule's estimate for the rest; `select` replays the bandit
from those values with the same generator (the same draws meet the same values, so it pulls
the same frames) and goes on drawing from it for the pick. `n_scored` counts the embedded ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.records import Candidates, Query
from bench.registry import selectors
from bench.selectors._embed import DEFAULT_MODEL, Embedder, normalise
from bench.store import digest

MIN_ARMS = 8  # min_coarse_segments
COARSE_EXTRA = 2  # extra_samples_per_region: drawn frames per arm beside its centre
VAR_FLOOR = 1e-6  # min_variance_threshold
ZOOM = 0.25  # zoom_ratio: the share of arms refined, and of arms the pick draws from
MIN_ZOOM, MIN_FINAL, MAX_FINAL = 4, 4, 32  # min_zoom_segments, final_min_arms, final_max_arms
FINE_S = 1.0  # fine_every_sec
TOP_RATIO = 0.2
GAP_S, GAP_RATIO, NO_GAP_BELOW_S = 1.0, 0.25, 0.2  # the driver's --min_gap_sec, --gap_ratio_of_avg, --disable_gap_below_sec


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the arms and fine windows of one video lie, in candidates."""

    bounds: np.ndarray  # int64 (A + 1,): arm a holds bounds[a]..bounds[a + 1] - 1; bounds[-1]..N - 1 are in no arm
    step: int  # candidates between fine-pass frames
    half_window: int  # candidates either side of an arm's centre that the fine pass looks at


@dataclass(frozen=True, slots=True)
class Bandit:
    """What the two passes learnt about one video and question."""

    layout: Layout
    coarse: np.ndarray  # int64 (3A at most,): coarse frames, arm by arm, each arm's centre then its 2 drawn
    fine: np.ndarray  # int64 (F,): fine-pass frames, ascending
    values: np.ndarray  # float64 (N,): the scores of coarse and fine frames (nan elsewhere)
    ranking: np.ndarray  # int64 (A,): arms by bound, best first


def layout(n: int, duration_s: float, arm_s: float) -> Layout:
    """The released code's arms and fine windows for n candidates over duration_s seconds."""
    duration_s = max(float(duration_s), 1e-6)
    fps = n / duration_s
    wanted = max(MIN_ARMS, math.ceil(duration_s / max(1e-6, arm_s)))
    stride = max(1, n // wanted)
    arms = max(1, n // stride)
    bounds = np.arange(arms + 1, dtype=np.int64) * max(1, n // arms)
    step = min(max(1, round(FINE_S * fps)), stride)
    half = max(1, round(max(1.0 / fps, max(1e-6, duration_s / wanted) / 2.0) * fps))
    return Layout(bounds, step, half)


def arm_bounds(n: int, duration_s: float, arm_s: float) -> np.ndarray:
    """int64 (A + 1,): the first candidate of each arm, then the end of the last (n or a little less)."""
    return layout(n, duration_s, arm_s).bounds


def bernstein_ucb(values: list[np.ndarray], t: int) -> np.ndarray:
    """float64 (A,): mean + sqrt(2 ln t max(var, 1e-6) / n) + 3 ln t / n of each arm's n scores; the mean if t <= 1."""
    bounds = []
    for v in values:
        bound = float(np.mean(v))
        if t > 1 and len(v):
            spread = max(float(np.var(v)) if len(v) > 1 else 0.0, VAR_FLOOR)
            bound += math.sqrt(max(0.0, 2 * math.log(t) * spread / len(v)))
            bound += 3 * math.log(t) / len(v)  # added apart, as the released code does: the same float to the bit
        bounds.append(bound)
    return np.array(bounds)


def rank_arms(bounds: np.ndarray) -> np.ndarray:
    """int64 (A,): arms by bound, best first, equal bounds in time order."""
    return np.argsort(-np.asarray(bounds, dtype=np.float64), kind="stable")


def coarse_frames(bounds: np.ndarray, rng: np.random.Generator) -> list[int]:
    """Each arm's centre and COARSE_EXTRA other frames of it drawn without replacement, arm by arm."""
    frames = []
    for first, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        centre = (first + end - 1) // 2
        others = np.array([i for i in range(first, end) if i != centre], dtype=np.int64)
        frames.append(centre)
        if len(others):
            frames += rng.choice(others, size=min(COARSE_EXTRA, len(others)), replace=False).tolist()
    return frames


def fine_frames(lay: Layout, ranking: np.ndarray, n: int, coarse: set[int], rng: np.random.Generator) -> list[int]:
    """The fine pass: half evenly spaced, half drawn, in a window around each of the top arms' centres."""
    arms = len(lay.bounds) - 1
    taken: set[int] = set()
    for a in ranking[: min(max(MIN_ZOOM, math.ceil(arms * ZOOM)), arms)].tolist():
        centre = (int(lay.bounds[a]) + int(lay.bounds[a + 1]) - 1) // 2
        lo, hi = max(0, centre - lay.half_window), min(n - 1, centre + lay.half_window)
        width = hi - lo + 1
        count = max(1, width // lay.step)
        even = round(count * 0.5)  # half to even, as the released code: 17 frames -> 8 spaced, 9 drawn
        if even:
            spacing = width / even
            spots = [(lo + hi) // 2] if width <= even else [min(lo + int(i * spacing + spacing / 2), hi) for i in range(even)]
            taken.update(i for i in spots if i not in coarse)
        free = [i for i in range(lo, hi + 1) if i not in coarse and i not in taken]
        if count > even and free:
            taken.update(rng.choice(free, size=min(count - even, len(free)), replace=False).tolist())
    return sorted(taken)


def run_bandit(n: int, duration_s: float, arm_s: float, score: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator) -> Bandit:
    """The coarse and fine passes; `score(indices)` gives the scores of those candidates."""
    lay = layout(n, duration_s, arm_s)
    values = np.full(n, np.nan)
    coarse = np.array(coarse_frames(lay.bounds, rng), dtype=np.int64)
    values[coarse] = score(coarse)
    arm_of = np.searchsorted(lay.bounds, coarse, side="right") - 1
    # every arm's scores in the order they were drawn: the sums, so the bounds, are the released code's to the bit
    ranking = rank_arms(bernstein_ucb([values[coarse[arm_of == a]] for a in range(len(lay.bounds) - 1)], len(coarse)))
    fine = np.array(fine_frames(lay, ranking, n, set(coarse.tolist()), rng), dtype=np.int64)
    if len(fine):
        values[fine] = score(fine)
    return Bandit(lay, coarse, fine, values, ranking)


def interpolate(bandit: Bandit) -> np.ndarray:
    """float64 (N,): the pick's estimate of each candidate, the score of the nearest coarse frame of its arm
    (the earlier drawn on a tie; the last arm for those in no arm), clipped to [0, 1]. Fine scores play no part."""
    bounds, n = bandit.layout.bounds, len(bandit.values)
    arm_of = np.searchsorted(bounds, bandit.coarse, side="right") - 1
    estimate = np.empty(n)
    for a in range(len(bounds) - 1):
        members = np.arange(bounds[a], bounds[a + 1] if a < len(bounds) - 2 else n)
        known = bandit.coarse[arm_of == a]
        nearest = np.argmin(np.abs(members[:, None] - known[None, :]), axis=1)  # the first of equals: the earlier drawn
        estimate[members] = np.clip(bandit.values[known[nearest]], 0.0, 1.0)
    return estimate


def gap_candidates(n: int, duration_s: float, k: int) -> int:
    """The driver's minimum gap in candidates: 0 if D / k <= 0.2 s, else round(min(1 s, D / 4k) x candidates per second)."""
    duration_s = max(float(duration_s), 1e-6)
    spacing = duration_s / max(1, k)
    seconds = 0.0 if spacing <= NO_GAP_BELOW_S else min(GAP_RATIO * spacing, GAP_S)
    return round(seconds * (n / duration_s)) if seconds > 0 else 0


def _draw(free: np.ndarray, estimate: np.ndarray, need: int, chosen: list[int], gap: int, temperature: float, rng: np.random.Generator) -> list[int]:
    """Up to `need` of `free` without replacement from softmax(minmax(estimate) / temperature), only those clear of the gap if any is."""
    if gap > 0:
        clear = np.array([all(abs(c - f) >= gap for f in chosen) for c in free.tolist()], dtype=bool)
        free = free[clear] if clear.any() else free
    s = estimate[free]
    s = (s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else np.ones_like(s)
    logits = s / max(1e-12, temperature)
    p = np.exp(logits - logits.max())
    return free[rng.choice(len(free), size=min(need, len(free)), p=p / p.sum(), replace=False)].tolist()


def focus_pick(bandit: Bandit, k: int, rng: np.random.Generator, temperature: float = 0.06, gap: int = 0, strict: bool = False) -> np.ndarray:
    """FOCUS's frames, ascending: round(0.2 min(k, scored)) best scored, the rest softmax draws in the top arms.

    k of them, the shortfall drawn again over all arms when the released code falls short; `strict`: as it falls.
    """
    n = len(bandit.values)
    if not 1 <= k <= n:
        raise ValueError(f"cannot pick k={k} of {n} candidates")
    sampled = np.concatenate([bandit.coarse, bandit.fine])
    chosen = sampled[np.argsort(-bandit.values[sampled], kind="stable")][: round(TOP_RATIO * min(k, len(sampled)))].tolist()
    estimate, bounds = interpolate(bandit), bandit.layout.bounds
    arms = len(bounds) - 1
    top = min(max(MIN_FINAL, math.ceil(arms * ZOOM)), MAX_FINAL, arms)
    left = k - len(chosen)

    def free(a: int) -> np.ndarray:
        return np.setdiff1d(np.arange(bounds[a], bounds[a + 1]), chosen)

    for rank, a in enumerate(bandit.ranking[:top].tolist()):
        share, pool = left // top + (rank < left % top), free(a)
        if share and len(pool):  # a share larger than the arm's free frames is lost: the released code's shortfall
            chosen += _draw(pool, estimate, share, chosen, gap, temperature, rng)
    if not strict:
        for a in bandit.ranking.tolist():
            if len(chosen) < k and len(pool := free(a)):
                chosen += _draw(pool, estimate, k - len(chosen), chosen, 0, temperature, rng)
        chosen += [i for i in range(int(bounds[-1]), n) if i not in chosen][: k - len(chosen)]
    return np.array(sorted(chosen), dtype=np.int64)


@selectors.register("focus")
class Focus:
    """FOCUS as its released code picks: a Bernstein-UCB bandit over 16 s arms scores few candidates with CLIP (arm=16)."""

    spec = "focus"

    pick = "focus"
    revision = 2  # the rule of NUS-HPC-AI-Lab/FOCUS; scores of the rule before (written from notes) are not reused

    def __init__(
        self, model: str = DEFAULT_MODEL, size: str = "full", text: str = "question", arm: float = 16.0, temperature: float = 0.06, seed: int = 0,
        strict: bool = False, cache_dir: Path | None = None,
    ) -> None:
        if arm <= 0 or temperature <= 0:
            raise ValueError(f"focus needs arm > 0 and temperature > 0, not arm={arm}, temperature={temperature}")
        self.embedder = Embedder(model, size, text, cache_dir)
        self.arm, self.temperature, self.seed, self.strict = arm, temperature, seed, strict
        self.n_scored: int | None = None  # candidates the last `score` call scored

    def load(self, device: str) -> None:
        self.embedder.load(device)

    def release(self) -> None:
        self.embedder.release()

    def _rng(self, candidates: Candidates) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(digest("focus", candidates.key)[:16], 16)])

    def score(self, query: Query) -> np.ndarray:
        cands = query.candidates
        question = normalise(self.embedder.question(query).astype(np.float64))

        def cosine(indices: np.ndarray) -> np.ndarray:
            # float32, as the cache keeps them, so that `select` replays the same values
            return (normalise(self.embedder.images_at(cands, indices).astype(np.float64)) @ question).astype(np.float32)

        bandit = run_bandit(len(cands.times), cands.meta.duration_s, self.arm, cosine, self._rng(cands))
        self.n_scored = len(bandit.coarse) + len(bandit.fine)
        scored = ~np.isnan(bandit.values)
        return np.where(scored, bandit.values, interpolate(bandit)).astype(np.float32)

    def select(self, scores: np.ndarray, k: int, candidates: Candidates) -> np.ndarray:
        """FOCUS's k frames from the cached scores: the bandit replayed, then its pick, from one generator."""
        scores = np.asarray(scores, dtype=np.float32).astype(np.float64)
        rng = self._rng(candidates)
        bandit = run_bandit(len(scores), candidates.meta.duration_s, self.arm, lambda indices: scores[indices], rng)
        gap = gap_candidates(len(scores), candidates.meta.duration_s, k)
        return focus_pick(bandit, k, rng, self.temperature, gap, self.strict)