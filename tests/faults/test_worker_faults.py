"""Decode workers and a run killed under them: no process outlives the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.faults.conftest import needle_video

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_a_killed_run_leaves_no_decode_worker_behind(cache, tmp_path):
    # the forkserver and its workers hold pipes of their own open: before the workers watched
    # the run's process, all of them waited forever once it was killed
    assert needle_video(cache, 3).exists()
    command = [sys.executable, "-m", "bench", "run", "--dataset", "needle", "--selector", "uniform", "--backbone", "probe:delay=1",
               "--frames", "4", "--limit", "4", "--candidates", "32", "--frame-size", "64", "--workers", "2",
               "--cache-dir", str(cache), "--results-dir", str(tmp_path / "results")]
    run = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    below: set[int] = set()
    while len(below) < 4:  # the resource tracker, the forkserver and two workers
        assert run.poll() is None and time.monotonic() < deadline, "the run ended before its workers were seen"
        time.sleep(0.2)
        below |= _descendants(run.pid)
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while _alive(below) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(below), f"left behind: {sorted(_alive(below))}"
