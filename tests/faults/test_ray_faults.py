"""Ray under faults: a model's actor killed mid-run, the driver killed mid-run, a decode task's
worker killed mid-decode, and a cluster address nobody listens on.

The grid is needle's four test videos x `uniform,oracle` x k 2, 4, 8 x `probe` over 32
candidates at short side 64: 24 rows, answered by `probe:delay=0.2` (0.6 s per (sample,
selector) call, about 5 s in all) where a run must last long enough to be hit; its rows are
compared with one serial run's. The decode fault has a video of its own that takes a second
or more to decode, compared with a serial run of it. Processes are killed with SIGKILL, and only
those of this test session's own Ray instance (descendants of this process, found by the
title Ray gives a worker: `ray::_Answerer`, `ray::_decode`), never another Ray on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import av
import numpy as np
import pytest

from bench.results import read_all
from bench.runner import RunConfig, RunSummary, run
from tests.test_scale_out import KEY, table

GRID = dict(datasets=("needle",), selectors=("uniform", "oracle"), backbones=("probe",), frames=(2, 4, 8), limit=4,
            candidates=32, frame_size=64, device="cpu")
ROWS = 4 * 2 * 3  # samples x selectors x k = 24
CLI = ["run", "--dataset", "needle", "--selector", "uniform,oracle", "--frames", "2,4,8", "--limit", "4",
       "--candidates", "32", "--frame-size", "64", "--device", "cpu"]
SLOW = "probe:delay=0.2"  # its spec names the delay, so its rows are in cell files of their own


def environ(**extra: str) -> dict[str, str]:
    """This process's environment as it is now (after ray.init set RAY_AUTH_MODE, which a child needs to join), one line per record."""
    return {**os.environ, "COLUMNS": "1000", "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture(scope="module")
def reference(needle4, tmp_path_factory):
    """The grid's rows from one serial run."""
    root = tmp_path_factory.mktemp("reference")
    shutil.copytree(needle4, root / "cache" / "needle")
    assert run(RunConfig(**GRID, results_dir=root / "results", cache_dir=root / "cache", workers=0)).errors == 0
    return table(root / "results")


def slow_rows(results: Path):
    """The rows `SLOW` wrote under `results`, named as the reference names its backbone: the answers are the same."""
    return table(results).replace({"backbone": {SLOW: "probe"}})


def ours(title: str) -> set[int]:
    """Processes descended from this one whose command line starts with `title`."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # "pid (comm) state ppid ..."
        except (OSError, IndexError, ValueError):  # it ended while we looked
            continue
    found = set()
    for pid, ancestor in parents.items():
        while ancestor > 1 and ancestor != os.getpid():
            ancestor = parents.get(ancestor, 0)
        if ancestor != os.getpid():
            continue
        try:
            name = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace").strip()
        except OSError:
            continue
        if name.startswith(title):
            found.add(pid)
    return found


def written(results: Path) -> int:
    """Rows in the cell files under `results` now (each file's lines less its header)."""
    return sum(max(0, p.read_text().count("\n") - 1) for p in results.rglob("*.csv"))


def wait_for(condition: Callable[[], object], seconds: float, every: float = 0.02):
    """The first true value `condition` returns within `seconds`; fails the test otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"nothing came of {condition} within {seconds} s")


class Background:
    """`run(cfg)` in a thread of this process (which holds the test session's Ray instance)."""

    def __init__(self, cfg: RunConfig) -> None:
        self.summary: RunSummary | None = None
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(cfg,), daemon=True)
        self.thread.start()

    def _run(self, cfg: RunConfig) -> None:
        try:
            self.summary = run(cfg)
        except BaseException as exc:  # handed to the test, which raises it
            self.failure = exc

    def result(self, seconds: float = 300) -> RunSummary:
        self.thread.join(seconds)
        assert not self.thread.is_alive(), f"the run did not end within {seconds} s"
        if self.failure is not None:
            raise self.failure
        return self.summary


def test_an_answerer_killed_mid_run_is_restarted_and_no_row_is_lost_or_doubled(needle4, reference, ray_address, tmp_path):
    shutil.copytree(needle4, tmp_path / "cache" / "needle")
    results = tmp_path / "results"
    earlier = ours("ray::_Answerer")  # another test's actors, still ending
    running = Background(RunConfig(**{**GRID, "backbones": (SLOW,)}, results_dir=results, cache_dir=tmp_path / "cache", executor="ray"))
    wait_for(lambda: written(results) >= 1, 120)
    (answerer,) = ours("ray::_Answerer") - earlier
    at_kill = written(results)
    os.kill(answerer, signal.SIGKILL)
    summary = running.result()
    assert at_kill < ROWS  # it was killed with rows still to answer
    assert (summary.written, summary.errors) == (ROWS, 0)
    assert slow_rows(results).equals(reference)  # table() also fails on a (cell, sample) written twice


def test_a_driver_killed_mid_run_is_resumed_by_the_next_run(needle4, reference, ray_address, tmp_path):
    shutil.copytree(needle4, tmp_path / "cache" / "needle")
    results = tmp_path / "results"
    where = ["--cache-dir", str(tmp_path / "cache"), "--results-dir", str(results), "--executor", "ray", "--ray-address", ray_address]
    with (tmp_path / "killed.log").open("w") as log:
        driver = subprocess.Popen([sys.executable, "-m", "bench", *CLI, "--backbone", SLOW, *where], stdout=log, stderr=log, env=environ())
        try:
            wait_for(lambda: written(results) >= 1 or driver.poll() is not None, 180)
        finally:
            driver.kill()
            driver.wait()
    assert driver.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()
    kept = read_all(results)
    assert 1 <= len(kept) < ROWS and not kept.duplicated(KEY).any()
    again = subprocess.run([sys.executable, "-m", "bench", *CLI, "--backbone", SLOW, *where], capture_output=True, text=True, env=environ(), timeout=300)
    assert again.returncode == 0, again.stderr
    # the rerun answers exactly what the killed run had not written
    assert f"{ROWS - len(kept)} rows written (0 errors), {len(kept)} already done" in " ".join(again.stderr.split())
    assert slow_rows(results).equals(reference)


def slow_video(path: Path, width: int = 1280, height: int = 720, gop: int = 40, times: int = 25, fps: int = 8) -> Path:
    """A drifting noise texture, one GOP encoded once and its packets muxed `times` times: seconds to decode, quick to make.

    Every repeat starts on the GOP's keyframe, so the stream is whole; exact seeking decodes
    from each candidate's keyframe to it, about every one of the gop x times frames.
    """
    texture = np.random.default_rng(0).integers(0, 256, size=(height, width + 2 * gop), dtype=np.uint8)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(gop), "bf": "0"}
        packets = []
        for i in range(gop):
            grey = texture[:, 2 * i: 2 * i + width]
            packets += stream.encode(av.VideoFrame.from_ndarray(np.repeat(grey[:, :, None], 3, axis=2), format="rgb24"))
        packets += stream.encode()
        step = packets[1].pts - packets[0].pts
        for repeat in range(times):
            for packet in packets:
                copy = av.Packet(bytes(packet))
                shift = repeat * gop * step
                copy.pts, copy.dts, copy.time_base, copy.is_keyframe = packet.pts + shift, packet.dts + shift, packet.time_base, packet.is_keyframe
                copy.stream = stream
                out.mux(copy)
    return path


def test_a_decode_tasks_worker_killed_mid_decode_is_retried(ray_address, tmp_path):
    video = slow_video(tmp_path / "slow.mp4")
    questions = tmp_path / "slow.jsonl"
    questions.write_text(json.dumps({"video": str(video), "question": "What colour is the shape?", "options": ["red", "blue"], "answer": "A", "id": "q"}) + "\n")

    def config(name: str, **kw) -> RunConfig:
        return RunConfig(datasets=(f"jsonl:path={questions}",), selectors=("uniform",), backbones=("probe",), frames=(4,), candidates=32,
                         frame_size=64, results_dir=tmp_path / name / "results", cache_dir=tmp_path / name / "cache", device="cpu", **kw)

    earlier = ours("ray::_decode")
    running = Background(config("ray", executor="ray"))
    decoding = wait_for(lambda: ours("ray::_decode") - earlier, 120, every=0.005)
    for pid in decoding:
        os.kill(pid, signal.SIGKILL)
    summary = running.result()
    # one video, decoded once: had the killed try written its entry, the retry would have found it cached
    assert (summary.written, summary.errors, summary.decoded, summary.cached) == (1, 0, 1, 0)
    assert run(config("serial", workers=0)).errors == 0
    assert table(tmp_path / "ray" / "results").equals(table(tmp_path / "serial" / "results"))


def closed_port() -> int:
    """A port nothing listens on: one the kernel just handed out, released again."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_ray_address_nobody_listens_on_exits_2_naming_it_at_once(tmp_path):
    # Ray itself retries a closed GCS port for about 14 minutes (20 tries of ~41 s); the run asks the port first
    address = f"127.0.0.1:{closed_port()}"
    child = subprocess.run([sys.executable, "-m", "bench", *CLI, "--backbone", "probe", "--cache-dir", str(tmp_path / "cache"),
                            "--results-dir", str(tmp_path / "results"), "--executor", "ray", "--ray-address", address],
                           capture_output=True, text=True, env=environ(), timeout=60)
    assert child.returncode == 2, child.stderr
    said = " ".join(child.stderr.split())
    assert f"nothing answers at --ray-address {address} (Connection refused)" in said, child.stderr
    assert "start one with `ray start --head`" in said and "RAY_AUTH_MODE=token" in said
    assert "Traceback" not in child.stderr
    assert written(tmp_path / "results") == 0
