"""spatial: the seed paper's spatial pseudo label, an M-LLM judging each candidate alone.

Follows the seed paper (Hu et al., CVPR 2025): a multimodal LLM sees one frame and the
question and is asked whether the frame helps answer it; the score is p(True) / (p(True) +
p(False)) of its next token. The backbone named by `scorer=` does the asking, batched over
frames, through its `frame_relevance` duty (bench/backbones/__init__.py), so any registered
backbone that judges frames can serve (default `qwen2-vl`, the paper's; `probe` for
needle; `openai` for a model behind a server, `spatial:scorer=openai:model=NAME:base_url=URL`,
whose server parameters are spatial's own since specs do not nest). Departures: the paper's
chain-of-thought prompt is unpublished, so the wording is the backbone's; the question is
given with its lettered options, as SeViLA's localizer does.
"""

from __future__ import annotations

import inspect

import numpy as np

from bench.options import with_options
from bench.records import Query
from bench.registry import RegistryError, Spec, backbones, selectors

SERVER_SETTINGS = ("base_url", "concurrency", "api_key_env")  # where a server judge is and how hard it is pushed: no score changes


def frame_judge(spec: str, duty: str, weights: str, size: str, **server: object):
    """An unloaded backbone for `spec` that has the FrameJudge `duty` ("frame_relevance" or "caption").

    A spec cannot nest another's parameters (both use ":"), so `weights` and `size` are passed
    on to the backbones that take them (size=tiny builds a small random one), and so are the
    `server` parameters (model, base_url, ...) to a judge behind a server (`scorer=openai:model=NAME`);
    a model or base_url given for a judge that takes none is an error, not ignored.
    """
    name = Spec.parse(spec).name
    cls = backbones.get(name)
    if not hasattr(cls, duty):
        raise TypeError(f"backbone {name!r} cannot {duty.replace('_', ' ')}; it needs the FrameJudge duties")
    stray = [k for k in ("model", "base_url") if server.get(k) and k not in inspect.signature(cls).parameters]
    if stray:
        raise RegistryError(f"backbone {name!r} takes no {' or '.join(stray)}; a judge behind a server is scorer=openai:model=NAME:base_url=URL")
    return backbones.build(spec, weights=weights, size=size, **server)


@selectors.register("spatial")
class Spatial:
    """Seed paper's spatial label: an M-LLM's p(True) that each frame alone helps answer (scorer=qwen2-vl)."""

    spec = "spatial"

    pick = "nms"
    settings = SERVER_SETTINGS

    def __init__(
        self, scorer: str = "qwen2-vl", weights: str = "pretrained", size: str = "full", model: str = "", base_url: str = "",
        concurrency: int = 16, api_key_env: str = "OPENAI_API_KEY", image_format: str = "jpeg",
    ) -> None:
        self.judge = frame_judge(scorer, "frame_relevance", weights, size, model=model, base_url=base_url, concurrency=concurrency,
                                 api_key_env=api_key_env, image_format=image_format)

    def load(self, device: str) -> None:
        self.judge.load(device)

    def release(self) -> None:
        self.judge.release()

    def score(self, query: Query) -> np.ndarray:
        return np.asarray(self.judge.frame_relevance(query.candidates.frames, with_options(query.question, query.options)), dtype=np.float32)
