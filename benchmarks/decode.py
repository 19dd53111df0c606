"""Candidate decoding speed: framebench's path against decord and PyAV with a keyframe index.

Decodes N=128 candidates at short side 224 from two generated 4-minute 640x360 30 fps H.264
videos (GOP 250 and GOP 30, B-frames on, per-frame noise so no two frames match) and prints
the median wall time of several runs; every run opens the file afresh. Rows:

- framebench exact / keyframe: `bench.video.decode`, what a cache miss costs;
- framebench cache hit: `FrameCache.candidates` on a warm entry, all N frames copied out;
- decord get_batch: `VideoReader(width, height, num_threads=0).get_batch(indices)`;
- PyAV keyframe index: one thread, seek only when the next target lies in a later GOP.

    python benchmarks/decode.py [--runs 5] [--workdir /tmp/framebench-decode]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np

from bench.selectors.pick import segment_centres
from bench.video import FrameCache, decode, output_size

N, SIZE, SECONDS, FPS, WIDTH, HEIGHT = 128, 224, 240, 30, 640, 360


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
    rows = []
    for name, fn in methods.items():
        cells = []
        for gop, path in videos.items():
            fn(path)  # warm-up: library load, page cache
            median, times = median_seconds(lambda: fn(path), args.runs)
            cells.append(f"{median:.2f}")
            if "seek keyframe" not in name:  # exact methods must return the reference's frames
                frames = fn(path)
                frames = frames[0] if isinstance(frames, tuple) else frames
                # decord scales with another filter, so its pixels differ slightly
                assert np.abs(frames.astype(int) - reference[gop]).mean() < 2, f"{name} returned other frames"
        rows.append((name, *cells))
    cache = FrameCache(args.workdir / "cache")
    hits = []
    for path in videos.values():
        cache.candidates(path, N, SIZE)  # fill
        # the hit memory-maps the frames; copying them all out is the honest cost of using them
        median, _ = median_seconds(lambda: np.array(cache.candidates(path, N, SIZE).frames), args.runs)
        hits.append(f"{median:.3f}")
    rows.append(("framebench cache hit (all frames read)", *hits))

    print(f"N={N} candidates, short side {SIZE}, {SECONDS} s {WIDTH}x{HEIGHT} {FPS} fps H.264; median of {args.runs} runs, seconds")
    print(f"files: GOP 250 {videos[250].stat().st_size / 1e6:.1f} MB, GOP 30 {videos[30].stat().st_size / 1e6:.1f} MB")
    print(f"{'method':40s} {'GOP 250':>8s} {'GOP 30':>8s}")
    for name, a, b in rows:
        print(f"{name:40s} {a:>8s} {b:>8s}")


if __name__ == "__main__":
    main()
