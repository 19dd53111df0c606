"""The runner and the results store: error rows, resume, kill -9, and the cache across runs."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.records import COLUMNS
from bench.results import CellWriter, cell_path, read_all
from bench.runner import RunConfig, run

DESIGN_COLUMNS = (
    "dataset split sample_id video_id question category duration_group selector backbone frames candidates "
    "selected prediction answer correct judge_score parse_ok error t_decode_s t_select_s t_answer_s peak_mem_mb "
    "device run_id"
).split()


def _config(cache: Path, results: Path, **kw) -> RunConfig:
    base = dict(datasets=("needle",), selectors=("uniform",), backbones=("probe",), frames=(4,), limit=8,
                results_dir=results, cache_dir=cache, device="cpu")
    return RunConfig(**{**base, **kw})


def test_rows_carry_the_design_columns_and_the_selection(private_cache, results_dir):
    run(_config(private_cache, results_dir, selectors=("oracle",)))
    path = cell_path(results_dir, "needle", "oracle", "probe", 4)
    with path.open() as f:
        header = next(csv.reader(f))
    assert header[: len(DESIGN_COLUMNS)] == DESIGN_COLUMNS and tuple(header) == COLUMNS
    data = read_all(results_dir)
    assert len(data) == 8 and data.correct.all()
    for selected in data.selected:
        indices = [int(i) for i in selected.split()]
        assert len(indices) == 4 and indices == sorted(indices) and 0 <= indices[0] and indices[-1] < 128
    assert (data.seek == "exact").all() and (data.candidates == 128).all()


def test_a_corrupt_video_is_an_error_row_and_the_others_are_answered(private_cache, results_dir):
    bad = private_cache / "needle" / "seed0" / "test" / "00003.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    summary = run(_config(private_cache, results_dir, frames=(4, 8)))
    data = read_all(results_dir)
    assert len(data) == 16 and summary.errors == 2
    errors = data[data.error != ""]
    assert set(errors.sample_id) == {"test-0-00003"}
    assert all(str(bad) in e and e.startswith("video: ") for e in errors.error)
    assert errors.correct.isna().all()  # an error row is neither right nor wrong
    assert (data[data.error == ""].t_answer_s >= 0).all()


def test_a_rerun_writes_nothing_new_and_decodes_nothing(private_cache, results_dir):
    first = run(_config(private_cache, results_dir, selectors=("uniform", "oracle"), frames=(4, 8)))
    assert (first.written, first.decoded, first.cached) == (32, 8, 0)
    again = run(_config(private_cache, results_dir, selectors=("uniform", "oracle"), frames=(4, 8)))
    assert (again.written, again.skipped, again.decoded, again.scored) == (0, 32, 0, 0)
    assert len(read_all(results_dir)) == 32
    # a new cell over the same videos reuses the cached candidates: zero decodes
    more = run(_config(private_cache, results_dir, frames=(16,)))
    assert (more.written, more.decoded, more.cached) == (8, 0, 8)


def test_error_rows_are_retried_by_the_next_run(private_cache, results_dir):
    bad = private_cache / "needle" / "seed0" / "test" / "00002.mp4"
    good = bad.read_bytes()
    bad.write_bytes(b"garbage")
    assert run(_config(private_cache, results_dir)).errors == 1
    bad.write_bytes(good)
    summary = run(_config(private_cache, results_dir))
    data = read_all(results_dir)
    assert (summary.written, summary.errors) == (1, 0)
    assert len(data) == 8 and (data.error == "").all() and data.sample_id.is_unique


def test_a_record_cut_short_is_dropped_on_resume(private_cache, results_dir):
    run(_config(private_cache, results_dir))
    path = cell_path(results_dir, "needle", "uniform", "probe", 4)
    text = path.read_text()
    path.write_text(text[: len(text) - 25])  # the last record loses its tail, as under kill -9
    with CellWriter(path) as writer:  # closed before the run: a writer holds its cell's lock
        assert len(writer.done) == 7
    assert len(read_all(results_dir)) == 7
    run(_config(private_cache, results_dir))
    data = read_all(results_dir)
    assert len(data) == 8 and data.sample_id.is_unique


def test_an_older_header_gains_the_new_columns_and_keeps_unknown_ones(tmp_path):
    path = tmp_path / "cell.csv"
    path.write_text("sample_id,correct,my_note,error\ns1,true,kept,\n")
    CellWriter(path).close()
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[: len(COLUMNS)] == list(COLUMNS) and rows[0]["my_note"] == "kept"
    assert rows[0]["sample_id"] == "s1" and rows[0]["correct"] == "true"


def test_a_run_killed_with_sigkill_resumes_to_exactly_one_row_per_sample(private_cache, results_dir):
    command = [sys.executable, "-m", "bench", "run", "--dataset", "needle", "--selector", "uniform",
               "--backbone", "probe:delay=0.3", "--frames", "4", "--limit", "8", "--device", "cpu",
               "--results-dir", str(results_dir), "--cache-dir", str(private_cache)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = cell_path(results_dir, "needle", "uniform", "probe:delay=0.3", 4)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not path.exists() or path.read_text().count("\n") < 3):
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    written = path.read_text().count("\n") - 1
    assert 2 <= written < 8, "the kill should land mid-run"
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    data = read_all(results_dir)
    assert len(data) == 8 and data.sample_id.is_unique and (data.error == "").all()
    assert data.run_id.nunique() == 2  # rows from before the kill were kept, not redone


def test_shards_split_the_samples_without_overlap(private_cache, results_dir):
    for i in range(3):
        run(_config(private_cache, results_dir, shard=(i, 3)))
    data = read_all(results_dir)
    assert len(data) == 8 and data.sample_id.is_unique
    assert len({Path(p).name for p in data.source}) == 3


def test_bad_shard_is_refused(private_cache, results_dir):
    with pytest.raises(ValueError, match="0 <= I < N"):
        run(_config(private_cache, results_dir, shard=(3, 3)))


def test_each_row_says_how_many_candidates_its_selector_scored(private_cache, results_dir):
    run(_config(private_cache, results_dir, selectors=("uniform", "oracle"), candidates=32, limit=2))
    data = read_all(results_dir)
    # uniform scores nothing; oracle gives every one of the 32 candidates a score
    assert data.groupby("selector")["n_scored"].apply(set).to_dict() == {"uniform": {0}, "oracle": {32}}
