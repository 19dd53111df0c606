"""Candidate decoding speed: framebench's path against decord and PyAV with a keyframe index.

Decodes N=128 candidates at short side 224 from two generated 4-minute 640x360 30 fps H.264
videos (GOP 250 and GOP 30, B-frames on, per-frame noise so no two frames match) and prints
the median wall time of several runs; every run opens the file afresh. Rows:

- framebench exact / keyframe: `bench.video.decode`, what a cache miss costs;
- framebench cache hit, first in a process: `FrameCache.candidates` on a warm entry through a
  new `FrameCache`, so the entry's checksums are verified, all N frames copied out; then the
  same through a cache that verified them before; and how many times faster than the exact
  decode the first kind of hit is (it must stay above 50);
- decord get_batch: `VideoReader(width, height, num_threads=0).get_batch(indices)`;
- PyAV keyframe index: one thread, seek only when the next target lies in a later GOP.

Then the throughput of the hashes the cache could key videos and check entries with, over a
file of `--hash-gb` GB (the GOP 30 video repeated, deleted afterwards), page cache warm: each
read as `file_key` reads a video, and xxh3 memory-mapped as entries are checked.

    python benchmarks/decode.py [--runs 5] [--workdir /tmp/framebench-decode] [--hash-gb 1]
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import statistics
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np
import xxhash

from bench.cache import READ_CHUNK
from bench.sampling import segment_centres
from bench.video import FrameCache, decode, output_size

N, SIZE, SECONDS, FPS, WIDTH, HEIGHT = 128, 224, 240, 30, 640, 360


class _Crc32:
    """zlib.crc32 behind the update() of hashlib's hashes."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data) -> None:
        self.value = zlib.crc32(data, self.value)


HASHES = {"xxh3_128 (bench.cache)": xxhash.xxh3_128, "crc32 (zlib)": _Crc32, "sha1": hashlib.sha1, "blake2b": hashlib.blake2b}


def make_video(path: Path, gop: int) -> Path:
    """A moving colour gradient with per-frame noise, x264 veryfast CRF 23, fixed GOP, no scene cuts."""
    if path.exists():
        return path
    rng = np.random.default_rng(gop)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([xx * 255 // WIDTH, yy * 255 // HEIGHT, (xx + yy) * 255 // (WIDTH + HEIGHT)], -1).astype(np.int16)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "preset": "veryfast", "crf": "23"}
        for i in range(SECONDS * FPS):
            image = np.roll(base, (i * 4) % WIDTH, axis=1) + rng.integers(-10, 11, size=(HEIGHT, WIDTH, 1), dtype=np.int16)
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.rename(path)
    return path


def decord_get_batch(path: Path) -> np.ndarray:
    import decord

    width, height = output_size(WIDTH, HEIGHT, SIZE)
    reader = decord.VideoReader(str(path), width=width, height=height, num_threads=0)
    return reader.get_batch(segment_centres(len(reader), N).tolist()).asnumpy()


def pyav_keyframe_index(path: Path) -> np.ndarray:
    """The reference: demux keyframes once, then decode forward, seeking only into a later GOP."""
    width, height = output_size(WIDTH, HEIGHT, SIZE)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
    pts = np.sort([p for p, _ in packets])
    keyframes = np.sort([p for p, key in packets if key])
    targets = pts[segment_centres(len(pts), N)]
    out, gop_now = [], -1
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = None
        for target in targets:
            gop = np.searchsorted(keyframes, target, side="right") - 1
            if gop != gop_now:
                container.seek(int(keyframes[gop]), backward=True, stream=stream)
                frames, gop_now = container.decode(stream), gop
            for frame in frames:
                if frame.pts >= target:
                    out.append(frame.to_ndarray(width=width, height=height, format="rgb24"))
                    break
    return np.stack(out)


def read_hash(path: Path, new) -> None:
    """Hash a file as `bench.cache.file_key` reads a video: read() into one 8 MiB buffer."""
    h, buffer = new(), bytearray(READ_CHUNK)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buffer):
            h.update(memoryview(buffer)[:n])


def mapped_xxh3(path: Path) -> None:
    """Hash a file as `bench.cache` checks an entry: xxh3 over a memory map."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
        xxhash.xxh3_128(view)


def hash_throughput(source: Path, gigabytes: float, runs: int) -> dict[str, float]:
    """GB/s of each way of hashing over a file of `gigabytes` made by repeating `source`; deleted after."""
    big = source.with_name("hash-test.bin")
    data = source.read_bytes()
    try:
        with big.open("wb") as f:
            for _ in range(int(np.ceil(gigabytes * 1e9 / len(data)))):
                f.write(data)
        size = big.stat().st_size / 1e9
        ways = {f"{name}, read()": (lambda new=new: read_hash(big, new)) for name, new in HASHES.items()}
        ways["xxh3_128, memory-mapped (entry checks)"] = lambda: mapped_xxh3(big)
        read_hash(big, xxhash.xxh3_128)  # warm-up: the page cache
        return {name: size / median_seconds(fn, runs)[0] for name, fn in ways.items()}
    finally:
        big.unlink(missing_ok=True)


def median_seconds(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "framebench-decode")
    parser.add_argument("--hash-gb", type=float, default=1.0, help="size of the file the hashes are timed on")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2) as pool:  # two encodes at once: about a minute each on 2 cores
        videos = dict(zip((250, 30), pool.map(make_video, [args.workdir / "gop250.mp4", args.workdir / "gop30.mp4"], [250, 30])))

    methods = {
        "framebench exact (cache miss)": lambda p: decode(p, N, SIZE, "exact"),
        "framebench --seek keyframe": lambda p: decode(p, N, SIZE, "keyframe"),
        "decord get_batch": decord_get_batch,
        "PyAV keyframe index, 1 thread": pyav_keyframe_index,
    }
    reference = {gop: pyav_keyframe_index(path) for gop, path in videos.items()}
    rows, exact = [], []
    for name, fn in methods.items():
        cells = []
        for gop, path in videos.items():
            fn(path)  # warm-up: library load, page cache
            median, times = median_seconds(lambda: fn(path), args.runs)
            cells.append(f"{median:.2f}")
            if name.startswith("framebench exact"):
                exact.append(median)
            if "seek keyframe" not in name:  # exact methods must return the reference's frames
                frames = fn(path)
                frames = frames[0] if isinstance(frames, tuple) else frames
                # decord scales with another filter, so its pixels differ slightly
                assert np.abs(frames.astype(int) - reference[gop]).mean() < 2, f"{name} returned other frames"
        rows.append((name, *cells))
    cache_dir = args.workdir / "cache"
    first, again = [], []
    for path in videos.values():
        warm = FrameCache(cache_dir)
        warm.candidates(path, N, SIZE)  # fill (or verify what an earlier run left)
        # the hit memory-maps the frames; copying them all out is the honest cost of using them
        first.append(median_seconds(lambda: np.array(FrameCache(cache_dir).candidates(path, N, SIZE).frames), args.runs)[0])
        again.append(median_seconds(lambda: np.array(warm.candidates(path, N, SIZE).frames), args.runs)[0])
    rows.append(("cache hit, first in a process (verified)", *(f"{s:.3f}" for s in first)))
    rows.append(("cache hit, verified before", *(f"{s:.3f}" for s in again)))
    rows.append(("exact decode / first hit", *(f"{d / h:.0f}x" for d, h in zip(exact, first))))

    print(f"N={N} candidates, short side {SIZE}, {SECONDS} s {WIDTH}x{HEIGHT} {FPS} fps H.264; median of {args.runs} runs, seconds")
    print(f"files: GOP 250 {videos[250].stat().st_size / 1e6:.1f} MB, GOP 30 {videos[30].stat().st_size / 1e6:.1f} MB")
    print(f"{'method':42s} {'GOP 250':>8s} {'GOP 30':>8s}")
    for name, a, b in rows:
        print(f"{name:42s} {a:>8s} {b:>8s}")
    speeds = hash_throughput(videos[30], args.hash_gb, args.runs)
    print(f"\nhash throughput over a {args.hash_gb:g} GB file, page cache warm; median of {args.runs} runs")
    for name, speed in speeds.items():
        print(f"{name:42s} {speed:6.2f} GB/s")


if __name__ == "__main__":
    main()
