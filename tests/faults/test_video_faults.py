"""Video faults: phone clips stored sideways, files decord cannot read, and videos that are not whole.

Runs are the needle grid `uniform` x `probe` at k=4 over N=32 candidates at short side 64 on
the first four test samples, with sample 1's video damaged; the other three rows must match a
clean run, and sample 1's row must be an error row naming the file and what is wrong with it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from bench.results import read_all
from bench.runner import run
from bench.video import decode, probe
from tests.faults.conftest import needle_video, small_config
from tests.videos import write_corner_video

ROW = ["sample_id", "selected", "prediction", "correct", "error"]

# A stored 96x48 frame with its white block at rows 0-15, cols 0-31. Turning a W x H picture
# moves pixel (r, c) to: 90 ccw (W-1-c, r); 180 (H-1-r, W-1-c); 90 cw (c, H-1-r). So the block lands at
#   rotation 0:   rows 0-15,  cols 0-31  of 96 wide x 48 high
#   rotation 90:  rows 95-31..95-0 = 64-95, cols 0-15 of 48 x 96
#   rotation 180: rows 47-15..47 = 32-47, cols 95-31..95 = 64-95 of 96 x 48
#   rotation -90: rows 0-31, cols 47-15..47 = 32-47 of 48 x 96 (a phone held upright)
ROTATIONS = [
    (0, (96, 48), (slice(0, 16), slice(0, 32))),
    (90, (48, 96), (slice(64, 96), slice(0, 16))),
    (180, (96, 48), (slice(32, 48), slice(64, 96))),
    (-90, (48, 96), (slice(0, 32), slice(32, 48))),
]


def _displayed(size: tuple[int, int], block: tuple[slice, slice]) -> np.ndarray:
    picture = np.zeros((size[1], size[0]), bool)
    picture[block] = True
    return picture


@pytest.mark.parametrize("rotation, size, block", ROTATIONS)
@pytest.mark.parametrize("seek", ["exact", "keyframe"])
def test_a_rotated_clip_comes_out_as_displayed(tmp_path, rotation, size, block, seek):
    path = write_corner_video(tmp_path / "phone.mp4", rotation)
    with av.open(str(path)) as container:  # the display matrix reads back (180 reads as -180)
        assert (next(container.decode(video=0)).rotation - rotation) % 360 == 0
    meta = probe(path)
    assert (meta.width, meta.height) == size
    frames, *_ = decode(path, 8, size=96, seek=seek)  # the short side is 48: nothing is resized
    assert frames.shape == (8, size[1], size[0], 3)
    expected = _displayed(size, block)
    assert ((frames.mean(axis=-1) > 128) == expected).all()


def test_a_rotated_clip_is_resized_by_its_displayed_short_side(tmp_path):
    path = write_corner_video(tmp_path / "phone.mp4", -90)
    frames, *_ = decode(path, 8, size=24)
    # displayed 48 x 96 with short side 48 -> 24: 24 wide, 48 high; the block halves to rows 0-15, cols 16-23
    assert frames.shape == (8, 48, 24, 3)
    grey = frames.mean(axis=-1)
    assert (grey[:, 2:14, 18:22] > 200).all() and (grey[:, 18:46, 2:22] < 50).all()


def test_decord_hands_a_rotated_clip_to_pyav_with_one_warning(tmp_path, caplog):
    path = write_corner_video(tmp_path / "phone.mp4", -90)
    with caplog.at_level(logging.WARNING):
        frames, _, _, used = decode(path, 8, size=96, decoder="decord")
    assert used == "pyav"
    assert [r.getMessage() for r in caplog.records] == [f"decord mis-shapes rotated videos; decoding {path} with PyAV"]
    assert ((frames.mean(axis=-1) > 128) == _displayed((48, 96), (slice(0, 32), slice(32, 48)))).all()


# ---- runs over needle with one damaged video



def _rows(results: Path):
    return read_all(results).sort_values("sample_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def clean(needle4, tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    shutil.copytree(needle4, root / "cache" / "needle")
    assert run(small_config(root / "cache", root / "results")).errors == 0
    return _rows(root / "results")


def _faststart_cut(data: bytes, path: Path) -> bytes:
    """The same packets with the index (moov) first, then cut in half: the header still counts every frame."""
    whole = path.with_suffix(".whole.mp4")
    whole.write_bytes(data)
    with av.open(str(whole)) as source, av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    remuxed = path.read_bytes()
    return remuxed[: len(remuxed) // 2]


def _zero_middle(data: bytes, path: Path) -> bytes:
    third = len(data) // 3
    return data[:third] + bytes(third) + data[2 * third :]


# (damage, the error after "video: <path>: "); FFmpeg's "Invalid data found" is AVERROR_INVALIDDATA
BAD = {
    "empty": (lambda data, path: b"", r"empty file \(0 bytes\)"),
    "not a video": (lambda data, path: b"this is not a video\n" * 100, r"cannot open: \[Errno \d+\] Invalid data found when processing input: '{path}'"),
    # needle writes its index (moov) last, so the first half has none
    "cut in half": (lambda data, path: data[: len(data) // 2], r"cannot open: \[Errno \d+\] Invalid data found when processing input: '{path}'"),
    "cut with the index first": (_faststart_cut, r"truncated: the header declares {declared} frames, the stream holds \d+"),
    "middle third zeroed": (_zero_middle, r"undecodable near pts \d+: \[Errno \d+\] Invalid data found when processing input: 'avcodec_send_packet\(\)'"),
}


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_video_is_one_error_row_naming_the_file(cache, tmp_path, clean, caplog, kind):
    damage, reason = BAD[kind]
    video = needle_video(cache)
    with av.open(str(video)) as container:
        declared = container.streams.video[0].frames
    video.write_bytes(damage(video.read_bytes(), video))
    with caplog.at_level(logging.WARNING):
        summary = run(small_config(cache, tmp_path / "results"))
    rows = _rows(tmp_path / "results")
    assert summary.errors == 1 and len(rows) == 4
    error = rows.error[1]
    assert re.fullmatch(f"video: {re.escape(str(video))}: " + reason.format(path=re.escape(str(video)), declared=declared), error), error
    assert rows.correct.isna()[1] and rows.selected[1] == ""
    others = rows.drop(index=1)[ROW]
    assert others.equals(clean.drop(index=1)[ROW])
    assert not any(r.exc_info for r in caplog.records)  # a bad video is a warning line, not a traceback


def test_decord_failing_mid_decode_warns_once_then_pyav_names_the_damage(cache, tmp_path, clean, caplog):
    # decord opens the file and counts its frames, then get_batch raises on the zeroed packets
    video = needle_video(cache)
    video.write_bytes(_zero_middle(video.read_bytes(), video))
    with caplog.at_level(logging.WARNING):
        run(small_config(cache, tmp_path / "results", decoder="decord"))
    rows = _rows(tmp_path / "results")
    assert rows.error[1].startswith(f"video: {video}: undecodable near pts")
    # one line from the decoder falling back, one from the decode phase recording the error row
    assert [r.name for r in caplog.records] == ["bench.video", "bench.grid.decoding"]
    fallback = caplog.records[0].getMessage()
    assert fallback.startswith(f"decord failed on {video} (") and fallback.endswith("); decoding with PyAV")
    assert "\n" not in fallback
    assert not any(r.exc_info for r in caplog.records)
    assert rows.drop(index=1)[ROW].equals(clean.drop(index=1)[ROW])


def _to_av1(video: Path) -> None:
    """Re-encode `video` frame for frame as AV1, which this decord cannot open and PyAV can."""
    source_bytes = video.read_bytes()
    source = video.with_suffix(".h264.mp4")
    source.write_bytes(source_bytes)
    with av.open(str(source)) as inp, av.open(str(video), "w", format="mp4") as out:
        stream_in = inp.streams.video[0]
        stream = out.add_stream("libsvtav1", rate=stream_in.average_rate)
        stream.width, stream.height, stream.pix_fmt = stream_in.codec_context.width, stream_in.codec_context.height, "yuv420p"
        stream.options = {"preset": "8", "crf": "20"}  # preset 12 can write streams libdav1d rejects
        for frame in inp.decode(stream_in):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    source.unlink()


def test_decord_that_cannot_open_a_file_prints_one_warning_line_and_pyav_answers(cache, tmp_path, clean):
    video = needle_video(cache)
    _to_av1(video)
    command = [sys.executable, "-m", "bench", "run", "--dataset", "needle", "--backbone", "probe", "--selector", "uniform",
               "--frames", "4", "--limit", "4", "--candidates", "32", "--frame-size", "64", "--device", "cpu",
               "--decoder", "decord", "--cache-dir", str(cache), "--results-dir", str(tmp_path / "results")]
    env = {**os.environ, "COLUMNS": "1000", "HF_HUB_OFFLINE": "1"}  # one log record per line
    child = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == 0, child.stderr
    assert "Traceback" not in child.stderr
    warnings = [line for line in child.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, child.stderr
    assert f"decord failed on {video} (" in warnings[0] and "cannot find video stream" in warnings[0]
    assert warnings[0].rstrip().endswith("; decoding with PyAV")
    rows = _rows(tmp_path / "results")
    assert list(rows.decoder) == ["decord", "pyav", "decord", "decord"]
    assert (rows.error == "").all()
    # the same frames, re-encoded: the probe reads the same colours from the same candidates
    assert rows[ROW].equals(clean[ROW])
