"""MLVU and LVBench on records written in their published formats, evidence hits, and selection-only runs.

Expected values are worked by hand from the fixture records (tests/fixtures/mlvu, lvbench).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.analysis import tables
from bench.datafiles import DataError
from bench.grid.rows import evidence_hit
from bench.results import read_all
from bench.runner import RunConfig, run
from tests.benchdata import hub_folder, load, unpack


@pytest.fixture
def root(tmp_path):
    return unpack(tmp_path / "data")


@pytest.fixture(autouse=True)
def hub_cache(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


def test_mlvu_reads_the_official_per_task_files(root):
    samples = load("mlvu", root)
    assert [s.sample_id for s in samples] == ["1_plotQA/0", "1_plotQA/1", "1_plotQA/2", "2_needle/0", "4_count/0", "4_count/1"]
    plot = samples[1]  # answer "A photograph", the fourth candidate
    assert (plot.answer, plot.category, plot.video_id, plot.options[3]) == ("D", "plotQA", "movie101_70", "A photograph")
    assert [s.answer for s in samples[4:]] == ["C", "B"]  # "3" of 1..4; "2" of 0,2,5,7
    assert {s.category for s in samples} == {"plotQA", "needle", "count"}


def test_mlvu_reads_the_lmms_eval_form_with_its_options_under_the_question(root, tmp_path):
    rows = [{"video_name": "movie101_66.mp4", "duration": 246, "question": "What color is the main male character in the video?\n(A) Yellow\n(B) Red\n(C) Green\n(D) Blue",
             "candidates": ["Yellow", "Red", "Green", "Blue"], "answer": "A", "task_type": "plotQA", "question_id": "plotQA_1"}]
    (sample,) = load(f"mlvu:hf={hub_folder(tmp_path / 'hub', None, 'test', rows)}", root)
    assert (sample.sample_id, sample.question, sample.options, sample.answer, sample.category) == (
        "plotQA_1", "What color is the main male character in the video?", ("Yellow", "Red", "Green", "Blue"), "A", "plotQA")
    bad = [{**rows[0], "candidates": ["Yellow", "Red", "Green", "Purple"]}]
    with pytest.raises(DataError, match="record 0: the options under 'question'"):
        load(f"mlvu:hf={hub_folder(tmp_path / 'hub2', None, 'test', bad)}", root)


def test_the_mlvu_prompt_ends_in_lmms_evals_open_bracket(root):
    from bench.registry import benchmarks

    sample = load("mlvu", root)[4]
    assert benchmarks.build("mlvu").prompt(sample, np.array([1.0])) == (
        "How many times does the man in the video jump into the pool?\n(A) 1\n(B) 2\n(C) 3\n(D) 4\nOnly give the best option.\nBest option: (")


def _rows(dataset: str, cells: dict[str, list[tuple[str, str, bool]]]) -> pd.DataFrame:
    """Result rows by hand: selector -> (sample_id, category, correct)."""
    return pd.DataFrame([
        {"dataset": dataset, "backbone": "b", "selector": selector, "frames": 4, "candidates": 128, "sample_id": sid, "category": cat,
         "correct": ok, "parse_ok": True, "error": "", "judge_score": np.nan}
        for selector, found in cells.items() for sid, cat, ok in found
    ])


def test_m_avg_is_the_mean_of_the_task_accuracies_not_of_the_rows():
    # plotQA 2 of 3 (66.7), needle 1 of 1 (100), count 0 of 2 (0): M-avg (66.7 + 100 + 0) / 3 = 55.6; 3 of 6 rows = 50.0
    answers = [("p1", "plotQA", True), ("p2", "plotQA", True), ("p3", "plotQA", False), ("n1", "needle", True),
               ("c1", "count", False), ("c2", "count", False)]
    table = tables.build("grid", _rows("mlvu", {"uniform": answers}), options=tables.Options(compare=None))
    assert table["uniform k=4"].tolist() == ["55.6"]


def test_lvbench_reads_the_official_jsonl_with_evidence_and_several_types(root):
    samples = load("lvbench", root)
    assert [s.sample_id for s in samples] == ["0", "1", "2"]
    first, second, third = samples
    assert (first.video_id, first.question, first.options[0], first.answer) == ("dz6xhkhXkvI", "What year appears in the opening caption of the video?", "1636", "D")
    assert first.evidence == ((15.0, 19.0),)
    assert second.evidence == ((3662.0, 3730.0),)  # 01:01:02 = 3600 + 60 + 2; 01:02:10 = 3600 + 120 + 10
    assert (second.category, third.category) == ("reasoning; summarization", "event understanding; entity recognition")


def test_lvbench_counts_a_question_in_every_type_it_lists(root):
    # q1 right (reasoning, summarization), q0 wrong (key information retrieval), q2 right (event understanding, entity recognition)
    rows = _rows("lvbench", {"uniform": [("0", "key information retrieval", False), ("1", "reasoning; summarization", True),
                                         ("2", "event understanding; entity recognition", True)]})
    table = tables.build("grid", rows, options=tables.Options(compare=None, by="question_type")).set_index("selector")
    assert table.loc["uniform", "reasoning"] == table.loc["uniform", "summarization"] == "100.0"
    assert table.loc["uniform", "entity recognition"] == table.loc["uniform", "event understanding"] == "100.0"
    assert table.loc["uniform", "key information retrieval"] == "0.0"
    assert table.loc["uniform", "all"] == "66.7"  # 2 of 3: each question once


def test_a_bad_time_reference_names_the_line_and_field(root):
    path = next(root.rglob("video_info.meta.jsonl"))
    line = json.loads(path.read_text().splitlines()[0])
    line["qa"][0]["time_reference"] = "00:00:19-00:00:15"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(DataError, match=r"video_info.meta.jsonl: line 1 qa 0: field 'time_reference' should be 'HH:MM:SS-HH:MM:SS' with start <= end"):
        load("lvbench", root)


@pytest.mark.parametrize("times, expected", [
    ([10.0, 12.5], True),  # 12.5 is the interval's end: ends included
    ([12.499, 15.001, 19.999], False),  # just outside the first interval at both ends, and before the second
    ([20.0], True), ([30.0004], True),  # a frame at the second interval's end, as the CSV rounds it (30.000)
    ([17.0, 31.0], False),  # between the intervals, and after the second
])
def test_evidence_hit_counts_frames_on_an_intervals_ends(times, expected):
    assert evidence_hit(((12.5, 15.0), (20.0, 30.0)), np.array(times)) is expected


def test_no_evidence_is_no_hit_and_no_miss():
    assert evidence_hit((), np.array([1.0])) is None


def test_a_selection_only_grid_writes_no_prediction_and_feeds_the_evidence_table(cache_dir, tmp_path):
    cfg = RunConfig(datasets=("needle",), selectors=("uniform", "oracle"), backbones=("probe", "none"), frames=(4,), limit=8,
                    candidates=32, frame_size=64, results_dir=tmp_path / "results", cache_dir=cache_dir, device="cpu", workers=0)
    assert run(cfg).errors == 0
    rows = read_all(tmp_path / "results")
    none, probe = rows[rows.backbone == "none"], rows[rows.backbone == "probe"]
    assert len(none) == len(probe) == 16
    assert none.prediction.fillna("").eq("").all() and none.correct.isna().all() and none.t_answer_s.isna().all()
    assert none.n_scored.notna().all() and none.evidence_hit.notna().all()
    assert {p.name for p in (tmp_path / "results" / "needle").iterdir()} == {"none", "probe"}  # cell files of their own
    # in the needle world the probe is right exactly when a selected frame shows the shape: the evidence
    paired = probe.merge(none, on=["selector", "sample_id"], suffixes=("", "_none"))
    assert (paired.correct.astype(bool) == paired.evidence_hit_none.astype(bool)).all()
    assert none[none.selector == "oracle"].evidence_hit.all()
    accuracy = tables.build("grid", rows, options=tables.Options(compare=None))
    assert accuracy.backbone.tolist() == ["probe"]  # accuracy leaves the selection-only rows out
    hits = tables.build("grid", rows, options=tables.Options(measure="evidence")).set_index("backbone")
    assert set(hits.index) == {"none", "probe"} and hits.loc["none", "oracle k=4 N=32 size=64"].startswith("100.0 (+")


def test_a_jsonl_record_declares_its_evidence_in_seconds(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"video": "a.mp4", "question": "q?", "evidence": [[12, 15.5], [40.0, 40.0]]}) + "\n"
                    + json.dumps({"video": "b.mp4", "question": "q?"}) + "\n")
    first, second = load(f"jsonl:path={path}", None)
    assert (first.evidence, second.evidence) == (((12.0, 15.5), (40.0, 40.0)), ())
    path.write_text(json.dumps({"video": "a.mp4", "question": "q?", "evidence": [[15.5, 12]]}) + "\n")
    with pytest.raises(DataError, match=r"mine.jsonl: line 1: field 'evidence' should be a list of \[start, end\] pairs"):
        load(f"jsonl:path={path}", None)
