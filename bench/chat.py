"""Text LLM calls through the `openai` client: the ActivityNet-QA judge and the temporal selector.

Any OpenAI-compatible server works: the endpoint and key come from `OPENAI_BASE_URL` and
`OPENAI_API_KEY` as the client reads them. Rate limits (429), server errors (5xx), timeouts
and dropped connections are retried with exponential backoff; what still fails raises
`ChatError`, which callers turn into an error row, never into a wrong answer.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class ChatError(Exception):
    """A chat completion that failed after its retries; the message says why."""


def complete(model: str, messages: list[dict[str, str]], *, max_tokens: int = 256, timeout: float = 60.0, retries: int = 3, backoff: float = 1.0) -> str:
    """The assistant's reply text to `messages` (temperature 0), retried on transient failures.

    Args:
        retries: attempts after the first one; waits are backoff, 2*backoff, 4*backoff... seconds.
    """
    import openai

    client = openai.OpenAI(max_retries=0, timeout=timeout)
    transient = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError)
    attempt = 0
    while True:
        try:
            response = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens)
        except transient as exc:
            if attempt == retries:
                raise ChatError(f"{model}: {_reason(exc)} after {retries + 1} tries") from None
            log.info("%s: %s; retrying in %.1f s", model, _reason(exc), backoff * 2**attempt)
            time.sleep(backoff * 2**attempt)
            attempt += 1
            continue
        except openai.APIError as exc:  # 4xx other than 429
            raise ChatError(f"{model}: {_reason(exc)}") from None
        except ValueError as exc:  # a body that is not JSON
            raise ChatError(f"{model}: malformed response ({exc})") from None
        content = response.choices[0].message.content if response.choices else None
        if content is None:
            raise ChatError(f"{model}: the reply has no message content")
        return content


def _reason(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        return "connection failed"
    return f"{type(exc).__name__}: {exc}"
