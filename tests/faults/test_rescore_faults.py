"""`bench rescore` under faults: a judge that is down or failing, and SIGKILL part way through.

A judge that fails keeps every verdict a row already had (issue 10, item 17) and the command
exits 1 saying how many; a kill at any point leaves each CSV either as it was or as rescored,
never half-written, and a rerun finishes the job (item 4 of the fault suite).
"""

import csv
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.records import COLUMNS
from bench.rescore import rescore
from bench.results import CellWriter
from tests.chat_server import Reply

OPTIONS = json.dumps(["roll the handle", "tap their feet", "strum the string", "hit with sticks", "pat with hand"])
# an older parser missed "Answer: (c)": rescoring makes it C, parsed and right
STALE = {"dataset": "nextqa", "split": "val", "video_id": "v", "question": "how do they play", "selector": "uniform",
         "backbone": "probe", "frames": "4", "candidates": "128", "prediction": "Answer: (c)", "answer": "C", "options": OPTIONS,
         "correct": "false", "parse_ok": "false"}
# as a run writes them: open-ended outcomes are parse_ok and parse nothing
ANET = {**STALE, "dataset": "activitynet-qa:judge_model=judge-x", "options": "[]", "question": "what color is the car",
        "answer": "red", "judge_model": "judge-x", "parse_ok": "true"}


def write_cell(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in COLUMNS} for row in rows)


def read_cell(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- item 17: a judge that fails now never costs a verdict already paid for ---

JUDGE_DOWN = {
    "server down": ("closed port", "judge: judge-x: connection failed after 1 tries", 0),
    "server answers 500": (Reply(status=500), "judge: judge-x: HTTP 500 after 1 tries", 2),  # a1 and a2 each ask once
    "key refused": (Reply(status=401), "judge: authentication failed (401) at {url}: check OPENAI_API_KEY", 1),  # a1 asks, a2 not
}


@pytest.mark.parametrize("fault, error, requests", JUDGE_DOWN.values(), ids=JUDGE_DOWN.keys())
def test_a_failing_judge_keeps_previous_verdicts_and_the_command_says_so_and_exits_1(tmp_path, chat_server, monkeypatch, fault, error, requests):
    results, anet, mc = tmp_path / "results", tmp_path / "results" / "anet.csv", tmp_path / "results" / "mc.csv"
    write_cell(anet, [
        {**ANET, "sample_id": "a1", "prediction": "red", "correct": "true", "judge_score": "5"},  # judged before, not in this cache
        {**ANET, "sample_id": "a2", "prediction": "blue", "error": "judge: judge-x: timeout after 1 tries"},  # never judged
    ])
    write_cell(mc, [{**STALE, "sample_id": "s1"}])
    if fault == "closed port":
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port()}/v1")
    else:
        chat_server.responder = lambda request: fault
    error = error.replace("{url}", chat_server.url)
    a1_before = anet.read_text().splitlines()[1]
    args = ["rescore", "--results-dir", results, "--cache-dir", tmp_path / "cache", "--judge-timeout", "2", "--judge-retries", "0"]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    said = " ".join(result.output.split())  # rich wraps long lines
    # 3 rows rescored; changed: a2 (a new reason) and s1 (now parsed); kept: a1; judge errors: a2
    assert result.exit_code == 1
    assert ("rescored 3 rows in 2 files: 2 changed, 0 left alone (no prediction or no options column), "
            "1 judge errors, 1 kept their previous verdict because the judge failed") in said
    assert f"{anet}: activitynet-qa:judge_model=judge-x a1: {error}; previous verdict kept" in said
    assert f"{anet}: activitynet-qa:judge_model=judge-x a2: {error}" in said
    assert len(chat_server.requests) == requests
    a1, a2 = read_cell(anet)
    assert anet.read_text().splitlines()[1] == a1_before  # the kept row is byte for byte as it was
    assert (a1["error"], a1["correct"], a1["judge_score"], a1["judge_model"]) == ("", "true", "5", "judge-x")
    assert (a2["error"], a2["correct"], a2["judge_score"], a2["judge_model"]) == (error, "", "", "judge-x")
    assert read_cell(mc)[0]["correct"] == "true"  # the rest of the rescore went on
    # the judge is back: both judged ("red" yes 5, as before; "blue" no 0, new: 1 changed), nothing kept, exit 0
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server.url)
    chat_server.responder = lambda request: Reply(
        "{'pred': 'yes', 'score': 5}" if "Predicted answer: red\n" in request["messages"][1]["content"] else "{'pred': 'no', 'score': 0}")
    again = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert again.exit_code == 0 and "1 changed, 0 left alone (no prediction or no options column), 0 judge errors, 0 kept" in " ".join(again.output.split())
    a1, a2 = read_cell(anet)
    assert (a1["error"], a1["correct"], a1["judge_score"]) == ("", "true", "5")
    assert (a2["error"], a2["correct"], a2["judge_score"]) == ("", "false", "0")


def test_a_cell_file_a_run_is_writing_is_left_alone_and_rescore_exits_2_with_one_line(tmp_path):
    path = tmp_path / "results" / "mc.csv"
    write_cell(path, [{**STALE, "sample_id": "s1"}])
    before = path.read_bytes()
    args = ["rescore", "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]
    with CellWriter(path):  # what a `bench run` holds while it appends to the cell
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and path.read_bytes() == before
    assert result.output.startswith(f"Error: {path}: in use by pid {os.getpid()} on ") and result.output.count("\n") == 1
    assert CliRunner().invoke(main, args).exit_code == 0 and read_cell(path)[0]["correct"] == "true"  # once the run is done


# --- SIGKILL during rescore: every file is the old or the new version ---

FILES, ROWS = 40, 400  # about 1.5 s of rescoring on this machine: room to land kills between and inside files
SEEDS = range(5)


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """(a results dir of stale cells, {relative path: old bytes}, {relative path: rescored bytes})."""
    base = tmp_path_factory.mktemp("kill")
    old = base / "old"
    for f in range(FILES):
        write_cell(old / "nextqa" / "probe" / f"sel{f:02d}__k4.csv", [{**STALE, "sample_id": f"s{r}"} for r in range(ROWS)])
    new = base / "new"
    shutil.copytree(old, new)
    assert rescore(new, base / "cache").changed == FILES * ROWS
    read = lambda root: {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.csv"))}
    old_bytes, new_bytes = read(old), read(new)
    assert all(old_bytes[p] != new_bytes[p] for p in old_bytes)  # so each file says which version it is
    return old, old_bytes, new_bytes


def replaced(paths: list[Path], inodes: dict[Path, int]) -> int:
    """How many files os.replace has swapped for a new one so far."""
    count = 0
    for path in paths:
        try:
            count += os.stat(path).st_ino != inodes[path]
        except FileNotFoundError:  # between unlink and rename on some filesystems
            pass
    return count


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_during_rescore_leaves_each_file_old_or_new_and_a_rerun_completes(tmp_path, versions, seed):
    old, old_bytes, new_bytes = versions
    results = tmp_path / "results"
    shutil.copytree(old, results)
    paths = [results / p for p in old_bytes]
    inodes = {p: os.stat(p).st_ino for p in paths}
    rng = random.Random(seed)
    # seed 0 kills at a random moment of start-up; the others once a random number of files are
    # rewritten, plus up to 30 ms (about one file's rescoring), so the kill can fall inside a write
    target = 0 if seed == 0 else rng.randrange(1, FILES - 8)
    command = [sys.executable, "-m", "bench", "rescore", "--results-dir", str(results), "--cache-dir", str(tmp_path / "cache")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if target == 0:
        time.sleep(rng.uniform(0.0, 0.3))
    else:
        deadline = time.monotonic() + 60
        while replaced(paths, inodes) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.03))
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL  # killed, not finished: 8 files were still to go
    now = {p.relative_to(results): p.read_bytes() for p in sorted(results.rglob("*.csv"))}
    assert now.keys() == old_bytes.keys()  # no CSV lost, none added
    stale = [p for p in now if now[p] == old_bytes[p]]
    assert all(now[p] in (old_bytes[p], new_bytes[p]) for p in now)  # never a damaged or half-rewritten file
    assert FILES - len(stale) >= target and stale  # the kill fell where it was meant to: some files done, some not
    summary = rescore(results, tmp_path / "cache")
    assert (summary.files, summary.changed) == (FILES, len(stale) * ROWS)  # the rerun rescores exactly what was left
    assert {p.relative_to(results): p.read_bytes() for p in sorted(results.rglob("*.csv"))} == new_bytes
