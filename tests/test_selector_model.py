"""The trained selector's model, checkpoints and training mechanics (tiny, CPU, ground-truth labels)."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.store.frames import FrameCache
from bench.labels import LabelRecord, read_labels
from bench.records import DataOptions
from bench.registry import benchmarks
from bench.selector_model import checkpoint
from bench.selector_model.config import SelectorConfig
from bench.selector_model.model import build
from bench.selector_model.train import TrainConfig, split, topk_hit, train

N = 32


@pytest.fixture(scope="module")
def truth_labels(cache_dir, tmp_path_factory) -> Path:
    """Labels that are the ground truth (1 inside the needle interval, else 0) for 24 train videos."""
    path = tmp_path_factory.mktemp("labels") / "truth.jsonl"
    frames = FrameCache(cache_dir)
    with path.open("w") as f:
        for s in benchmarks.build("needle:split=train").load(DataOptions(cache_dir=cache_dir, limit=24)):
            c = frames.candidates(s.videos, N, 336)
            label = ((c.times >= s.interval[0]) & (c.times < s.interval[1])).astype(float)
            record = LabelRecord(s.dataset, s.sample_id, tuple(map(str, s.videos)), s.question, s.options, N, 336, "exact", None, None, tuple(label))
            f.write(json.dumps(asdict(record)) + "\n")
    return path


def _inputs(config: SelectorConfig, n: int = N):
    torch.manual_seed(1)
    visual = torch.randn(2, n, config.tokens, 64)
    ids = torch.randint(5, 100, (2, 7))
    return visual, ids, torch.tensor([7, 4])


@pytest.mark.parametrize("head", ["query", "frame"])
@pytest.mark.parametrize("tokens", [1, 9, 25])
def test_the_model_gives_one_logit_per_candidate(head, tokens):
    model, _, _ = build(SelectorConfig(size="tiny", head=head, tokens=tokens, candidates=N))
    pooled = model.visual_tokens(torch.rand(3, 3, 64, 64))
    assert pooled.shape == (3, tokens, 64)  # an 8x8 patch grid pooled to sqrt(tokens) squared
    logits = model(*_inputs(model.config))
    assert logits.shape == (2, N) and torch.isfinite(logits).all()


def test_the_query_head_reads_the_query_after_each_questions_own_length():
    # padding after the query must not change a shorter question's scores (causal attention)
    model, _, _ = build(SelectorConfig(size="tiny", head="query", candidates=N))
    visual, ids, lengths = _inputs(model.config)
    padded = model(visual, ids, lengths)[1]
    alone = model(visual[1:], ids[1:, :4], lengths[1:])[0]
    torch.testing.assert_close(padded, alone, rtol=1e-4, atol=1e-5)


def test_the_query_head_refuses_another_pool_size():
    model, _, _ = build(SelectorConfig(size="tiny", head="query", candidates=N))
    with pytest.raises(ValueError, match="exactly 32 candidates, not 16"):
        model(*_inputs(model.config, n=16))


@pytest.mark.parametrize("lora", [0, 4])
def test_a_checkpoint_round_trips(tmp_path, lora):
    model, _, _ = build(SelectorConfig(size="tiny", head="query", candidates=N, lora_r=lora))
    with torch.no_grad():
        for p in [*model.head.parameters(), model.query]:
            p.add_(0.5)  # make the trained parts differ from a fresh build
    checkpoint.save(model, tmp_path)
    loaded, _, _ = checkpoint.load(tmp_path)
    torch.testing.assert_close(loaded(*_inputs(model.config)), model.eval()(*_inputs(model.config)))
    fresh, _, _ = build(model.config)
    assert not torch.allclose(fresh(*_inputs(model.config)), loaded(*_inputs(model.config)))


def test_loading_a_directory_without_a_checkpoint_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        checkpoint.load(tmp_path)


@pytest.mark.parametrize("logits, labels, k, expected", [
    ([[0.9, 0.1, 0.8, 0.0]], [[0, 0, 1, 0]], 2, 1.0),  # top-2 = {0, 2} holds the best label
    ([[0.9, 0.1, 0.8, 0.0]], [[0, 1, 0, 0]], 2, 0.0),
    ([[0.9, 0.1, 0.8, 0.0], [0.1, 0.2, 0.3, 0.4]], [[0.5, 0.5, 0.2, 0], [1, 0, 0, 0]], 1, 0.5),  # ties count
])
def test_topk_hit_rate(logits, labels, k, expected):
    assert topk_hit(np.array(logits), np.array(labels, dtype=float), k) == expected


def test_the_held_out_split_depends_on_ids_not_order(truth_labels):
    records = read_labels(truth_labels)
    train_a, held_a = split(records, 0.25)
    train_b, held_b = split(records[::-1], 0.25)
    assert {r.sample_id for r in held_a} == {r.sample_id for r in held_b} and held_a
    assert len(train_a) + len(held_a) == len(records)


def _config(labels: Path, out: Path, cache: Path, **kw) -> TrainConfig:
    base = dict(labels=labels, out=out, cache_dir=cache, size="tiny", head="query", stage="1", epochs=4,
                batch_size=4, lr1=3e-3, heldout=0.25, device="cpu", save_every=2)
    return TrainConfig(**{**base, **kw})


def test_training_lowers_the_query_heads_loss(truth_labels, cache_dir, tmp_path):
    logs = train(_config(truth_labels, tmp_path / "q", cache_dir, epochs=6, lr1=1e-2))
    assert logs[-1].train_loss < 0.6 * logs[0].train_loss
    assert logs[-1].heldout_loss < logs[0].heldout_loss
    assert (tmp_path / "q" / "model.safetensors").exists()


def test_stage_two_adds_lora_and_keeps_stage_ones_weights(truth_labels, cache_dir, tmp_path):
    train(_config(truth_labels, tmp_path / "s", cache_dir, stage="both", epochs=1))
    model, _, _ = checkpoint.load(tmp_path / "s")
    assert model.config.lora_r == 16
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_a_killed_training_resumes_from_its_saved_step(truth_labels, cache_dir, tmp_path):
    out = tmp_path / "resume"
    command = [sys.executable, "-m", "bench", "train", "--labels", truth_labels, "--out", out, "--size", "tiny",
               "--stage", "1", "--epochs", "10", "--batch-size", "2", "--save-every", "3", "--heldout", "0.25",
               "--device", "cpu", "--cache-dir", cache_dir]
    child = subprocess.Popen([str(c) for c in command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (state.exists() and json.loads(state.read_text())["position"]["steps"] >= 6):
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    saved = json.loads(state.read_text())["position"]
    assert 6 <= saved["steps"] < 10 * 9, "the kill should land mid-training"
    logs = train(_config(truth_labels, out, cache_dir, epochs=10, batch_size=2, save_every=3, lr1=1e-3))
    assert logs[0].epoch == saved["epoch"] + 1  # resumed in the epoch it stopped in, not from the start
    assert logs[0].step > saved["steps"]
    per_epoch = logs[1].step - logs[0].step
    assert logs[-1].step == 10 * per_epoch  # the step count continues exactly where it left off


def test_a_checkpoint_of_another_training_is_refused(truth_labels, cache_dir, tmp_path):
    train(_config(truth_labels, tmp_path / "x", cache_dir, epochs=1))
    with pytest.raises(ValueError, match="different training .*head"):
        train(_config(truth_labels, tmp_path / "x", cache_dir, epochs=1, head="frame"))
