"""bench.llm.chat against the local chat-completions server: answers, retries, and failures as ChatError."""

import pytest

from bench.llm.chat import AuthError, ChatError, complete
from tests.chat_server import Reply

ASK = [{"role": "user", "content": "hello"}]


def test_a_reply_comes_back_and_the_request_is_well_formed(chat_server):
    chat_server.queue.append(Reply("hi there"))
    assert complete("judge-model", ASK, max_tokens=7) == "hi there"
    request = chat_server.requests[0]
    assert (request["model"], request["messages"], request["temperature"], request["max_tokens"]) == ("judge-model", ASK, 0, 7)


@pytest.mark.parametrize("failures", [[Reply(status=429)], [Reply(status=500), Reply(status=503)], [Reply(delay=1.0)],
                                      [Reply("cut short", cut_at=10)]])
def test_transient_failures_are_retried_until_an_answer(chat_server, failures):
    chat_server.queue.extend([*failures, Reply("finally")])
    assert complete("m", ASK, timeout=0.5, retries=3, backoff=0.01) == "finally"
    assert len(chat_server.requests) == len(failures) + 1


@pytest.mark.parametrize("replies, reason", [
    ([Reply(status=500)] * 3, "HTTP 500 after 3 tries"),
    ([Reply(delay=1.0)] * 3, "timeout after 3 tries"),
    ([Reply(status=400)], "HTTP 400"),
    ([Reply(raw=b"this is not json")], "m: malformed response"),
    ([Reply(raw=b'{"choices": 3}')], "m: malformed response"),  # JSON, but no choices[0].message
    ([Reply(raw=b'{"choices": [{"message": {"content": 5}}]}')], r"m: malformed response \(content is int, not text\)"),
    ([Reply("dropped", cut_at=10)] * 3, "connection failed after 3 tries"),
])
def test_what_still_fails_raises_chat_error_with_the_reason(chat_server, replies, reason):
    chat_server.queue.extend(replies)
    with pytest.raises(ChatError, match=reason):
        complete("m", ASK, timeout=0.5, retries=2, backoff=0.01)


def test_a_refused_key_is_not_retried_and_names_the_server(chat_server):
    chat_server.queue.extend([Reply(status=401), Reply("never asked")])
    with pytest.raises(AuthError) as caught:
        complete("m", ASK, timeout=0.5, retries=3, backoff=0.01)
    assert str(caught.value) == f"authentication failed (401) at {chat_server.url}: check OPENAI_API_KEY"
    assert len(chat_server.requests) == 1


def test_an_unreachable_server_is_a_chat_error(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with pytest.raises(ChatError, match="connection failed after 2 tries"):
        complete("m", ASK, retries=1, backoff=0.01, timeout=1)
