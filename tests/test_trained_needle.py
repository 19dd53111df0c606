"""The needle world trains a real selector on the CPU: pseudo labels from probe (spatial) and a
local chat-completions server (temporal), a tiny per-frame-head selector trained on them, and
`bench run` showing it beats uniform on held-out videos."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from bench.labels import make_labels, read_labels
from bench.records import DataOptions
from bench.registry import benchmarks
from bench.results import read_all
from bench.runner import RunConfig, run
from bench.selector_model.train import TrainConfig, train
from tests.chat_server import Reply

N = 32  # candidates: fewer than the paper's 128 keep the CPU test fast
TRAIN, TEST = 60, 60
SPATIAL, TEMPORAL = "spatial:scorer=probe", "temporal:captioner=probe"


def pick_shapes(request: dict) -> Reply:
    """A text LLM that lists the frames whose caption mentions a shape (frame 0 when none does)."""
    lines = request["messages"][-1]["content"].splitlines()
    listed = [int(m.group(1)) for line in lines if (m := re.match(r"(\d+) \(.*\): .*shape", line))]
    return Reply(json.dumps(listed or [0]))


@pytest.fixture(scope="module")
def labelled(cache_dir, tmp_path_factory):
    """Labels for TRAIN needle training videos, made through a real local chat server."""
    from tests.chat_server import ChatServer

    out = tmp_path_factory.mktemp("needle-labels") / "labels.jsonl"
    samples = benchmarks.build("needle:split=train").load(DataOptions(cache_dir=cache_dir, limit=TRAIN))
    with ChatServer() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_BASE_URL", server.url)
        patch.setenv("OPENAI_API_KEY", "test")
        server.responder = pick_shapes
        summary = make_labels(samples, SPATIAL, TEMPORAL, out, cache_dir, N, 336, "exact", "cpu")
    assert summary.written == TRAIN and not summary.errors
    return out


def test_labels_hold_both_signals_and_their_mean(labelled, needle_test):
    records = read_labels(labelled)
    assert len(records) == TRAIN and len({r.sample_id for r in records}) == TRAIN
    for r in records:
        assert len(r.spatial) == len(r.temporal) == len(r.label) == N
        assert all(abs(l - (s + t) / 2) < 1e-6 for s, t, l in zip(r.spatial, r.temporal, r.label))
    # a frame the probe sees the shape in gets a high spatial score and is listed by the LLM
    shown = [(s, t) for r in records for s, t in zip(r.spatial, r.temporal) if s > 0.9]
    assert shown and all(t == 1.0 for _, t in shown)


def test_a_trained_selector_beats_uniform_on_held_out_needle_videos(labelled, cache_dir, tmp_path):
    out = tmp_path / "selector"
    logs = train(TrainConfig(labels=labelled, out=out, cache_dir=cache_dir, size="tiny", head="frame", stage="1",
                             epochs=40, batch_size=8, lr1=1e-2, heldout=0.15, device="cpu"))
    assert logs[-1].train_loss < logs[0].train_loss
    results = tmp_path / "results"
    run(RunConfig(datasets=("needle",), selectors=("uniform", f"trained:ckpt={out}"), backbones=("probe",), frames=(4,),
                  candidates=N, limit=TEST, results_dir=results, cache_dir=cache_dir, device="cpu"))
    data = read_all(results)
    assert (data.error == "").all() and len(data) == 2 * TEST
    accuracy = data.groupby(data.selector.str.split(":").str[0]).correct.mean()
    # measured on the 2-core CI machine: uniform 0.10, trained 0.88 (seed 0). Uniform's 4 of 32
    # frames catch a 3% needle about 12% of the time; the margin asserted leaves room for
    # another CPU's floating point to train a slightly different model.
    assert accuracy["trained"] - accuracy["uniform"] >= 0.5, accuracy.to_dict()


def test_labelling_resumes_after_sigkill_without_redoing_work(cache_dir, chat_server, tmp_path):
    out = tmp_path / "labels.jsonl"
    chat_server.responder = lambda request: Reply(pick_shapes(request).content, delay=0.4)
    command = [sys.executable, "-m", "bench", "labels", "--dataset", "needle:split=train", "--limit", "8",
               "--spatial", SPATIAL, "--temporal", TEMPORAL, "--candidates", str(N), "--out", str(out),
               "--device", "cpu", "--cache-dir", str(cache_dir / "resume")]
    (cache_dir / "resume").mkdir(exist_ok=True)
    os.symlink(cache_dir / "needle", cache_dir / "resume" / "needle")
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(chat_server.requests) < 3:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    asked_before = len(chat_server.requests)
    assert 3 <= asked_before < 8, "the kill should land while the LLM is being asked"
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    records = read_labels(out)
    assert len(records) == 8 and len({r.sample_id for r in records}) == 8
    # samples the LLM answered before the kill were not asked again (their scores were cached)
    assert len(chat_server.requests) - asked_before <= 8 - (asked_before - 1)
