"""spatial, temporal and pseudo with the probe backbone, the temporal LLM behind a real local HTTP server."""

import json
import re
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from bench.backbones.probe import Probe
from bench.cli import main
from bench.store.frames import FrameCache
from bench.labels import read_labels
from bench.records import DataOptions
from bench.registry import RegistryError, backbones, benchmarks, selectors
from bench.results import read_all
from bench.runner import RunConfig, run
from bench.selectors import query_for
from bench.selectors.spatial import Spatial
from bench.selectors.temporal import Temporal, UnusableReply
from tests.chat_server import Reply

LINE = re.compile(r"^(\d+) \(([\d.]+) s\): (.+)$", re.M)


def shape_frames(request: dict) -> Reply:
    """A text LLM that lists the frames whose caption mentions a shape."""
    captions = LINE.findall(request["messages"][-1]["content"])
    return Reply(json.dumps([int(i) for i, _, caption in captions if "shape" in caption]))


@pytest.fixture(scope="module")
def needle(cache_dir):
    """The first 40 needle test samples (seed 0) and the candidates of the first one."""
    samples = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=40))
    return samples, FrameCache(cache_dir).candidates(samples[0].videos, 128, 336)


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Selectors' own caches (captions) in a fresh directory, so each test starts cold."""
    monkeypatch.setenv("FRAMEBENCH_CACHE", str(tmp_path / "selector-cache"))
    return tmp_path / "selector-cache"


def ask(selector, candidates, sample):
    """The selector's scores for `sample`, asked with the Query the runner would give it."""
    return selector.score(query_for(selector, candidates, sample))


def _config(cache_dir, results, **kw):
    base = dict(datasets=("needle",), backbones=("probe",), frames=(4,), limit=40, results_dir=results, cache_dir=cache_dir, device="cpu")
    return RunConfig(**{**base, **kw})


def test_spatial_with_probe_beats_uniform_at_four_frames_by_a_wide_margin(cache_dir, results_dir, needle):
    # measured (seed 0, 40 samples): spatial 40/40, uniform 3/40. The needle shows in about 4 of the
    # 128 candidates; uniform k=4 catches it about 4 * 3% of the time, spatial ranks those frames first.
    run(_config(cache_dir, results_dir, selectors=("uniform", "spatial:scorer=probe")))
    accuracy = read_all(results_dir).groupby("selector").correct.mean()
    assert accuracy["spatial:scorer=probe"] >= 0.95 and accuracy["uniform"] <= 0.15
    assert accuracy["spatial:scorer=probe"] - accuracy["uniform"] >= 0.85


@pytest.mark.parametrize("spec", ["spatial:scorer=nonesuch", "temporal:captioner=nonesuch"])
def test_an_unknown_frame_judge_is_refused_when_built(spec):
    with pytest.raises(RegistryError, match="unknown backbone 'nonesuch'"):
        selectors.build(spec)


def test_temporal_asks_the_llm_with_numbered_captions_and_scores_what_it_lists(chat_server, needle, caches):
    samples, cands = needle
    chat_server.responder = shape_frames
    selector = selectors.build("temporal:captioner=probe")
    scores = ask(selector, cands, samples[0])
    prompt = chat_server.requests[0]["messages"][-1]["content"]
    lines = LINE.findall(prompt)
    assert [int(i) for i, _, _ in lines] == list(range(128))
    assert float(lines[127][1]) == pytest.approx(cands.times[127], abs=0.05)
    assert samples[0].question in prompt and all(f". {option}" in prompt for option in samples[0].options)
    assert chat_server.requests[0]["model"] == "gpt-4o-mini"
    listed = [int(i) for i, _, caption in lines if "shape" in caption]
    start, end = samples[0].interval
    assert listed and all(start <= cands.times[i] < end for i in listed)
    assert np.flatnonzero(scores).tolist() == listed and set(scores.tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("content, ones, dropped", [
    ("[3, 17, 42]", [3, 17, 42], 0),
    ('```json\n{"frames": [5, 7]}\n```', [5, 7], 0),
    ("```\n[9]\n```", [9], 0),
    ("Frames 2 and 4 help: [2, 4]", [2, 4], 0),
    ("[1, 1, 127, 128, -3, 600]", [1, 127], 4),  # a repeat and three out of range
    ('[6, "seven", 8.5, 8.0]', [6, 8], 2),
])
def test_temporal_reads_lists_in_any_accepted_shape_and_drops_bad_entries(chat_server, needle, caches, content, ones, dropped):
    chat_server.queue.append(Reply(content))
    selector = selectors.build("temporal:captioner=probe")
    scores = ask(selector, needle[1], needle[0][0])
    assert np.flatnonzero(scores).tolist() == ones and selector.dropped == dropped


def test_temporal_asks_again_after_an_unusable_reply(chat_server, needle, caches):
    chat_server.queue.extend([Reply("I cannot tell."), Reply('{"frames": [], "notes": []}'), Reply("[12]")])
    scores = ask(selectors.build("temporal:captioner=probe"), needle[1], needle[0][0])
    assert np.flatnonzero(scores).tolist() == [12] and len(chat_server.requests) == 3


@pytest.mark.parametrize("content", ["[]", '{"frames": []}', "```json\n[]\n```", "No caption helps here: []"])
def test_an_empty_list_means_no_frame_helps_all_scores_zero_and_no_retry(chat_server, needle, caches, content):
    # the paper's rule: listed frames 1, unlisted 0; listing none is an answer, so 128 zeros
    chat_server.queue.extend([Reply(content), Reply("[12]")])  # a retry would get [12]
    selector = selectors.build("temporal:captioner=probe")
    scores = ask(selector, needle[1], needle[0][0])
    assert scores.tolist() == [0.0] * 128 and len(chat_server.requests) == 1 and selector.dropped == 0


def test_temporal_raises_when_no_reply_is_usable(chat_server, needle, caches):
    chat_server.responder = lambda request: Reply("[999, 1000]")
    with pytest.raises(UnusableReply, match="no usable frame list in 2 replies"):
        ask(selectors.build("temporal:captioner=probe:retries=1"), needle[1], needle[0][0])
    assert len(chat_server.requests) == 2


def test_an_unusable_llm_reply_is_an_error_row_and_the_run_goes_on(chat_server, cache_dir, results_dir, caches):
    # the LLM refuses the first prompt it sees, and only that one
    bad = set()

    def responder(request):
        if not bad:
            bad.add(request["messages"][-1]["content"])
        return Reply("no idea") if request["messages"][-1]["content"] in bad else shape_frames(request)

    chat_server.responder = responder
    summary = run(_config(cache_dir, results_dir, selectors=("temporal:captioner=probe:retries=1",), limit=4))
    rows = read_all(results_dir)
    assert summary.errors == 1 and len(rows) == 4
    failed = rows[rows.error != ""]
    assert failed.error.iloc[0].startswith("select: UnusableReply: gpt-4o-mini: no usable frame list in 2 replies")
    assert rows[rows.error == ""].correct.all()  # the others picked the listed shape frames


def test_bench_labels_completes_when_the_llm_lists_no_frame(chat_server, cache_dir, tmp_path, needle):
    chat_server.responder = lambda request: Reply("[]")
    cache = tmp_path / "cache"  # scores and captions of its own, so no other test's temporal scores are found
    cache.mkdir()
    (cache / "needle").symlink_to(cache_dir / "needle")
    out = tmp_path / "labels.jsonl"
    args = ["labels", "--dataset", "needle", "--limit", "3", "--candidates", "32", "--spatial", "spatial:scorer=probe",
            "--temporal", "temporal:captioner=probe", "--out", out, "--cache-dir", cache, "--device", "cpu"]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0 and len(chat_server.requests) == 3  # one reply per sample, none asked again
    records = read_labels(out)
    assert [r.sample_id for r in records] == [s.sample_id for s in needle[0][:3]]
    for r in records:  # label = (spatial + 0) / 2
        assert r.temporal == (0.0,) * 32 and len(r.spatial) == 32
        np.testing.assert_allclose(r.label, np.array(r.spatial) / 2, rtol=1e-6)
    assert any(max(r.spatial) > 0.5 for r in records)  # the spatial half still carries the shape frames


def test_captions_are_cached_per_video_across_questions(chat_server, needle, caches, monkeypatch):
    calls = []
    original = Probe.caption
    monkeypatch.setattr(Probe, "caption", lambda self, frames: calls.append(len(frames)) or original(self, frames))
    chat_server.responder = shape_frames
    samples, cands = needle
    ask(selectors.build("temporal:captioner=probe"), cands, samples[0])
    ask(selectors.build("temporal:captioner=probe"), cands, replace(samples[0], question="What shape is it?"))
    assert calls == [128] and len(chat_server.requests) == 2


def test_pseudo_is_the_mean_of_spatial_and_temporal_with_one_shared_judge(chat_server, needle, caches):
    chat_server.responder = shape_frames
    samples, cands = needle
    pseudo = selectors.build("pseudo:scorer=probe:captioner=probe")
    assert pseudo.spatial.judge is pseudo.temporal.judge and len(pseudo._judges) == 1
    spatial = ask(selectors.build("spatial:scorer=probe"), cands, samples[0])
    temporal = ask(selectors.build("temporal:captioner=probe"), cands, samples[0])
    np.testing.assert_allclose(ask(pseudo, cands, samples[0]), (spatial + temporal) / 2)


def test_a_grid_of_three_selectors_and_three_k_scores_each_sample_once_per_selector(chat_server, cache_dir, tmp_path, caches, monkeypatch):
    chat_server.responder = shape_frames
    counts = {Spatial: 0, Temporal: 0}
    for cls in counts:
        original = cls.score

        def counted(self, query, cls=cls, original=original):
            counts[cls] += 1
            return original(self, query)

        monkeypatch.setattr(cls, "score", counted)
    # a score cache of its own, so no other test's scores count
    config = _config(tmp_path / "cache", tmp_path / "results", selectors=("uniform", "spatial:scorer=probe", "temporal:captioner=probe"), frames=(2, 4, 8), limit=6)
    benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=6))  # make sure the videos exist
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "needle").symlink_to(cache_dir / "needle")
    summary = run(config)
    assert summary.written == 3 * 3 * 6 and summary.errors == 0
    assert counts == {Spatial: 6, Temporal: 6} and len(chat_server.requests) == 6
    assert summary.scored == 3 * 6  # uniform's zeros are scored (and cached) once per sample too
    again = run(replace(config, results_dir=tmp_path / "results-2"))
    assert again.scored == 0 and counts == {Spatial: 6, Temporal: 6} and len(chat_server.requests) == 6
    rows = read_all(tmp_path / "results-2")
    assert len(rows) == 54 and rows[rows.selector != "uniform"].correct.all()


@pytest.mark.skipif("qwen2-vl" not in backbones.names(), reason="the qwen2-vl backbone is not in this tree")
def test_pseudo_runs_on_a_tiny_random_qwen2_vl_loaded_once(chat_server, needle, caches):
    # the real Qwen2-VL classes judge and caption all 128 candidates; the LLM lists frames 0 and 64
    chat_server.queue.append(Reply("[0, 64]"))
    samples, cands = needle
    pseudo = selectors.build("pseudo:size=tiny")
    pseudo.load("cpu")
    scores = ask(pseudo, cands, samples[0])
    spatial = ask(pseudo.spatial, cands, samples[0])
    pseudo.release()
    assert len(pseudo._judges) == 1 and spatial.shape == (128,) and np.all((spatial > 0) & (spatial < 1))
    np.testing.assert_allclose(scores, (spatial + np.isin(np.arange(128), [0, 64])) / 2, atol=1e-6)
    assert len(LINE.findall(chat_server.requests[0]["messages"][-1]["content"])) == 128
