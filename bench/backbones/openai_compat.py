"""openai: a model behind any OpenAI-compatible chat-completions server (vLLM, SGLang, `transformers serve`, hosted APIs).

An answer is one request: one user message holding the k frames in time order as `image_url`
parts (base64 `data:` URLs, JPEG at `jpeg_quality` or lossless PNG), then the benchmark's
prompt as a text part; temperature 0, `max_tokens` the benchmark's `max_new_tokens`. The
server applies the model's own chat template and image processing, so the frames reach the
model as separate images, not as one video input as the in-process backbones send them: the
same checkpoint can score differently here (lmms-eval #921 saw 57.5 vs 54.1 on Video-MME
through HF vs vLLM); run one parity cell against the in-process backbone before a grid.

The key comes from `OPENAI_API_KEY` unless `api_key_env` names another variable; the server
from `base_url`, else `OPENAI_BASE_URL`, else OpenAI's own. Transient failures (429, 5xx,
timeouts, dropped connections) are retried by `bench.llm.chat.create`; what still fails raises
`ChatError` naming the model and the server, which the runner writes as an error row. The
runner keeps up to `concurrency` answers in flight (`answer` is thread-safe: one client,
shared). Where the server is and how hard it is pushed change no answer, so `base_url`,
`concurrency`, `api_key_env`, `timeout` and `retries` stay out of the canonical spec.
`prompt_tokens` and `completion_tokens` are the server's `usage`; `n_visual_tokens` is
unknown (None): a server does not report how many of its prompt tokens were image tokens.

Frame judging (the spatial and temporal selectors' duties) asks the in-process judges'
questions (`JUDGE_PROMPT`, `CAPTION_PROMPT`), one request per frame, up to `concurrency` at
once. `frame_relevance` asks for `logprobs` with `top_logprobs=5` and `max_tokens=1` and
reads p(True) / (p(True) + p(False)) off the first token's alternatives: tokens that are
"true" or "false" once stripped of spaces and lower-cased are summed, as the in-process
judge compares "True" with "False". Departure: the in-process judge reads the two words'
logits even when both are unlikely; a server shows only its top 5, so a word missing from
them counts as probability 0, and a reply showing neither, or no logprobs at all (as from
`transformers serve`, which ignores the parameter), is a `ChatError` naming the server.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from bench.backbones._hf import CAPTION_PROMPT, CAPTION_TOKENS, JUDGE_PROMPT
from bench.llm.chat import ChatError, connect, create, text_of
from bench.llm.inflight import in_flight
from bench.records import Reply
from bench.registry import RegistryError, backbones

T = TypeVar("T")
FORMATS = {"jpeg": "JPEG", "png": "PNG"}  # image_format -> PIL format name
TOP_LOGPROBS = 5


@backbones.register("openai")
class OpenAICompat:
    """A model behind an OpenAI-compatible server (vLLM, SGLang, transformers serve, hosted): frames as images, many in flight."""

    spec = "openai"
    settings = ("base_url", "concurrency", "api_key_env", "timeout", "retries")  # change no answer: kept out of the spec

    def __init__(
        self, model: str = "", base_url: str = "", api_key_env: str = "OPENAI_API_KEY", concurrency: int = 16,
        image_format: str = "jpeg", jpeg_quality: int = 90, timeout: float = 60.0, retries: int = 3,
    ) -> None:
        if not model:
            raise RegistryError("openai needs the served model's name: openai:model=NAME, e.g. openai:model=Qwen/Qwen2-VL-7B-Instruct:base_url=http://localhost:8000/v1")
        if image_format not in FORMATS:
            raise RegistryError(f"openai: image_format must be one of {', '.join(FORMATS)}, not {image_format!r}")
        if concurrency < 1:
            raise RegistryError(f"openai: concurrency must be at least 1, not {concurrency}")
        if not 1 <= jpeg_quality <= 100:
            raise RegistryError(f"openai: jpeg_quality must be between 1 and 100, not {jpeg_quality}")
        self.model, self.base_url, self.api_key_env = model, base_url, api_key_env
        self.concurrency = concurrency  # answers the runner keeps in flight, and frames judged at once
        self.image_format, self.jpeg_quality = image_format, jpeg_quality
        self.timeout, self.retries = timeout, retries
        self.client: Any = None

    def load(self, device: str) -> None:
        """Make the client; nothing is sent until the first answer (the device is the server's business)."""
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ChatError(f"{self.api_key_env} is not set: export it (any value for a local server that checks no key), or name another variable with api_key_env=")
        self.client = connect(self.base_url or None, key, self.timeout)

    def release(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None

    @property
    def server(self) -> str:
        """The server's base URL, for messages."""
        return str(self.client.base_url).rstrip("/") if self.client is not None else self.base_url or os.environ.get("OPENAI_BASE_URL", "")

    def answer(self, frames: np.ndarray, prompt: str, max_new_tokens: int) -> Reply:
        """One request: the frames uint8 (k, H, W, 3) in time order as images, then the prompt; greedy."""
        response = self._ask(frames, prompt, max_tokens=max_new_tokens)
        usage = response.usage
        return Reply(
            text_of(response, self._label()),
            n_visual_tokens=None,  # unknown: the server counts images inside prompt_tokens
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            remote=True,
        )

    def frame_relevance(self, frames: np.ndarray, question: str) -> np.ndarray:
        """float32 (N,): p(True) / (p(True) + p(False)) of the first token, each frame judged alone in its own request."""
        text = JUDGE_PROMPT.format(question=question)
        judge = lambda frame: self._relevance(self._ask(frame[None], text, max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS))
        return np.array(self._each(judge, frames), dtype=np.float32)

    def caption(self, frames: np.ndarray) -> tuple[str, ...]:
        """One short caption per frame of uint8 (N, H, W, 3), one request each."""
        describe = lambda frame: text_of(self._ask(frame[None], CAPTION_PROMPT, max_tokens=CAPTION_TOKENS), self._label()).strip()
        return tuple(self._each(describe, frames))

    def _label(self) -> str:
        return f"{self.model} at {self.server}"

    def _ask(self, frames: np.ndarray, text: str, **params: Any) -> Any:
        content = [{"type": "image_url", "image_url": {"url": self._data_url(frame)}} for frame in frames]
        messages = [{"role": "user", "content": [*content, {"type": "text", "text": text}]}]
        return create(self.client, self.model, messages, label=self._label(), key_env=self.api_key_env, retries=self.retries, **params)

    def _data_url(self, frame: np.ndarray) -> str:
        from PIL import Image

        buffer = io.BytesIO()
        image = Image.fromarray(np.ascontiguousarray(frame))  # candidates come memory-mapped and sliced
        image.save(buffer, FORMATS[self.image_format], **({"quality": self.jpeg_quality} if self.image_format == "jpeg" else {}))
        return f"data:image/{self.image_format};base64,{base64.b64encode(buffer.getvalue()).decode()}"

    def _relevance(self, response: Any) -> float:
        logprobs = response.choices[0].logprobs
        first = logprobs.content[0] if logprobs is not None and logprobs.content else None
        if first is None or not first.top_logprobs:
            raise ChatError(f"{self._label()} returned no logprobs: frame judging needs a server that returns top_logprobs (vLLM and SGLang do; transformers serve does not)")
        mass = {"true": 0.0, "false": 0.0}
        for entry in first.top_logprobs:
            word = entry.token.strip().lower()
            if word in mass:
                mass[word] += math.exp(entry.logprob)
        if not mass["true"] + mass["false"]:
            tokens = ", ".join(repr(entry.token) for entry in first.top_logprobs)
            raise ChatError(f"{self._label()}: neither True nor False among the top {len(first.top_logprobs)} first tokens ({tokens})")
        return mass["true"] / (mass["true"] + mass["false"])

    def _each(self, ask: Callable[[np.ndarray], T], frames: np.ndarray) -> list[T]:
        """ask(frame) for every frame, up to `concurrency` at once, in frame order; the first failure raises."""
        done = dict(in_flight(((i, (lambda frame=frame: ask(frame))) for i, frame in enumerate(frames)), self.concurrency))
        return [done[i] for i in range(len(frames))]
