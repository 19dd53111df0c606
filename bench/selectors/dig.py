"""dig: DIG, "Divide, then Ground" (CVPR 2026, arXiv 2512.04000): uniform frames for global questions, grounded ones for localized.

The rule, read from the authors' code (Jialuo-Li/DIG at ffe6d2554e2c14bb1905ce5ad66ff13ba8cd5da4,
`pipeline/cafs.py` and `pipeline/video_refinement.py`). A text LLM calls the question global
or localized. Global: linspace(0, N - 1, k) floored, both ends included. Localized:
1. CAFS. A frame's feature is the mean of DINOv2's output tokens (class token and patches), a
   change is 1 - the cosine of neighbours' features, and within each of ceil(N / 120) near-equal
   chunks (DIG's 60 s at its 2 fps) each change that is a peak of prominence >= 0.1 cuts at the
   earlier frame of its pair. Cuts 0, ..., N - 1 bound the segments; segment s runs from cut s
   to cut s + 1, and its r-frame is their midpoint, (cut_s + cut_s+1) // 2.
2. A frame judge rewards each r-frame; rewards are rescaled to 0-100 (min-max) and those above 0
   are live. One live r-frame is kept. Of several, two thresholds are tried (subtract the mean
   and clip at 0 until that zeroes no further reward; or keep those above half the largest) and
   the one keeping fewer wins, the mean's on a tie. Nothing kept (all rewards equal, or all live
   rewards equal, which the mean zeroes): the whole video.
3. A kept r-frame s keeps cut s - 2 to cut min(s + 2, m - 1) (m segments; DIG's
   `min(len(scores) - 1, ...)`), overlapping windows merge, and k frames are spread evenly,
   both ends included, over the candidates they hold. With few segments a window covers most
   of the video (3 segments, the needle world's: a kept middle r-frame reaches cut 0 to cut 2,
   everything before the last segment).

Departures, and when they bite:
- The video is the N candidates: CAFS runs on them (DIG: 2 frames a second) and the refined
  video's frames are candidates (DIG: any frame between two cuts). With N = 2 x duration in
  seconds the chunks and every index match DIG's; otherwise a chunk is 120 candidates, not 60 s.
  Global picks take the first and last candidates, half a candidate gap inside the video's ends.
- Kept as released, though it looks like an off-by-one: a window's right end is never the
  video's last cut, so when a kept r-frame is in one of the last two segments the last segment
  is left out (for the last r-frame, all of its own segment but its first frame). Every
  published DIG number was made with it, and reaching cut m instead changes the frames of 416
  of 800 generated selections (N = 128, k = 4-32), and in the needle world turns a kept middle
  segment's window into the whole video (the needle then found 4 times in 40, not 36).
- Windows holding fewer than k candidates (a few short segments and k >= 16): DIG's positions
  repeat, fewer than k distinct frames. Here every candidate in the windows is kept and the
  nearest candidates outside follow (the earlier on a tie), to k distinct frames. With
  `strict=true` such a selection raises ValueError (a `select:` error row): framebench hands no
  backbone a frame twice.
- The LLM is `llm=` through `bench.llm.chat` (any OpenAI-compatible server; GPT-4o mini by
  default, DIG serves Qwen3-Next-80B-A3B) with framebench's own prompt, asked again up to
  `retries` times when its reply names neither type; its verdict is cached per question (with
  its options) and LLM under `<cache>/routes`. `route=global|localized` skips it (an ablation,
  and the offline contract spec).
- The reward is the frame judge's p(True) that the r-frame helps answer (`scorer=`, the duty
  `spatial` uses); DIG asks Qwen2.5-VL or Qwen3-VL for an integer 0-100 given the timestamp.
  The rescaling makes the rule blind to any increasing affine map of the rewards, but p(True)
  is no such map of DIG's integers, and it ties less often.
- Features: `model=` (facebook/dinov2-base, DIG's) in float32 as DIG runs it, on the decoded
  candidates at framebench's frame size, cached per video under `<cache>/dinov2`; `size=tiny`
  builds a small random one offline. Changes are in float64 (DIG: float32): a change within
  rounding of the 0.1 prominence can fall the other way.

Scores are each candidate's segment reward (1 everywhere for a global question). DIG is its own
pick: `select` rebuilds the segments from the cached features and reads the rewards back at the
r-frames. `n_scored` is the number of r-frames judged (0 for a global question); the DINOv2
pass over all N does not read the question and is paid once per video.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bench.llm import chat
from bench.options import with_options
from bench.records import Candidates, Query
from bench.registry import selectors
from bench.selectors._embed import normalise
from bench.selectors.spatial import frame_judge
from bench.store import ArrayStore, declare, default_root, digest

DINOV2 = "facebook/dinov2-base"
ROUTES = ("llm", "global", "localized")
BATCH = 32  # candidates per DINOv2 forward pass
CHUNK = 120  # candidates per peak search: DIG searches 60 s at a time at 2 frames a second
PROMINENCE = 0.1  # the least prominence of a change that cuts
REACH = 2  # cuts a kept r-frame's window reaches each way
PROMPT = """A question about a video is global when answering it needs the whole video (its topic, a summary, the order or number of events across it) and localized when the answer lies in one short moment or a few (what someone does at some point, what an object looks like, what happens right after something).

Question: {question}

Think briefly, then end your reply with one line: "Type: global" or "Type: localized"."""
VERDICT = re.compile(r"\b(global|locali[sz]ed)\b", re.I)

ROUTE_FOLDER = declare("routes", "routes (DIG)")
DINOV2_FOLDER = declare("dinov2", "DINOv2 features (DIG)")


class UnusableRoute(ValueError):
    """An LLM reply that names neither global nor localized."""


def parse_route(text: str) -> str:
    """"global" or "localized": the last of the two words in the reply (the verdict follows the reasoning)."""
    found = VERDICT.findall(text)
    if not found:
        raise UnusableRoute(f"the reply names neither global nor localized: {text[-200:]!r}")
    return "global" if found[-1].lower() == "global" else "localized"


def prominent_peaks(values: np.ndarray, least: float) -> np.ndarray:
    """int64, ascending: interior peaks of `values` whose prominence is at least `least` (scipy's find_peaks rule).

    A peak rises from its left neighbour and falls to the first different value on its right;
    a flat top counts once, at its middle (the lower middle of an even run), and the two ends
    are never peaks. Its prominence is its height less the higher of the two lowest values met
    walking left and right from it until a higher value or the end. DIG calls
    scipy.signal.find_peaks(prominence=0.1); framebench does not depend on scipy.
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    kept = []
    for i in range(1, n - 1):
        if not x[i - 1] < x[i]:
            continue
        end = i  # the last index of the flat top that begins at i
        while end + 1 < n - 1 and x[end + 1] == x[i]:
            end += 1
        if not x[end + 1] < x[i]:
            continue
        peak = (i + end) // 2
        higher_left, higher_right = np.flatnonzero(x[:peak] > x[peak]), np.flatnonzero(x[peak + 1 :] > x[peak])
        left = x[(higher_left[-1] + 1 if len(higher_left) else 0) : peak + 1].min()
        right = x[peak : (peak + 1 + higher_right[0] if len(higher_right) else n)].min()
        if x[peak] - max(left, right) >= least:
            kept.append(peak)
    return np.array(kept, dtype=np.int64)


def cafs(features: np.ndarray, chunk: int = CHUNK, least: float = PROMINENCE) -> tuple[np.ndarray, np.ndarray]:
    """(cuts int64 (m + 1,), r-frames int64 (m,)): CAFS's segments of N candidates from their features (N, D).

    The candidates are searched in ceil(N / chunk) chunks with borders linspace(0, N - 1, .)
    floored, the last holding its end; no change across a border is looked at. Cuts are 0,
    the earlier frame of each prominent change, and N - 1; r-frame s is the cuts' midpoint.
    """
    unit = normalise(np.asarray(features, dtype=np.float64))
    n = len(unit)
    if n < 1:
        raise ValueError("cafs needs at least one candidate")
    pieces = -(-n // chunk)
    borders = np.linspace(0, n - 1, pieces + 1).astype(np.int64)
    cuts = [0]
    for j in range(pieces):
        lo, hi = int(borders[j]), n if j == pieces - 1 else int(borders[j + 1])
        change = 1 - (unit[lo : hi - 1] * unit[lo + 1 : hi]).sum(axis=1)
        cuts.extend((lo + prominent_peaks(change, least)).tolist())
    cuts.append(n - 1)
    bounds = np.array(cuts, dtype=np.int64)
    return bounds, (bounds[:-1] + bounds[1:]) // 2


def windows(rewards: np.ndarray, cuts: np.ndarray, reach: int = REACH) -> list[tuple[int, int]]:
    """Inclusive candidate ranges [lo, hi], ascending and disjoint, that DIG's refined video keeps (the module docstring's step 2-3)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    m = len(rewards)
    whole = [(int(cuts[0]), int(cuts[-1]))]
    low, high = rewards.min(), rewards.max()
    if high == low:
        return whole
    level = (rewards - low) / (high - low + 1e-8) * 100  # DIG's scale, its 1e-8 included, so the thresholds meet the same floats
    live = np.flatnonzero(level > 0)
    if len(live) == 1:
        kept = live
    else:
        active = level[live]
        peeled = active
        while True:
            zeros = np.sum(peeled == 0)
            peeled = np.maximum(peeled - peeled.mean(), 0)
            if np.sum(peeled == 0) == zeros:
                break
        halved = np.maximum(active - 0.5 * active.max(), 0)
        kept = live[(peeled if np.sum(peeled > 0) <= np.sum(halved > 0) else halved) > 0]
    last = m - 1  # DIG's end: never the video's last cut (see the module docstring)
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted((int(cuts[max(0, s - reach)]), int(cuts[min(last, s + reach)])) for s in kept):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged or whole


def spread(spans: list[tuple[int, int]], k: int, n: int, strict: bool = False) -> np.ndarray:
    """int64 (k,), ascending: k of the candidates in `spans`, evenly spaced with both ends included.

    When the spans hold fewer than k of the n candidates, all are kept and the nearest candidates
    outside fill the rest (the earlier on a tie); with `strict` the positions repeat, as DIG's do.
    """
    if not 1 <= k <= n:
        raise ValueError(f"cannot pick k={k} of {n} candidates")
    members = np.concatenate([np.arange(lo, hi + 1) for lo, hi in spans]).astype(np.int64)
    if len(members) >= k or strict:
        return members[np.linspace(0, len(members) - 1, k).astype(np.int64)]
    gap = np.abs(np.arange(n)[:, None] - members[None, :]).min(axis=1)
    outside = np.flatnonzero(gap > 0)
    nearest = outside[np.argsort(gap[outside], kind="stable")][: k - len(members)]
    return np.sort(np.concatenate([members, nearest]))


def dig_frames(rewards: np.ndarray, cuts: np.ndarray, k: int, strict: bool = False) -> np.ndarray:
    """DIG's localized selection: k candidate indices, ascending, from r-frame rewards (m,) and cuts (m + 1,)."""
    return spread(windows(rewards, cuts), k, int(cuts[-1]) + 1, strict)


def global_frames(n: int, k: int) -> np.ndarray:
    """DIG's global selection: linspace(0, n - 1, k) floored, both ends included."""
    return spread([(0, n - 1)], k, n)


@selectors.register("dig")
class Dig:
    """DIG: an LLM routes global questions to an even spread; localized ones keep the windows around well-rewarded CAFS r-frames (scorer=, llm=)."""

    spec = "dig"

    pick = "dig"
    revision = 2  # the rule of Jialuo-Li/DIG; scores of the rule before (written from notes) are not reused
    settings = ("retries",)  # asking again changes no verdict that is kept

    def __init__(
        self, scorer: str = "qwen2-vl", llm: str = "gpt-4o-mini", model: str = DINOV2, route: str = "llm", strict: bool = False,
        weights: str = "pretrained", size: str = "full", retries: int = 2, cache_dir: Path | None = None,
    ) -> None:
        if route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}, not {route!r}")
        if retries < 0:
            raise ValueError(f"dig needs retries >= 0, not retries={retries}")
        self.judge = frame_judge(scorer, "frame_relevance", weights, size)
        self.llm, self.model_name, self.route, self.strict, self.size, self.retries = llm, model, route, strict, size, retries
        root = Path(cache_dir or default_root())
        self.routes, self.features_store = ArrayStore(root / ROUTE_FOLDER), ArrayStore(root / DINOV2_FOLDER)
        self.n_scored: int | None = None  # r-frames the last `score` call judged
        self._model = None

    def load(self, device: str) -> None:
        if self.route == "global":  # it never reads a frame
            return
        if self.size == "tiny":
            self._model, self._processor = _tiny_dinov2()
        else:
            import torch
            from transformers import AutoImageProcessor, Dinov2Model

            self._model = Dinov2Model.from_pretrained(self.model_name, dtype=torch.float32)  # as DIG runs it
            self._processor = AutoImageProcessor.from_pretrained(self.model_name)
        self._model.to(device).eval()
        self._device = device
        self.judge.load(device)

    def release(self) -> None:
        self._model = self._processor = None
        self.judge.release()

    def classify(self, query: Query) -> str:
        """"global" or "localized" for the question, from the cache or the LLM."""
        question = with_options(query.question, query.options)
        key = digest("dig-route", self.llm, PROMPT, question)
        hit = self.routes.load(key)
        if hit is not None:
            return hit[1]["route"]
        messages = [{"role": "user", "content": PROMPT.format(question=question)}]
        route = chat.complete_until(self.llm, messages, parse_route, UnusableRoute, "global/localized verdict", replies=self.retries)
        self.routes.save(key, {}, {"route": route})
        return route

    def _key(self, candidates: Candidates) -> str:
        return digest("dinov2-token-mean", self.model_name, self.size, candidates.key)

    def features(self, candidates: Candidates) -> np.ndarray:
        """float32 (N, D): the mean of DINOv2's output tokens for each candidate, cached per video."""
        hit = self.features_store.load(self._key(candidates))
        if hit is not None:
            return np.asarray(hit[0]["features"])
        import torch

        parts = []
        with torch.inference_mode():
            for start in range(0, len(candidates.frames), BATCH):
                batch = list(np.array(candidates.frames[start : start + BATCH]))  # a writable copy of the memory-mapped cache
                pixels = self._processor(images=batch, return_tensors="pt").pixel_values
                tokens = self._model(pixel_values=pixels.to(self._device, self._model.dtype)).last_hidden_state
                parts.append(tokens.mean(dim=1).float().cpu().numpy())
        features = np.concatenate(parts).astype(np.float32)
        self.features_store.save(self._key(candidates), {"features": features}, {"model": self.model_name, "size": self.size})
        return features

    def score(self, query: Query) -> np.ndarray:
        n = len(query.candidates.times)
        route = self.classify(query) if self.route == "llm" else self.route
        if route == "global":
            self.n_scored = 0
            return np.ones(n, dtype=np.float32)
        cuts, rframes = cafs(self.features(query.candidates))
        rewards = np.asarray(self.judge.frame_relevance(query.candidates.frames[rframes], with_options(query.question, query.options)), dtype=np.float64)
        self.n_scored = len(rframes)
        return rewards[np.searchsorted(cuts[1:-1], np.arange(n), side="right")].astype(np.float32)  # each candidate's segment

    def select(self, scores: np.ndarray, k: int, candidates: Candidates) -> np.ndarray:
        """DIG's k frames: the even spread when the scores are all equal (a global question), else its windows."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.min() == scores.max():  # equal rewards keep the whole video too, so this needs no features
            return global_frames(len(scores), k)
        hit = self.features_store.load(self._key(candidates))
        if hit is None:
            raise LookupError(f"dig: no cached DINOv2 features for candidates {candidates.key}; score them with this cache dir first")
        cuts, rframes = cafs(np.asarray(hit[0]["features"]))
        picked = dig_frames(scores[rframes], cuts, k, self.strict)
        if len(np.unique(picked)) < k:
            raise ValueError(f"dig:strict=true: DIG's windows hold {len(np.unique(picked))} candidates, fewer than k={k}, and it would repeat frames")
        return picked


def _tiny_dinov2():
    """(model, image processor): a small random Dinov2Model, the same in every process."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Dinov2Model(Dinov2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8))
    processor = BitImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]
    )
    return model, processor
