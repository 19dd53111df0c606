"""An OpenAI-compatible server that reads the images it is sent and answers as the needle probe would.

A `ChatServer` (tests/chat_server.py) whose responder decodes each request's base64 images
and hands them, with the text part, to the `probe` backbone, so a run through it is a run of
the probe with HTTP, JSON and image encoding in between:
- a judge request (`logprobs` asked): "True" and "False" as the first token's top logprobs, at
  the probe's p(True) for the one frame sent;
- a caption request (the in-process judges' caption prompt): the probe's caption;
- any other request, an answer: the probe's reply to all the frames and the prompt.
`usage` counts the text part's words plus IMAGE_TOKENS per image, and the reply's words.
`peak` is the most requests it has held at once. Faults: `latency` seconds spent on every
request (a slow model), `fault` answered to every request
while set (an HTTP error status, or a delay past the client's timeout), and `logprobs = False`
for judge replies without logprobs, as `transformers serve` sends them.
"""

from __future__ import annotations

import base64
import io
import math
import threading
import time

import numpy as np

from bench.backbones._hf import CAPTION_PROMPT
from bench.backbones.probe import Probe
from tests.chat_server import ChatServer, Reply

IMAGE_TOKENS = 100  # what the server counts per image in prompt_tokens


def decode(messages: list[dict]) -> tuple[np.ndarray, str]:
    """(uint8 (k, H, W, 3) the images in the order sent, the text parts joined) of a chat request."""
    from PIL import Image

    frames, texts = [], []
    for part in messages[-1]["content"]:
        if part["type"] == "image_url":
            _, _, data = part["image_url"]["url"].partition(";base64,")
            frames.append(np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")))
        elif part["type"] == "text":
            texts.append(part["text"])
    return np.stack(frames), "\n".join(texts)


class ImageServer(ChatServer):
    """The probe behind HTTP; see the module docstring for what it answers and how it fails."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__()
        self.latency = latency
        self.fault: Reply | None = None
        self.logprobs = True
        self.probe = Probe()
        self.responder = self.reply
        self.peak = 0
        self._active = 0
        self._lock = threading.Lock()

    def reply(self, body: dict) -> Reply:
        if self.fault is not None:
            return self.fault
        with self._lock:
            self._active += 1
            self.peak = max(self.peak, self._active)
        try:
            time.sleep(self.latency)
            return self._answer(body)
        finally:
            with self._lock:
                self._active -= 1

    def _answer(self, body: dict) -> Reply:
        frames, text = decode(body["messages"])
        prompt_tokens = len(text.split()) + IMAGE_TOKENS * len(frames)
        if body.get("logprobs"):
            p = float(self.probe.frame_relevance(frames[:1], text)[0])
            top = sorted([("True", math.log(p)), ("False", math.log(1 - p))], key=lambda entry: -entry[1])
            return Reply(top[0][0], top_logprobs=tuple(top) if self.logprobs else None, usage=(prompt_tokens, 1))
        if text == CAPTION_PROMPT:
            content = self.probe.caption(frames[:1])[0]
        else:
            content = self.probe.answer(frames, text, body.get("max_tokens", 16)).text
        return Reply(content, usage=(prompt_tokens, len(content.split())))
