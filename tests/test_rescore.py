"""`bench rescore`: predictions re-parsed and re-judged in place; every other column, known or not, kept."""

import csv
import json

from click.testing import CliRunner

from bench.cli import main
from bench.records import COLUMNS
from bench.rescore import rescore
from tests.chat_server import Reply

OPTIONS = json.dumps(["roll the handle", "tap their feet", "strum the string", "hit with sticks", "pat with hand"])
BASE = {"dataset": "nextqa", "split": "val", "video_id": "v", "question": "how do they play", "selector": "uniform",
        "backbone": "probe", "frames": "4", "candidates": "128", "selected": "3 40 77 120", "t_answer_s": "0.5",
        "device": "cpu", "run_id": "r1", "note": "kept as written"}


def write_cell(path, rows, extra=("note",)):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [*COLUMNS, *extra]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in header} for row in rows)


def read_cell(path):
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def mc_rows():
    return [
        # an older parser missed this one: now C, right
        {**BASE, "sample_id": "s1", "prediction": "Answer: (c)", "answer": "C", "options": OPTIONS, "correct": "false", "parse_ok": "false"},
        # recorded as right by mistake: nothing parses, so wrong and unparsed
        {**BASE, "sample_id": "s2", "prediction": "Based on the video, hard to say", "answer": "B", "options": OPTIONS,
         "correct": "true", "parse_ok": "true", "parsed": "B"},
        # a video error has no prediction: left alone
        {**BASE, "sample_id": "s3", "error": "video: /x.mp4: file not found", "options": OPTIONS},
        # written before the options column existed: left alone
        {**BASE, "sample_id": "s4", "prediction": "C", "answer": "C", "correct": "false", "parse_ok": "false"},
    ]


def test_rescore_rewrites_outcomes_and_keeps_every_other_column(tmp_path):
    path = tmp_path / "results" / "nextqa" / "probe" / "uniform__k4.csv"
    write_cell(path, mc_rows())
    summary = rescore(tmp_path / "results", tmp_path / "cache")
    assert (summary.files, summary.rescored, summary.changed, summary.skipped, summary.judge_errors) == (1, 2, 2, 2, 0)
    header, rows = read_cell(path)
    assert header == [*COLUMNS, "note"]
    s1, s2, s3, s4 = rows
    assert (s1["parsed"], s1["parse_ok"], s1["correct"]) == ("C", "true", "true")
    assert (s2["parsed"], s2["parse_ok"], s2["correct"]) == ("", "false", "false")
    assert (s3["error"], s3["correct"], s4["correct"]) == ("video: /x.mp4: file not found", "", "false")
    for row in rows:
        assert {k: row[k] for k in BASE} == BASE  # selection, timings, run id and the unknown column untouched
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_rescoring_again_changes_nothing_and_leaves_the_file_as_it_is(tmp_path):
    path = tmp_path / "results" / "cell.csv"
    write_cell(path, mc_rows())
    rescore(tmp_path / "results", tmp_path / "cache")
    before = path.read_bytes()
    assert rescore(tmp_path / "results", tmp_path / "cache").changed == 0
    assert path.read_bytes() == before


def test_the_dataset_filter_leaves_other_datasets_alone(tmp_path):
    write_cell(tmp_path / "results" / "a.csv", mc_rows())
    write_cell(tmp_path / "results" / "b.csv", [{**row, "dataset": "nextqa:split=test"} for row in mc_rows()])
    summary = rescore(tmp_path / "results", tmp_path / "cache", datasets=("nextqa:split=test",))
    assert summary.changed == 2
    assert read_cell(tmp_path / "results" / "a.csv")[1][0]["correct"] == "false"  # not rescored
    assert read_cell(tmp_path / "results" / "b.csv")[1][0]["correct"] == "true"


ANET = {**BASE, "dataset": "activitynet-qa:judge_model=judge-x:judge_retries=0", "options": "[]",
        "question": "what color is the car", "answer": "red", "judge_model": "judge-x"}


def test_judge_errors_are_retried_and_verdicts_come_from_the_cache_after(tmp_path, chat_server):
    path = tmp_path / "results" / "anet.csv"
    write_cell(path, [
        {**ANET, "sample_id": "a1", "prediction": "red", "error": "judge: judge-x: HTTP 500 after 1 tries"},
        {**ANET, "sample_id": "a2", "prediction": "blue", "correct": "false", "judge_score": "1"},
    ])
    chat_server.responder = lambda request: Reply(
        "{'pred': 'yes', 'score': 5}" if "Predicted answer: red\n" in request["messages"][1]["content"] else "{'pred': 'no', 'score': 0}")
    summary = rescore(tmp_path / "results", tmp_path / "cache")
    assert (summary.rescored, summary.changed, summary.judge_errors, len(chat_server.requests)) == (2, 2, 0, 2)
    a1, a2 = read_cell(path)[1]
    assert (a1["error"], a1["correct"], a1["judge_score"], a1["judge_model"]) == ("", "true", "5", "judge-x")
    assert (a2["correct"], a2["judge_score"]) == ("false", "0")
    assert rescore(tmp_path / "results", tmp_path / "cache").changed == 0 and len(chat_server.requests) == 2  # cached


def test_a_judge_that_now_fails_keeps_verdicts_fails_rows_without_one_and_the_command_exits_1(tmp_path, chat_server):
    write_cell(tmp_path / "results" / "anet.csv", [
        {**ANET, "sample_id": "a1", "prediction": "red", "correct": "true", "judge_score": "5"},  # judged, not in this cache
        {**ANET, "sample_id": "a2", "prediction": "blue", "error": "judge: judge-x: timeout after 1 tries"},  # nothing to keep
    ])
    chat_server.responder = lambda request: Reply(status=500)
    args = ["rescore", "--results-dir", tmp_path / "results", "--cache-dir", tmp_path / "cache"]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    said = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 1 and "1 judge errors, 1 kept their previous verdict because the judge failed" in said
    assert f"{tmp_path / 'results' / 'anet.csv'}: activitynet-qa:judge_model=judge-x:judge_retries=0 a1: judge: judge-x: HTTP 500 " in said
    a1, a2 = read_cell(tmp_path / "results" / "anet.csv")[1]
    assert (a1["error"], a1["correct"], a1["judge_score"], a1["judge_model"]) == ("", "true", "5", "judge-x")
    assert (a2["error"], a2["correct"], a2["judge_score"]) == ("judge: judge-x: HTTP 500 after 1 tries", "", "")


def test_judge_settings_given_to_the_command_replace_the_rows_own(tmp_path, chat_server):
    # the row's spec asks for 3 retries (4 tries, 1 + 2 + 4 s of backoff); --judge-retries 0 makes it 1 try
    write_cell(tmp_path / "results" / "anet.csv", [{**ANET, "dataset": "activitynet-qa:judge_model=judge-x:judge_retries=3",
                                                   "sample_id": "a1", "prediction": "red"}])
    chat_server.responder = lambda request: Reply(status=500)
    args = ["rescore", "--results-dir", tmp_path / "results", "--cache-dir", tmp_path / "cache", "--judge-retries", "0"]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 1 and len(chat_server.requests) == 1
    assert read_cell(tmp_path / "results" / "anet.csv")[1][0]["error"] == "judge: judge-x: HTTP 500 after 1 tries"


def test_rows_just_written_by_a_run_rescore_to_the_same_outcomes(tmp_path, results_dir):
    run = ["run", "--dataset", "needle", "--selector", "uniform,oracle", "--backbone", "probe", "--frames", "4", "--limit", "4",
           "--candidates", "32", "--results-dir", results_dir, "--cache-dir", tmp_path / "cache", "--device", "cpu"]
    assert CliRunner().invoke(main, [str(a) for a in run], catch_exceptions=False).exit_code == 0
    before = {p: p.read_bytes() for p in results_dir.rglob("*.csv")}
    summary = rescore(results_dir, tmp_path / "cache")
    assert (summary.rescored, summary.changed) == (8, 0)
    assert {p: p.read_bytes() for p in results_dir.rglob("*.csv")} == before
