"""Cache formats: cold and warm runs see the same frames whatever the format; the format is part of
the candidates' identity; the space a run's new entries need is estimated and warned about.

Runs are the needle grid uniform,spatial:scorer=probe x probe at k=4 over N=32 candidates at short
side 64, on the first four test samples. Needle videos are 160x120, so each candidate is
output_size(160, 120, 64) = (round(160 * 64 / 120), 64) = 85x64 pixels. The spatial selector
scores what the probe sees in each frame, so its selection depends on the pixels handed on.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.store import digest, file_key
from bench.cli import main
from bench.store.frames import CacheFormat, FrameCache, SpaceNeed, parse_cache_format, space_warning
from bench.results import read_all
from bench.runner import run
from bench.video import FORMAT, decode
from tests.faults.conftest import needle_video, small_config

ROW = ["selector", "sample_id", "selected", "prediction", "correct", "error", "cache_format"]
SELECTORS = ("uniform", "spatial:scorer=probe")


def _rows(results: Path):
    return read_all(results).sort_values(["selector", "sample_id"])[ROW].reset_index(drop=True)


@pytest.mark.parametrize("given, spec, suffix", [
    ("raw", "raw", ""),  # the default keeps today's file names
    ("jpeg", "jpeg:quality=95", "+jpeg+quality=95"),
    ("jpeg:quality=2", "jpeg:quality=2", "+jpeg+quality=2"),  # lossy enough to change what the probe sees
])
def test_a_cold_and_a_warm_run_give_the_same_rows(cache, tmp_path, given, spec, suffix):
    cold = run(small_config(cache, tmp_path / "cold", selectors=SELECTORS, cache_format=given))
    shutil.rmtree(cache / "scores")  # the warm run scores again, from the frames the cache hands on
    warm = run(small_config(cache, tmp_path / "warm", selectors=SELECTORS, cache_format=given))
    assert (cold.errors, cold.decoded, cold.cached) == (0, 4, 0)
    assert (warm.errors, warm.decoded, warm.cached, warm.scored) == (0, 0, 4, 2 * 4)  # both selectors score again
    cold_rows, warm_rows = _rows(tmp_path / "cold"), _rows(tmp_path / "warm")
    assert len(cold_rows) == 8 and cold_rows.equals(warm_rows)
    assert set(cold_rows.cache_format) == {spec}
    names = sorted(p.name for p in (tmp_path / "cold").rglob("*.csv"))
    assert names == [f"spatial+scorer=probe__k4__n32+s64{suffix}.csv", f"uniform__k4__n32+s64{suffix}.csv"]


@pytest.mark.parametrize("spec", ["jpeg:quality=2", "jpeg:quality=95"])
def test_a_cold_read_hands_on_the_frames_the_cache_holds_not_the_decoders(cache, spec):
    video = needle_video(cache)
    cold = FrameCache(cache, spec).candidates(video, 32, 64)
    warm = FrameCache(cache, spec).candidates(video, 32, 64)
    decoded = decode(video, 32, 64)[0]
    assert not cold.cached and warm.cached
    assert cold.frames.shape == decoded.shape == (32, 64, 85, 3)
    np.testing.assert_array_equal(cold.frames, warm.frames)
    assert not np.array_equal(cold.frames, decoded)  # JPEG is lossy: the decoder's pixels were not handed on
    assert not cold.frames.flags.writeable and not warm.frames.flags.writeable


def test_a_jpeg_entry_read_for_thumbnails_decodes_smaller_and_alike(cache):
    from PIL import Image

    video = needle_video(cache)
    whole = FrameCache(cache, "jpeg").candidates(video, 32, 64)
    small = FrameCache(cache, "jpeg").cached(video, 32, 64, rows=16)  # 64 rows at 1/4 scale: the smallest with 16 or more
    assert small.frames.shape == (32, 16, 22, 3) and small.key == whole.key and small.times.tolist() == whole.times.tolist()
    shrunk = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(f[:, :84])).reduce(4)) for f in whole.frames])  # 4x4 means
    assert np.abs(small.frames[:, :, :21].astype(int) - shrunk).mean() < 1  # the same pictures, scaled inside the JPEG decoder
    assert np.abs(small.frames[:, :, :21].astype(int) - shrunk[::-1]).mean() > 10  # (other pictures are far apart)
    assert FrameCache(cache, "jpeg").cached(video, 32, 64, rows=40).frames.shape == (32, 64, 85, 3)  # 1/2 scale has 32 rows: too few
    assert FrameCache(cache).cached(video, 32, 64, rows=16) is None  # raw has no entry; once written it comes whole
    FrameCache(cache).candidates(video, 32, 64)
    assert FrameCache(cache).cached(video, 32, 64, rows=16).frames.shape == (32, 64, 85, 3)


def test_a_raw_read_hands_on_the_decoders_frames_under_the_key_it_always_had(cache):
    video = needle_video(cache)
    cold = FrameCache(cache).candidates(video, 32, 64)
    np.testing.assert_array_equal(cold.frames, decode(video, 32, 64)[0])
    # the key before formats existed, so caches written then are still hits
    assert cold.key == digest("frames", FORMAT, file_key(video), 32, 64, "exact")


def test_an_unwritable_cache_still_hands_on_the_frames_a_warm_cache_would(cache, tmp_path, caplog):
    video = needle_video(cache)
    warm = FrameCache(cache, "jpeg:quality=2")
    warm.candidates(video, 32, 64)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "frames").write_text("not a folder")  # mkdir under it fails with ENOTDIR
    with caplog.at_level(logging.WARNING):
        cold = FrameCache(blocked, "jpeg:quality=2").candidates(video, 32, 64)
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [f"cannot write the cache in {blocked} (ENOTDIR: Not a directory)"]
    assert not cold.cached
    np.testing.assert_array_equal(cold.frames, warm.candidates(video, 32, 64).frames)


def test_each_format_has_entries_of_its_own(cache):
    video = needle_video(cache)
    raw = FrameCache(cache, "raw").candidates(video, 32, 64)
    jpeg = FrameCache(cache, "jpeg").candidates(video, 32, 64)
    other = FrameCache(cache, "jpeg:quality=50").candidates(video, 32, 64)
    assert not raw.cached and not jpeg.cached and not other.cached
    assert len({raw.key, jpeg.key, other.key}) == 3
    assert FrameCache(cache, "jpeg:quality=95").candidates(video, 32, 64).cached  # "jpeg" is quality 95
    assert FrameCache(cache, "raw").candidates(video, 32, 64).cached


@pytest.mark.parametrize("text, spec", [
    ("raw", "raw"),
    ("jpeg", "jpeg:quality=95"),
    ("jpeg:quality=90", "jpeg:quality=90"),
    (" jpeg:quality=100 ", "jpeg:quality=100"),
    ("jpeg:quality=1", "jpeg:quality=1"),
])
def test_a_format_is_read_into_its_canonical_spec(text, spec):
    assert parse_cache_format(text).spec == spec


@pytest.mark.parametrize("text, message", [
    ("png", "'png' is not a cache format: use raw, or jpeg with an optional quality, e.g. jpeg:quality=95"),
    ("raw:quality=5", "'raw:quality=5' is not a cache format: use raw, or jpeg with an optional quality, e.g. jpeg:quality=95"),
    ("jpeg:quality=0", "'jpeg:quality=0': the JPEG quality must be a whole number from 1 to 100, e.g. jpeg:quality=95"),
    ("jpeg:quality=101", "'jpeg:quality=101': the JPEG quality must be a whole number from 1 to 100, e.g. jpeg:quality=95"),
    ("jpeg:quality=9.5", "'jpeg:quality=9.5': the JPEG quality must be a whole number from 1 to 100, e.g. jpeg:quality=95"),
    ("jpeg:q=90", "'jpeg:q=90': the JPEG quality must be a whole number from 1 to 100, e.g. jpeg:quality=95"),
])
def test_a_bad_format_says_what_to_type_instead(text, message):
    with pytest.raises(ValueError) as caught:
        parse_cache_format(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("command", ["run --dataset needle --backbone probe", "demo", "labels --dataset needle --spatial spatial --out l.jsonl",
                                     "show --dataset needle --sample test-0-00000 --selector uniform"])
def test_every_command_that_decodes_refuses_a_bad_format_with_exit_2(command, tmp_path):
    result = CliRunner().invoke(main, [*command.split(), "--cache-dir", str(tmp_path), "--cache-format", "jpeg:quality=0"])
    assert result.exit_code == 2
    assert "Invalid value for '--cache-format': 'jpeg:quality=0': the JPEG quality must be a whole number from 1 to 100" in result.output


def _written(cache: Path) -> int:
    """Bytes of every file under the frames folder."""
    return sum(p.stat().st_size for p in (cache / "frames").rglob("*") if p.is_file())


@pytest.mark.parametrize("spec", ["raw", "jpeg", "jpeg:quality=50"])
def test_the_estimate_is_within_2x_of_what_was_written_on_needle(cache, spec):
    videos = [needle_video(cache, i) for i in range(4)]
    frames = FrameCache(cache, spec)
    before = frames.space_needed(videos, 128, 336)
    assert (before.entries, before.pixels) == (4, 160 * 120)  # needle is 160x120: short side 120 < 336, never upscaled
    for video in videos[:2]:
        frames.candidates(video, 128, 336)
    after_two = frames.space_needed(videos, 128, 336)
    for video in videos[2:]:
        frames.candidates(video, 128, 336)
    written = _written(cache)
    assert 0.5 <= before.bytes / written <= 2, (before.bytes, written)
    assert after_two.entries == 2 and abs(after_two.bytes - before.bytes / 2) <= 1
    assert frames.space_needed(videos, 128, 336).entries == 0


def test_the_raw_estimate_by_hand(cache):
    need = FrameCache(cache).space_needed([needle_video(cache, i) for i in range(4)], 128, 336)
    # per entry: 128 x (19,200 px x 3 bytes + 8 bytes of time) + 4,096 of record and headers = 7,377,920
    assert need.bytes == 4 * (128 * (19_200 * 3 + 8) + 4_096) == 29_511_680


def test_the_warning_names_the_numbers_and_the_flag():
    # 900 videos of 597x336 = 200,592 px at N = 128, raw: 128 x (200,592 x 3 + 8) + 4,096 = 77,032,448 bytes each
    need = SpaceNeed(900, 900 * 77_032_448, 40_000_000_000, 200_592.0, 128, CacheFormat("raw"), Path("/cache"))
    # 69,329,203,200 bytes; as JPEG at 95: x 0.356 / 3 = 8,227,065,446 bytes
    assert space_warning(need) == (
        "the frame cache needs about 69.3 GB for 900 new entries (900 videos x 128 candidates x 200,592 px x 3 bytes/px, raw), "
        "and /cache has 40.0 GB free; pass --cache-format jpeg (about 8.2 GB at quality 95), or a --cache-dir with more room")
    jpeg = SpaceNeed(900, 8_227_065_446, 5_000_000_000, 200_592.0, 128, CacheFormat("jpeg", 95), Path("/cache"))
    assert space_warning(jpeg) == (
        "the frame cache needs about 8.2 GB for 900 new entries (900 videos x 128 candidates x 200,592 px x 0.356 bytes/px, jpeg:quality=95), "
        "and /cache has 5.0 GB free; pass a lower --cache-format jpeg:quality=Q, fewer --candidates, a smaller --frame-size, or a --cache-dir with more room")
    assert space_warning(SpaceNeed(900, 8_227_065_446, 8_227_065_446, 200_592.0, 128, CacheFormat("jpeg", 95), Path("/cache"))) is None


def _can_mount() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0


def test_a_run_whose_entries_will_not_fit_warns_before_decoding(needle4, tmp_path):
    if not _can_mount():
        pytest.skip("needs a private mount namespace (unshare -m) to mount a small filesystem for the cache")
    cache = tmp_path / "cache"
    cache.mkdir()
    command = [sys.executable, "-m", "bench", "run", "--dataset", "needle", "--backbone", "probe", "--frames", "4", "--limit", "4",
               "--candidates", "32", "--frame-size", "64", "--device", "cpu", "--cache-dir", str(cache), "--results-dir", str(tmp_path / "results")]
    # a 1 MiB filesystem holding the four needle videos: far less than the frames need
    script = 'mount -t tmpfs -o size=1m tmpfs "$1" && cp -r "$2" "$1/needle" && shift 2 && exec "$@"'
    env = {**os.environ, "COLUMNS": "1000", "HF_HUB_OFFLINE": "1"}
    child = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(cache), str(needle4), *command], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert child.returncode == 0, child.stderr
    warnings = [line for line in child.stderr.splitlines() if "WARNING" in line]
    # per entry: 32 x (5,440 px x 3 + 8) + 4,096 = 526,592 bytes; four: 2,106,368 = 2.1 MB; as JPEG: x 0.356 / 3 = 0.2 MB
    pattern = (rf"the frame cache needs about 2\.1 MB for 4 new entries \(4 videos x 32 candidates x 5,440 px x 3 bytes/px, raw\), "
               rf"and {re.escape(str(cache))} has 0\.\d MB free; pass --cache-format jpeg \(about 0\.2 MB at quality 95\), or a --cache-dir with more room")
    assert re.search(pattern, warnings[0]), child.stderr
    assert "4 rows written (0 errors)" in child.stderr  # a full cache costs no row


def test_tables_keep_formats_apart_and_read_rows_without_one_as_raw(tmp_path):
    from bench.analysis import tables
    from tests.handmade import cell, write

    # uniform raw: s0 s1 written before rows recorded a format (empty), s2 s3 "raw": one cell,
    # 1 1 0 0 -> 50.0. uniform as JPEG: 1 0 0 0 -> 25.0, a cell of its own, labelled with its format
    old_and_new = cell("uniform", 4, "1100", cache_format=["", "", "raw", "raw"])
    jpeg = cell("uniform", 4, "1000", cache_format="jpeg:quality=95")
    table = tables.build("grid", read_all(write(tmp_path, old_and_new, jpeg)), tables.Filters(), tables.Options(compare="uniform"))
    assert list(table.columns) == ["dataset", "backbone", "uniform k=4 cache=jpeg:quality=95", "uniform k=4 cache=raw"]
    assert table.iloc[0, 2:].tolist() == ["25.0", "50.0"]
