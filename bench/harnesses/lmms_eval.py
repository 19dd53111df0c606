"""The lmms-eval model `framebench`: lmms-eval supplies the documents, prompts and metrics; framebench decodes, selects and answers.

    pip install 'framebench[lmms-eval]'
    lmms-eval --model framebench --model_args backbone=qwen2-vl,selector=clip,frames=8 --tasks videomme

lmms-eval 0.7 finds it through the `lmms_eval.models` entry point (a `ModelManifest`), so no fork
is needed. Arguments (`--model_args`, comma-separated; a spec may hold `:` and `=`):
- `backbone` (qwen2-vl): any framebench backbone spec, `openai:model=...:base_url=...` included;
- `selector` (uniform) and `frames` (8): how the k frames are chosen, as `bench run` chooses them;
- `candidates` (128), `frame_size` (336), `seek`, `decoder`, `cache_format`, `cache_dir`, `device`:
  as `bench run`'s options; frames and scores are cached where `bench run` caches them;
- `selections=FILE`: answer from a `bench select` file instead of selecting. Each document is
  matched by the benchmark's own question id (the file's `question_id`), never by question
  text; `selector=` and `frames=` pick the lines when the file holds several. A question the
  file lacks stops the evaluation with an error naming it: no silent uniform fallback.

Each request's video is the first path lmms-eval's `doc_to_visual` gives; the selector reads
the document's `question` (else lmms-eval's whole prompt); the backbone gets the selected frames
and lmms-eval's prompt as it is, greedy, `max_new_tokens` from the task (128 where it says
none), and the reply is cut at the task's first `until` string. Only `generate_until` tasks are
served: multiple choice by letter and open-ended answers, which video-QA tasks are.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from lmms_eval.api.model import lmms
from lmms_eval.models.registry_v2 import ModelManifest

from bench.api import FrameSelector
from bench.grid.loading import Lazy
from bench.grid.rows import answer
from bench.registry import backbones
from bench.store import default_root
from bench.store.frames import FrameCache
from bench.timing import resolve_device

MANIFEST = ModelManifest("framebench", simple_class_path="bench.harnesses.lmms_eval.FrameBench")
DEFAULT_TOKENS = 128
ID_FIELDS = ("question_id", "q_uid", "uid", "id")  # Video-MME, MLVU, ActivityNet-QA; EgoSchema; LVBench; LongVideoBench, jsonl


class SelectionMissing(LookupError):
    """A `selections=FILE` run met a question the file has no line for."""


class FrameBench(lmms):
    """framebench's frame selection and backbones as an lmms-eval model (see the module docstring)."""

    is_simple = True

    def __init__(self, backbone: str = "qwen2-vl", selector: str = "uniform", frames: int = 8, candidates: int = 128,
                 frame_size: int = 336, seek: str = "exact", decoder: str = "pyav", cache_format: str = "raw",
                 cache_dir: str = "", device: str = "auto", selections: str = "", **harness_settings) -> None:
        super().__init__()
        self.k, self.device = int(frames), resolve_device(device)
        self.cache_dir = Path(cache_dir) if cache_dir else default_root()
        self.frames: dict[str, FrameCache] = {}  # cache format -> the frame cache selections are read through
        self.selections = _read_selections(Path(selections), selector, self.k) if selections else None  # batch_size and such: lmms-eval's, unused
        self.selector = None if self.selections else FrameSelector(selector, int(candidates), int(frame_size), device, self.cache_dir,
                                                                   seek, decoder, cache_format=cache_format)
        self.model = Lazy(backbones.build(str(backbone)), self.device)
        if self.model.ready():
            raise RuntimeError(f"framebench backbone {backbone}: {self.model.error}")

    def generate_until(self, requests) -> list[str]:
        replies = []
        for request in requests:
            context, settings, doc_to_visual, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            frames, times = self._frames(doc, doc_to_visual(doc))
            text = answer(self.model.model, frames, times, context, int(settings.get("max_new_tokens", DEFAULT_TOKENS))).text
            replies.append(_cut(text, settings.get("until")))
        return replies

    def _frames(self, doc: dict, visuals) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (k, H, W, 3) and their seconds: selected here, or read from the selections file."""
        video = next(v for v in (visuals if isinstance(visuals, list) else [visuals]) if isinstance(v, (str, Path)))
        if self.selections is None:
            chosen = self.selector.select(video, str(doc.get("question", "")), self.k, _options(doc))
            return chosen.frames, chosen.times
        key = question_id(doc)
        if key not in self.selections:
            raise SelectionMissing(f"question_id {key!r} has no line in the selections file (k={self.k}); "
                                   f"run `bench select` over this benchmark, or drop selections=")
        line = self.selections[key]
        if line["cache_format"] not in self.frames:  # one per format, kept: it remembers each video's content key
            self.frames[line["cache_format"]] = FrameCache(self.cache_dir, line["cache_format"])
        cands = self.frames[line["cache_format"]].candidates(Path(line["video"]), line["candidates"], line["frame_size"], line["seek"])
        return cands.frames[line["indices"]], np.asarray(line["times"])

    def loglikelihood(self, requests):
        raise NotImplementedError("framebench answers generate_until tasks only (video QA by letter or in words)")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("framebench answers generate_until tasks only (video QA by letter or in words)")


def question_id(doc: dict) -> str:
    """The benchmark's own key of a document, as `bench select` writes it in `question_id`; NExT-QA's is `<video>_<qid>`."""
    if "qid" in doc and "video" in doc:
        return f"{doc['video']}_{doc['qid']}"
    for field in ID_FIELDS:
        if field in doc:
            return str(doc[field])
    raise SelectionMissing(f"the document has none of the fields {', '.join(ID_FIELDS)} (nor video and qid): it cannot be matched to a selection")


def _read_selections(path: Path, selector: str, k: int) -> dict[str, dict]:
    """question_id -> its line in a `bench select` file, for one selector and k (every selector when the file holds one)."""
    if path.suffix == ".parquet":
        import pandas as pd

        lines = pd.read_parquet(path).to_dict("records")
    else:
        lines = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines() if text.strip()]
    lines = [line for line in lines if line.get("k") == k and not line.get("error")]
    if len({line["selector"] for line in lines}) > 1:
        lines = [line for line in lines if line["selector"] == selector]
    found: dict[str, dict] = {}
    for line in lines:
        if not line.get("question_id"):
            raise SelectionMissing(f"{path}: a line without question_id: written by an older `bench select`; write the file again")
        found[str(line["question_id"])] = line
    if not found:
        raise SelectionMissing(f"{path}: no selection of selector {selector} at k={k}")
    return found


def _options(doc: dict) -> tuple[str, ...]:
    options = doc.get("options") or doc.get("candidates") or ()
    return tuple(str(o) for o in options) if isinstance(options, (list, tuple)) else ()


def _cut(text: str, until) -> str:
    """The reply up to the task's first stop string."""
    for stop in [until] if isinstance(until, str) else list(until or []):
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    return text
