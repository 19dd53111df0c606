"""One writer per cell file: real processes contend for a cell, die holding it, run as shards, rescore during a run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.records import Row
from bench.results import CellWriter, ResultsBusy, read_all, rewrite

FIELDS = dict(dataset="needle", split="test", video_id="v", question="q", category="", duration_group="", selector="uniform",
              backbone="probe", frames=4, candidates=32, selected="0 8 16 24", prediction="A", answer="A", correct=True,
              judge_score=None, parse_ok=True, error="", t_decode_s=0.5, t_select_s=0.0, t_answer_s=0.25, peak_mem_mb=10.0,
              device="cpu", run_id="r1")

# Writes the samples named on each stdin line, saying "ok" after each; holds the cell until stdin closes.
HOLDER = textwrap.dedent("""
    import json, sys
    from bench.records import Row
    from bench.results import CellWriter, ResultsBusy
    try:
        writer = CellWriter(sys.argv[1])
    except ResultsBusy as exc:
        print(exc, flush=True)
        sys.exit(3)
    print("ok", flush=True)
    for line in sys.stdin:
        for sample in line.split():
            writer.append(Row(**json.loads(sys.argv[2]), sample_id=sample))
        print("ok", flush=True)
    writer.close()
""")


def row(sample: str) -> Row:
    return Row(**FIELDS, sample_id=sample)


class Holder:
    """A real process that holds a cell file's writer and appends what it is told."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), json.dumps(FIELDS)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.first = self.process.stdout.readline().strip()

    def append(self, *samples: str) -> None:
        self.process.stdin.write(" ".join(samples) + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def finish(self) -> int:
        self.process.stdin.close()
        return self.process.wait(timeout=60)


def sample_ids(path: Path) -> list[str]:
    return read_all(path.parent)["sample_id"].tolist()


def test_a_second_process_gets_results_busy_naming_the_holder_and_no_row_is_lost(tmp_path):
    path = tmp_path / "needle" / "probe" / "uniform__k4.csv"
    first = Holder(path)
    assert first.first == "ok"
    first.append("s0", "s1")
    second = Holder(path)
    assert second.process.wait(timeout=60) == 3
    message = second.first
    assert message.startswith(f"{path}: in use by pid {first.process.pid} on {socket.gethostname()} since 20")
    assert message.endswith("; wait for that run to finish, or use another --results-dir")
    first.append("s2", "s3")  # the holder goes on, untouched by the refused writer
    assert first.finish() == 0
    assert sample_ids(path) == ["s0", "s1", "s2", "s3"]
    assert not path.with_name(path.name + ".lock").exists()  # a clean close leaves no lock file
    with CellWriter(path) as writer:  # once the holder is gone, the cell is free
        assert writer.done == {"s0", "s1", "s2", "s3"}


def test_a_second_writer_in_the_same_process_is_refused_too(tmp_path):
    path = tmp_path / "uniform__k4.csv"
    with CellWriter(path):
        with pytest.raises(ResultsBusy, match=f"in use by pid {os.getpid()} "):
            CellWriter(path)


def test_a_stale_lock_file_of_a_killed_run_does_not_block(tmp_path):
    path = tmp_path / "uniform__k4.csv"
    holder = Holder(path)
    holder.append("s0")
    lock = path.with_name(path.name + ".lock")
    assert lock.read_text().startswith(f"pid {holder.process.pid} on ")
    os.kill(holder.process.pid, signal.SIGKILL)
    holder.process.wait(timeout=60)
    assert lock.exists()  # left behind: the kernel released the flock, not the file
    with CellWriter(path) as writer:
        assert lock.read_text().startswith(f"pid {os.getpid()} on ")
        writer.append(row("s1"))
    assert sample_ids(path) == ["s0", "s1"] and not lock.exists()


def test_close_is_idempotent_and_an_append_after_close_raises(tmp_path):
    path = tmp_path / "uniform__k4.csv"
    writer = CellWriter(path)
    writer.append(row("s0"))
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="append after close"):
        writer.append(row("s1"))
    assert sample_ids(path) == ["s0"]


def test_rewrite_while_a_run_holds_the_cell_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "uniform__k4.csv"
    holder = Holder(path)
    holder.append("s0", "s1")
    before = path.read_bytes()
    with pytest.raises(ResultsBusy, match=rf"^{path}: in use by pid {holder.process.pid} on "):
        rewrite(path, lambda r: {"correct": False})
    holder.append("s2")
    assert holder.finish() == 0
    assert path.read_bytes().startswith(before) and sample_ids(path) == ["s0", "s1", "s2"]
    assert rewrite(path, lambda r: {"correct": False}) == 3  # free again: all three rows change
    assert read_all(tmp_path)["correct"].tolist() == [False, False, False]


def test_two_shards_on_one_dir_run_at_once_and_both_succeed(tmp_path):
    cache, results = tmp_path / "cache", tmp_path / "results"
    args = ["--dataset", "needle", "--selector", "uniform", "--frames", "4", "--limit", "4", "--candidates", "32",
            "--frame-size", "64", "--device", "cpu", "--cache-dir", str(cache)]
    warm = CliRunner().invoke(main, ["run", *args, "--backbone", "probe", "--results-dir", str(tmp_path / "warm")])  # videos made once
    assert warm.exit_code == 0, warm.output
    # each shard answers 2 samples at 0.3 s each after its start-up: the two runs overlap
    shards = [subprocess.Popen([sys.executable, "-m", "bench", "run", *args, "--backbone", "probe:delay=0.3", "--results-dir", str(results),
                                "--shard", f"{i}/2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for shard in shards:
        assert shard.wait(timeout=120) == 0, shard.stderr.read()
    data = read_all(results)
    assert sorted(data["sample_id"]) == sorted(read_all(tmp_path / "warm")["sample_id"]) and data["sample_id"].is_unique
    assert sorted(Path(p).name for p in set(data["source"])) == ["uniform__k4__n32+s64__shard0of2.csv", "uniform__k4__n32+s64__shard1of2.csv"]
    assert not list(results.rglob("*.lock"))


def test_taking_a_cell_removes_the_temporary_copies_a_killed_rewrite_left(tmp_path):
    path = tmp_path / "uniform__k4.csv"
    with CellWriter(path) as writer:
        writer.append(Row(**FIELDS, sample_id="s1"))
    stray, other = tmp_path / ".uniform__k4.csv.abc123.tmp", tmp_path / ".oracle__k4.csv.abc123.tmp"
    stray.write_text("half a rewrite")
    other.write_text("another cell's, maybe being written now")
    CellWriter(path).close()
    assert not stray.exists() and other.exists()
