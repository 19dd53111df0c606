"""The ActivityNet-QA judge against a real local chat-completions server: verdicts, retries, failures, the cache."""

import json

import pytest

from bench.llm.judge import Judge, JudgeError, Verdict, parse_verdict
from bench.records import Sample
from bench.registry import benchmarks
from tests.chat_server import Reply

YES4 = "{'pred': 'yes', 'score': 4}"


@pytest.mark.parametrize("reply, expected", [
    ("{'pred': 'yes', 'score': 4}", Verdict(True, 4)),
    ("{'pred': 'no', 'score': 0}", Verdict(False, 0)),
    ('{"pred": "yes", "score": 5}', Verdict(True, 5)),  # JSON is a Python literal too
    ("Sure! {'pred': 'Yes', 'score': 4.8}", Verdict(True, 4)),  # truncated as Video-ChatGPT does
    ("{'pred': ' no ', 'score': '2'}", Verdict(False, 2)),
    ("{'pred': 'Yes.', 'score': 3}", Verdict(True, 3)),
])
def test_a_verdict_is_read_from_the_dict_string(reply, expected):
    assert parse_verdict(reply) == expected


@pytest.mark.parametrize("reply, reason", [
    ("yes, 4", "no {...}"),
    ("{pred: yes, score: 4}", "does not parse"),
    ("{'pred': 'yes'}", "needs keys"),
    ("{'pred': 'maybe', 'score': 3}", "not yes or no"),
    ("{'pred': 'yes', 'score': 7}", "0 to 5"),
    ("{'pred': 'no', 'score': -1}", "0 to 5"),
    ("{'pred': 'yes', 'score': 'high'}", "0 to 5"),
    ("{'pred': 'yes', 'score': True}", "0 to 5"),
])
def test_a_malformed_verdict_is_an_error_not_a_no(reply, reason):
    with pytest.raises(JudgeError, match=reason):
        parse_verdict(reply)


def _judge(tmp_path, model="judge-x", **kw) -> Judge:
    return Judge(model, tmp_path / "judge", **{"timeout": 0.5, "retries": 2, "backoff": 0.01, **kw})


def test_the_judge_asks_with_the_question_answer_and_prediction(chat_server, tmp_path):
    chat_server.queue.append(Reply(YES4))
    assert _judge(tmp_path).verdict("what is he holding", "a cup", "a mug") == Verdict(True, 4)
    request = chat_server.requests[0]
    assert (request["model"], request["temperature"], request["max_tokens"]) == ("judge-x", 0, 64)
    system, user = request["messages"]
    assert system["role"] == "system" and "synonyms and paraphrases count as matches" in system["content"]
    assert "Question: what is he holding\nReference answer: a cup\nPredicted answer: a mug\n" in user["content"]
    assert "{'pred': 'no', 'score': 1}" in user["content"]  # the example reply, braces not eaten by format


@pytest.mark.parametrize("failures", [[Reply(status=429)], [Reply(status=500), Reply(status=503)], [Reply(delay=1.0)]])
def test_rate_limits_server_errors_and_timeouts_are_retried(chat_server, tmp_path, failures):
    chat_server.queue.extend([*failures, Reply("{'pred': 'no', 'score': 1}")])
    assert _judge(tmp_path).verdict("q", "a", "p") == Verdict(False, 1)
    assert len(chat_server.requests) == len(failures) + 1


@pytest.mark.parametrize("replies, reason", [
    ([Reply(status=500)] * 3, "HTTP 500 after 3 tries"),
    ([Reply(delay=1.0)] * 3, "timeout after 3 tries"),
    ([Reply(raw=b"{not json")], "malformed response"),
    ([Reply("I would say yes.")], "verdict does not parse"),
])
def test_what_still_fails_raises_judge_error_with_the_reason(chat_server, tmp_path, replies, reason):
    chat_server.queue.extend(replies)
    with pytest.raises(JudgeError, match=reason):
        _judge(tmp_path).verdict("q", "a", "p")


def test_verdicts_are_cached_by_model_question_answer_and_prediction(chat_server, tmp_path):
    chat_server.responder = lambda request: Reply(YES4)
    _judge(tmp_path).verdict("q", "a", "p")
    assert _judge(tmp_path).verdict("q", "a", "p") == Verdict(True, 4)  # a new judge, the same cache: no call
    assert len(chat_server.requests) == 1
    for question, answer, prediction, model in [("q2", "a", "p", "judge-x"), ("q", "a2", "p", "judge-x"),
                                                 ("q", "a", "p2", "judge-x"), ("q", "a", "p", "judge-y")]:
        _judge(tmp_path, model=model).verdict(question, answer, prediction)
    assert len(chat_server.requests) == 5
    cached = [json.loads(p.read_text()) for p in (tmp_path / "judge").rglob("*.json")]
    assert len(cached) == 5 and {c["meta"]["model"] for c in cached} == {"judge-x", "judge-y"}


def test_a_failure_is_not_cached(chat_server, tmp_path):
    chat_server.queue.extend([Reply("no dict here"), Reply(YES4)])
    with pytest.raises(JudgeError):
        _judge(tmp_path).verdict("q", "a", "p")
    assert _judge(tmp_path).verdict("q", "a", "p") == Verdict(True, 4)
    assert len(chat_server.requests) == 2


def test_a_refused_key_fails_at_once_and_later_verdicts_ask_no_more(chat_server, tmp_path):
    chat_server.responder = lambda request: Reply(YES4)
    judge = _judge(tmp_path)
    judge.verdict("q", "a", "cached")  # cached before the key is refused: still served after
    chat_server.queue.append(Reply(status=401))
    refused = f"authentication failed (401) at {chat_server.url}: check OPENAI_API_KEY"
    for prediction in ("p1", "p2", "p3"):
        with pytest.raises(JudgeError) as caught:
            judge.verdict("q", "a", prediction)
        assert str(caught.value) == refused
    assert judge.verdict("q", "a", "cached") == Verdict(True, 4)
    assert len(chat_server.requests) == 2  # the cached verdict's and one refused call; p2 and p3 asked nothing
    assert _judge(tmp_path).verdict("q", "a", "p2") == Verdict(True, 4)  # a new judge (a new process) asks again


def test_a_missing_api_key_is_a_judge_error_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(JudgeError, match="judge-x: OpenAIError: .*OPENAI_API_KEY"):
        _judge(tmp_path).verdict("q", "a", "p")


def _anet(tmp_path, spec="activitynet-qa:judge_model=judge-x:judge_retries=0:judge_timeout=0.5"):
    benchmark = benchmarks.build(spec)
    benchmark.use_cache(tmp_path)
    return benchmark


SAMPLE = Sample("activitynet-qa", "test", "v_x_1", "x", (), "what color is the car", answer="red", category="color")


def test_activitynet_outcome_carries_the_verdict_and_the_judge_model(chat_server, tmp_path):
    chat_server.queue.append(Reply("{'pred': 'yes', 'score': 5}"))
    outcome = _anet(tmp_path).score(SAMPLE, "It is red.")
    assert (outcome.correct, outcome.judge_score, outcome.judge_model, outcome.error) == (True, 5.0, "judge-x", "")
    assert "Predicted answer: It is red." in chat_server.requests[0]["messages"][1]["content"]


@pytest.mark.parametrize("reply, reason", [(Reply(status=500), "judge: judge-x: HTTP 500 after 1 tries"),
                                           (Reply(delay=1.0), "judge: judge-x: timeout"),
                                           (Reply("{'pred': 'perhaps', 'score': 2}"), "judge: verdict does not parse")])
def test_a_judge_failure_is_an_error_outcome_never_a_no(chat_server, tmp_path, reply, reason):
    chat_server.queue.append(reply)
    outcome = _anet(tmp_path).score(SAMPLE, "It is red.")
    assert outcome.correct is None and outcome.judge_score is None and outcome.judge_model == "judge-x"
    assert outcome.error.startswith(reason)
