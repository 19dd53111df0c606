"""The `openai` backbone against a real `transformers serve` serving a tiny random Qwen2-VL.

The model is `qwen2-vl:size=tiny` (random weights, a local tokenizer) saved to a temporary
directory with its processor and chat template; the server runs as a subprocess on a free
port, offline. Its answers are gibberish: what is tested is the HTTP path, the request format
(images as `data:` URLs in `image_url` parts), the server's chat template and its usage
counts. `transformers serve` ignores `logprobs`, so the frame judge through it must fail
with an error naming the server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.registry import backbones
from bench.results import read_all

STARTUP_S = 90  # importing transformers and loading the tiny model take ~10 s on a free core


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2-VL, model and processor (chat template included), saved with save_pretrained."""
    folder = tmp_path_factory.mktemp("tiny-qwen2-vl")
    model = backbones.build("qwen2-vl:size=tiny")
    model.load("cpu")
    model.model.save_pretrained(folder)
    model.processor.save_pretrained(folder)
    model.release()
    return folder


@pytest.fixture(scope="module")
def served(tiny_qwen: Path, tmp_path_factory: pytest.TempPathFactory):
    """The base URL of `transformers serve` pinned to the tiny model; the server is killed at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [str(Path(sys.executable).parent / "transformers"), "serve", str(tiny_qwen), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"transformers serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not answer /health in {STARTUP_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "unused-by-transformers-serve")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def bench_run(cache: Path, results: Path, selector: str, backbone: str):
    args = ["run", "--dataset", "needle", "--selector", selector, "--backbone", backbone, "--frames", "4", "--limit", "2",
            "--results-dir", results, "--cache-dir", cache, "--candidates", "32", "--frame-size", "64", "--device", "cpu"]
    return CliRunner().invoke(main, [str(a) for a in args])


def test_answers_come_back_through_the_servers_chat_template_with_the_images_counted(served, tiny_qwen, key, cache_dir, results_dir):
    from transformers import AutoProcessor

    result = bench_run(cache_dir, results_dir, "oracle", f"openai:model={tiny_qwen}:base_url={served}")
    assert result.exit_code == 0, result.output
    rows = read_all(results_dir)
    assert len(rows) == 2 and rows.error.eq("").all() and rows.backbone.eq(f"openai:model={tiny_qwen}").all()
    assert rows.parse_ok.notna().all()  # the gibberish was parsed (and most likely not understood), not lost
    # the text alone in the saved chat template, then each image: <|vision_start|>, its pads, <|vision_end|>.
    # A needle frame decoded at short side 64 is 85x64; the tiny processor (factor 28, 3136..4704 px)
    # rounds it to 56x84 (4704 px, not above the cap): 4x6 patches of 14, merged 2x2 = 6 pads, 8 tokens an image
    processor = AutoProcessor.from_pretrained(tiny_qwen)
    for row in rows.itertuples():
        prompt = "What colour is the shape that appears in the video?\n" + "\n".join(
            f"{letter}. {option}" for letter, option in zip("ABCDE", json.loads(row.options))) + "\nAnswer with the option's letter from the given choices directly."
        text = processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": prompt}]}], add_generation_prompt=True, tokenize=False)
        text_tokens = len(processor.tokenizer(text)["input_ids"])
        assert row.prompt_tokens == text_tokens + 4 * 8
        assert 1 <= row.completion_tokens <= 16  # needle's max_new_tokens
    assert rows.peak_mem_mb.isna().all()


def test_captions_come_back_one_per_frame(served, tiny_qwen, key):
    captioner = backbones.build(f"openai:model={tiny_qwen}:base_url={served}:concurrency=2")
    captioner.load("cpu")
    captions = captioner.caption(np.zeros((3, 64, 85, 3), np.uint8))
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)


def test_judging_frames_through_transformers_serve_is_an_error_naming_the_server(served, tiny_qwen, key, cache_dir, results_dir):
    # transformers serve ignores logprobs (UNUSED_CHAT_COMPLETION_FIELDS in transformers/cli/serving/chat_completion.py)
    result = bench_run(cache_dir, results_dir, f"spatial:scorer=openai:model={tiny_qwen}:base_url={served}", "probe")
    assert result.exit_code == 1, result.output
    rows = read_all(results_dir)
    assert len(rows) == 2
    assert rows.error.str.startswith(f"select: ChatError: {tiny_qwen} at {served} returned no logprobs").all()
