"""Judge faults in `bench run` on ActivityNet-QA: each is an error row `judge: ...`, never a "no".

The judge is the local chat server (tests/chat_server.py) behind the real openai client. Three
fixture questions with generated videos are answered by `probe`; the fault hits the first
judge request(s) and the server then answers every later one "yes, 4". Each case checks the
exact rows, the exit code, the number of requests (so a retry shows, and a 401 is asked
once), and that a rerun asks the judge again for the error rows only.

Timeouts and retries are small (judge_timeout=1, judge_retries=1): a transient fault is tried
twice, with the judge's 1 s backoff between, so the slowest case (the hang: 1 + 1 + 1 s) takes
about 4 s with its rerun.
"""

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.results import read_all
from tests.benchdata import unpack
from tests.chat_server import Reply
from tests.videos import write_indexed_video

SPEC = "activitynet-qa:judge_timeout=1:judge_retries=1"  # 1 s: room for a loaded CI machine, small for the hang case
YES4 = "{'pred': 'yes', 'score': 4}"
# the first three records of tests/fixtures/activitynet-qa, in file order, and where their videos go
SAMPLES = ["v_1QIUV7WYKXg_3", "v_9eniCub7u60_2", "v_FADShG5lyB8_10"]
VIDEOS = ["activitynet/all_test/v_1QIUV7WYKXg.mp4", "activitynet/all_test/9eniCub7u60.mkv", "activitynet/v_FADShG5lyB8.webm"]
PREDICTION = "I did not see any shape."  # what probe says to a question about a video without a needle


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = unpack(tmp_path_factory.mktemp("anet") / "data")
    for relative in VIDEOS:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        write_indexed_video(root / relative, n_frames=16, fps=8, gop=8, width=96, height=48)
    return root


def bench_run(root, tmp_path):
    """`bench run` over the three samples; (exit code, output with wrapping undone, rows by sample id)."""
    args = ["run", "--dataset", SPEC, "--selector", "uniform", "--backbone", "probe", "--frames", "2", "--candidates", "8",
            "--limit", "3", "--judge-model", "judge-x", "--data-root", root, "--results-dir", tmp_path / "results",
            "--cache-dir", tmp_path / "cache", "--device", "cpu"]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    rows = read_all(tmp_path / "results")
    return result.exit_code, " ".join(result.output.split()), rows


def assert_judged_yes(row):
    assert (row.error, bool(row.correct), row.judge_score, row.judge_model) == ("", True, 4.0, "judge-x")


# (queued replies, the error row's exact `error`, samples that fail, judge requests in the first run)
# A transient fault is queued twice: judge_retries=1 means 2 tries for the first sample, then
# the other two samples ask once each: 2 + 2 = 4 requests.
FAULTS = {
    "429": ([Reply(status=429)] * 2, "judge: judge-x: HTTP 429 after 2 tries", SAMPLES[:1], 4),
    "500": ([Reply(status=500)] * 2, "judge: judge-x: HTTP 500 after 2 tries", SAMPLES[:1], 4),
    "hang past the timeout": ([Reply(YES4, delay=2.5)] * 2, "judge: judge-x: timeout after 2 tries", SAMPLES[:1], 4),
    "connection closed mid-response": ([Reply(YES4, cut_at=20)] * 2, "judge: judge-x: connection failed after 2 tries", SAMPLES[:1], 4),
    # not retried (a server that sends a broken body will send it again): 1 + 2 = 3 requests.
    # `{'pred'`: JSON wants a double quote at char 1
    "malformed JSON body": ([Reply(raw=b"{'pred': 'yes'")],
                            "judge: judge-x: malformed response (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
                            SAMPLES[:1], 3),
    # a reply that does not parse is not retried either (temperature 0 gives it again): 3 requests
    "score out of range": ([Reply("{'pred': 'yes', 'score': 7}")],
                           "judge: verdict does not parse: 'score' is 7, not a number from 0 to 5", SAMPLES[:1], 3),
    "yes/no missing": ([Reply("{'score': 4}")],
                       "judge: verdict does not parse: needs keys 'pred' and 'score', got \"{'score': 4}\"", SAMPLES[:1], 3),
    "yes/no neither": ([Reply("{'pred': 'maybe', 'score': 3}")],
                       "judge: verdict does not parse: 'pred' is 'maybe', not yes or no", SAMPLES[:1], 3),
    # a refused key is asked once: the judge asks no more in this run, so all three rows fail on 1 request
    "401": ([Reply(status=401)], "judge: authentication failed (401) at {url}: check OPENAI_API_KEY", SAMPLES, 1),
}


@pytest.mark.parametrize("replies, error, failing, requests", FAULTS.values(), ids=FAULTS.keys())
def test_a_judge_fault_is_an_error_row_the_run_goes_on_and_a_rerun_retries_only_it(root, tmp_path, chat_server, replies, error, failing, requests):
    error = error.replace("{url}", chat_server.url)
    chat_server.queue.extend(replies)
    chat_server.responder = lambda request: Reply(YES4)
    code, said, rows = bench_run(root, tmp_path)
    assert code == 1 and len(chat_server.requests) == requests
    assert sorted(rows.sample_id) == sorted(SAMPLES) and len(rows) == 3
    assert f"{SAMPLES[0]}: {error}" in said  # the run's summary shows the reason
    for row in rows.itertuples():
        if row.sample_id in failing:  # an error row: no verdict, the judge named, the prediction kept for a rerun
            assert (row.error, row.judge_model, row.prediction) == (error, "judge-x", PREDICTION)
            assert pd.isna(row.correct) and pd.isna(row.judge_score)
        else:
            assert_judged_yes(row)
    # the server is well again: the rerun asks once per error row and no more
    code, _, rows = bench_run(root, tmp_path)
    assert code == 0 and len(chat_server.requests) == requests + len(failing)
    assert sorted(rows.sample_id) == sorted(SAMPLES) and len(rows) == 3  # error rows replaced, nothing doubled
    for row in rows.itertuples():
        assert_judged_yes(row)
