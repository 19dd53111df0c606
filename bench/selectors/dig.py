"""dig: DIG, "Divide, then Ground" (CVPR 2026, arXiv 2512.04000): uniform frames for global questions, grounded ones for localized.

The rule, as the research notes give the paper and its README: a text LLM reads the question
and, after a short chain of thought, calls it global or localized. A global question gets plain
uniform sampling. For a localized one, DINOv2 features of the frames pick representative frames
(r-frames), an LMM gives each r-frame a relevance reward, and the rewards stretch the timeline
into a "refined video" that is sampled uniformly.

Here the text LLM is `llm=` through `bench.llm.chat` (any OpenAI-compatible server at
`OPENAI_BASE_URL`; GPT-4o mini by default as for `temporal`, while DIG serves
Qwen3-Next-80B-A3B with vLLM), asked again up to `retries` times when its reply names neither type, and
its verdict is cached per question (with its options) and LLM under `<cache>/routes`. The
features are `Dinov2Model`'s pooled output (`model=`, facebook/dinov2-base by default;
`size=tiny` builds a small random one offline), cached per video under `<cache>/dinov2`. The
reward is the frame judge's p(True) that the r-frame helps answer the question (`scorer=`, the
duty `spatial` uses; DIG asks Qwen2.5-VL or Qwen3-VL). Scores are each candidate's weight on the
refined timeline, the reward of the r-frame that represents it (1 everywhere for a global
question), and the pick `timeline` takes k frames at segment centres of that weighted timeline,
which for equal weights is exactly the uniform pick. `route=global|localized` skips the LLM
and takes one branch for every question (an ablation, and the offline contract spec).

Departures: the notes do not give CAFS's clustering, the number of r-frames or how rewards
become the refined video. Here the timeline is cut at the `rframes` - 1 largest DINOv2 feature
changes (cosine distance) between neighbouring candidates (16 segments by default), each
segment's r-frame is its member nearest the segment's mean feature, and a segment's weight on
the refined timeline is its r-frame's reward; where a heavy segment holds several of the k
points, the further ones take the nearest candidates not yet kept, so the backbone gets k
distinct frames; the prompt is framebench's own. `n_scored` is the
number of r-frames judged (0 for a global question): the DINOv2 pass over all N does not read
the question and is paid once per video.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

DINOV2 = "facebook/dinov2-base"
ROUTES = ("llm", "global", "localized")
BATCH = 32  # candidates per DINOv2 forward pass
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


def representatives(features: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(bounds int64 (m + 1,), r-frames int64 (m,)): m segments cut at the m - 1 largest feature changes, each with its r-frame.

    A change is the cosine distance between neighbouring candidates' features (ties cut at the
    earlier place); segment s holds candidates bounds[s]..bounds[s + 1] - 1, and its r-frame is
    the member nearest (cosine) the segment's mean feature, the earlier on a tie.
    """
    unit = normalise(np.asarray(features, dtype=np.float64))
    n = len(unit)
    if not 1 <= m <= n:
        raise ValueError(f"cannot cut {n} candidates into {m} segments")
    change = 1 - (unit[:-1] * unit[1:]).sum(axis=1)
    cuts = np.sort(np.argsort(-change, kind="stable")[: m - 1]) + 1
    bounds = np.concatenate([[0], cuts, [n]]).astype(np.int64)
    rframes = [lo + int(np.argmax(unit[lo:hi] @ normalise(unit[lo:hi].mean(axis=0)))) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return bounds, np.array(rframes, dtype=np.int64)


@selectors.register("dig")
class Dig:
    """DIG: an LLM routes global questions to uniform; localized ones get DINOv2 r-frames rewarded by a frame judge (scorer=, llm=)."""

    spec = "dig"

    pick = "timeline"
    settings = ("retries",)  # asking again changes no verdict that is kept

    def __init__(
        self, scorer: str = "qwen2-vl", llm: str = "gpt-4o-mini", model: str = DINOV2, rframes: int = 16, route: str = "llm",
        weights: str = "pretrained", size: str = "full", retries: int = 2, cache_dir: Path | None = None,
    ) -> None:
        if route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}, not {route!r}")
        if rframes < 1 or retries < 0:
            raise ValueError(f"dig needs rframes >= 1 and retries >= 0, not rframes={rframes}, retries={retries}")
        self.judge = frame_judge(scorer, "frame_relevance", weights, size)
        self.llm, self.model_name, self.rframes, self.route, self.size, self.retries = llm, model, rframes, route, size, retries
        root = Path(cache_dir or default_root())
        self.routes, self.features_store = ArrayStore(root / ROUTE_FOLDER), ArrayStore(root / DINOV2_FOLDER)
        self.n_scored: int | None = None  # r-frames the last `score` call judged
        self._model = None

    def load(self, device: str) -> None:
        if self.route == "global":  # it never reads a frame
            return
        import torch

        if self.size == "tiny":
            self._model, self._processor = _tiny_dinov2()
        else:
            from transformers import AutoImageProcessor, Dinov2Model

            self._model = Dinov2Model.from_pretrained(self.model_name, dtype=torch.float16 if device == "cuda" else torch.float32)
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

    def features(self, candidates: Candidates) -> np.ndarray:
        """float32 (N, D): DINOv2 pooled features of the candidates, cached per video."""
        key = digest("dinov2", self.model_name, self.size, candidates.key)
        hit = self.features_store.load(key)
        if hit is not None:
            return np.asarray(hit[0]["features"])
        import torch

        parts = []
        with torch.inference_mode():
            for start in range(0, len(candidates.frames), BATCH):
                batch = list(np.array(candidates.frames[start : start + BATCH]))  # a writable copy of the memory-mapped cache
                pixels = self._processor(images=batch, return_tensors="pt").pixel_values
                parts.append(self._model(pixel_values=pixels.to(self._device, self._model.dtype)).pooler_output.float().cpu().numpy())
        features = np.concatenate(parts).astype(np.float32)
        self.features_store.save(key, {"features": features}, {"model": self.model_name, "size": self.size})
        return features

    def score(self, query: Query) -> np.ndarray:
        n = len(query.candidates.times)
        route = self.classify(query) if self.route == "llm" else self.route
        if route == "global":
            self.n_scored = 0
            return np.ones(n, dtype=np.float32)
        bounds, rframes = representatives(self.features(query.candidates), min(self.rframes, n))
        rewards = np.asarray(self.judge.frame_relevance(query.candidates.frames[rframes], with_options(query.question, query.options)), dtype=np.float64)
        self.n_scored = len(rframes)
        return np.repeat(rewards, np.diff(bounds)).astype(np.float32)


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
