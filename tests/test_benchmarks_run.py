"""`bench run` over each benchmark: tiny videos named as the records say, under a fixture data root.

Two backbones answer: `probe` ("I did not see any shape.", which parses as no option) and a
fixed-letter backbone defined here ("The answer is (C)."), whose accuracy is known from the
answers in the fixture files.
"""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.records import Reply
from bench.registry import backbones
from bench.results import read_all
from tests.benchdata import EGOSCHEMA_SUBSET, unpack
from tests.chat_server import Reply as ChatReply
from tests.videos import write_indexed_video


class FixedLetter:
    """Answers every question with the same letter, inside a sentence the parser has to read."""

    spec = "fixed-letter"

    def __init__(self, letter: str = "C") -> None:
        self.letter = letter

    def load(self, device: str) -> None:
        pass

    def release(self) -> None:
        pass

    def answer(self, frames, prompt, max_new_tokens):
        return Reply(f"The answer is ({self.letter}).", n_visual_tokens=len(frames))


@pytest.fixture
def fixed_letter():
    backbones.names()  # discover the real ones first, so this one is only added
    backbones.register("fixed-letter")(FixedLetter)
    yield "fixed-letter"
    del backbones._classes["fixed-letter"]  # leave the registry as other tests expect it


@pytest.fixture
def root(tmp_path):
    return unpack(tmp_path / "data")


def videos(root, *relative):
    for path in relative:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        write_indexed_video(root / path, n_frames=16, fps=8, gop=8, width=96, height=48)


def bench_run(root, tmp_path, dataset, backbone, *extra):
    args = ["run", "--dataset", dataset, "--selector", "uniform", "--backbone", backbone, "--frames", "2",
            "--candidates", "8", "--data-root", root, "--results-dir", tmp_path / "results",
            "--cache-dir", tmp_path / "cache", "--device", "cpu", *extra]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result, read_all(tmp_path / "results")


# (dataset, videos for the first three samples, the fourth's missing video, answers of the first three)
MC = [
    ("nextqa", ["NExT-QA/NExTVideo/1106/4010069381.mp4", "NExT-QA/NExTVideo/0063/2435100235.mp4",
                "NExT-QA/NExTVideo/0066/2793260225.mp4"], "3562017845", "ACB"),
    ("longvideobench", ["lvb/videos/oCXKARwr6PA.mp4", "lvb/videos/IuVyCbtGBFQ.mp4", "lvb/videos/-if_Wg43vTk.mp4"], "kFHVBCEwC3w", "CCD"),
    ("videomme", ["Video-MME/data/fFjv93ACGo8.mp4"], "N1cdUjctpG8", "CAD"),  # three questions on one video
]


@pytest.mark.parametrize("dataset, files, missing, answers", MC)
def test_run_answers_each_multiple_choice_benchmark(root, tmp_path, fixed_letter, dataset, files, missing, answers):
    videos(root, *files)
    result, data = bench_run(root, tmp_path, dataset, f"probe,{fixed_letter}", "--limit", "4")
    assert result.exit_code == 1  # the missing video is an error row
    assert len(data) == 8
    errors = data[data.error != ""]
    assert len(errors) == 2 and errors.correct.isna().all()
    assert all(e.startswith("video: ") and f"{root}/**/{missing}.mp4" in e and f"{missing}.MP4" in e for e in errors.error)
    answered = data[data.error == ""].sort_values("sample_id", kind="stable")
    probe = answered[answered.backbone == "probe"]
    assert len(probe) == 3 and not probe.parse_ok.any() and not probe.correct.any()  # "I did not see any shape."
    letter = answered[answered.backbone == fixed_letter].set_index("sample_id")
    first_three = list(data[data.backbone == fixed_letter].sample_id)[:3]  # the file keeps the samples' order
    assert [bool(letter.correct[s]) for s in first_three] == [a == "C" for a in answers]
    assert letter.parse_ok.all() and set(letter.parsed) == {"C"}
    assert all(json.loads(o) and len(json.loads(o)) >= 3 for o in data.options)


def test_rows_carry_the_breakdown_columns(root, tmp_path):
    videos(root, "Video-MME/data/fFjv93ACGo8.mp4", "lvb/videos/oCXKARwr6PA.mp4", "NExT-QA/NExTVideo/1106/4010069381.mp4")
    _, data = bench_run(root, tmp_path, "videomme,longvideobench,nextqa", "probe", "--limit", "1")
    rows = data.set_index("dataset")
    assert tuple(rows.loc["videomme", ["category", "duration_group", "domain", "answer"]]) == ("Counting Problem", "short", "Knowledge", "C")
    assert tuple(rows.loc["longvideobench", ["category", "duration_group", "domain", "answer"]]) == ("S2O", "15", "KA-Knowledge-Art", "C")
    assert tuple(rows.loc["nextqa", ["category", "category_group", "answer"]]) == ("CH", "causal", "A")
    assert json.loads(rows.loc["videomme", "options"]) == ["Apples.", "Candles.", "Berries.", "The three kinds are of the same number."]


def test_unparsed_random_draws_a_letter_and_still_says_it_did_not_parse(root, tmp_path):
    videos(root, *MC[0][1])
    result, data = bench_run(root, tmp_path, "nextqa", "probe", "--limit", "3", "--unparsed", "random")
    assert result.exit_code == 0 and set(data.dataset) == {"nextqa:unparsed=random"}
    assert not data.parse_ok.any() and set(data.parsed) <= set("ABCDE") and all(data.parsed != "")
    assert list(data.correct) == [p == a for p, a in zip(data.parsed, data.answer)]


ANET_VIDEOS = ["activitynet/all_test/v_1QIUV7WYKXg.mp4", "activitynet/all_test/9eniCub7u60.mkv", "activitynet/v_FADShG5lyB8.webm"]


def test_run_judges_activitynet_and_a_judge_failure_is_an_error_row(root, tmp_path, chat_server):
    videos(root, *ANET_VIDEOS)
    chat_server.queue.append(ChatReply(status=500))
    chat_server.responder = lambda request: ChatReply("{'pred': 'no', 'score': 1}")
    spec = "activitynet-qa:judge_retries=0"
    result, data = bench_run(root, tmp_path, spec, "probe", "--limit", "4", "--judge-model", "judge-x")
    assert result.exit_code == 1
    assert set(data.dataset) == {"activitynet-qa:judge_model=judge-x"}  # the judge is part of the spec, its retries are not
    assert len(chat_server.requests) == 3 and all(r["model"] == "judge-x" for r in chat_server.requests)
    assert "Predicted answer: I did not see any shape.\n" in chat_server.requests[0]["messages"][1]["content"]
    first = data.iloc[0]  # asked first, answered 500: an error row, not a "no"
    assert first.error == "judge: judge-x: HTTP 500 after 1 tries" and pd.isna(first.correct) and first.judge_model == "judge-x"
    judged = data[data.error == ""]
    assert len(judged) == 2 and not judged.correct.any() and list(judged.judge_score) == [1.0, 1.0]
    assert set(judged.judge_model) == {"judge-x"} and set(judged.answer) == {"yes", "no"}
    assert data.iloc[3].error.startswith("video: ") and "5k2Ot6-wOgc" in data.iloc[3].error
    # a rerun retries the two error rows; only the judge-error one gets a new verdict, the others are cached rows
    bench_run(root, tmp_path, spec, "probe", "--limit", "4", "--judge-model", "judge-x")
    assert len(chat_server.requests) == 4


def test_egoschema_full_set_rows_are_unscored_and_make_the_submission_file(root, tmp_path, fixed_letter):
    uids = ["001934bb-81bd-4cd8-a574-0472ef3f6678", "001d2d1b-d2f9-4c39-810e-6e2087ff9d5a", "005651d6-f710-4909-b76d-acf7306fb72a"]
    videos(root, *(f"EgoSchema/videos/{u}.mp4" for u in uids[:2]))
    result, data = bench_run(root, tmp_path, "egoschema:split=full", f"probe,{fixed_letter}", "--limit", "3")
    assert result.exit_code == 1 and len(data) == 6
    answered = data[data.error == ""]
    assert answered.correct.isna().all() and set(answered.answer.fillna("")) == {""}
    out = tmp_path / "submission.json"
    args = ["submission", "--results-dir", tmp_path / "results", "--selector", "uniform", "--frames", "2", "--out", out]
    written = CliRunner().invoke(main, [str(a) for a in [*args, "--backbone", fixed_letter]], catch_exceptions=False)
    assert written.exit_code == 0 and json.loads(out.read_text()) == {uids[0]: 2, uids[1]: 2}  # C is index 2; the error row is left out
    CliRunner().invoke(main, [str(a) for a in [*args, "--backbone", "probe"]], catch_exceptions=False)
    assert json.loads(out.read_text()) == {uids[0]: -1, uids[1]: -1}  # unparsed: the server counts it wrong


def test_egoschema_subset_is_scored(root, tmp_path, fixed_letter):
    videos(root, *(f"EgoSchema/videos/{u}.mp4" for u in EGOSCHEMA_SUBSET))
    result, data = bench_run(root, tmp_path, "egoschema", f"{fixed_letter}:letter=E")
    assert result.exit_code == 0
    assert list(data.correct) == [False, True, False]  # answers D, E, A
