"""focus: FOCUS (Zhu et al., ICLR 2026), a Bernstein-UCB bandit over temporal arms that scores few candidates.

The rule, as the research notes give the paper and its released code: the video is cut into
equal temporal arms of `arm` seconds (16), at least 8 of them. A coarse pass scores each arm's
centre frame and 2 random others; each arm then has the empirical-Bernstein bound
UCB_a = mean_a + sqrt(2 ln t var_a / n_a) + 3 ln t / n_a over its n_a scores. A fine pass
scores the top max(4, ceil(arms / 4)) arms by UCB at 1 fps, half at evenly spaced frames and
half at random ones. Of the k frames, floor(0.2 k) are the highest scores seen anywhere; the
rest are split evenly over the top clamp(ceil(arms / 4), 4, 32) arms by UCB (the better arms
take the remainder), and inside each arm the scores, interpolated to every frame from the
nearest scored one and min-max normalised over the arm, are sampled without replacement from
softmax(s / 0.06) (`temperature`).

Departures:
- The pool is the N candidates, not every frame of the video, so an arm holds at least 8
  candidates (at most N // 8 arms; FOCUS's arms of a long video would hold less than one), and
  "1 fps" means at most one candidate per second of the arm.
- The scorer is the CLIP/SigLIP cosine of the shared embedder (FOCUS: BLIP ITM), so every peer
  has one scorer; it embeds only the frames the bandit pulls (`Embedder.images_at`), so an
  unscored candidate costs no model time.
- t in the bound is the number of frames scored so far (the notes write ln N).
- The final arms are ranked by the bound that sent them to the fine pass, when every arm has
  its 3 coarse scores (and below 128 arms they are the fine-pass arms): taken again after the
  fine pass, the term 3 ln t / n_a, worth more than the whole range of the scores, would put
  the arms never refined first.
- An arm that cannot take its share of frames (too few left) passes the rest to the next arm
  by UCB, so the backbone always gets k distinct frames.
- The random frames come from a generator seeded by `seed` and the video, not the question.

Scores are cached per question whatever k is, so `score` runs both passes and returns every
candidate's interpolated score, the scored ones exact; `select` replays the bandit from those
values (the same draws meet the same values, so it pulls the same frames and ranks the same
arms) and samples the k frames. `n_scored` is the number of candidates embedded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bench.store import digest
from bench.records import Candidates, Query
from bench.registry import selectors
from bench.sampling import segment_centres
from bench.selectors._embed import DEFAULT_MODEL, Embedder, normalise
from bench.selectors.pick import gumbel_keys, minmax

MIN_ARMS = 8
MIN_ARM_CANDIDATES = 8
COARSE_RANDOM = 2  # random frames per arm in the coarse pass, beside its centre
FINE_FPS = 1.0
TOP_RATIO = 0.2  # share of k taken straight from the best scores


@dataclass(frozen=True, slots=True)
class Bandit:
    """What the two passes learnt about one video and question."""

    bounds: np.ndarray  # int64 (A + 1,): arm a holds candidates bounds[a]..bounds[a + 1] - 1
    scored: np.ndarray  # bool (N,): the candidates scored
    values: np.ndarray  # float64 (N,): their scores (0 where not scored)
    ranking: np.ndarray  # int64 (A,): arms by UCB after the coarse pass, best first


def arm_bounds(n: int, duration_s: float, arm_s: float) -> np.ndarray:
    """int64 (A + 1,): the first candidate of each of A equal temporal arms, then n.

    A = ceil(duration / arm_s), at least MIN_ARMS, at most n // MIN_ARM_CANDIDATES (and at least 1).
    """
    arms = max(MIN_ARMS, math.ceil(duration_s / arm_s))
    arms = max(1, min(arms, n // MIN_ARM_CANDIDATES))
    return np.floor(np.arange(arms + 1) * n / arms).astype(np.int64)


def bernstein_ucb(values: list[np.ndarray], t: int) -> np.ndarray:
    """float64 (A,): mean + sqrt(2 ln t var / n) + 3 ln t / n of each arm's scores (var with ddof 0)."""
    log_t = math.log(max(t, 1))
    return np.array([v.mean() + math.sqrt(2 * log_t * v.var() / len(v)) + 3 * log_t / len(v) for v in values])


def rank_arms(bounds: np.ndarray, scored: np.ndarray, values: np.ndarray) -> np.ndarray:
    """int64 (A,): arms by UCB over what is scored, best first (ties to the earlier arm)."""
    per_arm = [values[lo:hi][scored[lo:hi]] for lo, hi in zip(bounds[:-1], bounds[1:])]
    return np.argsort(-bernstein_ucb(per_arm, int(scored.sum())), kind="stable")


def run_bandit(n: int, duration_s: float, arm_s: float, score: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator) -> Bandit:
    """The coarse and fine passes; `score(indices)` gives the scores of candidates not scored yet."""
    bounds = arm_bounds(n, duration_s, arm_s)
    scored, values = np.zeros(n, dtype=bool), np.zeros(n)

    def pull(indices: list[int]) -> None:
        fresh = np.unique(np.array([i for i in indices if not scored[i]], dtype=np.int64))
        if len(fresh):
            values[fresh] = score(fresh)
            scored[fresh] = True

    coarse = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        centre = lo + (hi - lo) // 2
        others = [i for i in range(lo, hi) if i != centre]
        coarse += [centre, *rng.choice(others, min(COARSE_RANDOM, len(others)), replace=False).tolist()]
    pull(coarse)
    arms = len(bounds) - 1
    ranking = rank_arms(bounds, scored, values)
    fine = []
    for a in ranking[: max(4, math.ceil(arms / 4))]:
        lo, hi = int(bounds[a]), int(bounds[a + 1])
        count = min(hi - lo, max(1, math.ceil((hi - lo) * duration_s / n * FINE_FPS)))
        even = (lo + segment_centres(hi - lo, (count + 1) // 2)).tolist()
        rest = sorted(set(range(lo, hi)) - set(even))
        fine += [*even, *rng.choice(rest, min(count // 2, len(rest)), replace=False).tolist()]
    pull(fine)
    return Bandit(bounds, scored, values, ranking)


def interpolate(bandit: Bandit) -> np.ndarray:
    """float64 (N,): each candidate's score, or that of the nearest scored candidate of its arm (the earlier on a tie)."""
    filled = bandit.values.copy()
    for lo, hi in zip(bandit.bounds[:-1], bandit.bounds[1:]):
        known = lo + np.flatnonzero(bandit.scored[lo:hi])
        for i in range(lo, hi):
            filled[i] = bandit.values[known[np.argmin(np.abs(known - i))]]
    return filled


def focus_pick(bandit: Bandit, filled: np.ndarray, k: int, rng: np.random.Generator, temperature: float = 0.06) -> np.ndarray:
    """FOCUS's k frames, ascending: the floor(0.2 k) best scored, then softmax draws inside the top arms."""
    n = len(filled)
    if not 1 <= k <= n:
        raise ValueError(f"cannot pick k={k} of {n} candidates")
    best = np.flatnonzero(bandit.scored)[np.argsort(-bandit.values[bandit.scored], kind="stable")]
    chosen = set(best[: int(TOP_RATIO * k)].tolist())
    arms = len(bandit.bounds) - 1
    top = min(arms, max(4, min(32, math.ceil(arms / 4))))
    left = k - len(chosen)
    shares = [left // top + (rank < left % top) for rank in range(top)] + [0] * (arms - top)
    carry = 0
    for a, share in zip(bandit.ranking, shares):
        lo, hi = int(bandit.bounds[a]), int(bandit.bounds[a + 1])
        free = np.array(sorted(set(range(lo, hi)) - chosen), dtype=np.int64)
        take = min(share + carry, len(free))
        carry += share - take
        if take:
            keys = gumbel_keys(minmax(filled[lo:hi])[free - lo], temperature, rng)
            chosen.update(free[np.argsort(-keys, kind="stable")[:take]].tolist())
    return np.sort(np.array(sorted(chosen), dtype=np.int64))


@selectors.register("focus")
class Focus:
    """FOCUS: a Bernstein-UCB bandit over 16 s arms scores few candidates with CLIP; softmax draws in the best arms (arm=16)."""

    spec = "focus"

    pick = "focus"

    def __init__(
        self, model: str = DEFAULT_MODEL, size: str = "full", text: str = "question", arm: float = 16.0, temperature: float = 0.06, seed: int = 0,
        cache_dir: Path | None = None,
    ) -> None:
        if arm <= 0 or temperature <= 0:
            raise ValueError(f"focus needs arm > 0 and temperature > 0, not arm={arm}, temperature={temperature}")
        self.embedder = Embedder(model, size, text, cache_dir)
        self.arm, self.temperature, self.seed = arm, temperature, seed
        self.n_scored: int | None = None  # candidates the last `score` call scored

    def load(self, device: str) -> None:
        self.embedder.load(device)

    def release(self) -> None:
        self.embedder.release()

    def _rng(self, candidates: Candidates, *more: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(digest("focus", candidates.key)[:16], 16), *more])

    def score(self, query: Query) -> np.ndarray:
        cands = query.candidates
        question = normalise(self.embedder.question(query).astype(np.float64))

        def cosine(indices: np.ndarray) -> np.ndarray:
            # float32, as the cache keeps them, so that `select` replays the same values
            return (normalise(self.embedder.images_at(cands, indices).astype(np.float64)) @ question).astype(np.float32)

        bandit = run_bandit(len(cands.times), cands.meta.duration_s, self.arm, cosine, self._rng(cands))
        self.n_scored = int(bandit.scored.sum())
        return interpolate(bandit).astype(np.float32)

    def select(self, scores: np.ndarray, k: int, candidates: Candidates) -> np.ndarray:
        """FOCUS's k frames from the interpolated scores: the bandit replayed, then its pick."""
        scores = np.asarray(scores, dtype=np.float32)
        bandit = run_bandit(len(scores), candidates.meta.duration_s, self.arm, lambda indices: scores[indices], self._rng(candidates))
        return focus_pick(bandit, scores.astype(np.float64), k, self._rng(candidates, k), self.temperature)
