"""`--dataset jsonl:path=FILE`: your own videos and questions, from JSONL, CSV or Parquet.

The same records in all three formats load to the same samples; videos are found beside the
file, under --data-root, or by name there; multiple-choice and open-ended records mix in one
file; a bad record is an error naming the file, the line (row) and the field; and a run over
a file of needle's own questions writes the rows the needle benchmark writes.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.datafiles import DataError
from bench.records import DataOptions
from bench.registry import RegistryError, benchmarks
from bench.results import read_all
from tests.chat_server import Reply
from tests.videos import write_footage

QUESTION = "What colour is the ball?"


def records(phone: Path) -> list[dict]:
    """Four records, one of each kind; `phone` is given as an absolute path."""
    return [
        {"video": "clips/camera.mp4", "question": QUESTION, "options": ["red", "blue", "green"], "answer": "A",
         "id": "q1", "category": "colour", "duration_group": "short"},
        {"video": "clips/odd.webm", "question": "Which way does the ball move?", "options": ["left to right", "right to left"],
         "answer": "left to right", "id": 7},  # an option's text, not its letter
        {"video": "odd.mkv", "question": "What crosses the picture?", "answer": "a red ball", "category": "object"},  # open-ended, found by name
        {"video": str(phone), "question": "Is the clip upright?", "options": ["yes", "no"]},  # answer hidden
    ]


# (sample_id, video_id, options, answer, category, duration_group) of those records, worked out from them:
# ids "q1" and 7 as given, the others their position (3, 4); "left to right" is option A; no answer is ""
EXPECTED = [
    ("q1", "camera", ("red", "blue", "green"), "A", "colour", "short"),
    ("7", "odd", ("left to right", "right to left"), "A", "", ""),
    ("3", "odd", (), "a red ball", "object", ""),
    ("4", "phone", ("yes", "no"), "", "", ""),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """mine/ (the question files, clips/ beside them), data/ (a --data-root holding odd.mkv deep down), elsewhere/phone.mov."""
    root = tmp_path_factory.mktemp("jsonl")
    (root / "mine" / "clips").mkdir(parents=True)
    write_footage(root / "mine" / "clips" / "camera.mp4", "h264")
    write_footage(root / "mine" / "clips" / "odd.webm", "vp9", width=322, height=181)
    (root / "data" / "deep").mkdir(parents=True)
    write_footage(root / "data" / "deep" / "odd.mkv", "mpeg4", width=322, height=181)
    (root / "elsewhere").mkdir()
    write_footage(root / "elsewhere" / "phone.mov", "hevc", width=180, height=320, rotation=-90)
    return root


def write(path: Path, found: list[dict]) -> Path:
    """`found` as .jsonl, .csv (options as a JSON list in a cell, empty cells for left-out fields) or .parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in found))
    elif path.suffix == ".csv":
        columns = ["video", "question", "options", "answer", "id", "category", "duration_group"]
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for r in found:
                writer.writerow([json.dumps(r[c]) if c == "options" and c in r else r.get(c, "") for c in columns])
    else:
        rows = [{**r, "id": None if "id" not in r else str(r["id"])} for r in found]
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def load(spec: str, data_root: Path | None = None, cache: Path | None = None):
    return benchmarks.build(spec).load(DataOptions(cache_dir=cache or Path("/nonexistent-cache"), data_root=data_root))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_the_same_records_load_the_same_samples_from_each_format(world, suffix):
    path = write(world / "mine" / f"questions{suffix}", records(world / "elsewhere" / "phone.mov"))
    samples = load(f"jsonl:path={path}", data_root=world / "data")
    assert [(s.sample_id, s.video_id, s.options, s.answer, s.category, s.duration_group) for s in samples] == EXPECTED
    assert {s.dataset for s in samples} == {f"jsonl:path={path}"}
    assert [s.videos for s in samples] == [
        (world / "mine" / "clips" / "camera.mp4", world / "data" / "clips" / "camera.mp4"),  # beside the file: tried first
        (world / "mine" / "clips" / "odd.webm", world / "data" / "clips" / "odd.webm"),
        (world / "data" / "deep" / "odd.mkv",),  # neither beside the file nor at data/odd.mkv: found by name
        (world / "elsewhere" / "phone.mov",),
    ]


def test_a_relative_file_path_and_no_data_root_look_beside_the_file_only(world, monkeypatch):
    write(world / "mine" / "q.jsonl", records(world / "elsewhere" / "phone.mov")[:3])
    monkeypatch.chdir(world)
    samples = load("jsonl:path=mine/q.jsonl")
    assert samples[2].videos == (world / "mine" / "odd.mkv",)  # no --data-root to search: the run's error row names this path
    assert samples[0].dataset == "jsonl:path=mine/q.jsonl"  # the spec as given: what the CSV records


def test_one_file_mixes_choices_and_open_questions_each_scored_its_way(world, chat_server, tmp_path):
    path = write(world / "mine" / "mixed.jsonl", records(world / "elsewhere" / "phone.mov"))
    benchmark = benchmarks.build(f"jsonl:path={path}")
    choice, _, open_ended, hidden = benchmark.load(DataOptions(cache_dir=tmp_path, data_root=world / "data"))
    assert benchmark.prompt(choice, None) == f"{QUESTION}\nA. red\nB. blue\nC. green\nAnswer with the option's letter from the given choices directly."
    assert benchmark.prompt(open_ended, None) == "What crosses the picture?\nAnswer the question using a single word or phrase."
    assert (benchmark.parse("The answer is (B).", choice), benchmark.parse("  a ball ", open_ended)) == ("B", "a ball")
    right, wrong = benchmark.score(choice, "A. red"), benchmark.score(choice, "B")
    assert (right.correct, right.parsed, right.judge_score, wrong.correct) == (True, "A", None, False)
    assert chat_server.requests == []  # letters are never judged
    chat_server.queue.extend([Reply("{'pred': 'yes', 'score': 4}"), Reply("{'pred': 'no', 'score': 1}")])
    yes, no = benchmark.score(open_ended, "a red ball"), benchmark.score(open_ended, "a blue car")
    assert (yes.correct, yes.judge_score, yes.judge_model, no.correct, no.judge_score) == (True, 4.0, "gpt-4o-mini", False, 1.0)
    assert "Reference answer: a red ball\nPredicted answer: a blue car" in chat_server.requests[1]["messages"][-1]["content"]
    assert benchmark.score(hidden, "A").correct is None  # no answer to score against, as EgoSchema's hidden set
    chat_server.queue.append(Reply("not a verdict"))
    failed = benchmark.score(open_ended, "something else")
    assert failed.correct is None and failed.error.startswith("judge: ")  # an error row, never a wrong answer


# (file text, the error after "<path>: ") for a JSONL file whose line 1 is good and line 2 is not
GOOD = '{"video": "a.mp4", "question": "q", "id": "x"}\n'
BAD_JSONL = [
    ("not json", "line 2: not valid JSON at column 1: Expecting value"),
    ('["a.mp4", "q"]', "line 2: expected an object with named fields, got list"),
    ('{"video": "a.mp4"}', "line 2: missing field 'question'"),
    ('{"video": "a.mp4", "question": 3}', "line 2: field 'question' should be a string, got int 3"),
    ('{"video": " ", "question": "q"}', "line 2: field 'video' is empty"),
    ('{"video": "a.mp4", "video": "b.mp4", "question": "q"}', "line 2: field 'video' appears twice"),
    ('{"video": "a.mp4", "question": "q", "options": "red"}',
     "line 2: field 'options' should be a list of option texts (in a CSV cell, a JSON list such as [\"red\", \"blue\"]), got 'red'"),
    ('{"video": "a.mp4", "question": "q", "options": ["red"]}',
     "line 2: field 'options' should hold 2 to 10 options (or be left out: open-ended), got 1"),
    ('{"video": "a.mp4", "question": "q", "options": ["red", "blue"], "answer": "C"}',
     "line 2: field 'answer' is 'C': with options it must be a letter A-B or the text of one option"),
    ('{"video": "a.mp4", "question": "q", "id": 1.5}', "line 2: field 'id' should be a string or an integer, got float 1.5"),
    ('{"video": "a.mp4", "question": "q", "option": ["red", "blue"]}',
     "line 2: field 'option' is not one of video, question, options, answer, id, category, duration_group, evidence; did you mean 'options'?"),
    ('{"video": "b.mp4", "question": "q", "id": "x"}', "line 1 and line 2 have the same id 'x'"),
]


@pytest.mark.parametrize("line, error", BAD_JSONL)
def test_a_bad_jsonl_record_is_named_by_file_line_and_field(tmp_path, line, error):
    path = tmp_path / "q.jsonl"
    path.write_text(GOOD + line + "\n")
    with pytest.raises(DataError) as raised:
        load(f"jsonl:path={path}")
    assert str(raised.value) == f"{path}: {error}"


def test_a_bad_csv_or_parquet_record_is_named_by_line_or_row_and_field(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('video,question,options\na.mp4,q,"[""red"", ""blue""]"\nb.mp4,q,"[red, blue]"\n')
    with pytest.raises(DataError) as raised:
        load(f"jsonl:path={path}")
    assert str(raised.value) == (f"{path}: line 3 (record 1): field 'options' should be a list of option texts "
                                 f"(in a CSV cell, a JSON list such as [\"red\", \"blue\"]), got '[red, blue]'")
    path = tmp_path / "q.parquet"
    pq.write_table(pa.Table.from_pylist([{"video": "a.mp4", "question": "q"}, {"video": "b.mp4", "question": None}]), path)
    with pytest.raises(DataError) as raised:
        load(f"jsonl:path={path}")
    assert str(raised.value) == f"{path}: record 1: field 'question' should be a string, got NoneType None"


@pytest.mark.parametrize("spec, error", [
    ("jsonl", "needs path=FILE, e.g. jsonl:path=questions.jsonl (a .jsonl, .csv or .parquet file)"),
    ("jsonl:path=q.txt", "path=q.txt: the file must end in .jsonl, .csv, .parquet"),
])
def test_a_spec_without_a_usable_path_is_a_usage_error(spec, error):
    with pytest.raises(RegistryError) as raised:
        benchmarks.build(spec)
    assert str(raised.value) == f"{spec}: {error}"


def test_a_missing_or_empty_file_is_named(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'none.jsonl'}: file not found")):
        load(f"jsonl:path={tmp_path / 'none.jsonl'}")
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'blank.jsonl'}: the file is empty (2 bytes)")):
        load(f"jsonl:path={tmp_path / 'blank.jsonl'}")


def test_bench_run_exits_2_naming_the_bad_record(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(GOOD + '{"video": "a.mp4", "question": 3}\n')
    result = CliRunner().invoke(main, ["run", "--dataset", f"jsonl:path={path}", "--backbone", "probe", "--cache-dir", str(tmp_path / "c"),
                                       "--results-dir", str(tmp_path / "r"), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert f"{path}: line 2: field 'question' should be a string, got int 3" in result.output


def test_a_run_over_needles_own_questions_writes_needles_rows(cache_dir, tmp_path):
    """The same videos, questions, options and answers through `jsonl` give the same selections, answers and verdicts."""
    needle = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=6))
    found = [{"video": str(s.videos[0]), "question": s.question, "options": list(s.options), "answer": s.answer,
              "id": s.sample_id, "category": s.category} for s in needle]
    path = write(tmp_path / "needle.jsonl", found)
    args = ["run", "--selector", "uniform,spatial:scorer=probe", "--backbone", "probe", "--frames", "4", "--candidates", "32",
            "--frame-size", "64", "--limit", "6", "--cache-dir", str(cache_dir), "--device", "cpu"]
    for dataset, results in (("needle", "a"), (f"jsonl:path={path}", "b")):
        result = CliRunner().invoke(main, [*args, "--dataset", dataset, "--results-dir", str(tmp_path / results)])
        assert result.exit_code == 0, result.output
    columns = ["selector", "sample_id", "category", "selected", "selected_times", "prediction", "parsed", "correct", "error"]
    a, b = (read_all(tmp_path / r).sort_values(["selector", "sample_id"])[columns].reset_index(drop=True) for r in "ab")
    assert len(a) == 12 and a.equals(b)
    assert set(read_all(tmp_path / "b").dataset) == {f"jsonl:path={path}"}


def test_a_run_over_real_clips_picks_the_same_candidates_everywhere_and_names_a_missing_video(world, tmp_path, chat_server):
    found = records(world / "elsewhere" / "phone.mov") + [{"video": "gone.mp4", "question": "q", "id": "gone"}]
    path = write(world / "mine" / "run.jsonl", found)
    chat_server.responder = lambda request: Reply("{'pred': 'no', 'score': 0}")
    result = CliRunner().invoke(main, ["run", "--dataset", f"jsonl:path={path}", "--backbone", "probe", "--frames", "4",
                                       "--candidates", "8", "--data-root", str(world / "data"), "--cache-dir", str(tmp_path / "cache"),
                                       "--results-dir", str(tmp_path / "results"), "--device", "cpu"])
    assert result.exit_code == 1, result.output  # the missing video's error row
    rows = read_all(tmp_path / "results").set_index("sample_id")
    # uniform k=4 of N=8: floor((j + 0.5) * 8 / 4) = 1, 3, 5, 7; N=8 of 48 frames: floor((i + 0.5) * 48 / 8) = 3 + 6i,
    # so frames 9, 21, 33, 45 at 24 fps: 0.375, 0.875, 1.375, 1.875 s
    for sample_id in ("q1", "7", "3", "4"):
        assert (rows.selected[sample_id], rows.selected_times[sample_id], rows.error[sample_id]) == ("1 3 5 7", "0.375 0.875 1.375 1.875", "")
    assert (rows.judge_score["3"], rows.judge_model["3"]) == (0.0, "gpt-4o-mini")  # the open-ended record was judged
    assert len(chat_server.requests) == 1
    assert rows.error["gone"] == (f"video: {world / 'mine' / 'gone.mp4'}: file not found "
                                  f"(tried {world / 'mine' / 'gone.mp4'}, {world / 'data' / 'gone.mp4'})")
