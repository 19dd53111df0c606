"""temporal: the seed paper's temporal pseudo label, a text LLM choosing frames from captions.

Follows the seed paper (Hu et al., CVPR 2025): an M-LLM captions every candidate (the
backbone named by `captioner=`, through its `caption` duty, or one behind a server with
`captioner=openai:model=NAME:base_url=URL`), a text LLM (`llm=`, GPT-4o mini by default,
reached through `bench.llm.chat` at `OPENAI_BASE_URL`) reads the numbered captions
and the question and lists the most helpful frames; listed frames score 1, the rest 0.
Captions do not depend on the question and are cached per video and captioner. Departures:
the paper's prompts are unpublished; here each caption carries its time in seconds and the
question its lettered options, and the reply must be JSON (a bare list, or an object
holding one, fenced or not). An empty list is an answer, not a failure: when no caption
helps, the LLM lists nothing, and by the paper's rule every unlisted frame scores 0, so
the scores are all zero. Out-of-range, duplicate and non-integer entries are dropped and
counted (`dropped`, and a log line); a reply with no list, or whose entries are all
dropped, is asked again up to `retries` times and then raises `UnusableReply`, which the
runner turns into an error row.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.llm import chat
from bench.options import with_options
from bench.records import Candidates, Query
from bench.registry import selectors
from bench.selectors.spatial import SERVER_SETTINGS, frame_judge
from bench.store import ArrayStore, declare, default_root, digest

log = logging.getLogger(__name__)

PROMPT = """Below are captions of {n} frames sampled uniformly from a video, numbered 0 to {last} in time order, each with the second it shows.

{captions}

Question: {question}

Which frames are the most helpful for answering the question? Reply with a JSON list of frame numbers only, for example [3, 17, 42]."""
FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.S)

CAPTIONS = declare("captions", "captions")


class UnusableReply(ValueError):
    """An LLM reply from which no frame index can be read."""


@dataclass(frozen=True, slots=True)
class Listed:
    """The frames a reply lists."""

    indices: tuple[int, ...]  # distinct, in range, in the reply's order; () when the reply is []
    dropped: int  # entries left out: out of range, repeated or not an integer


def parse_listed(text: str, n: int) -> Listed:
    """The frame indices in an LLM reply: a JSON list (possibly empty), or an object holding one, in a code fence or not."""
    fenced = FENCE.search(text)
    body = (fenced.group(1) if fenced else text).strip()
    starts = [i for i in (body.find("["), body.find("{")) if i >= 0]
    try:
        value = json.loads(body) if body[:1] in "[{" else json.JSONDecoder().raw_decode(body, min(starts))[0]
    except ValueError:  # not JSON, or no '[' or '{' to start from
        raise UnusableReply(f"no JSON list in the reply: {text[:80]!r}") from None
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise UnusableReply(f"the reply's object holds {len(lists)} lists, not one: {text[:80]!r}")
        value = lists[0]
    if not isinstance(value, list):
        raise UnusableReply(f"the reply is JSON but not a list: {text[:80]!r}")
    whole = [int(v) for v in value if isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()]
    kept = tuple(dict.fromkeys(i for i in whole if 0 <= i < n))
    if value and not kept:  # it meant to list frames and none of them is one; [] lists none on purpose
        raise UnusableReply(f"the reply lists no frame between 0 and {n - 1}: {text[:80]!r}")
    return Listed(kept, len(value) - len(kept))


def prompt(captions: tuple[str, ...], query: Query) -> str:
    """The text LLM's prompt: numbered captions timed by the candidates' seconds, then the question with its options."""
    lines = "\n".join(f"{i} ({t:.1f} s): {c}" for i, (c, t) in enumerate(zip(captions, query.candidates.times)))
    return PROMPT.format(n=len(captions), last=len(captions) - 1, captions=lines, question=with_options(query.question, query.options))


@selectors.register("temporal")
class Temporal:
    """Seed paper's temporal label: a text LLM lists helpful frames from M-LLM captions (captioner=, llm=gpt-4o-mini)."""

    spec = "temporal"

    pick = "nms"
    settings = SERVER_SETTINGS  # of the captioner's server; the text LLM's is OPENAI_BASE_URL

    def __init__(
        self, captioner: str = "qwen2-vl", llm: str = "gpt-4o-mini", weights: str = "pretrained", size: str = "full", retries: int = 2,
        cache_dir: Path | None = None, model: str = "", base_url: str = "", concurrency: int = 16, api_key_env: str = "OPENAI_API_KEY",
        image_format: str = "jpeg",
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be at least 0, not {retries}")
        self.judge = frame_judge(captioner, "caption", weights, size, model=model, base_url=base_url, concurrency=concurrency,
                                 api_key_env=api_key_env, image_format=image_format)
        self.llm, self.retries = llm, retries
        self.store = ArrayStore(Path(cache_dir or default_root()) / CAPTIONS)
        self.dropped = 0  # entries dropped from replies so far

    def load(self, device: str) -> None:
        self.judge.load(device)

    def release(self) -> None:
        self.judge.release()

    def captions(self, candidates: Candidates) -> tuple[str, ...]:
        """One caption per candidate, from the cache when this captioner has seen the video."""
        key = digest("captions", self.judge.spec, candidates.key)  # the canonical spec names weights=random
        hit = self.store.load(key)
        if hit is not None:
            return tuple(hit[1]["captions"])
        captions = tuple(self.judge.caption(candidates.frames))
        if len(captions) != len(candidates.frames):
            raise ValueError(f"{self.judge.spec} gave {len(captions)} captions for {len(candidates.frames)} frames")
        self.store.save(key, {}, {"captions": list(captions)})
        return captions

    def score(self, query: Query) -> np.ndarray:
        n = len(query.candidates.frames)
        messages = [{"role": "user", "content": prompt(self.captions(query.candidates), query)}]
        listed = chat.complete_until(self.llm, messages, lambda text: parse_listed(text, n), UnusableReply, "usable frame list", replies=self.retries)
        if listed.dropped:
            self.dropped += listed.dropped
            log.warning("%s listed %d unusable frame entries for %s; dropped", self.llm, listed.dropped, query.sample_id)
        scores = np.zeros(n, dtype=np.float32)
        scores[list(listed.indices)] = 1.0
        return scores
