"""Chat-completions calls through the `openai` client: the ActivityNet-QA judge, the temporal selector, the `openai` backbone.

Any OpenAI-compatible server works: `complete` takes the endpoint and key from
`OPENAI_BASE_URL` and `OPENAI_API_KEY` as the client reads them; `connect` names them for a
backbone that has its own. Rate limits (429), server errors (5xx), timeouts and dropped
connections are retried with exponential backoff; what still fails raises `ChatError`, which
callers turn into an error row, never into a wrong answer. A refused key (401) is not
retried: it raises `AuthError`, naming the server, since no retry can fix it. A body that is
not JSON, or JSON without a message, is a `ChatError` at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class ChatError(Exception):
    """A chat completion that failed after its retries; the message says why."""


class AuthError(ChatError):
    """The server refused the API key (HTTP 401)."""


def connect(base_url: str | None = None, api_key: str | None = None, timeout: float = 60.0) -> Any:
    """An `openai.OpenAI` client that never retries by itself (`create` does); None values come from the environment."""
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout)


def create(client: Any, model: str, messages: list[dict], *, label: str = "", key_env: str = "OPENAI_API_KEY",
           retries: int = 3, backoff: float = 1.0, **params: Any) -> Any:
    """The ChatCompletion for `messages` (temperature 0, `params` added), retried on transient failures.

    The client may be shared between threads. Errors start with `label` (default: the model).

    Args:
        key_env: the variable an AuthError tells the user to check.
        retries: attempts after the first one; waits are backoff, 2*backoff, 4*backoff... seconds.
    """
    import openai

    label = label or model
    transient = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError)
    attempt = 0
    while True:
        try:
            response = client.chat.completions.create(model=model, messages=messages, temperature=0, **params)
        except transient as exc:
            if attempt == retries:
                raise ChatError(f"{label}: {_reason(exc)} after {retries + 1} tries") from None
            log.info("%s: %s; retrying in %.1f s", label, _reason(exc), backoff * 2**attempt)
            time.sleep(backoff * 2**attempt)
            attempt += 1
            continue
        except openai.AuthenticationError:
            raise AuthError(f"authentication failed (401) at {str(client.base_url).rstrip('/')}: check {key_env}") from None
        except openai.APIError as exc:  # 4xx other than 429
            raise ChatError(f"{label}: {_reason(exc)}") from None
        except ValueError as exc:  # a body that is not JSON
            raise ChatError(f"{label}: malformed response ({exc})") from None
        try:  # an empty list of choices is a reply without content (see text_of)
            malformed = bool(response.choices) and response.choices[0].message is None
        except (TypeError, AttributeError, KeyError, IndexError):  # JSON, but not shaped like a completion
            malformed = True
        if malformed:
            raise ChatError(f"{label}: malformed response (no choices[0].message)")
        return response


def text_of(response: Any, label: str) -> str:
    """The reply's message content; a ChatError starting with `label` when it has none or it is not text."""
    content = response.choices[0].message.content if response.choices else None
    if content is None:
        raise ChatError(f"{label}: the reply has no message content")
    if not isinstance(content, str):
        raise ChatError(f"{label}: malformed response (content is {type(content).__name__}, not text)")
    return content


def complete(model: str, messages: list[dict[str, str]], *, max_tokens: int = 256, timeout: float = 60.0, retries: int = 3, backoff: float = 1.0) -> str:
    """The assistant's reply text to `messages` (temperature 0), retried on transient failures.

    Args:
        retries: attempts after the first one; waits are backoff, 2*backoff, 4*backoff... seconds.
    """
    response = create(connect(timeout=timeout), model, messages, retries=retries, backoff=backoff, max_tokens=max_tokens)
    return text_of(response, model)


def complete_until(model: str, messages: list[dict[str, str]], parse: Callable[[str], T], unusable: type[Exception], wanted: str,
                   *, replies: int = 2, max_tokens: int = 512) -> T:
    """`parse` of the first reply it accepts; a reply it rejects (raising `unusable`) is asked for again, up to `replies` more times.

    What still fails raises `unusable` naming the model, `wanted` and the last rejection.
    """
    for attempt in range(replies + 1):
        try:
            return parse(complete(model, messages, max_tokens=max_tokens))
        except unusable as exc:
            log.info("%s, reply %d: %s", model, attempt + 1, exc)
            problem = exc
    raise unusable(f"{model}: no {wanted} in {replies + 1} replies; last: {problem}")


def _reason(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        return "connection failed"
    return f"{type(exc).__name__}: {exc}"
