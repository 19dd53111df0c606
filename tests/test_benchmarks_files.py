"""Benchmark files: malformed annotations name the file, record and field; videos and subtitles are found by name; prompts."""

import csv
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.datafiles import DataError
from bench.store.frames import resolve
from bench.registry import benchmarks
from bench.video import VideoError
from tests.benchdata import EGOSCHEMA_SUBSET, fixture_file, load, unpack


@pytest.fixture
def root(tmp_path):
    return unpack(tmp_path / "data")


def _csv(path, change):
    with path.open() as f:
        rows = list(csv.DictReader(f))
    rows = change(rows)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _json(path, change):
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _parquet(path, change):
    pq.write_table(pa.Table.from_pylist(change(pq.read_table(path).to_pylist())), path)


def _set(index, key, value):
    def change(rows):
        rows[index] = {**rows[index], key: value}
        return rows
    return change


def _drop(index, key):
    def change(rows):
        rows[index] = {k: v for k, v in rows[index].items() if k != key}
        return rows
    return change


UID = next(iter(EGOSCHEMA_SUBSET))
CASES = [
    ("nextqa", "nextqa", "val.csv", _csv, lambda rows: [{k: v for k, v in r.items() if k != "answer"} for r in rows],
     "val.csv: line 2 \\(record 0\\): missing field 'answer'"),  # record 0 is on line 2, under the header
    ("nextqa", "nextqa", "val.csv", _csv, _set(2, "answer", "x"), "val.csv: line 4 \\(record 2\\): field 'answer' should be an integer"),
    ("nextqa", "nextqa", "val.csv", _csv, _set(5, "answer", "7"), "val.csv: line 7 \\(record 5\\): field 'answer' is 7, not an option"),
    ("nextqa", "nextqa", "val.csv", _csv, _set(5, "type", "ZZ"), "val.csv: line 7 \\(record 5\\): field 'type' is 'ZZ'"),
    ("activitynet-qa", "activitynet-qa", "test_q.json", lambda p, c: p.write_text(p.read_text()[:300]), None,
     "test_q.json: not valid JSON at line 1"),
    ("activitynet-qa", "activitynet-qa", "test_a.json", _json, lambda rows: rows[:7] + rows[8:],
     "test_q.json: record 7: field 'question_id' 'v_[^']+' has no record in .*test_a.json"),
    ("activitynet-qa", "activitynet-qa", "test_a.json", _json, _set(3, "type", "three"),
     "test_a.json: record 3: field 'type' should be an integer, got str 'three'"),
    ("activitynet-qa", "activitynet-qa", "test_q.json", _json, _drop(9, "question"), "test_q.json: record 9: missing field 'question'"),
    ("egoschema", "egoschema", "subset_answers.json", _json, lambda d: {**d, UID: "three"},
     f"subset_answers.json: record '{UID}': field 'answer' should be an integer 0-4"),
    ("egoschema", "egoschema", "questions.json", _json, _drop(4, "option 3"), "questions.json: record 4: missing field 'option 3'"),
    ("egoschema", "egoschema", "questions.json", _json, lambda rows: {"questions": rows},
     "questions.json: expected a JSON list of records, got dict"),
    ("longvideobench", "longvideobench", "lvb_val.json", _json, _set(6, "correct_choice", 7),
     "lvb_val.json: record 6: field 'correct_choice' is 7, not an index of its [45] options"),
    ("longvideobench", "longvideobench", "lvb_val.json", _json, _set(0, "candidates", "A or B"),
     "lvb_val.json: record 0: field 'candidates' should be a list of strings"),
    ("longvideobench", "longvideobench", "lvb_val.json", _json, _set(1, "question", 12),
     "lvb_val.json: record 1: field 'question' should be a string, got int 12"),
    ("videomme", "videomme", "test-00000-of-00001.parquet", _parquet, _set(0, "options", ["Apples.", "B. Candles.", "C. x", "D. y"]),
     "parquet: record 0: field 'options' item 0 should start with 'A.'"),
    ("videomme", "videomme", "test-00000-of-00001.parquet", _parquet, _set(3, "duration", "huge"),
     "parquet: record 3: field 'duration' is 'huge'"),
    ("videomme", "videomme", "test-00000-of-00001.parquet", _parquet, _set(2, "answer", "E"),
     "parquet: record 2: field 'answer' is 'E', not the letter of one of its 4 options"),
    ("videomme", "videomme", "test-00000-of-00001.parquet", lambda p, c: p.write_bytes(b"PAR1 not really"), None,
     "test-00000-of-00001.parquet: not a readable parquet file"),
]


@pytest.mark.parametrize("spec, name, file, edit, change, message", CASES)
def test_a_malformed_file_names_the_file_the_record_and_the_field(root, spec, name, file, edit, change, message):
    path = fixture_file(root, name, file)
    edit(path, change)
    with pytest.raises(DataError, match=message) as caught:
        load(spec, root)
    assert str(path) in str(caught.value) or file in str(caught.value)


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"video")
    return path


@pytest.mark.parametrize("spec, sample_id, relative", [
    ("activitynet-qa", "v_1QIUV7WYKXg_3", "activitynet/all_test/v_1QIUV7WYKXg.webm"),  # the v_ prefix, .webm
    ("activitynet-qa", "v_9eniCub7u60_2", "activitynet/extra/9eniCub7u60.mkv"),  # without the prefix
    ("videomme", "001-1", "Video-MME/data/fFjv93ACGo8.MP4"),  # upper-case suffix
    ("nextqa", "4010069381_6", "NExT-QA/NExTVideo/1106/4010069381.mp4"),  # the VidOR folder
    ("egoschema", UID, "ego/videos/001934bb-81bd-4cd8-a574-0472ef3f6678.mp4"),
    ("longvideobench", "86CxyhFV9MI_0", "lvb/videos/86CxyhFV9MI.mp4"),
])
def test_videos_are_found_by_their_published_names_anywhere_under_the_root(root, spec, sample_id, relative):
    video = _touch(root / relative)
    sample = next(s for s in load(spec, root) if s.sample_id == sample_id)
    assert resolve(sample.videos) == video


def test_a_missing_video_names_every_path_tried(root):
    sample = load("activitynet-qa", root)[0]
    with pytest.raises(VideoError) as caught:
        resolve(sample.videos)
    for name in ("v_1QIUV7WYKXg.mp4", "v_1QIUV7WYKXg.webm", "v_1QIUV7WYKXg.mkv", "v_1QIUV7WYKXg.MP4",
                 "1QIUV7WYKXg.mp4", "1QIUV7WYKXg.webm", "1QIUV7WYKXg.mkv", "1QIUV7WYKXg.MP4"):
        assert f"{root}/**/{name}" in str(caught.value)


def test_an_annotation_name_shared_with_another_dataset_is_told_apart_by_its_folder(root):
    other = root / "other-benchmark" / "val.csv"
    other.parent.mkdir()
    other.write_text("id,text\n1,unrelated\n")
    assert len(load("nextqa", root)) == 48


def test_two_candidate_files_are_an_error_that_lists_both(root):
    copy = root / "mirror" / "videomme" / "test-00000-of-00001.parquet"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(fixture_file(root, "videomme", "test-00000-of-00001.parquet").read_bytes())
    with pytest.raises(DataError, match="2 files named test-00000-of-00001.parquet") as caught:
        load("videomme", root)
    assert str(copy) in str(caught.value)


def test_a_symlink_loop_under_the_root_is_walked_once(root):
    os.symlink(root, root / "loop")
    assert len(load("longvideobench", root)) == 31


SRT = """1
00:00:01,000 --> 00:00:03,500
<font color="white" size=".72c">first line</font>

2
00:00:05,000 --> 00:00:06,000
second line

3
00:00:10,000 --> 00:00:12,000
third
line
"""
HEAD = ("Select the best answer to the following multiple-choice question based on the video and the subtitles. "
        "Respond with only the letter (A, B, C, or D) of the correct option.\n")
BODY = ("When demonstrating the Germany modern Christmas tree is initially decorated with apples, candles and berries, "
        "which kind of the decoration has the largest number?\nA. Apples.\nB. Candles.\nC. Berries.\n"
        "D. The three kinds are of the same number.\nThe best answer is:")


@pytest.mark.parametrize("times, lines", [
    ([2.0, 5.5], "first line\nsecond line"),
    ([11.0, 0.5], "third line"),  # markup gone, a cue's two lines joined
    ([3.5, 9.99], ""),  # a cue's end is exclusive
])
def test_videomme_subtitles_are_the_cues_shown_at_the_given_frames(root, times, lines):
    srt = _touch(root / "Video-MME" / "subtitle" / "fFjv93ACGo8.srt")
    srt.write_text(SRT)
    first = load("videomme:subtitles=true", root)[0]
    assert first.subtitles == srt
    prompt = benchmarks.build("videomme:subtitles=true").prompt(first, np.array(times))
    assert prompt == f"This video's subtitles are listed below: \n{lines}\n{HEAD}{BODY}"


def test_videomme_without_a_subtitle_file_says_so_and_without_subtitles_uses_the_frames_prompt(root):
    with_subs = benchmarks.build("videomme:subtitles=true")
    first = load("videomme:subtitles=true", root)[0]
    assert with_subs.prompt(first, np.array([1.0])) == f"This video's subtitles are listed below: \nNo subtitles available\n{HEAD}{BODY}"
    plain = load("videomme", root)[0]
    assert benchmarks.build("videomme").prompt(plain, np.array([1.0])) == (
        "Select the best answer to the following multiple-choice question based on the video. "
        f"Respond with only the letter (A, B, C, or D) of the correct option.\n{BODY}")


def test_a_malformed_subtitle_file_stops_the_load_naming_the_cue(root):
    _touch(root / "Video-MME" / "subtitle" / "fFjv93ACGo8.srt").write_text(SRT.replace("00:00:05,000 --> 00:00:06,000", "soon"))
    with pytest.raises(DataError, match="fFjv93ACGo8.srt: cue 2 .*no 'hh:mm:ss,mmm --> hh:mm:ss,mmm' line"):
        load("videomme:subtitles=true", root)


@pytest.mark.parametrize("spec, sample_id, expected", [
    ("nextqa", "4010069381_6", "how do the two man play the instrument\nA. roll the handle\nB. tap their feet\n"
     "C. strum the string\nD. hit with sticks\nE. pat with hand\nAnswer with the option's letter from the given choices directly."),
    ("activitynet-qa", "v_1QIUV7WYKXg_3", "Is the athlete wearing trousers? Answer the question using a single word or phrase."),
    ("longvideobench", "86CxyhFV9MI_0", None),
    ("egoschema", UID, None),
])
def test_prompts_follow_the_published_templates(root, spec, sample_id, expected):
    benchmark = benchmarks.build(spec)
    sample = next(s for s in load(spec, root) if s.sample_id == sample_id)
    prompt = benchmark.prompt(sample, np.array([0.0]))
    if expected is None:  # the same template, checked by its parts
        letters = "".join(f"\n{'ABCDE'[i]}. {o}" for i, o in enumerate(sample.options))
        end = "\n" if spec == "longvideobench" else ""
        expected = f"{sample.question}{letters}\nAnswer with the option's letter from the given choices directly.{end}"
    assert prompt == expected
