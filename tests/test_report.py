"""`bench report`: an injected regression is flagged; noise that moves as many answers is not."""

import csv
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bench.analysis.cells import prepare
from bench.analysis.report import compare_runs
from bench.cli import main
from bench.results import read_all
from tests.handmade import cell, write
from tests.test_tables import ToyMLVU, registered_benchmark

N, RIGHT, MOVED = 200, 120, 30  # samples, right in the baseline, answers the change moves


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return prepared(tmp_path_factory.mktemp("baseline"), "1" * RIGHT + "0" * (N - RIGHT))


def with_correct(rows, correct):
    return rows.assign(correct=pd.array(correct, dtype="boolean"))


def prepared(directory, outcomes):
    return prepare(read_all(write(directory, cell("clip", 8, outcomes))))


def test_identical_runs_have_no_regression(baseline):
    report = compare_runs(baseline, baseline)
    (line,) = report.lines
    assert (line.change.points, line.change.low, line.change.high, line.regression) == (0.0, 0.0, 0.0, False)


def test_an_injected_regression_is_flagged(baseline):
    correct = baseline["correct"].to_numpy(dtype=bool).copy()
    correct[:MOVED] = False  # 30 of the 120 right answers turn wrong: -15 points
    (line,) = compare_runs(baseline, with_correct(baseline, correct)).lines
    assert line.change.points == pytest.approx(-15.0)
    assert line.change.high < 0 and line.regression


def test_noise_moving_as_many_answers_is_not_flagged(baseline):
    # The same 30 answers move, each one way or the other by a coin flip (right answers turn
    # wrong, wrong ones right): the true change is zero. With D of them down, the change is
    # (30 - 2D) / 200, below -1 point when D >= 17 (P = 0.292 for D ~ Bin(30, 1/2)), so a
    # threshold alone would fire that often; the interval lies below zero only from about
    # D >= 21 (P = 0.021).
    # One report over 100 such cells, as a nightly run with many cells would see.
    rng = np.random.default_rng(11)
    right, wrong = np.flatnonzero(baseline["correct"]), np.flatnonzero(~baseline["correct"].astype(bool))
    cells = 100
    before, after = [], []
    for i in range(cells):
        down = rng.binomial(MOVED, 0.5)
        correct = baseline["correct"].to_numpy(dtype=bool).copy()
        correct[rng.choice(right, down, replace=False)] = False
        correct[rng.choice(wrong, MOVED - down, replace=False)] = True
        before.append(baseline.assign(selector=f"clip{i}"))
        after.append(with_correct(before[-1], correct))
    report = compare_runs(pd.concat(before), pd.concat(after))
    assert len(report.lines) == cells
    assert len(report.regressions) / cells <= 0.06
    assert sum(line.change.points < -1.0 for line in report.lines) / cells >= 0.2


def test_threshold_and_interval_both_have_to_agree(tmp_path):
    # 40 samples, 2 right->wrong and 1 wrong->right: -2.5 points, beyond 1.0, but the interval
    # reaches above zero (the +1 is often drawn as often as the -1s). 2000 samples with 10
    # right->wrong: -0.5 points; a resample misses all ten with chance (1 - 1/200)^2000 ~ e^-10,
    # so the interval lies below zero, yet the drop is within 1.0; a 0.25 threshold flags it.
    small = prepared(tmp_path / "a", "110" + "1" * 20 + "0" * 17), prepared(tmp_path / "b", "001" + "1" * 20 + "0" * 17)
    (line,) = compare_runs(*small).lines
    assert line.change.points == pytest.approx(-2.5) and line.change.high >= 0 and not line.regression
    large = prepared(tmp_path / "c", "1" * 1000 + "0" * 1000), prepared(tmp_path / "d", "0" * 10 + "1" * 990 + "0" * 1000)
    (line,) = compare_runs(*large).lines
    assert line.change.points == pytest.approx(-0.5) and line.change.high < 0 and not line.regression
    assert compare_runs(*large, threshold=0.25).lines[0].regression


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_exits_1_on_an_injected_regression_and_0_on_a_clean_copy(tmp_path):
    write(tmp_path / "base", cell("uniform", 8, "1" * 20 + "0" * 20), cell("clip", 8, "1" * 30 + "0" * 10), cell("oracle", 8, "1" * 40))
    shutil.copytree(tmp_path / "base", tmp_path / "clean")
    shutil.copytree(tmp_path / "base", tmp_path / "worse")
    path = tmp_path / "worse" / "cell1.csv"  # clip: 20 of its 30 right answers turn wrong
    rows = list(csv.DictReader(path.open()))
    for row in rows[:20]:
        row["correct"] = "false"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "worse" / "cell2.csv").unlink()  # oracle only in the baseline

    clean = invoke("report", "--baseline", tmp_path / "base", "--current", tmp_path / "clean", "--out", tmp_path / "r0")
    assert clean.exit_code == 0, clean.output
    assert "3 cells compared, 0 regressions" in clean.output

    worse = invoke("report", "--baseline", tmp_path / "base", "--current", tmp_path / "worse", "--out", tmp_path / "r1")
    assert worse.exit_code == 1
    assert "2 cells compared, 1 regressions" in worse.output and "1 cells only in the baseline" in worse.output
    markdown = (tmp_path / "r1" / "report.md").read_text()
    assert "| clip " in markdown and "REGRESSION" in markdown and "- d b oracle 8 128" in markdown
    page = (tmp_path / "r1" / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2 and "http" not in page.replace("<!doctype html>", "")


def test_cli_refuses_to_compare_across_judges_and_needs_a_shared_cell(tmp_path):
    write(tmp_path / "a", cell("uniform", 8, "10", dataset="activitynet-qa", judge_score=[4, 1], judge_model="gpt-4o-mini"))
    write(tmp_path / "b", cell("uniform", 8, "10", dataset="activitynet-qa", judge_score=[4, 1], judge_model="gpt-4o"))
    write(tmp_path / "c", cell("uniform", 4, "10"))
    result = invoke("report", "--baseline", tmp_path / "a", "--current", tmp_path / "b", "--out", tmp_path / "r")
    assert result.exit_code == 1 and "different judge models" in result.output
    result = invoke("report", "--baseline", tmp_path / "a", "--current", tmp_path / "c", "--out", tmp_path / "r")
    assert result.exit_code == 1 and "no cell is in both" in result.output


def test_help_documents_the_options():
    result = invoke("report", "--help")
    assert result.exit_code == 0
    for word in ("--baseline", "--current", "--threshold", "--out", "--resamples", "exit 1", "Example"):
        assert word in result.output


def test_cells_of_other_protocols_are_compared_only_with_their_own(tmp_path):
    # both runs hold uniform at 64 px under seek=exact and under keyframe; only the current run
    # holds clip under keyframe. exact 1100 -> 1000: 0 -1 0 0 = -25.0; keyframe 1111 -> 1111: +0.0.
    exact, keyframe = dict(seek="exact", frame_size=64), dict(seek="keyframe", frame_size=64)
    write(tmp_path / "a", cell("uniform", 8, "1100", **exact), cell("uniform", 8, "1111", **keyframe))
    write(tmp_path / "b", cell("uniform", 8, "1000", **exact), cell("uniform", 8, "1111", **keyframe), cell("clip", 8, "1", **keyframe))
    result = invoke("report", "--baseline", tmp_path / "a", "--current", tmp_path / "b", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    lines = [[c.strip() for c in line.strip("|").split("|")] for line in result.stdout.splitlines() if line.startswith("| uniform") or line.startswith("| d ")]
    assert [line[:6] for line in lines] == [["d", "b", "uniform", "8", "128", "seek=exact size=64"], ["d", "b", "uniform", "8", "128", "seek=keyframe size=64"]]
    assert [line[-2].split(" [")[0] for line in lines] == ["-25.0", "+0.0"]
    assert "- d b clip 8 128 seek=keyframe size=64" in (tmp_path / "r" / "report.md").read_text()


def test_the_report_compares_cells_under_the_metric_their_benchmark_declares(tmp_path):
    # toy-mlvu averages its categories (count count count order): 1100 -> count 2/3, order 0/1: 33.3;
    # 1111 -> 100.0; the change (1/3 + 1) / 2 = +66.7, with no McNemar p (see tests/test_tables.py)
    categories = ["count", "count", "count", "order"]
    with registered_benchmark("toy-mlvu", ToyMLVU):
        before = prepare(read_all(write(tmp_path / "a", cell("clip", 8, "1100", dataset="toy-mlvu", category=categories))))
        after = prepare(read_all(write(tmp_path / "b", cell("clip", 8, "1111", dataset="toy-mlvu", category=categories))))
        (line,) = compare_runs(before, after).lines
    assert (round(line.before.accuracy, 1), line.after.accuracy, round(line.change.points, 1), line.change.p) == (33.3, 100.0, 66.7, None)
