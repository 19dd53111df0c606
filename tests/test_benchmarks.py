"""The five benchmark loaders on real published records: from the original files and from the hub form.

Expected values are read off the fixture files by eye (tests/fixtures/), not from the loaders.
"""

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from bench.datafiles import DataError
from tests.benchdata import EGOSCHEMA_SUBSET, FIXTURES, essentials, hub_folder, load, unpack


@pytest.fixture
def root(tmp_path):
    return unpack(tmp_path / "data")


@pytest.fixture(autouse=True)
def hub_cache(tmp_path, monkeypatch):
    """`datasets` writes its processed copies under the test's folder, not ~/.cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


def by_id(samples):
    return {s.sample_id: s for s in samples}


def test_nextqa_reads_the_published_csv(root):
    samples = load("nextqa", root)
    assert len(samples) == 48 and len(by_id(samples)) == 48
    first = samples[0]  # 4010069381,369,640,480,how do the two man play the instrument,0,6,CH,roll the handle,...
    assert (first.sample_id, first.video_id, first.split, first.answer, first.category, first.category_group) == (
        "4010069381_6", "4010069381", "val", "A", "CH", "causal")
    assert first.question == "how do the two man play the instrument"
    assert first.options == ("roll the handle", "tap their feet", "strum the string", "hit with sticks", "pat with hand")
    before = by_id(samples)["6329077812_7"]  # ...,4,7,TP,touch the baby again,turn away,adjusts the baby in grey,smiling,take napkin
    assert (before.answer, before.category, before.category_group, before.options[4]) == ("E", "TP", "temporal", "take napkin")
    assert by_id(samples)["7508439506_4"].category_group == "descriptive"  # DL
    assert Counter(s.category for s in samples) == {k: 6 for k in ("CW", "CH", "TN", "TC", "TP", "DC", "DL", "DO")}
    assert all(s.duration_group == "" for s in samples)


def test_activitynet_joins_questions_and_answers(root):
    samples = load("activitynet-qa", root)
    assert len(samples) == 54 and len(by_id(samples)) == 54
    first = samples[0]  # {"video_name": "1QIUV7WYKXg", "question": "is the athlete wearing trousers", ...} / {"answer": "no", "type": 3}
    assert (first.sample_id, first.video_id, first.question, first.answer, first.category, first.options) == (
        "v_1QIUV7WYKXg_3", "1QIUV7WYKXg", "is the athlete wearing trousers", "no", "yes/no", ())
    place = by_id(samples)["v_Z-sWZUYL0ZU_10"]
    assert (place.answer, place.category) == ("indoor", "location")
    assert Counter(s.category for s in samples) == {t: 6 for t in ("motion", "spatial", "temporal", "yes/no", "color",
                                                                    "object", "location", "number", "other")}


def test_longvideobench_reads_lvb_val_json(root):
    samples = load("longvideobench", root)
    assert len(samples) == 31
    news = by_id(samples)["86CxyhFV9MI_0"]  # correct_choice 1, four candidates, duration_group 600, TOS, NP-News-Programs
    assert (news.answer, len(news.options), news.duration_group, news.category, news.domain, news.video_id) == (
        "B", 4, "600", "TOS", "NP-News-Programs", "86CxyhFV9MI")
    assert news.options[0].startswith("promisc has come to an end")
    history = by_id(samples)["qksR2Zvd-FM_0"]  # correct_choice 0, five candidates, 3600, T3O
    assert (history.answer, len(history.options), history.duration_group, history.category) == ("A", 5, "3600", "T3O")
    assert {s.duration_group for s in samples} == {"15", "60", "600", "3600"}
    assert Counter(len(s.options) for s in samples) == {5: 16, 4: 15}


def test_videomme_reads_the_parquet_and_strips_the_letters(root):
    samples = load("videomme", root)
    assert len(samples) == 36
    first = samples[0]
    assert (first.sample_id, first.video_id, first.answer, first.category, first.domain, first.duration_group) == (
        "001-1", "fFjv93ACGo8", "C", "Counting Problem", "Knowledge", "short")
    assert first.options == ("Apples.", "Candles.", "Berries.", "The three kinds are of the same number.")
    long = by_id(samples)["601-1"]
    assert (long.video_id, long.answer, long.category, long.duration_group) == ("TGom0uiW130", "A", "Information Synopsis", "long")
    assert Counter(s.duration_group for s in samples) == {"short": 12, "medium": 12, "long": 12}
    assert first.subtitles is None
    # the excerpt's 12 videos all sit in one of the 30 sub-categories; the other benchmarks have none
    assert {s.sub_category for s in samples} == {"Humanity & History"}
    assert {s.sub_category for s in load("nextqa", root)} == {""}


def test_videomme_sub_categories_are_a_breakdown_of_the_tables(tmp_path):
    from bench.analysis import tables
    from bench.results import read_all
    from tests.handmade import cell, write

    # Humanity & History: s0 right, s2 wrong -> 50.0; Biology & Medicine: s1 right -> 100.0; all 2 of 3 -> 66.7
    rows = cell("uniform", 8, "110", dataset="videomme", sub_category=["Humanity & History", "Biology & Medicine", "Humanity & History"])
    table = tables.build("grid", read_all(write(tmp_path, rows)), tables.Filters(), tables.Options(by="sub_category"))
    assert list(table.columns)[-3:] == ["Biology & Medicine", "Humanity & History", "all"]  # words sort by name
    assert [str(v) for v in table.iloc[0].tolist()[-3:]] == ["100.0", "50.0", "66.7"]


def test_egoschema_subset_keeps_the_answered_questions_in_file_order(root):
    samples = load("egoschema", root)
    assert [s.sample_id for s in samples] == list(EGOSCHEMA_SUBSET)  # written in questions.json order
    assert [s.answer for s in samples] == ["D", "E", "A"]
    fifth = samples[2]  # questions.json record 4
    assert fifth.question.startswith("Based on the character's actions, what progression")
    assert fifth.options[0].startswith("The character found a ripe banana") and len(fifth.options) == 5


def test_egoschema_full_set_has_every_question_and_no_answers(root):
    samples = load("egoschema:split=full", root)
    assert len(samples) == 20 and {s.answer for s in samples} == {""} and {s.split for s in samples} == {"full"}
    assert samples[0].sample_id == samples[0].video_id == "001934bb-81bd-4cd8-a574-0472ef3f6678"


@pytest.mark.parametrize("spec, total", [
    ("nextqa", 48), ("activitynet-qa", 54), ("longvideobench", 31), ("videomme", 36), ("egoschema:split=full", 20),
])
def test_limit_keeps_the_first_samples_once(root, spec, total):
    every = [s.sample_id for s in load(spec, root)]
    assert len(every) == total  # no limit: all of them
    for limit in (1, 3, total - 1, total, total + 5):  # past the end: all, nothing cut twice
        assert [s.sample_id for s in load(spec, root, limit=limit)] == every[:limit]
    with pytest.raises(ValueError, match="limit must be a positive number of samples or None, not -1"):
        load(spec, root, limit=-1)


def test_needle_generates_exactly_the_limit(tmp_path):
    from bench.records import DataOptions
    from bench.registry import benchmarks

    samples = benchmarks.build("needle").load(DataOptions(cache_dir=tmp_path, limit=3))
    assert [s.sample_id for s in samples] == ["test-0-00000", "test-0-00001", "test-0-00002"]
    made = sorted(p.name for p in (tmp_path / "needle" / "seed0" / "test").iterdir())
    assert made == ["00000.json", "00000.mp4", "00001.json", "00001.mp4", "00002.json", "00002.mp4"]
    with pytest.raises(ValueError, match="not 0"):
        benchmarks.build("needle").load(DataOptions(cache_dir=tmp_path, limit=0))


def _hub_rows(name: str) -> list[dict]:
    """The fixture records in the field names and types of lmms-eval's hub datasets (see the fixtures README)."""
    if name == "activitynet-qa":
        answers = {a["question_id"]: a for a in json.loads((FIXTURES / name / "test_a.json").read_text())}
        return [{**q, "answer": answers[q["question_id"]]["answer"], "type": str(answers[q["question_id"]]["type"])}
                for q in json.loads((FIXTURES / name / "test_q.json").read_text())]
    if name == "nextqa":
        import csv

        with (FIXTURES / name / "val.csv").open() as f:
            return [{**r, "video": int(r["video"]), "answer": int(r["answer"]), "qid": int(r["qid"])} for r in csv.DictReader(f)]
    if name == "egoschema":
        questions = json.loads((FIXTURES / name / "questions.json").read_text())
        return [{"question_idx": str(i), "question": q["question"], "video_idx": q["q_uid"],
                 "option": [f"{'ABCDE'[k]}. {q[f'option {k}']}" for k in range(5)],
                 "answer": str(EGOSCHEMA_SUBSET[q["q_uid"]])} for i, q in enumerate(questions) if q["q_uid"] in EGOSCHEMA_SUBSET]
    file = {"longvideobench": "validation-00000-of-00001.parquet", "videomme": "test-00000-of-00001.parquet"}[name]
    return pq.read_table(FIXTURES / name / file).to_pylist()


@pytest.mark.parametrize("spec, config, split, local_spec", [
    ("activitynet-qa", None, "test", "activitynet-qa"),
    ("nextqa:split=test", "MC", "test", "nextqa"),  # the hub holds the test split only; the rows are val's
    ("egoschema", "Subset", "test", "egoschema"),
    ("longvideobench", None, "validation", "longvideobench"),
    ("videomme", "videomme", "test", "videomme"),
])
def test_the_hub_form_gives_the_same_samples_as_the_published_files(root, tmp_path, spec, config, split, local_spec):
    name = spec.split(":")[0]
    folder = hub_folder(tmp_path / "hub", config, split, _hub_rows(name))
    from_hub = load(f"{spec}:hf={folder}", root)
    from_files = load(local_spec, root)
    assert sorted(essentials(from_hub)) == sorted(essentials(from_files)) and len(from_hub) == len(from_files)
    assert f"hf={folder}" in from_hub[0].dataset.split(":")  # the spec says where the annotations came from


def test_egoschema_full_set_from_the_hub_has_null_answers(root, tmp_path):
    rows = [{**r, "answer": None} for r in _hub_rows("egoschema")]
    folder = hub_folder(tmp_path / "hub", "MC", "test", rows)
    assert [s.answer for s in load(f"egoschema:split=full:hf={folder}", root)] == ["", "", ""]


@pytest.mark.parametrize("spec, message", [
    ("nextqa", "nextqa: no val.csv under .* has no val split"),
    ("nextqa:split=test", "no test.csv under .*lmms-eval/NExTQA \\(config MC, split test\\) could not be loaded"),
    ("activitynet-qa", "no test_q.json under .*lmms-eval/ActivityNetQA"),
    ("videomme", "no test-00000-of-00001.parquet under .*lmms-eval/Video-MME"),
])
def test_without_files_or_hub_the_error_says_what_was_looked_for(tmp_path, spec, message):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=message):
        load(spec, tmp_path / "empty")
