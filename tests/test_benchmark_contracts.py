"""One battery of contract tests over every registered benchmark (lm-evaluation-harness runs one over every task).

Each registered name must have an entry in OFFLINE saying how it loads without a network:
needle generated into the test cache, the published five from tests/fixtures unpacked under
a data root as tests/benchdata.py lays them out, `jsonl` from a file of the users' record
format written there (JSONL_RECORDS). A benchmark registered without an entry
fails here, so a new one cannot skip the battery. For each one: it builds and its canonical
spec round-trips; it loads samples with unique ids; its prompt is text holding the question;
the right answer scores correct and gibberish does not parse (the open-ended one is judged by
the local chat server, which says yes exactly when the prediction is the reference); and the
facts it declares for the tables (open-ended, breakdowns, metric) hold for its samples.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pytest

from bench.analysis.cells import METRICS
from bench.benchmarks import Breakdown, facts
from bench.options import LETTERS
from bench.records import COLUMNS, DataOptions, Sample
from bench.registry import Spec, benchmarks
from tests.benchdata import unpack
from tests.chat_server import Reply


@dataclass(frozen=True)
class Offline:
    """How a benchmark loads in the tests."""

    spelled: str  # a spec that spells out a default, so the canonical spec has to drop it; {root} is the data root
    data_root: bool = True  # from tests/fixtures under --data-root; False: generated into the cache
    limit: int | None = None
    canonical: str = ""  # what `spelled` canonicalises to, when not the bare name

    def spec(self, root: Path) -> str:
        return self.spelled.format(root=root)

    def expected(self, name: str, root: Path) -> str:
        return self.canonical.format(root=root) or name


OFFLINE = {
    "needle": Offline("needle:split=test", data_root=False, limit=4),
    "nextqa": Offline("nextqa:split=val"),
    "activitynet-qa": Offline("activitynet-qa:judge_model=gpt-4o-mini"),
    "egoschema": Offline("egoschema:split=subset"),
    "longvideobench": Offline("longvideobench:unparsed=wrong"),
    "videomme": Offline("videomme:subtitles=false"),
    "mlvu": Offline("mlvu:split=dev"),
    "lvbench": Offline("lvbench:unparsed=wrong"),
    "jsonl": Offline("jsonl:path={root}/mine/questions.jsonl:unparsed=wrong", canonical="jsonl:path={root}/mine/questions.jsonl"),
}
# a user's own multiple-choice questions (the open-ended and mixed kinds: tests/test_jsonl_dataset.py)
JSONL_RECORDS = [
    {"video": "clips/kitchen.mp4", "question": "What does the man pick up?", "options": ["a cup", "a knife", "a plate"],
     "answer": "A", "id": "k1", "category": "object", "duration_group": "short"},
    {"video": "clips/street.mp4", "question": "Which way does the car turn?", "options": ["left", "right"],
     "answer": "right", "id": 2, "category": "direction", "duration_group": "long"},
]
NAMES = benchmarks.names()
GIBBERISH = "xyzzy plugh"  # no letter standing alone, no option's text
SAMPLE_FIELDS = {f.name for f in fields(Sample)}


def offline(name: str) -> Offline:
    if name not in OFFLINE:
        pytest.fail(f"benchmark {name!r} is registered but tests/test_benchmark_contracts.py's OFFLINE does not say how it loads offline")
    return OFFLINE[name]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The fixtures unpacked under one data root, with a `jsonl` file of the users' record format."""
    root = unpack(tmp_path_factory.mktemp("contracts") / "data")
    (root / "mine").mkdir()
    (root / "mine" / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in JSONL_RECORDS))
    return root


@pytest.fixture(scope="module")
def samples_of(root, cache_dir):
    """name -> its samples, loaded once for the module."""
    loaded: dict[str, list[Sample]] = {}

    def load(name: str) -> list[Sample]:
        if name not in loaded:
            source = offline(name)
            options = DataOptions(cache_dir=cache_dir, data_root=root if source.data_root else None, limit=source.limit)
            loaded[name] = benchmarks.build(source.spec(root)).load(options)
        return loaded[name]

    return load


def test_every_registered_benchmark_says_how_it_loads_offline():
    assert sorted(OFFLINE) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_it_builds_and_its_canonical_spec_round_trips(name, root):
    built = benchmarks.build(offline(name).spec(root))
    assert built.spec == offline(name).expected(name, root)  # the spelled-out default drops out
    assert str(Spec.parse(built.spec)) == built.spec == benchmarks.build(built.spec).spec == benchmarks.canonical(built.spec)


@pytest.mark.parametrize("name", NAMES)
def test_it_loads_samples_with_unique_ids_under_its_spec(name, samples_of, root):
    samples = samples_of(name)
    ids = [s.sample_id for s in samples]
    assert ids and len(set(ids)) == len(ids)
    assert {s.dataset for s in samples} == {offline(name).expected(name, root)}
    assert all(s.question.strip() and s.videos for s in samples)


@pytest.mark.parametrize("name", NAMES)
def test_its_prompt_is_text_that_holds_the_question(name, samples_of, root):
    benchmark = benchmarks.build(offline(name).spec(root))
    for sample in samples_of(name):
        prompt = benchmark.prompt(sample, np.array([0.5, 1.5]))
        question = sample.question.strip()
        # ActivityNet-QA's template capitalises the question's first letter
        assert isinstance(prompt, str) and (question in prompt or question[:1].upper() + question[1:] in prompt), sample.sample_id
        assert all(option in prompt for option in sample.options), sample.sample_id


def _judge_by_matching(request: dict) -> Reply:
    """The verdict a careful judge gives: yes, 5 when the prediction is the reference; no, 0 otherwise."""
    found = re.search(r"Reference answer: (.*)\nPredicted answer: (.*)\n", request["messages"][-1]["content"])
    assert found, request
    same = found.group(1).strip().lower() == found.group(2).strip().lower()
    return Reply("{'pred': 'yes', 'score': 5}" if same else "{'pred': 'no', 'score': 0}")


@pytest.mark.parametrize("name", NAMES)
def test_the_right_answer_scores_correct_and_gibberish_does_not(name, samples_of, request, tmp_path, root):
    benchmark = benchmarks.build(offline(name).spec(root))
    answered = [s for s in samples_of(name) if s.answer]
    assert answered, f"{name}: no fixture sample has an answer to score against"
    if facts(name).open_ended:
        server = request.getfixturevalue("chat_server")
        server.responder = _judge_by_matching
        benchmark.use_cache(tmp_path)  # nothing judged before: every verdict is asked of the server
        for sample in answered[:3]:
            assert benchmark.parse(sample.answer, sample) == sample.answer
            right, wrong = benchmark.score(sample, sample.answer), benchmark.score(sample, GIBBERISH)
            assert (right.correct, right.judge_score, right.error) == (True, 5.0, ""), sample.sample_id
            assert (wrong.correct, wrong.judge_score, wrong.error) == (False, 0.0, ""), sample.sample_id
        assert len(server.requests) == 6  # two verdicts for each of three samples
        assert benchmark.parse("  ", answered[0]) is None
        return
    for sample in answered:
        other = LETTERS[(LETTERS.index(sample.answer) + 1) % len(sample.options)]
        assert benchmark.parse(sample.answer, sample) == sample.answer, sample.sample_id
        right, wrong, gibberish = (benchmark.score(sample, text) for text in (sample.answer, f"The answer is ({other}).", GIBBERISH))
        assert (right.correct, right.parsed, right.parse_ok) == (True, sample.answer, True), sample.sample_id
        assert (wrong.correct, wrong.parsed, wrong.parse_ok) == (False, other, True), sample.sample_id
        assert benchmark.parse(GIBBERISH, sample) is None
        assert (gibberish.correct, gibberish.parsed, gibberish.parse_ok) == (False, "", False), sample.sample_id


@pytest.mark.parametrize("name", NAMES)
def test_the_facts_it_declares_hold_for_its_samples(name, samples_of):
    cls, samples, declared = benchmarks.get(name), samples_of(name), facts(name)
    assert (declared.open_ended, declared.metric, dict(declared.breakdowns)) == (cls.open_ended, cls.metric, dict(cls.breakdowns))
    assert declared.open_ended is all(not s.options for s in samples)  # judged free text exactly when there are no options
    assert declared.metric in METRICS
    for by, breakdown in declared.breakdowns:
        assert isinstance(breakdown, Breakdown) and declared.breakdown(by) == breakdown
        assert breakdown.column in COLUMNS and breakdown.column in SAMPLE_FIELDS, f"{name} --by {by}: {breakdown.column} is no Row column a loader fills"
        groups = {g for found in breakdown.grouped(getattr(s, breakdown.column) for s in samples) for g in found}
        assert groups, f"{name} --by {by}: no fixture sample has a {breakdown.column}"
        if breakdown.order:
            assert groups <= set(breakdown.order), f"{name} --by {by}: {sorted(groups - set(breakdown.order))} missing from its order"
