"""`bench select`: one JSON line (or Parquet row) per (sample, selector, k), resumable, for another harness to read.

Runs over a `jsonl` dataset of clips that look like real footage (tests/videos.py FOOTAGE),
with `uniform` (indices and times worked out by hand below) and the README's `motion`
selector (examples/my_selector.py, loaded with --plugin).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bench import plugins
from bench.cli import main
from tests.videos import FOOTAGE, write_footage_set

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_selector.py"
QUESTION = "Where is the ball?"
KEYS = ["dataset", "sample_id", "question_id", "video", "question", "selector", "k", "candidates", "frame_size", "seek", "cache_format",
        "indices", "frame_numbers", "times", "fps", "total_frames", "scores"]

# uniform over N=8 candidates, which are frames floor((i + 0.5) * 48 / 8) = 3 + 6i of each 48-frame clip:
#   k=2 keeps floor((j + 0.5) * 8 / 2) = 2, 6: frames 15, 39; k=4 keeps 1, 3, 5, 7: frames 9, 21, 33, 45
#   at 24 fps: 15/24 = 0.625, 39/24 = 1.625; 9/24 = 0.375, 21/24 = 0.875, 33/24 = 1.375, 45/24 = 1.875 s
#   VFR (144 ms per 4 frames; frame 4c + r at 144c + (0, 20, 53, 103)[r] ms): 15 -> 432 + 103 = 535 ms,
#   39 -> 1296 + 103 = 1399 ms; 9 -> 308, 21 -> 740, 33 -> 1172, 45 -> 1604 ms
UNIFORM = {2: [2, 6], 4: [1, 3, 5, 7]}
FRAME_NUMBERS = {2: [15, 39], 4: [9, 21, 33, 45]}
TIMES = {(False, 2): [0.625, 1.625], (False, 4): [0.375, 0.875, 1.375, 1.875],
         (True, 2): [0.535, 1.399], (True, 4): [0.308, 0.74, 1.172, 1.604]}


@pytest.fixture(autouse=True)
def registries_left_as_found():
    """`--plugin` registers `motion` in this process: take it out again after each test, as other tests expect the registries."""
    found = {kind: dict(registry._classes) for kind, registry in plugins.REGISTRIES.items() if registry.names()}
    yield
    for kind, registry in plugins.REGISTRIES.items():
        registry._classes.clear()
        registry._classes.update(found[kind])
    plugins._loaded.clear()
    for name in [m for m in sys.modules if m.startswith("framebench_plugin_")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    return write_footage_set(tmp_path_factory.mktemp("footage"))


@pytest.fixture
def questions(clips, tmp_path) -> Path:
    """A jsonl dataset asking one question of every clip, ids its file names."""
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps({"video": str(video), "question": QUESTION, "id": name}) + "\n" for name, video in clips.items()))
    return path


def select(tmp_path: Path, dataset: str, out: Path, *extra: str, selectors: str = "uniform", frames: str = "2,4"):
    args = ["--plugin", str(EXAMPLE), "select", "--dataset", dataset, "--selector", selectors, "--frames", frames,
            "--candidates", "8", "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--device", "cpu", *extra]
    return CliRunner().invoke(main, args)


def said(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def lines(path: Path) -> list[dict]:
    return [json.loads(text) for text in path.read_text().splitlines()]


def test_each_line_is_one_selection_in_the_documented_format(tmp_path, questions, clips):
    out = tmp_path / "sel.jsonl"
    result = select(tmp_path, f"jsonl:path={questions}", out, selectors="uniform,motion")
    assert result.exit_code == 0, result.output
    found = lines(out)
    assert len(found) == len(FOOTAGE) * 2 * 2  # clips x selectors x k
    assert all(list(line) == KEYS for line in found)
    for line in found:
        assert (line["dataset"], line["question"], line["video"]) == (f"jsonl:path={questions}", QUESTION, str(clips[line["sample_id"]]))
        assert (line["candidates"], line["frame_size"], line["seek"], line["cache_format"]) == (8, 336, "exact", "raw")
        assert (line["question_id"], line["total_frames"]) == (line["sample_id"], 48)  # jsonl's own key is its `id`
        assert line["frame_numbers"] == [3 + 6 * i for i in line["indices"]]  # candidate i is frame floor((i + 0.5) * 48 / 8)
        if not FOOTAGE[line["sample_id"]].get("vfr", False):  # constant frame rate: a frame's time is its number / fps
            assert line["fps"] == 24.0 and [round(t * line["fps"]) for t in line["times"]] == line["frame_numbers"]
        if line["selector"] == "uniform":
            assert line["indices"] == UNIFORM[line["k"]] and line["scores"] is None
            assert line["frame_numbers"] == FRAME_NUMBERS[line["k"]]
            assert line["times"] == TIMES[FOOTAGE[line["sample_id"]].get("vfr", False), line["k"]], line["sample_id"]
        else:  # motion: candidate 0 has nothing before it; topk keeps the k largest changes, in time order
            scores = np.array(line["scores"])
            assert len(scores) == 8 and scores[0] == 0.0 and (scores[1:] > 0).all()
            assert line["indices"] == sorted(np.argsort(-scores, kind="stable")[: line["k"]].tolist())


def test_a_rerun_writes_nothing_and_leaves_the_file_as_it_was(tmp_path, questions):
    out = tmp_path / "sel.jsonl"
    assert select(tmp_path, f"jsonl:path={questions}", out).exit_code == 0
    before = out.read_bytes()
    result = select(tmp_path, f"jsonl:path={questions}", out)
    assert result.exit_code == 0 and out.read_bytes() == before
    assert f"select: 0 lines written to {out} (0 errors), 12 already there" in said(result)  # 6 clips x 2 k


def test_an_error_line_exits_1_and_a_rerun_replaces_it(tmp_path, questions, clips):
    later = tmp_path / "later.mp4"
    with questions.open("a") as f:
        f.write(json.dumps({"video": str(later), "question": QUESTION, "id": "later"}) + "\n")
    out = tmp_path / "sel.jsonl"
    result = select(tmp_path, f"jsonl:path={questions}", out)
    assert result.exit_code == 1, result.output
    errors = [line for line in lines(out) if "error" in line]
    assert [(e["sample_id"], e["k"], e["video"], e["error"]) for e in errors] == [
        ("later", k, str(later), f"video: {later}: file not found (tried {later})") for k in (2, 4)]
    assert all(list(e) == [*KEYS[:11], "error"] for e in errors)  # no indices, frame numbers, times, fps or scores
    shutil.copy(clips["camera.mp4"], later)
    result = select(tmp_path, f"jsonl:path={questions}", out)
    assert result.exit_code == 0, result.output
    found = lines(out)
    keys = [(line["sample_id"], line["k"]) for line in found]
    assert len(found) == 14 and len(set(keys)) == 14 and not any("error" in line for line in found)  # 7 videos x 2 k, once each
    assert [line["indices"] for line in found if line["sample_id"] == "later"] == [[2, 6], [1, 3, 5, 7]]


def test_a_last_line_cut_short_is_dropped_and_written_again(tmp_path, questions):
    out = tmp_path / "sel.jsonl"
    assert select(tmp_path, f"jsonl:path={questions}", out).exit_code == 0
    whole = lines(out)
    text = out.read_text()
    out.write_text(text[:-25])  # a kill in the middle of the last line's write
    result = select(tmp_path, f"jsonl:path={questions}", out)
    assert result.exit_code == 0 and "select: 1 lines written" in said(result)
    assert lines(out) == whole


def test_a_run_killed_mid_way_loses_nothing_written_and_repeats_nothing(tmp_path, questions):
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time\nimport numpy as np\nfrom bench.registry import selectors\n"
        "@selectors.register('slow')\nclass Slow:\n"
        "    spec, pick = 'slow', 'topk'\n"
        "    def load(self, device): pass\n    def release(self): pass\n"
        "    def score(self, query):\n        time.sleep(30)\n        return np.zeros(len(query.candidates.times), np.float32)\n"
    )
    out = tmp_path / "sel.jsonl"
    command = [sys.executable, "-m", "bench", "--plugin", str(slow), "select", "--dataset", f"jsonl:path={questions}",
               "--selector", "uniform,slow", "--frames", "2,4", "--candidates", "8", "--cache-dir", str(tmp_path / "cache"),
               "--out", str(out), "--device", "cpu"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") == 12):
        time.sleep(0.1)  # uniform's 12 lines are written before slow's first score
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert len(lines(out)) == 12 and {line["selector"] for line in lines(out)} == {"uniform"}
    (tmp_path / "slow.py").write_text(slow.read_text().replace("time.sleep(30)", "pass"))
    child = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert child.returncode == 0, child.stderr
    found = lines(out)
    keys = [(line["sample_id"], line["selector"], line["k"]) for line in found]
    assert len(found) == 24 and len(set(keys)) == 24  # 6 clips x 2 selectors x 2 k, once each
    assert not (tmp_path / "sel.jsonl.lock").exists()


def test_parquet_holds_the_same_lines_error_lines_included(tmp_path, questions):
    with questions.open("a") as f:
        f.write(json.dumps({"video": str(tmp_path / "gone.mp4"), "question": QUESTION, "id": "gone"}) + "\n")
    jsonl, parquet = tmp_path / "sel.jsonl", tmp_path / "sel.parquet"
    assert select(tmp_path, f"jsonl:path={questions}", jsonl, selectors="uniform,motion").exit_code == 1
    assert select(tmp_path, f"jsonl:path={questions}", parquet, selectors="uniform,motion").exit_code == 1
    assert not parquet.with_suffix(".partial.jsonl").exists()
    rows = pq.read_table(parquet).to_pylist()
    expected = [{**{key: None for key in [*KEYS, "error"]}, **line} for line in lines(jsonl)]
    for row in rows:
        if row["scores"] is not None:
            row["scores"] = [float(np.float32(v)) for v in row["scores"]]
    assert rows == expected
    assert sum(row["error"] is not None for row in rows) == 4  # gone.mp4 x 2 selectors x 2 k
    result = select(tmp_path, f"jsonl:path={questions}", parquet, selectors="uniform,motion")
    assert result.exit_code == 1 and "select: 4 lines written" in said(result)  # the error lines were tried again
    assert len(pq.read_table(parquet)) == 28  # 7 samples x 2 x 2, none twice


@pytest.mark.parametrize("args, message", [
    (["--out", "sel.csv"], "Invalid value for --out: 'sel.csv' must end in .jsonl or .parquet, e.g. sel.jsonl"),
    (["--out", "sel.jsonl", "--frames", "9"], "Invalid value for --frames: k=9 is more than --candidates 8"),
    (["--out", "sel.jsonl", "--selector", "clips"], "unknown selector 'clips'. Did you mean clip?"),
])
def test_bad_usage_exits_2_saying_what_to_type(tmp_path, questions, args, message):
    result = CliRunner().invoke(main, ["select", "--dataset", f"jsonl:path={questions}", "--candidates", "8",
                                       "--cache-dir", str(tmp_path / "cache"), *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_bad_record_exits_2_naming_file_line_and_field(tmp_path, questions):
    with questions.open("a") as f:
        f.write('{"video": "x.mp4", "question": ["not", "text"]}\n')
    result = select(tmp_path, f"jsonl:path={questions}", tmp_path / "sel.jsonl")
    assert result.exit_code == 2
    assert f"Error: {questions}: line 7: field 'question' should be a string, got list ['not', 'text']" in result.output


@pytest.mark.parametrize("option, value, field, found, given", [
    ("--frame-size", "64", "frame_size", "336", "64"),
    ("--cache-format", "jpeg", "cache_format", "'raw'", "'jpeg:quality=95'"),  # jpeg's default quality, as the spec spells it
])
def test_a_rerun_with_other_candidates_is_refused_naming_file_line_and_field(tmp_path, questions, option, value, field, found, given):
    out = tmp_path / "sel.jsonl"
    assert select(tmp_path, f"jsonl:path={questions}", out).exit_code == 0
    result = select(tmp_path, f"jsonl:path={questions}", out, option, value)
    assert result.exit_code == 2
    assert (f"Error: {out}: line 1: field '{field}' is {found}, but this run's {option} is {given}; "
            "rerun with the file's options, or write to another --out") in result.output


def test_a_file_another_run_is_writing_is_refused(tmp_path, questions):
    out = tmp_path / "sel.jsonl"
    with (tmp_path / "sel.jsonl.lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        result = select(tmp_path, f"jsonl:path={questions}", out)
    assert result.exit_code == 2
    assert f"Error: {out}: another `bench select` is writing it (it holds sel.jsonl.lock)" in result.output
    assert not out.exists()


def test_select_never_imports_the_runner(tmp_path, questions):
    code = ("import sys\nfrom click.testing import CliRunner\nfrom bench.cli import main\n"
            f"result = CliRunner().invoke(main, ['select', '--dataset', 'jsonl:path={questions}', '--candidates', '8', "
            f"'--cache-dir', '{tmp_path / 'cache'}', '--out', '{tmp_path / 'sel.jsonl'}', '--device', 'cpu'])\n"
            "print(result.exit_code, 'bench.runner' in sys.modules)\n")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert child.stdout.split() == ["0", "False"], child.stderr
