"""Mistakes in users' plugins and data are rows or messages, never a dead grid or a traceback.

A backbone plugin that returns something other than a Reply, a selector plugin whose own rule
picks the wrong frames, a plugin that calls sys.exit at import, a folder given as a video,
and a jsonl dataset read from a .csv file. Each runs the real `bench` in a subprocess, so
what a plugin registers stays out of this process.
"""

from __future__ import annotations

import json
import shutil

from bench.results import read_all
from tests.faults.conftest import needle_video
from tests.test_plugins import bench, plugin

MISTAKES = '''
import numpy as np

from bench.records import Reply
from bench.registry import backbones, selectors


@backbones.register("replies")
class Replies:
    """Returns what `kind` says instead of a proper Reply."""
    spec = "replies"
    def __init__(self, kind: str = "reply"):
        self.kind = kind
    def load(self, device): pass
    def release(self): pass
    def answer(self, frames, prompt, max_new_tokens):
        return {"reply": Reply("A"), "none": None, "str": "A", "int": Reply(text=123)}[self.kind]


@selectors.register("picks")
class Picks:
    """A rule of its own that picks badly, as `how` says."""
    spec = "picks"
    pick = "picks"
    def __init__(self, how: str = "fine"):
        self.how = how
    def load(self, device): pass
    def release(self): pass
    def score(self, query):
        return np.zeros(len(query.candidates.times), dtype=np.float32)
    def select(self, scores, k, candidates):
        n = len(scores)
        return {"twice": [1] * k, "many": list(range(k + 3)), "outside": [0, n], "fractional": [0.5, 2.0], "fine": [1, 3]}[self.how]
'''


def test_a_bad_reply_or_pick_is_an_error_row_of_its_cell_and_the_rest_is_written(cache, tmp_path):
    mistakes = plugin(tmp_path / "mistakes.py", MISTAKES)
    results = tmp_path / "results"
    selectors = "uniform,picks:how=twice,picks:how=many,picks:how=outside,picks:how=fractional,picks"
    done = bench("--plugin", str(mistakes), "run", "--dataset", "needle", "--limit", "2", "--candidates", "8", "--frame-size", "32",
                 "--selector", selectors, "--backbone", "probe,replies:kind=none,replies:kind=str,replies:kind=int", "--frames", "2",
                 "--cache-dir", str(cache), "--results-dir", str(results), "--device", "cpu", "--workers", "0")
    assert done.returncode == 1, done.stderr  # error rows: exit 1, but every row written
    rows = read_all(results)
    assert len(rows) == 2 * 6 * 4
    errors = {(r.selector, r.backbone): r.error for r in rows.itertuples()}
    assert errors["uniform", "probe"] == errors["picks", "probe"] == ""
    assert set(rows[(rows.selector == "picks") & (rows.backbone == "probe")].selected) == {"1 3"}
    assert errors["uniform", "replies:kind=none"] == "answer: TypeError: replies:kind=none.answer returned None, not a Reply whose text is a str"
    assert errors["uniform", "replies:kind=str"] == "answer: TypeError: replies:kind=str.answer returned 'A', not a Reply whose text is a str"
    assert errors["uniform", "replies:kind=int"].startswith("answer: TypeError: replies:kind=int.answer returned Reply(text=123")
    assert errors["picks:how=twice", "probe"] == "select: ValueError: picks:how=twice picked a frame twice: [1, 1]"
    assert errors["picks:how=many", "probe"] == "select: ValueError: picks:how=many picked 5 frames, not k=2"
    assert errors["picks:how=outside", "probe"] == "select: ValueError: picks:how=outside picked [0, 8]: indices must lie in 0..7"
    assert errors["picks:how=fractional", "probe"] == "select: ValueError: picks:how=fractional picked [0.5, 2.0]: not a list of whole numbers"


def test_a_plugin_that_exits_at_import_fails_the_command_naming_it(cache, tmp_path):
    leaving = plugin(tmp_path / "leaving.py", "import sys\nsys.exit(0)\n")
    done = bench("--plugin", str(leaving), "run", "--dataset", "needle", "--limit", "1", "--backbone", "probe",
                 "--cache-dir", str(cache), "--results-dir", str(tmp_path / "results"), "--device", "cpu")
    assert done.returncode == 2
    assert f"plugin {leaving}: it called sys.exit(0) while being imported" in done.stderr
    assert not (tmp_path / "results").exists()


def test_a_folder_given_as_a_video_is_one_line_and_a_csv_dataset_reads_back(cache, tmp_path):
    (tmp_path / "clips" / "a-folder.mp4").mkdir(parents=True)
    shutil.copy(needle_video(cache, 1), tmp_path / "clips" / "good.mp4")
    questions = tmp_path / "questions.csv"
    options = json.dumps(["red", "green", "blue", "yellow", "purple"]).replace('"', '""')
    questions.write_text("video,question,options,answer,id\n"
                         f'clips/good.mp4,What colour?,"{options}",A,good\n'
                         f'clips/a-folder.mp4,What colour?,"{options}",A,folder\n')
    results = tmp_path / "results"
    done = bench("run", "--dataset", f"jsonl:path={questions}", "--backbone", "probe", "--frames", "2", "--candidates", "8",
                 "--frame-size", "32", "--cache-dir", str(cache), "--results-dir", str(results), "--device", "cpu", "--workers", "0")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "a-folder.mp4" in done.stderr
    rows = read_all(results).set_index("sample_id")
    assert rows.loc["folder", "error"].startswith("video: ") and rows.loc["good", "error"] == ""
    assert [p.name for p in results.iterdir()] == [f"jsonl+path={str(questions).replace('/', '_')}_"]  # not named like a cell file
    (results / "jsonl+path=old.csv").mkdir()  # a folder an older framebench named so: the reader takes files only
    table = bench("table", "--results-dir", str(results), "--format", "csv")
    assert table.returncode == 0, table.stderr


def test_an_output_file_where_no_file_can_be_written_is_one_message_naming_it(cache, tmp_path):
    (tmp_path / "not-a-folder").write_text("")  # as root (CI) a read-only folder is still writable: a file in the way is not
    for command, out in [("select", tmp_path / "not-a-folder" / "sel.jsonl"), ("labels", tmp_path / "not-a-folder" / "labels.jsonl")]:
        given = ["--spatial", "spatial:scorer=probe"] if command == "labels" else []
        done = bench(command, "--dataset", "needle", "--limit", "1", "--candidates", "8", *given, "--cache-dir", str(cache),
                     "--out", str(out), "--device", "cpu")
        assert done.returncode == 2, (command, done.stderr)
        assert "Traceback" not in done.stderr and f"{out}: cannot write there (" in done.stderr, done.stderr


LONG_REPLY = '''
from bench.records import Reply
from bench.registry import backbones


@backbones.register("rambles")
class Rambles:
    """Answers A, then goes on for 10 MB, as a generation that never stops would."""
    spec = "rambles"
    def load(self, device): pass
    def release(self): pass
    def answer(self, frames, prompt, max_new_tokens):
        return Reply("A. " + "and so on, " * 1_000_000)
'''


def test_a_ten_megabyte_reply_reads_back_in_tables_reruns_and_pandas(cache, tmp_path):
    import pandas as pd

    rambles = plugin(tmp_path / "rambles.py", LONG_REPLY)
    results = tmp_path / "results"
    args = ["--plugin", str(rambles), "run", "--dataset", "needle", "--limit", "2", "--candidates", "8", "--frame-size", "32",
            "--backbone", "rambles", "--frames", "2", "--cache-dir", str(cache), "--results-dir", str(results), "--device", "cpu"]
    first = bench(*args)
    assert first.returncode == 0, first.stderr
    again = bench(*args)
    assert again.returncode == 0 and "0 rows written (0 errors), 2 already done" in again.stderr, again.stderr
    table = bench("table", "--results-dir", str(results), "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = read_all(results)
    assert len(rows) == 2 and set(rows.prediction.str.len()) == {3 + 11_000_000}
    (cell,) = results.rglob("*.csv")
    assert pd.read_csv(cell).prediction.str.len().tolist() == [11_000_003] * 2
