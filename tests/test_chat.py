"""bench.chat against the local chat-completions server: answers, retries, and failures as ChatError."""

import pytest

from bench.chat import ChatError, complete
from tests.chat_server import Reply

ASK = [{"role": "user", "content": "hello"}]


def test_a_reply_comes_back_and_the_request_is_well_formed(chat_server):
    chat_server.queue.append(Reply("hi there"))
    assert complete("judge-model", ASK, max_tokens=7) == "hi there"
    request = chat_server.requests[0]
    assert (request["model"], request["messages"], request["temperature"], request["max_tokens"]) == ("judge-model", ASK, 0, 7)


@pytest.mark.parametrize("failures", [[Reply(status=429)], [Reply(status=500), Reply(status=503)], [Reply(delay=1.0)]])
def test_transient_failures_are_retried_until_an_answer(chat_server, failures):
    chat_server.queue.extend([*failures, Reply("finally")])
    assert complete("m", ASK, timeout=0.5, retries=3, backoff=0.01) == "finally"
    assert len(chat_server.requests) == len(failures) + 1


@pytest.mark.parametrize("replies, reason", [
    ([Reply(status=500)] * 3, "HTTP 500 after 3 tries"),
    ([Reply(delay=1.0)] * 3, "timeout after 3 tries"),
    ([Reply(status=400)], "HTTP 400"),
    ([Reply(raw=b"this is not json")], "m: malformed response"),
])
def test_what_still_fails_raises_chat_error_with_the_reason(chat_server, replies, reason):
    chat_server.queue.extend(replies)
    with pytest.raises(ChatError, match=reason):
        complete("m", ASK, timeout=0.5, retries=2, backoff=0.01)


def test_an_unreachable_server_is_a_chat_error(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with pytest.raises(ChatError, match="connection failed after 2 tries"):
        complete("m", ASK, retries=1, backoff=0.01, timeout=1)
