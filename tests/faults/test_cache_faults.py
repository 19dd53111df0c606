"""Cache faults: damaged entries, edited videos, racing writers, and a cache that cannot be written.

Every run here is the needle grid `uniform` x `probe` at k=4 over N=32 candidates at short side
64 on the first four test samples. Uniform keeps the segment centres floor((j + 0.5) * 32 / 4)
= 4, 12, 20, 28 whatever the pixels, so "the same rows as a clean run" is checked against a
clean run made once per module, and the selection by hand.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from bench.store import ArrayStore
from bench.store.frames import FrameCache
from bench.records import DataOptions
from bench.registry import benchmarks
from bench.results import read_all
from bench.runner import run
from bench.store.scores import score_key
from bench.video import decode
from tests.faults.conftest import needle_video, small_config

SELECTED = "4 12 20 28"  # floor((j + 0.5) * 32 / 4) for j = 0..3
ROW = ["sample_id", "selected", "prediction", "correct", "error"]
ENV = {**os.environ, "COLUMNS": "1000", "HF_HUB_OFFLINE": "1"}  # wide enough for one log record per line
CLI = ["--dataset", "needle", "--backbone", "probe", "--selector", "uniform", "--frames", "4", "--limit", "4",
       "--candidates", "32", "--frame-size", "64", "--device", "cpu"]



def _rows(results: Path):
    return read_all(results).sort_values("sample_id")[ROW].reset_index(drop=True)


@pytest.fixture(scope="module")
def clean(needle4, tmp_path_factory):
    """The rows of a run on an intact cache of its own."""
    root = tmp_path_factory.mktemp("clean")
    shutil.copytree(needle4, root / "cache" / "needle")
    summary = run(small_config(root / "cache", root / "results"))
    rows = _rows(root / "results")
    assert summary.errors == 0 and (rows.selected == SELECTED).all()
    return rows


def _entry(cache: Path, kind: str) -> Path:
    """The .npy file of sample 1's frames, times or scores entry (layout: <cache>/<kind dir>/<key[:2]>/<key>.<name>.npy)."""
    sample = benchmarks.build("needle").load(DataOptions(cache_dir=cache, limit=4))[1]
    cands = FrameCache(cache).candidates(sample.videos, 32, 64)
    if kind == "scores":
        key = score_key("uniform", cands.key, sample)
        return cache / "scores" / key[:2] / f"{key}.scores.npy"
    return cache / "frames" / cands.key[:2] / f"{cands.key}.{kind}.npy"


def _flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) * 3 // 4] ^= 0x10  # three quarters in: past the 128-byte .npy header, in the data
    path.write_bytes(bytes(data))


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_record(path: Path) -> None:
    record = path.with_name(path.name.split(".")[0] + ".json")
    text = record.read_text()
    assert '"fps": 8.0' in text  # needle videos run at 8 fps
    record.write_text(text.replace('"fps": 8.0', '"fps": 9.0'))


# (entry, damage, what the warning says, videos decoded again, samples scored again)
DAMAGE = [
    ("frames", _flip_bit, "the file does not match its checksum", 1, 0),
    ("times", _flip_bit, "the file does not match its checksum", 1, 0),
    ("scores", _flip_bit, "the file does not match its checksum", 0, 1),
    ("frames", _cut, "the file does not match its checksum", 1, 0),
    ("frames", Path.unlink, "the file is missing", 1, 0),
    ("frames", _edit_record, "its record does not match its checksum", 1, 0),
]


@pytest.mark.parametrize("kind, damage, what, decoded, scored", DAMAGE)
def test_a_damaged_entry_is_named_once_recomputed_and_the_rows_are_right(cache, tmp_path, clean, caplog, kind, damage, what, decoded, scored):
    run(small_config(cache, tmp_path / "first"))
    path = _entry(cache, kind)
    damage(path)
    named = path if what != "its record does not match its checksum" else path.with_name(path.name.split(".")[0] + ".json")
    with caplog.at_level(logging.WARNING):
        summary = run(small_config(cache, tmp_path / "again"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"damaged cache entry {named}") and warnings[0].endswith(f": {what}; recomputing it")
    if kind != "scores":  # the frame cache names the video; scores are named by their entry
        assert f"(video {needle_video(cache)})" in warnings[0]
    assert (summary.errors, summary.decoded, summary.scored) == (0, decoded, scored)
    assert _rows(tmp_path / "again").equals(clean)
    # the entry was overwritten: a new reader finds it whole
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert FrameCache(cache).candidates(needle_video(cache), 32, 64).cached
        assert ArrayStore(path.parent.parent).load(path.name.split(".")[0]) is not None
    assert caplog.records == []


def test_an_entry_without_its_record_is_a_silent_miss(cache, tmp_path, clean, caplog):
    # a writer killed between the arrays and the record leaves exactly this behind
    run(small_config(cache, tmp_path / "first"))
    path = _entry(cache, "frames")
    path.with_name(path.name.split(".")[0] + ".json").unlink()
    with caplog.at_level(logging.WARNING):
        summary = run(small_config(cache, tmp_path / "again"))
    assert caplog.records == []
    assert (summary.errors, summary.decoded, summary.cached) == (0, 1, 3)
    assert _rows(tmp_path / "again").equals(clean)


def _raw_video(path: Path, frames: int = 120) -> Path:
    """Uncompressed 96x64 frames in AVI, frame i all grey level 2i: any byte edited in a frame shows in its pixels."""
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("rawvideo", rate=30)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "rgb24"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((64, 96, 3), 2 * i, np.uint8), format="rgb24")):
                container.mux(packet)
    return path


def test_an_edit_between_the_formerly_sampled_chunks_changes_the_key(tmp_path):
    video = _raw_video(tmp_path / "raw.avi")
    size = video.stat().st_size  # 120 frames of 96 * 64 * 3 = 18,432 bytes, plus AVI chunk headers
    # the old key read 16 chunks of 64 KiB at linspace(0, size - 64 KiB, 16); edit the middle of the gap after the 8th
    starts = np.linspace(0, size - 65536, 16).astype(np.int64)
    gap_start, gap_end = starts[7] + 65536, starts[8]
    assert gap_end - gap_start > 4096
    at = int((gap_start + gap_end) // 2)
    cache = FrameCache(tmp_path / "cache")
    before = cache.candidates(video, 120, 64)
    data = bytearray(video.read_bytes())
    data[at : at + 512] = bytes(512)
    video.write_bytes(bytes(data))
    after = FrameCache(tmp_path / "cache").candidates(video, 120, 64)
    assert after.key != before.key and not after.cached
    fresh, *_ = decode(video, 120, 64)
    np.testing.assert_array_equal(after.frames, fresh)
    changed = [i for i in range(120) if not np.array_equal(before.frames[i], after.frames[i])]
    assert len(changed) == 1  # 512 bytes sit inside one 18,432-byte frame


def test_an_edit_in_place_with_its_mtime_put_back_still_changes_the_key(tmp_path):
    # the key memo is by file version, ctime included: `touch -r`-style restores do not fool it
    video = _raw_video(tmp_path / "raw.avi")
    stat = video.stat()
    cache = FrameCache(tmp_path / "cache")
    before = cache.content_key(video)
    with video.open("r+b") as f:
        f.seek(stat.st_size // 2)
        f.write(bytes(512))
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (video.stat().st_size, video.stat().st_mtime_ns, video.stat().st_ino) == (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    assert FrameCache(tmp_path / "cache").content_key(video) != before
    assert cache.content_key(video) != before


def test_a_moved_video_keeps_its_entries(tmp_path):
    video = _raw_video(tmp_path / "raw.avi")
    FrameCache(tmp_path / "cache").candidates(video, 8, 64)
    moved = tmp_path / "elsewhere.avi"
    os.replace(video, moved)
    assert FrameCache(tmp_path / "cache").candidates(moved, 8, 64).cached


def _write_forever(root: str, fill: int, stop) -> None:
    store = ArrayStore(Path(root))
    while not stop.is_set():
        store.save("racing", {"a": np.full(50_000, fill, np.uint8), "b": np.full(70_000, fill, np.uint8)}, {"fill": fill})


def test_a_reader_never_mixes_two_writers_of_one_entry(tmp_path):
    # two processes rewrite one entry with different contents as fast as they can; every hit the
    # reader accepts must be one writer's arrays with that writer's record, never a mixture
    stop = multiprocessing.Event()
    writers = [multiprocessing.Process(target=_write_forever, args=(str(tmp_path / "store"), fill, stop)) for fill in (1, 2)]
    for writer in writers:
        writer.start()
    hits, deadline = 0, time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            hit = ArrayStore(tmp_path / "store").load("racing")
            if hit is not None:
                arrays, meta = hit
                assert set(np.unique(arrays["a"])) == set(np.unique(arrays["b"])) == {meta["fill"]}
                hits += 1
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=10)
    assert hits > 10


def test_a_cache_where_a_folder_is_a_file_warns_once_and_the_rows_are_right(cache, tmp_path, clean, caplog):
    (cache / "frames").write_text("not a folder")  # mkdir under it fails with ENOTDIR
    with caplog.at_level(logging.WARNING):
        summary = run(small_config(cache, tmp_path / "results"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"cannot write the cache in {cache} (ENOTDIR: Not a directory)")
    assert summary.errors == 0
    assert _rows(tmp_path / "results").equals(clean)
    assert not (cache / "scores").exists() and not (cache / "thumbs").exists()  # nothing more was written once a write had failed


def _full_disk() -> None:
    """In the child: files may not grow past 64 KiB, and writing past it fails with EFBIG instead of killing."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def _can_mount() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def test_a_full_cache_warns_once_and_the_run_succeeds(cache, tmp_path, clean):
    # frames of 32 x 64 x 85 x 3 = 522,240 bytes cannot be written; the CSV of 4 rows can
    command = [sys.executable, "-m", "bench", "run", *CLI, "--cache-dir", str(cache), "--results-dir", str(tmp_path / "results")]
    child = subprocess.run(command, capture_output=True, text=True, env=ENV, preexec_fn=_full_disk, timeout=300)
    _assert_warned_once_and_right(child, cache, "EFBIG: File too large", "videos decoded 4, from cache 0", tmp_path / "results", clean)


def test_a_read_only_cache_is_read_warns_once_and_the_run_succeeds(cache, tmp_path, clean):
    if not _can_mount():
        pytest.skip("needs a private mount namespace (unshare -m) to mount the cache read-only")
    run(small_config(cache, tmp_path / "first"))
    entry = _entry(cache, "frames")
    entry.with_name(entry.name.split(".")[0] + ".json").unlink()  # sample 1 must be decoded again
    command = [sys.executable, "-m", "bench", "run", *CLI, "--cache-dir", str(cache), "--results-dir", str(tmp_path / "results")]
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    child = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(cache), *command], capture_output=True, text=True, env=ENV, timeout=300)
    _assert_warned_once_and_right(child, cache, "EROFS: Read-only file system", "videos decoded 1, from cache 3", tmp_path / "results", clean)


def _assert_warned_once_and_right(child, cache: Path, reason: str, counts: str, results: Path, clean) -> None:
    assert child.returncode == 0, child.stderr
    warnings = [line for line in child.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and f"cannot write the cache in {cache} ({reason})" in warnings[0], child.stderr
    assert "Traceback" not in child.stderr
    assert "4 rows written (0 errors)" in child.stderr and counts in child.stderr
    assert _rows(results).equals(clean)
