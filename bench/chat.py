"""Text LLM calls through the `openai` client: the ActivityNet-QA judge and the temporal selector.

Any OpenAI-compatible server works: the endpoint and key come from `OPENAI_BASE_URL` and
`OPENAI_API_KEY` as the client reads them. Rate limits (429), server errors (5xx), timeouts
and dropped connections are retried with exponential backoff; what still fails raises
`ChatError`, which callers turn into an error row, never into a wrong answer. A refused key
(401) is not retried: it raises `AuthError`, naming the server, since no retry can fix it.
A body that is not JSON, or JSON without a message, is a `ChatError` at once.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class ChatError(Exception):
    """A chat completion that failed after its retries; the message says why."""


class AuthError(ChatError):
    """The server refused the API key (HTTP 401)."""


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
        except openai.AuthenticationError:
            raise AuthError(f"authentication failed (401) at {str(client.base_url).rstrip('/')}: check OPENAI_API_KEY") from None
        except openai.APIError as exc:  # 4xx other than 429
            raise ChatError(f"{model}: {_reason(exc)}") from None
        except ValueError as exc:  # a body that is not JSON
            raise ChatError(f"{model}: malformed response ({exc})") from None
        try:
            content = response.choices[0].message.content if response.choices else None
        except (TypeError, AttributeError, KeyError, IndexError):  # JSON, but not shaped like a completion
            raise ChatError(f"{model}: malformed response (no choices[0].message)") from None
        if content is None:
            raise ChatError(f"{model}: the reply has no message content")
        if not isinstance(content, str):
            raise ChatError(f"{model}: malformed response (content is {type(content).__name__}, not text)")
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
