"""The test server itself answers the real openai client as scripted."""

import openai
import pytest

from tests.chat_server import Reply


def test_the_openai_client_gets_scripted_answers_errors_and_timeouts(chat_server):
    client = openai.OpenAI(max_retries=0, timeout=0.5)
    chat_server.queue.extend([Reply("first"), Reply(status=429), Reply(delay=2.0)])
    ask = lambda: client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert ask().choices[0].message.content == "first"
    with pytest.raises(openai.RateLimitError):
        ask()
    with pytest.raises(openai.APITimeoutError):
        ask()
    chat_server.queue.append(Reply("dropped", cut_at=10))  # headers promise the whole body, 10 bytes come
    with pytest.raises(openai.APIConnectionError):
        ask()
    chat_server.responder = lambda request: Reply(request["messages"][-1]["content"].upper())
    assert ask().choices[0].message.content == "HI"
    assert [r["model"] for r in chat_server.requests] == ["m"] * 5
