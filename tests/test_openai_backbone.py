"""The `openai` backbone through a real HTTP server that reads the images it is sent (tests/image_server.py).

The server answers as the in-process `probe` would from the pixels it decodes, so a run
through it must reach the probe's accuracy cell by cell: that shows the frames arrive whole
and in time order (and, with lossless PNG, byte for byte). Faults (500s, a hang past the
timeout, a judge reply without logprobs) give error rows and exit 1, the other backbone's rows
untouched, and a rerun retries only the error rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.backbones._hf import CAPTION_PROMPT, JUDGE_PROMPT
from bench.backbones.probe import Probe
from bench.llm.chat import ChatError
from bench.cli import main
from bench.store.frames import FrameCache
from bench.records import DataOptions
from bench.registry import RegistryError, backbones, benchmarks, selectors
from bench.results import read_all
from tests.chat_server import Reply
from tests.image_server import IMAGE_TOKENS, ImageServer, decode

N, SIZE = 32, 64  # candidates and frame size of every run here
SMALL = ["--candidates", N, "--frame-size", SIZE, "--device", "cpu"]
# the needle prompt in words: the question (10), five options "A. red" (2 each), the instruction (10)
PROMPT_WORDS = 10 + 5 * 2 + 10


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)  # base_url= in the spec is the only way to the server
    with ImageServer() as running:
        yield running


def bench_run(cache: Path, results: Path, selector: str, backbone: str, frames: str, limit: int):
    args = ["run", "--dataset", "needle", "--selector", selector, "--backbone", backbone, "--frames", frames,
            "--limit", limit, "--results-dir", results, "--cache-dir", cache, *SMALL]
    return CliRunner().invoke(main, [str(a) for a in args])


def needle_candidates(cache: Path, limit: int) -> dict:
    """sample_id -> the candidates a run with SMALL decodes for it (from the frame cache)."""
    frames = FrameCache(cache)
    samples = benchmarks.build("needle").load(DataOptions(cache_dir=cache, limit=limit))
    return {s.sample_id: frames.candidates(s.videos, N, SIZE, "exact", "pyav") for s in samples}


# item 1 and 4: the backbone reaches the probe's accuracy through HTTP, cell by cell
def test_the_server_backbone_reaches_the_probes_accuracy_cell_by_cell(server, cache_dir, results_dir):
    remote = f"openai:model=probe-server:base_url={server.url}:concurrency=4"
    result = bench_run(cache_dir, results_dir, "uniform,oracle", f"probe,{remote}", "4,8", 8)
    assert result.exit_code == 0, result.output
    rows = read_all(results_dir)
    # base_url and concurrency change no answer: the cell is named by the model alone
    assert sorted(rows.backbone.unique()) == ["openai:model=probe-server", "probe"]
    assert len(rows) == 2 * 2 * 2 * 8  # selectors x k x backbones x samples
    key = ["selector", "frames", "sample_id"]
    probe = rows[rows.backbone == "probe"].set_index(key).sort_index()
    served = rows[rows.backbone == "openai:model=probe-server"].set_index(key).sort_index()
    assert served.error.eq("").all()
    assert served.selected.tolist() == probe.selected.tolist()
    assert served.correct.tolist() == probe.correct.tolist()
    assert probe.loc["oracle"].correct.all()  # the oracle's frames show the shape: 16 of 16 right, so the match is not all-wrong
    assert len(server.requests) == 32 and server.peak <= 4
    # usage: words of the prompt plus IMAGE_TOKENS per image; "C. blue" is 2 words, "I did not see any shape." 6
    ks = served.index.get_level_values("frames").to_numpy()
    assert served.prompt_tokens.tolist() == (PROMPT_WORDS + IMAGE_TOKENS * ks).tolist()
    assert served.completion_tokens.tolist() == np.where(served.correct.astype(bool), 2, 6).tolist()
    assert probe.prompt_tokens.isna().all() and probe.completion_tokens.isna().all()
    assert served.peak_mem_mb.isna().all() and probe.peak_mem_mb.notna().all()  # this process's memory means nothing for a server
    assert served.n_visual_tokens.isna().all() and (served.t_answer_s > 0).all()


def test_the_request_is_one_user_turn_of_frames_then_the_prompt_greedy(server, cache_dir, results_dir):
    result = bench_run(cache_dir, results_dir, "oracle", f"openai:model=probe-server:base_url={server.url}", "4", 1)
    assert result.exit_code == 0, result.output
    (request,) = server.requests
    assert (request["model"], request["temperature"], request["max_tokens"]) == ("probe-server", 0, 16)  # needle's max_new_tokens
    (turn,) = request["messages"]
    assert turn["role"] == "user" and [part["type"] for part in turn["content"]] == ["image_url"] * 4 + ["text"]
    assert all(part["image_url"]["url"].startswith("data:image/jpeg;base64,") for part in turn["content"][:4])
    assert turn["content"][4]["text"].startswith("What colour is the shape that appears in the video?\nA. ")


def test_png_frames_arrive_byte_for_byte_in_time_order(server, cache_dir, results_dir):
    result = bench_run(cache_dir, results_dir, "oracle", f"openai:model=probe-server:base_url={server.url}:image_format=png", "8", 4)
    assert result.exit_code == 0, result.output
    rows = read_all(results_dir)
    assert rows.backbone.unique().tolist() == ["openai:image_format=png:model=probe-server"]  # the format changes pixels: in the spec
    candidates = needle_candidates(cache_dir, 4)
    sent = [decode(r["messages"])[0] for r in server.requests]
    assert len(sent) == len(rows) == 4
    for row in rows.itertuples():
        expected = candidates[row.sample_id].frames[[int(i) for i in row.selected.split()]]  # ascending: time order
        assert sum(np.array_equal(frames, expected) for frames in sent) == 1, row.sample_id


# item 1: the spec
@pytest.mark.parametrize("spec, canonical", [
    ("openai:model=m", "openai:model=m"),
    ("openai:model=m:base_url=http://10.0.0.1:8000/v1:concurrency=64:api_key_env=KEY:timeout=5:retries=0", "openai:model=m"),
    ("openai:model=Qwen/Qwen2-VL-7B-Instruct:image_format=png:jpeg_quality=80", "openai:image_format=png:jpeg_quality=80:model=Qwen/Qwen2-VL-7B-Instruct"),
    ("openai:model=m:image_format=jpeg:jpeg_quality=90", "openai:model=m"),  # the defaults
])
def test_the_canonical_spec_keeps_what_changes_answers_and_drops_where_the_server_is(spec, canonical):
    assert backbones.canonical(spec) == canonical


@pytest.mark.parametrize("backbone, message", [
    ("openai", "openai needs the served model's name: openai:model=NAME"),
    ("openai:model=m:image_format=gif", "image_format must be one of jpeg, png, not 'gif'"),
    ("openai:model=m:concurrency=0", "concurrency must be at least 1, not 0"),
])
def test_a_bad_openai_spec_exits_2_saying_what_to_type(tmp_path, backbone, message):
    result = bench_run(tmp_path / "cache", tmp_path / "results", "uniform", backbone, "4", 1)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_an_unset_key_variable_is_a_load_error_naming_it(monkeypatch):
    monkeypatch.delenv("MY_SERVER_KEY", raising=False)
    backbone = backbones.build("openai:model=m:base_url=http://127.0.0.1:9/v1:api_key_env=MY_SERVER_KEY")
    with pytest.raises(ChatError, match="MY_SERVER_KEY is not set"):
        backbone.load("cpu")


# item 4: a failing server gives error rows, the probe's rows stay, a rerun retries only the error rows
@pytest.mark.parametrize("fault, reason", [
    (Reply(status=500), "HTTP 500 after 2 tries"),
    (Reply(delay=2.0), "timeout after 2 tries"),  # a hang past timeout=0.5
])
def test_a_failing_server_gives_error_rows_and_a_healthy_rerun_redoes_only_them(server, cache_dir, results_dir, fault, reason):
    remote = f"openai:model=probe-server:base_url={server.url}:timeout=0.5:retries=1"
    server.fault = fault
    first = bench_run(cache_dir, results_dir, "oracle", f"probe,{remote}", "4", 4)
    assert first.exit_code == 1, first.output
    rows = read_all(results_dir)
    served, probe = rows[rows.backbone == "openai:model=probe-server"], rows[rows.backbone == "probe"]
    assert served.error.tolist() == [f"answer: ChatError: probe-server at {server.url}: {reason}"] * 4
    assert served.correct.isna().all() and served.prediction.eq("").all()
    assert probe.error.eq("").all() and probe.correct.all()
    assert len(server.requests) == 4 * 2  # 4 rows, each tried once and retried once
    probe_file = next(p for p in results_dir.rglob("*.csv") if "probe-server" not in p.name)
    probe_bytes = probe_file.read_bytes()

    server.fault = None
    again = bench_run(cache_dir, results_dir, "oracle", f"probe,{remote}", "4", 4)
    assert again.exit_code == 0, again.output
    assert "4 rows written (0 errors), 4 already done" in " ".join(again.output.split())
    assert len(server.requests) == 8 + 4  # only the 4 error rows were asked again
    assert probe_file.read_bytes() == probe_bytes
    rows = read_all(results_dir)
    served = rows[rows.backbone == "openai:model=probe-server"]
    assert len(served) == 4 and served.error.eq("").all() and served.correct.all()  # oracle frames: all right


# item 2: judging frames through the server
def test_the_judge_scores_from_the_first_tokens_top_logprobs_case_and_space_blind(chat_server):
    chat_server.queue.append(Reply(" TRUE", top_logprobs=((" TRUE", math.log(0.3)), ("Yes", math.log(0.3)), ("False", math.log(0.2)), ("true", math.log(0.1)))))
    judge = backbones.build(f"openai:model=judge:base_url={chat_server.url}")
    judge.load("cpu")
    scores = judge.frame_relevance(np.zeros((1, 8, 8, 3), np.uint8), "Which colour?")
    assert scores.dtype == np.float32 and scores.tolist() == pytest.approx([(0.3 + 0.1) / (0.3 + 0.1 + 0.2)])  # "Yes" is not "True"
    (request,) = chat_server.requests
    assert (request["logprobs"], request["top_logprobs"], request["max_tokens"], request["temperature"]) == (True, 5, 1, 0)
    assert request["messages"][0]["content"][1] == {"type": "text", "text": JUDGE_PROMPT.format(question="Which colour?")}


@pytest.mark.parametrize("reply, message", [
    (Reply("True"), "judge at {url} returned no logprobs"),
    (Reply("Maybe", top_logprobs=(("Maybe", -0.1), ("Perhaps", -2.5))), "judge at {url}: neither True nor False among the top 2 first tokens ('Maybe', 'Perhaps')"),
])
def test_a_judge_reply_without_true_or_false_is_an_error_naming_the_server(chat_server, reply, message):
    chat_server.queue.append(reply)
    judge = backbones.build(f"openai:model=judge:base_url={chat_server.url}")
    judge.load("cpu")
    with pytest.raises(ChatError) as caught:
        judge.frame_relevance(np.zeros((1, 8, 8, 3), np.uint8), "Which colour?")
    assert message.format(url=chat_server.url) in str(caught.value)


def test_frames_are_judged_and_captioned_concurrently_in_frame_order(server, cache_dir):
    server.latency = 0.2
    # 4 candidates inside the needle's interval and 4 outside, interleaved, so frame order shows in the scores
    sample = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=1))[0]
    cands = needle_candidates(cache_dir, 1)[sample.sample_id]
    inside = np.flatnonzero((cands.times >= sample.interval[0]) & (cands.times < sample.interval[1]))
    outside = np.flatnonzero((cands.times < sample.interval[0]) | (cands.times >= sample.interval[1]))
    frames = cands.frames[np.ravel(np.column_stack([inside[:1].repeat(4), outside[:4]]))]
    judge = backbones.build(f"openai:model=probe-server:base_url={server.url}:concurrency=4:image_format=png")
    judge.load("cpu")
    assert judge.frame_relevance(frames, "Which colour?").tolist() == Probe().frame_relevance(frames, "").tolist()
    assert server.peak == 4 and len(server.requests) == 8
    assert judge.caption(frames) == Probe().caption(frames)
    assert server.requests[-1]["messages"][0]["content"][1]["text"] == CAPTION_PROMPT


# item 2: the spatial and temporal selectors with a judge behind the server (needs the lead's spatial/temporal plumbing)
def test_spatial_with_the_server_judge_selects_what_it_selects_with_the_probe(server, cache_dir, results_dir):
    judged = f"spatial:scorer=openai:model=probe-server:base_url={server.url}"
    result = bench_run(cache_dir, results_dir, f"spatial:scorer=probe,{judged}", "probe", "4", 4)
    assert result.exit_code == 0, result.output
    rows = read_all(results_dir).set_index(["selector", "sample_id"]).sort_index()
    assert sorted(rows.index.levels[0]) == ["spatial:model=probe-server:scorer=openai", "spatial:scorer=probe"]
    assert rows.loc["spatial:model=probe-server:scorer=openai"].selected.tolist() == rows.loc["spatial:scorer=probe"].selected.tolist()
    assert rows.correct.all()  # both find the needle in all 4 samples
    judged_requests = [r for r in server.requests if r.get("logprobs")]
    assert len(judged_requests) == 4 * N and all(r["top_logprobs"] == 5 and r["max_tokens"] == 1 for r in judged_requests)


def test_a_server_judge_without_logprobs_gives_select_error_rows_naming_it(server, cache_dir, results_dir):
    server.logprobs = False  # as transformers serve answers
    # another model name: scores of probe-server may be cached already, and a cached score asks no server
    result = bench_run(cache_dir, results_dir, f"spatial:scorer=openai:model=no-logprobs:base_url={server.url}", "probe", "4", 2)
    assert result.exit_code == 1, result.output
    rows = read_all(results_dir)
    assert len(rows) == 2 and rows.correct.isna().all()
    assert rows.error.str.startswith(f"select: ChatError: no-logprobs at {server.url} returned no logprobs").all()


def test_temporal_captions_through_the_server_and_caches_them_by_model(server, cache_dir):
    temporal = selectors.build(f"temporal:captioner=openai:model=probe-server:base_url={server.url}:image_format=png",
                               context={"cache_dir": cache_dir})
    assert temporal.judge.spec == "openai:image_format=png:model=probe-server"  # the caption cache's key: no server in it
    assert selectors.canonical(f"temporal:captioner=openai:model=probe-server:base_url={server.url}") == "temporal:captioner=openai:model=probe-server"
    sample = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=1))[0]
    cands = needle_candidates(cache_dir, 1)[sample.sample_id]
    temporal.load("cpu")
    assert temporal.captions(cands) == Probe().caption(cands.frames)
    assert len(server.requests) == N


def test_a_server_parameter_for_an_in_process_judge_is_refused():
    with pytest.raises(RegistryError, match="backbone 'probe' takes no model"):
        selectors.build("spatial:scorer=probe:model=probe-server")
