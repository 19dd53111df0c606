"""framebench inside lmms-eval: real lmms-eval 0.7.3, offline, on a local task over needle videos, with the probe backbone.

The task (written below: a YAML over a local JSON file and a utils.py) asks needle's question
with needle's prompt and scores the letter, so lmms-eval's accuracy must equal `bench run`'s on
the same questions, uniform frames and k; answering from a `bench select` file must give the
same, and a question the file lacks must stop the evaluation with an error naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.records import DataOptions
from bench.registry import benchmarks
from bench.results import read_all
from bench.runner import RunConfig, run

pytest.importorskip("lmms_eval", reason="lmms-eval is not installed: pip install -e '.[test]' installs it")

LIMIT, K, N, SIZE = 8, 4, 32, 64
TASK = """task: needle_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 16
process_results: !function utils.process_results
metric_list:
  - metric: accuracy
    aggregation: mean
    higher_is_better: true
"""
UTILS = '''import re


def doc_to_visual(doc):
    return [doc["video"]]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    options = "\\n".join(f"{letter}. {text}" for letter, text in zip("ABCDE", doc["options"]))
    return f"{doc['question']}\\n{options}\\nAnswer with the option's letter from the given choices directly."


def process_results(doc, results):
    found = re.match(r"\\s*\\(?([A-E])[.)]", results[0])
    return {"accuracy": float(bool(found) and found.group(1) == doc["answer"])}
'''


@pytest.fixture(scope="module")
def needle(tmp_path_factory):
    """The first LIMIT needle test samples as a local lmms-eval task, and the cache holding their videos."""
    root = tmp_path_factory.mktemp("lmms")
    samples = benchmarks.build("needle").load(DataOptions(cache_dir=root / "cache", limit=LIMIT))
    data = root / "needle.json"
    data.write_text(json.dumps([{"question_id": s.sample_id, "video": str(s.videos[0]), "question": s.question,
                                 "options": list(s.options), "answer": s.answer} for s in samples]))
    task = root / "tasks"
    task.mkdir()
    (task / "needle_local.yaml").write_text(TASK.format(data=data))
    (task / "utils.py").write_text(UTILS)
    return root


def lmms_eval(root: Path, out: Path, **model_args: str) -> tuple[subprocess.CompletedProcess, float | None]:
    """Run the real lmms-eval CLI on the local task; its accuracy (None when it failed)."""
    args = ",".join(f"{k}={v}" for k, v in {"backbone": "probe", "frames": K, "candidates": N, "frame_size": SIZE,
                                              "cache_dir": root / "cache", "device": "cpu", **model_args}.items())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(root / "hf-datasets")}
    done = subprocess.run([sys.executable, "-m", "lmms_eval", "--model", "framebench", "--model_args", args, "--tasks", "needle_local",
                           "--include_path", str(root / "tasks"), "--batch_size", "1", "--output_path", str(out)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=root)
    found = sorted(out.rglob("*results*.json"))
    score = json.loads(found[-1].read_text())["results"]["needle_local"]["accuracy,none"] if done.returncode == 0 and found else None
    return done, score


def test_lmms_evals_score_equals_bench_runs_accuracy_on_the_same_questions(needle, tmp_path):
    selector = "spatial:scorer=probe"  # the probe's frame judge sees the shape: most answers right, so equal scores mean something
    summary = run(RunConfig(datasets=("needle",), selectors=(selector,), backbones=("probe",), frames=(K,), limit=LIMIT, candidates=N,
                            frame_size=SIZE, results_dir=tmp_path / "results", cache_dir=needle / "cache", device="cpu", workers=0))
    assert summary.errors == 0
    accuracy = read_all(tmp_path / "results").correct.astype(bool).mean()
    assert accuracy >= 0.75
    done, score = lmms_eval(needle, tmp_path / "lmms", selector=selector)
    assert done.returncode == 0, done.stderr[-3000:]
    assert score == pytest.approx(accuracy)


def test_answers_come_from_a_bench_select_file_by_question_id_and_a_missing_one_is_an_error(needle, tmp_path):
    selections = tmp_path / "sel.jsonl"
    made = CliRunner().invoke(main, ["select", "--dataset", "needle", "--limit", str(LIMIT), "--selector", "oracle", "--frames", str(K),
                                     "--candidates", str(N), "--frame-size", str(SIZE), "--cache-dir", str(needle / "cache"),
                                     "--out", str(selections), "--device", "cpu", "--workers", "0"])
    assert made.exit_code == 0, made.output
    done, score = lmms_eval(needle, tmp_path / "from-file", selections=selections)
    assert done.returncode == 0, done.stderr[-3000:]
    assert score == 1.0  # the oracle's selections, answered by the probe: the shape is in every selection
    lines = selections.read_text().splitlines()
    gone = json.loads(lines[3])["question_id"]
    selections.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    done, score = lmms_eval(needle, tmp_path / "missing", selections=selections)
    # lmms-eval 0.7.3 logs an evaluation's exception and exits 0 all the same; it writes no results
    assert score is None and not list((tmp_path / "missing").rglob("*results*.json"))
    assert f"question_id {gone!r} has no line in the selections file" in done.stderr + done.stdout
