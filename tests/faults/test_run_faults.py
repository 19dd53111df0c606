"""`bench run` under faults: other protocols, repeated cells, models that cannot load, bad values, kills, two writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.results import cell_path, read_all
from bench.selectors import plan

SMALL = ["--candidates", "32", "--frame-size", "64", "--device", "cpu"]


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def needle_run(cache: Path, results: Path, *extra: object, selector: str = "uniform", backbone: str = "probe", frames: str = "4", limit: int = 4):
    return invoke("run", "--dataset", "needle", "--selector", selector, "--backbone", backbone, "--frames", frames,
                  "--limit", limit, "--results-dir", results, "--cache-dir", cache, *SMALL, *extra)


def csv_files(results: Path) -> list[str]:
    return sorted(p.name for p in results.rglob("*.csv"))


# item 1: everything that changes answers is part of a row's identity
@pytest.mark.parametrize("first, second, name", [
    ([], ["--candidates", "16"], "uniform__k4__n16+s64.csv"),
    ([], ["--seek", "keyframe"], "uniform__k4__n32+keyframe+s64.csv"),
    ([], ["--frame-size", "48"], "uniform__k4__n32+s48.csv"),
    ([], ["--decoder", "decord"], "uniform__k4__n32+s64+decord.csv"),
])
def test_a_rerun_with_another_protocol_writes_its_own_cell(private_cache, results_dir, first, second, name):
    assert needle_run(private_cache, results_dir, *first).exit_code == 0
    result = needle_run(private_cache, results_dir, *second)
    assert result.exit_code == 0, result.output
    assert "4 rows written" in result.output  # not "0 rows written, 4 already done"
    assert csv_files(results_dir) == sorted(["uniform__k4__n32+s64.csv", name])


def test_the_default_protocol_keeps_the_published_file_name(private_cache, results_dir):
    result = invoke("run", "--dataset", "needle", "--backbone", "probe", "--frames", "4", "--limit", "2",
                    "--results-dir", results_dir, "--cache-dir", private_cache, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert cell_path(results_dir, "needle", "uniform", "probe", 4).exists()


def test_a_cell_file_holding_another_protocol_is_refused_with_exit_2(private_cache, results_dir):
    assert needle_run(private_cache, results_dir).exit_code == 0
    # an older framebench wrote every protocol under the same name: put the N=32 rows there
    old = next(results_dir.rglob("*.csv"))
    old.rename(old.with_name("uniform__k4__n16+s64.csv"))
    result = needle_run(private_cache, results_dir, "--candidates", "16")
    assert result.exit_code == 2
    assert "uniform__k4__n16+s64.csv" in result.output and "candidates" in result.output


def test_the_seed_of_a_seeded_selector_is_part_of_its_spec():
    assert plan("qframe", seed=0).spec == "qframe"
    assert plan("qframe", seed=3).spec == "qframe:seed=3"
    assert plan("qframe:seed=5", seed=3).spec == "qframe:seed=5"  # the spec's own value wins
    assert plan("uniform", seed=3).spec == "uniform"  # a selector without a seed ignores it


# item 8: the grid is deduplicated by canonical spec
@pytest.mark.parametrize("selector, frames, files", [
    ("uniform,uniform", "4,4", ["uniform__k4__n32+s64.csv"]),
    ("oracle,oracle:pick=nms", "4", ["oracle__k4__n32+s64.csv"]),
    ("uniform,oracle,uniform", "4,8,4", ["oracle__k4__n32+s64.csv", "oracle__k8__n32+s64.csv", "uniform__k4__n32+s64.csv", "uniform__k8__n32+s64.csv"]),
])
def test_a_cell_named_twice_is_run_once(private_cache, results_dir, selector, frames, files):
    result = needle_run(private_cache, results_dir, selector=selector, frames=frames)
    assert result.exit_code == 0, result.output
    assert f"{4 * len(files)} rows written" in result.output  # 4 samples per cell
    assert csv_files(results_dir) == files
    data = read_all(results_dir)
    assert len(data) == 4 * len(files) and not data.duplicated(["source", "sample_id"]).any()


# item 9: a model that cannot load gives error rows, the rest of the grid is answered
def test_a_backbone_that_cannot_load_gives_load_error_rows_and_the_grid_goes_on(private_cache, results_dir):
    result = needle_run(private_cache, results_dir, backbone="qwen2-vl:path=/nonexistent,probe", limit=2)
    assert result.exit_code == 1
    data = read_all(results_dir)
    broken, fine = data[data.backbone == "qwen2-vl:path=/nonexistent"], data[data.backbone == "probe"]
    assert len(broken) == 2 and broken.error.str.startswith("load: ").all() and broken.correct.isna().all()
    assert len(fine) == 2 and (fine.error == "").all()


def test_a_selector_that_cannot_load_gives_load_error_rows_and_the_grid_goes_on(private_cache, results_dir):
    result = needle_run(private_cache, results_dir, selector="clip:model=/nonexistent,uniform", limit=2)
    assert result.exit_code == 1
    data = read_all(results_dir)
    broken, fine = data[data.selector == "clip:model=/nonexistent"], data[data.selector == "uniform"]
    assert len(broken) == 2 and broken.error.str.startswith("load: ").all()
    assert len(fine) == 2 and (fine.error == "").all()


def test_a_constructor_that_rejects_its_values_is_a_usage_error(private_cache, results_dir):
    result = needle_run(private_cache, results_dir, selector="mdp3:segment=0")
    assert result.exit_code == 2 and "mdp3:segment=0" in result.output
    assert not results_dir.exists() or not csv_files(results_dir)


# items 12 and 18: bad values exit 2 and say what to type instead
@pytest.mark.parametrize("args, message", [
    (["--candidates", "0"], "--candidates"),
    (["--candidates", "-4"], "--candidates"),
    (["--frames", "64"], "more than --candidates 32"),
    (["--frame-size", "0"], "--frame-size"),
    (["--limit", "0"], "--limit"),
    (["--limit", "-1"], "--limit"),
    (["--dataset", ","], "names nothing"),
    (["--selector", " , "], "names nothing"),
    (["--frames", ","], "names nothing"),
])
def test_bad_values_exit_2_naming_the_option(private_cache, results_dir, args, message):
    given = {"--dataset": "needle", "--selector": "uniform", "--backbone": "probe", "--frames": "4", "--limit": "2",
             "--candidates": "32", "--frame-size": "64", "--device": "cpu", "--results-dir": results_dir, "--cache-dir": private_cache}
    given.update(zip(args[::2], args[1::2]))
    result = invoke("run", *[x for pair in given.items() for x in pair])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not results_dir.exists()


@pytest.mark.parametrize("option", ["--results-dir", "--cache-dir"])
def test_a_directory_option_that_is_a_file_exits_2(private_cache, results_dir, tmp_path, option):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    paths = {"--results-dir": results_dir, "--cache-dir": private_cache, option: afile}
    result = invoke("run", "--dataset", "needle", "--backbone", "probe", "--frames", "4", "--limit", "2", *SMALL,
                    *[x for pair in paths.items() for x in pair])
    assert result.exit_code == 2
    assert option in result.output and "a-file" in result.output and "is a file" in result.output


def test_labels_out_without_a_known_suffix_exits_2_and_writes_nothing(private_cache, tmp_path):
    result = invoke("labels", "--dataset", "needle", "--spatial", "spatial:scorer=probe", "--out", tmp_path / "x",
                    "--cache-dir", private_cache, "--limit", "2", "--candidates", "32", "--device", "cpu")
    assert result.exit_code == 2
    assert ".jsonl or .parquet" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


# SIGKILL at random points, then a rerun: the same rows as a run never killed
def _command(cache: Path, results: Path) -> list[str]:
    return [sys.executable, "-m", "bench", "run", "--dataset", "needle", "--selector", "uniform,oracle",
            "--backbone", "probe:delay=0.15", "--frames", "4", "--limit", "6", *SMALL,
            "--results-dir", str(results), "--cache-dir", str(cache)]


def _outcomes(results: Path) -> list[tuple]:
    data = read_all(results)
    columns = ["selector", "frames", "sample_id", "selected", "prediction", "correct", "error"]
    return sorted(map(tuple, data[columns].astype(str).values.tolist()))


@pytest.mark.slow
def test_kills_at_random_points_resume_to_the_rows_of_an_unkilled_run(private_cache, tmp_path):
    reference = tmp_path / "reference"
    assert subprocess.run(_command(private_cache, reference), capture_output=True).returncode == 0
    expected = _outcomes(reference)
    assert len(expected) == 12  # 2 selectors x 6 samples
    rng = np.random.default_rng(10)
    for attempt, delay in enumerate(rng.uniform(0.5, 3.5, size=4)):
        results = tmp_path / f"killed{attempt}"
        cache = tmp_path / f"cache{attempt}"  # a cold cache, so a kill can land while decoding too
        subprocess.run(["cp", "-r", str(private_cache), str(cache)], check=True)
        child = subprocess.Popen(_command(cache, results), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        finished = subprocess.run(_command(cache, results), capture_output=True, text=True)
        assert finished.returncode == 0, finished.stderr
        assert _outcomes(results) == expected, f"kill after {delay:.2f} s"


def test_a_second_run_on_the_same_cells_exits_2_naming_the_holder_and_nothing_is_duplicated(private_cache, results_dir):
    # 6 rows x 1 s: the first run still holds the cell while the second starts, on a loaded machine too (0.3 s was not)
    command = [sys.executable, "-m", "bench", "run", "--dataset", "needle", "--selector", "uniform",
               "--backbone", "probe:delay=1", "--frames", "4", "--limit", "6", *SMALL,
               "--results-dir", str(results_dir), "--cache-dir", str(private_cache)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    path = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and path is None:
        path = next(results_dir.rglob("*.csv"), None) if results_dir.exists() else None
        time.sleep(0.05)
    assert path is not None, "the first run never opened its cell"
    second = subprocess.run(command, capture_output=True, text=True)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert second.returncode == 2, second.stderr
    assert path.name in second.stderr and str(first.pid) in second.stderr
    data = read_all(results_dir)
    assert len(data) == 6 and data.sample_id.is_unique
