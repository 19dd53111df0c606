"""The results store under faults: pandas round trips, other spellings, cat'd and cut files, bad
values, duplicate rows, rows of another protocol, and full or read-only results dirs.

Tests run as root, for whom permission bits do not stop a write. A read-only directory is
therefore made with `chattr +i` (the immutable flag stops root too; the test skips where the
file system or the container refuses it), and, everywhere, with a regular file standing
where a directory must be created. A full disk is a file-size limit (RLIMIT_FSIZE) set in a
child process that ignores SIGXFSZ, so a write past the limit fails with EFBIG.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.records import COLUMNS, Row
from bench.results import CellWriter, ResultsConflict, ResultsError, read_all, rewrite
from tests.handmade import cell, write

SMALL = ["--candidates", "32", "--frame-size", "64", "--device", "cpu"]
FIELDS = dict(dataset="needle", split="test", video_id="v", question="q", category="", duration_group="", selector="uniform",
              backbone="probe", frames=4, candidates=32, selected="0 8 16 24", prediction="A", answer="A", correct=True,
              judge_score=None, parse_ok=True, t_decode_s=0.5, t_select_s=0.0, t_answer_s=0.25, peak_mem_mb=10.0, device="cpu", run_id="r1")


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def row(sample: str, error: str = "") -> Row:
    return Row(**FIELDS, sample_id=sample, error=error)


def squeeze(text: str) -> str:
    """Text with runs of white space made one space (rich wraps log lines)."""
    return " ".join(text.split())


def table(results: Path) -> str:
    result = invoke("table", "--results-dir", results, "--compare", "uniform", "--format", "csv")
    assert result.exit_code == 0, result.output
    return result.stdout


def report(baseline: Path, current: Path, out: Path) -> str:
    result = invoke("report", "--baseline", baseline, "--current", current, "--out", out)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def run_results(tmp_path_factory) -> Path:
    """Rows of a real needle run (uniform and oracle, k=4, 4 samples) and a hand-made cell with an error row."""
    root = tmp_path_factory.mktemp("run")
    result = invoke("run", "--dataset", "needle", "--selector", "uniform,oracle", "--backbone", "probe", "--frames", "4",
                    "--limit", "4", "--results-dir", root / "results", "--cache-dir", root / "cache", *SMALL)
    assert result.exit_code == 0, result.output
    # clip: s0 s1 right, s2 wrong, s3 an error row -> 2 of 3 answered = 66.7, [1 err]
    write(root / "results" / "hand", cell("clip", 4, "110e", dataset="d", n_visual_tokens=[8, 8, 8, ""], judge_score=""))
    return root / "results"


# item 2: a pandas round trip changes no number
@pytest.mark.parametrize("index, times", [(False, 1), (True, 1), (True, 2)])
def test_a_pandas_round_trip_prints_the_same_tables(run_results, tmp_path, index, times):
    copy = tmp_path / "copy"
    shutil.copytree(run_results, copy)
    for path in copy.rglob("*.csv"):
        for _ in range(times):
            pd.read_csv(path).to_csv(path, index=index)
    hand = (copy / "hand" / "cell0.csv").read_text()
    # pandas wrote its own spellings: True/False, 8.0 for an integer column that has a gap
    assert "True" in hand and "False" in hand and ",8.0," in hand
    assert hand.startswith(",Unnamed: 0," if times == 2 else "," if index else "dataset,")
    before, after = table(run_results), table(copy)
    assert after == before
    assert "66.7 [1 err]" in after  # the hand-made clip cell: 2 of 3 answered
    assert report(run_results, copy, tmp_path / "r1") == report(run_results, run_results, tmp_path / "r0")


@pytest.mark.parametrize("true, false", [("True", "False"), ("TRUE", "FALSE"), ("1", "0"), ("1.0", "0.0"), ("yes", "no"), (" true", "false ")])
def test_booleans_in_any_spelling_read_the_same(tmp_path, true, false):
    write(tmp_path / "plain", cell("uniform", 4, "1000"), cell("clip", 4, "1u0e"))
    spelt = {"true": true, "false": false, "": ""}
    for path in (tmp_path / "plain").glob("*.csv"):
        rows = list(csv.DictReader(path.open()))
        for r in rows:
            r["correct"], r["parse_ok"] = spelt[r["correct"]], spelt[r["parse_ok"]]
        write_rows(tmp_path / "spelt" / path.name, rows)
    # uniform 1 of 4 = 25.0; clip s0 right, s1 unparsed, s2 wrong, s3 an error: 1 of 3 = 33.3,
    # 1 of 3 answered unparsed = 33.3%; paired on s0-s2, uniform 1 0 0 and clip 1 0 0: +0.0, p = 1
    expected = table(tmp_path / "plain")
    assert "33.3 (+0.0 [+0.0, +0.0] p=1.000; paired on 3 of 4/3) [1 err, 33.3% unparsed]" in expected
    assert table(tmp_path / "spelt") == expected


def write_rows(path: Path, rows: list[dict], names: list[str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# item 20: files joined with cat, records cut short
def test_csvs_joined_with_cat_give_the_same_table_and_say_what_was_skipped(tmp_path, caplog):
    old = ("dataset", "split", "sample_id", "video_id", "selector", "backbone", "frames", "candidates", "correct", "parse_ok", "error")
    write(tmp_path / "apart", cell("uniform", 4, "1000"), cell("clip", 4, "1110"))
    write(tmp_path / "old", cell("oracle", 4, "1111"), header=old)
    shutil.copy(tmp_path / "old" / "cell0.csv", tmp_path / "apart" / "cell2.csv")
    joined = tmp_path / "joined" / "all.csv"
    joined.parent.mkdir()
    with joined.open("wb") as f:  # uniform: lines 1-5, clip: header on line 6, oracle's older header on line 11
        subprocess.run(["cat", *sorted(map(str, (tmp_path / "apart").glob("*.csv")))], stdout=f, check=True)
    with caplog.at_level(logging.WARNING):
        assert table(tmp_path / "joined") == table(tmp_path / "apart")
    assert f"{joined}: skipped 2 repeated header lines (lines 6, 11; files joined with cat?)" in caplog.messages
    # no bogus cell made of a header line: uniform 25.0, clip 75.0, oracle 100.0 and nothing else
    assert table(tmp_path / "joined").splitlines()[0] == "dataset,backbone,uniform k=4,clip k=4,oracle k=4"
    result = invoke("report", "--baseline", tmp_path / "apart", "--current", tmp_path / "joined", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "3 cells compared, 0 regressions" in result.stdout


def test_real_run_files_joined_with_cat_report_without_a_crash(run_results, tmp_path):
    joined = tmp_path / "joined" / "needle.csv"
    joined.parent.mkdir()
    with joined.open("wb") as f:
        subprocess.run(["cat", *sorted(map(str, (run_results / "needle").rglob("*.csv")))], stdout=f, check=True)
    result = invoke("report", "--baseline", run_results, "--current", joined.parent, "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "2 cells compared, 0 regressions" in result.stdout and "k=0" not in result.stdout
    # what a user sees on stderr (in process, pytest's log capture takes the line instead)
    shown = subprocess.run([sys.executable, "-m", "bench", "table", "--results-dir", str(joined.parent)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "skipped 1 repeated header line (line 6; files joined with cat?)" in squeeze(shown.stderr)


def test_a_record_cut_short_or_with_a_field_too_many_is_skipped_and_said(tmp_path, caplog):
    write(tmp_path, cell("uniform", 4, "1000"), cell("clip", 4, "1110"))
    path = tmp_path / "cell1.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].rstrip("\n") + ",extra\n"  # s1 (line 3) gains a field
    path.write_text("".join(lines)[:-10])  # s3 (line 5) loses its tail, as under kill -9
    with caplog.at_level(logging.WARNING):
        text = table(tmp_path)
    # clip keeps s0 (right) and s2 (right): 100.0; paired with uniform's 1, 0: +50.0; McNemar 0 vs 1: p = 1
    assert list(csv.reader(text.splitlines()))[1] == ["d", "b", "25.0", "100.0 (+50.0 [+0.0, +100.0] p=1.000; paired on 2 of 4/2)"]
    assert f"{path}: skipped 1 record cut short (line 5)" in caplog.messages
    assert f"{path}: skipped 1 record with a wrong number of fields (line 3)" in caplog.messages


# item 2: a value that means nothing is an error naming file, line and column
@pytest.mark.parametrize("column, value, expected", [
    ("correct", "maybe", "column correct: 'maybe' is not a boolean (true/false, 1/0, yes/no)"),
    ("parse_ok", "2", "column parse_ok: '2' is not a boolean (true/false, 1/0, yes/no)"),
    ("frames", "4.5", "column frames: '4.5' is not an integer"),
    ("candidates", "many", "column candidates: 'many' is not an integer"),
    ("t_answer_s", "fast", "column t_answer_s: 'fast' is not a number"),
])
def test_a_bad_value_exits_2_naming_file_line_and_column(tmp_path, column, value, expected):
    write(tmp_path / "results", cell("uniform", 4, "1000", t_answer_s=0.5))
    path = tmp_path / "results" / "cell0.csv"
    rows = list(csv.DictReader(path.open()))
    rows[1][column] = value  # s1: line 3
    write_rows(path, rows)
    for args in (["table", "--results-dir", path.parent], ["report", "--baseline", path.parent, "--current", path.parent, "--out", tmp_path / "r"]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert f"{path}, line 3, {expected}" in squeeze(result.output)
        assert "Traceback" not in result.output


def test_a_broken_quote_inside_a_file_is_an_error_naming_its_line(tmp_path):
    write(tmp_path, cell("uniform", 4, "1000"))
    path = tmp_path / "cell0.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",s1,", ',"s1"x,')
    path.write_text("".join(lines))
    with pytest.raises(ResultsError, match=rf"^{path}, line 3: malformed CSV record .*; fix or delete that line$"):
        read_all(tmp_path)


# item 20: duplicate (cell, sample) rows
@pytest.mark.parametrize("first, second", [("a.csv", "b.csv"), ("b.csv", "a.csv")])
def test_duplicate_rows_keep_the_answered_then_the_latest_whichever_file_is_read_first(tmp_path, caplog, first, second):
    # one file: s0 an error, s1 wrong written on Jan 2, s2 right; the other: s0 right, s1 right written on Jan 1.
    # Kept: s0 right (the row without an error), s1 wrong (written last), s2 right -> 2 of 3 = 66.7, no error.
    write(tmp_path / "made", cell("uniform", 4, "e01", written_at=["", "2026-01-02T00:00:00", ""]),
          cell("uniform", 4, "11", written_at=["", "2026-01-01T00:00:00"]))
    (tmp_path / "results").mkdir()
    for made, name in (("cell0.csv", first), ("cell1.csv", second)):
        (tmp_path / "made" / made).rename(tmp_path / "results" / name)
    with caplog.at_level(logging.WARNING):
        assert table(tmp_path / "results").splitlines()[1] == "d,b,66.7"
    (message,) = [m for m in caplog.messages if "more than one row" in m]
    assert message.startswith("2 (cell, sample) pairs have more than one row") and message.endswith("; 2 rows left out")


def test_a_cell_writer_keeps_one_row_per_sample_of_a_file_that_has_two(tmp_path):
    path = tmp_path / "cell.csv"
    write_rows(path, [{c: "" for c in COLUMNS} | {"sample_id": s, "correct": v} for s, v in (("s0", "false"), ("s1", "true"), ("s0", "true"))], list(COLUMNS))
    with CellWriter(path) as writer:
        assert writer.done == {"s0", "s1"}
    assert [(r["sample_id"], r["correct"]) for r in csv.DictReader(path.open())] == [("s0", "true"), ("s1", "true")]


# item 1: a cell file of another protocol is refused
def test_a_cell_file_of_another_protocol_is_refused_naming_file_column_and_values(tmp_path):
    path = tmp_path / "uniform__k4.csv"
    with CellWriter(path) as writer:
        writer.append(row("s0", error="video: cannot open"))  # an error row holds a protocol too
    identity = {"candidates": "32", "seek": "exact", "frame_size": ""}
    with pytest.raises(ResultsConflict) as caught:
        CellWriter(path, identity | {"candidates": "16"})
    assert str(caught.value) == (f"{path}: holds rows with candidates=32, this run writes candidates=16; "
                                 "use another --results-dir, or move the file away")
    assert not path.with_name(path.name + ".lock").exists()  # the refused writer let go of its lock
    with CellWriter(path, identity) as writer:  # the same protocol resumes, the error row to run again
        assert writer.done == set()
        writer.append(row("s1"))
    # an empty value (a CSV older than the column) and 32.0 (a float column's round trip) agree with this run
    path.write_text(path.read_text().replace(",32,", ",32.0,"))
    with CellWriter(path, identity | {"frame_size": "64"}) as writer:
        assert writer.done == {"s1"}


# item 13: a full disk or a read-only dir is one clear message naming the path
FULL_DISK = textwrap.dedent("""
    import json, resource, signal, sys
    from bench.records import Row
    from bench.results import CellWriter, ResultsError, rewrite
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with EFBIG instead of dying
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
    try:
        if sys.argv[3] == "append":
            with CellWriter(sys.argv[1]) as writer:
                for i in range(10):
                    writer.append(Row(**json.loads(sys.argv[4]), sample_id=f"s{i}", error=""))
        else:
            rewrite(sys.argv[1], lambda r: {"error": "x" * 500})
    except ResultsError as exc:
        print(exc)
        sys.exit(3)
""")


def limited(path: Path, limit: int, action: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", FULL_DISK, str(path), str(limit), action, json.dumps(FIELDS)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_a_full_disk_stops_appends_with_one_message_and_resume_keeps_whole_rows(tmp_path):
    scratch = tmp_path / "scratch.csv"
    with CellWriter(scratch) as writer:
        writer.append(row("s0"))
    header = len(",".join(COLUMNS)) + 1
    line = scratch.stat().st_size - header  # every row has the same length (sample ids s0-s9)
    path = tmp_path / "results" / "uniform__k4.csv"
    done = limited(path, header + 2 * line + line // 2, "append")  # room for 2.5 rows: the third write fails
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == f"{path}: cannot write: [Errno 27] File too large"
    assert path.stat().st_size == header + 2 * line + line // 2  # the third row got in part
    with CellWriter(path) as writer:  # resume drops the part
        assert writer.done == {"s0", "s1"}
    assert path.stat().st_size == header + 2 * line


def test_a_full_disk_leaves_a_rewritten_file_as_it_was(tmp_path):
    path = tmp_path / "uniform__k4.csv"
    with CellWriter(path) as writer:
        writer.append(row("s0"))
    before = path.read_bytes()
    done = limited(path, len(before) + 100, "rewrite")  # the rewrite adds 500 bytes
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == f"{path}: cannot write: [Errno 27] File too large"
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["uniform__k4.csv"]


def test_a_full_disk_ends_bench_run_with_one_line_not_a_traceback(run_results, tmp_path):
    cache = run_results.parent / "cache"  # decoded and scored already: only results are written
    command = [sys.executable, "-c", "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000)); from bench.cli import main; main()",
               "run", "--dataset", "needle", "--selector", "uniform", "--backbone", "probe", "--frames", "4", "--limit", "4",
               "--results-dir", str(tmp_path / "results"), "--cache-dir", str(cache), *SMALL]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    path = tmp_path / "results" / "needle" / "probe" / "uniform__k4__n32+s64.csv"
    assert done.returncode == 1, done.stderr
    assert f"{path}: cannot write: [Errno 27] File too large" in squeeze(done.stderr)
    assert "Traceback" not in done.stderr


def test_a_file_where_the_results_dir_should_be_is_one_message(tmp_path):
    (tmp_path / "needle").write_text("not a directory")
    with pytest.raises(ResultsError) as caught:
        CellWriter(tmp_path / "needle" / "probe" / "uniform__k4.csv")
    assert str(caught.value) == f"{tmp_path / 'needle' / 'probe'}: cannot create the results directory: [Errno 20] Not a directory"


@pytest.fixture
def immutable(tmp_path):
    """Set `chattr +i` on paths (root cannot write them either) and clear it afterwards; skip where refused."""
    marked = []

    def mark(path: Path) -> Path:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"chattr +i is refused here: {done.stderr.strip()}")
        marked.append(path)
        return path

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_results_dir_is_one_message_naming_the_file(tmp_path, immutable):
    path = tmp_path / "results" / "uniform__k4.csv"
    with CellWriter(path) as writer:
        writer.append(row("s0"))
    immutable(path.parent)
    expected = f"{path}: cannot create its lock file uniform__k4.csv.lock: [Errno 1] Operation not permitted"
    with pytest.raises(ResultsError) as caught:
        CellWriter(path)
    assert str(caught.value) == expected
    with pytest.raises(ResultsError) as caught:
        rewrite(path, lambda r: {"error": "x"})
    assert str(caught.value) == expected


def test_a_read_only_cell_file_is_one_message_at_the_first_append(tmp_path, immutable):
    path = tmp_path / "uniform__k4.csv"
    with CellWriter(path) as writer:
        writer.append(row("s0"))
    immutable(path)
    with CellWriter(path) as writer:
        with pytest.raises(ResultsError) as caught:
            writer.append(row("s1"))
        assert str(caught.value) == f"{path}: cannot write: [Errno 1] Operation not permitted"
