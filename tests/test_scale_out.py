"""Issue 13: a grid written serially, with decode workers, on Ray, or as `--shard` jobs is the same rows.

The grid is needle's first four samples x `uniform,oracle,clip:size=tiny` x k 2, 4 x `probe`
and tiny Idefics2 with random weights, over 32 candidates at short side 64: the cheapest
transformers backbone to load and to ask on this machine, and a real model path. Every mode
writes into its own results dir from its own cold copy of the videos, so decoding happens
where that mode decodes (the worker processes, the Ray tasks), and is rerun once to show it
has nothing left to do. Rows are compared on what a run decides (the selection, the
prediction, its outcome), never on timings, run ids, write times or the device.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.labels import read_labels
from bench.records import DataOptions
from bench.registry import benchmarks
from bench.results import read_all
from bench.runner import RunConfig, RunSummary, run
from tests.faults.conftest import small_config

KEY = ["dataset", "selector", "backbone", "frames", "sample_id"]  # one row per (cell, sample)
SAME = ["selected", "selected_times", "prediction", "parsed", "correct", "parse_ok", "error", "n_scored"]
GRID = dict(datasets=("needle",), selectors=("uniform", "oracle", "clip:size=tiny"), backbones=("probe", "idefics2:size=tiny"),
            frames=(2, 4), limit=4, candidates=32, frame_size=64, device="cpu", weights="random")
ROWS = 4 * 3 * 2 * 2  # samples x selectors x k x backbones = 48
SCORED = 4 * 3  # each (selector, sample) scored once = 12

# how each mode runs the grid: one RunConfig change per job
MODES = {
    "workers": ({"workers": 2},),
    "ray": ({"executor": "ray"},),
    "shards": ({"shard": (0, 2)}, {"shard": (1, 2)}),
}
# per job: (rows written, videos decoded, (selector, sample) pairs scored); shard i of 2 takes samples i and i + 2 of the four
EXPECTED = {
    "workers": [(ROWS, 4, SCORED)],
    "ray": [(ROWS, 4, SCORED)],
    "shards": [(ROWS // 2, 2, SCORED // 2), (ROWS // 2, 2, SCORED // 2)],
}


def table(results: Path) -> pd.DataFrame:
    """The rows under `results` that every mode must agree on, in KEY order; no (cell, sample) twice."""
    rows = read_all(results)
    assert not rows.duplicated(KEY).any(), rows[rows.duplicated(KEY, keep=False)][KEY]
    return rows.sort_values(KEY).reset_index(drop=True)[KEY + SAME]


@dataclass(frozen=True)
class Ran:
    """One mode's jobs: what each did, what each did when run again, and the rows they left."""

    first: tuple[RunSummary, ...]
    again: tuple[RunSummary, ...]
    rows: pd.DataFrame


def run_mode(videos: Path, root: Path, jobs: tuple[dict, ...]) -> Ran:
    """Each job of one mode over a cold copy of the videos, into one results dir; then each job again."""
    shutil.copytree(videos, root / "cache" / "needle")
    configs = [RunConfig(**GRID, results_dir=root / "results", cache_dir=root / "cache", **job) for job in jobs]
    first = tuple(run(c) for c in configs)
    again = tuple(run(c) for c in configs)
    return Ran(first, again, table(root / "results"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """needle's first four test videos and their records, generated once; copied, never used in place."""
    cache = tmp_path_factory.mktemp("videos")
    benchmarks.build("needle").load(DataOptions(cache_dir=cache, limit=4))
    return cache / "needle"


@pytest.fixture(scope="module")
def serial(videos, tmp_path_factory) -> Ran:
    """The reference: the grid in one process, each phase after the last (`workers=0`)."""
    return run_mode(videos, tmp_path_factory.mktemp("serial"), ({"workers": 0},))


@pytest.fixture(scope="module", params=list(MODES))
def mode(request, videos, tmp_path_factory) -> tuple[str, Ran]:
    if request.param == "ray":
        request.getfixturevalue("ray_address")  # this session's Ray instance: run() uses it as it is
    return request.param, run_mode(videos, tmp_path_factory.mktemp(request.param), MODES[request.param])


def test_the_serial_reference_is_every_row_decoded_once(serial):
    (summary,), (again,) = serial.first, serial.again
    assert (summary.written, summary.errors, summary.decoded, summary.cached, summary.scored) == (ROWS, 0, 4, 0, SCORED)
    assert (again.written, again.skipped, again.decoded, again.scored) == (0, ROWS, 0, 0)
    assert len(serial.rows) == ROWS and (serial.rows.error == "").all()


def test_the_rows_compared_mean_something(serial, videos):
    # the probe answers right exactly when a frame it was given falls in the needle's interval [start, end)
    intervals = {s.sample_id: s.interval for s in benchmarks.build("needle").load(DataOptions(cache_dir=videos.parent, limit=4))}
    probe = serial.rows[serial.rows.backbone == "probe"]
    shown = [any(intervals[r.sample_id][0] <= float(t) < intervals[r.sample_id][1] for t in r.selected_times.split()) for r in probe.itertuples()]
    assert probe.correct.tolist() == shown and 0 < sum(shown) < len(shown)


def test_every_mode_writes_the_serial_rows(serial, mode):
    name, ran = mode
    pd.testing.assert_frame_equal(ran.rows, serial.rows)
    assert [(s.written, s.decoded, s.scored) for s in ran.first] == EXPECTED[name]
    assert all(s.errors == 0 and s.cached == 0 for s in ran.first)


def test_every_mode_run_again_writes_nothing(mode):
    name, ran = mode
    assert [(s.written, s.decoded, s.scored) for s in ran.again] == [(0, 0, 0)] * len(MODES[name])
    assert [s.skipped for s in ran.again] == [written for written, _, _ in EXPECTED[name]]


def test_labels_with_workers_are_the_labels_without(videos, tmp_path):
    written = {}
    for workers in ("0", "2"):
        shutil.copytree(videos, tmp_path / workers / "needle")
        out = tmp_path / f"labels{workers}.jsonl"
        result = CliRunner().invoke(main, ["labels", "--dataset", "needle", "--limit", "4", "--spatial", "spatial:scorer=probe",
                                           "--candidates", "32", "--frame-size", "64", "--cache-dir", str(tmp_path / workers),
                                           "--device", "cpu", "--workers", workers, "--out", str(out)])
        assert result.exit_code == 0, result.output
        # each cache has its own copy of the videos: compare where a record's video sits in its cache
        written[workers] = [(r.sample_id, [str(Path(v).relative_to(tmp_path / workers)) for v in r.videos], r.spatial, r.label)
                            for r in read_labels(out)]
    assert [r[0] for r in written["0"]] == ["test-0-00000", "test-0-00001", "test-0-00002", "test-0-00003"]
    assert all(len(spatial) == 32 and label == spatial for _, _, spatial, label in written["0"])  # one signal: the label is it
    assert written["2"] == written["0"]


RUN = ["run", "--dataset", "needle", "--backbone", "probe", "--limit", "4"]


@pytest.mark.parametrize("args, message", [
    (RUN + ["--ray-address", "127.0.0.1:6379"], "--ray-address and --gpus-per-model go with --executor ray: add --executor ray, or leave them out"),
    (RUN + ["--gpus-per-model", "1"], "--ray-address and --gpus-per-model go with --executor ray: add --executor ray, or leave them out"),
    (RUN + ["--workers", "-1"], "Invalid value for '--workers': -1 is not in the range x>=0."),
    (["labels", "--dataset", "needle", "--spatial", "spatial:scorer=probe", "--out", "l.jsonl", "--workers", "-1"],
     "Invalid value for '--workers': -1 is not in the range x>=0."),
])
def test_bad_scale_out_options_exit_2_saying_what_to_give(tmp_path, args, message):
    result = CliRunner().invoke(main, [*args, "--cache-dir", str(tmp_path / "cache")] + (["--results-dir", str(tmp_path / "r")] if args[0] == "run" else []))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "r").exists() and not (tmp_path / "cache").exists()  # refused before anything ran


def _damaged_run(videos: Path, root: Path, workers: int, caplog) -> tuple[pd.DataFrame, Path, list[logging.LogRecord]]:
    """uniform x probe on the four videos with sample 1's emptied: its rows, the emptied file, the warnings logged."""
    shutil.copytree(videos, root / "cache" / "needle")
    video = root / "cache" / "needle" / "seed0" / "test" / "00001.mp4"
    video.write_bytes(b"")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        summary = run(small_config(root / "cache", root / "results", workers=workers))
    assert (summary.written, summary.errors, summary.decoded) == (4, 1, 3)  # the three whole videos decoded, once each
    return read_all(root / "results").sort_values("sample_id").reset_index(drop=True), video, list(caplog.records)


def test_a_video_a_worker_cannot_decode_is_the_error_row_of_a_serial_run(videos, tmp_path, caplog):
    rows = {}
    for workers in (0, 2):
        rows[workers], video, records = _damaged_run(videos, tmp_path / str(workers), workers, caplog)
        assert rows[workers].error.tolist() == ["", f"video: {video}: empty file (0 bytes)", "", ""]
        # the decode phase logs the failure in the caller's process, once, naming the sample and the file
        assert [(r.name, r.levelno, r.getMessage()) for r in records] == [
            ("bench.grid.decoding", logging.WARNING, f"needle test-0-00001: {video}: empty file (0 bytes)")]
    columns = ["sample_id", "selected", "prediction", "correct", "parse_ok"]
    assert rows[2][columns].equals(rows[0][columns])


def test_a_decoders_warning_in_a_worker_reaches_the_callers_log(videos, tmp_path, caplog):
    # decord opens a file whose middle third is zeroed, then fails on those packets and hands it to PyAV, in the worker
    shutil.copytree(videos, tmp_path / "cache" / "needle")
    video = tmp_path / "cache" / "needle" / "seed0" / "test" / "00001.mp4"
    data = video.read_bytes()
    third = len(data) // 3
    video.write_bytes(data[:third] + bytes(third) + data[2 * third:])
    with caplog.at_level(logging.WARNING):
        run(small_config(tmp_path / "cache", tmp_path / "results", workers=2, decoder="decord"))
    relayed = [r for r in caplog.records if r.name == "bench.video"]
    assert len(relayed) == 1 and relayed[0].getMessage().startswith(f"decord failed on {video} (")
    assert relayed[0].process != os.getpid()  # logged in a worker process, handed on to this one
    assert sorted(r.name for r in caplog.records) == ["bench.grid.decoding", "bench.video"]


def test_two_questions_on_one_video_decode_it_once_with_workers(videos, tmp_path):
    shutil.copytree(videos, tmp_path / "cache" / "needle")
    needle = benchmarks.build("needle").load(DataOptions(cache_dir=tmp_path / "cache", limit=1))[0]
    questions = tmp_path / "two.jsonl"
    questions.write_text("".join(json.dumps({"video": str(needle.videos[0]), "question": needle.question, "options": list(needle.options),
                                             "answer": needle.answer, "id": i}) + "\n" for i in ("first", "second")))
    summary = run(RunConfig(datasets=(f"jsonl:path={questions}",), selectors=("uniform",), backbones=("probe",), frames=(4,), candidates=32,
                            frame_size=64, results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", device="cpu", workers=2))
    # two samples, one video: decoded for the first, from the cache for the second
    assert (summary.written, summary.errors, summary.decoded, summary.cached) == (2, 0, 1, 1)
    assert len(list((tmp_path / "cache" / "frames").rglob("*.json"))) == 1  # one frame cache entry
    assert (read_all(tmp_path / "results").error == "").all()
