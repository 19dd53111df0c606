"""Candidate decoding speed: framebench's path against decord, PyAV with a keyframe index and torchcodec.

Decodes N=128 candidates at short side 224 from two generated 4-minute 640x360 30 fps H.264
videos (GOP 250 and GOP 30, B-frames on, per-frame noise so no two frames match) and prints
the median wall time of several runs, taken round robin over the methods so that load from
other jobs falls on each alike; every run opens the file afresh. Rows:

- framebench exact / keyframe: `bench.video.decode`, what a cache miss costs; and with
  `--decoder torchcodec` (our demux pass, then torchcodec asked for the exact targets);
- framebench cache hit, first in a process: `FrameCache.candidates` on a warm entry through a
  new `FrameCache`, so the entry's checksums are verified, all N frames copied out; then the
  same through a cache that verified them before; and how many times faster than the exact
  decode the first kind of hit is (it must stay above 50);
- decord get_batch: `VideoReader(width, height, num_threads=0).get_batch(indices)`;
- PyAV keyframe index: one thread, seek only when the next target lies in a later GOP;
- torchcodec get_frames_played_at: one `VideoDecoder` on the CPU (`seek_mode="exact"`: its
  own scan for the frame count and keyframes), resized by its own `Resize` transform, with
  `num_ffmpeg_threads=2` as our exact path decodes in two threads, asked for the middle of
  each candidate's display interval (the files have a constant frame rate). torchcodec needs
  FFmpeg 4-9's shared libraries where the loader finds them; without them its row says why
  it was not measured. PyAV's wheel carries FFmpeg 8's, under other names (see README.md).

Then how many times faster than each peer the exact path was, in this run.

Then the throughput of the hashes the cache could key videos and check entries with, over a
file of `--hash-gb` GB (the GOP 30 video repeated, deleted afterwards), page cache warm: each
read as `file_key` reads a video, and xxh3 memory-mapped as entries are checked.

Then the cache formats (`--cache-format`), at N=128 and short side 336, so candidates are
336x597 like those of a 16:9 video: on a real-looking clip (60 s of 1280x720 at 30 fps: a
panned landscape of 1/f texture under a sky gradient whose hue drifts, six coloured objects
moving across it, sensor noise; x264 veryfast CRF 23) each format's bytes per video and per
pixel, its PSNR against the raw frames and the time of a miss (decode and store); and on the
GOP 250 file the exact decode against a first hit of each format, which must stay at least
10x faster.

    python -m perf.decode [--runs 5] [--workdir /tmp/framebench-decode] [--hash-gb 1] [--only decode|formats]
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import shutil
import statistics
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np
import xxhash

from bench.store.arrays import READ_CHUNK
from bench.store.frames import FrameCache, parse_cache_format
from bench.sampling import segment_centres
from bench.video import decode, output_size

N, SIZE, SECONDS, FPS, WIDTH, HEIGHT = 128, 224, 240, 30, 640, 360


class _Crc32:
    """zlib.crc32 behind the update() of hashlib's hashes."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data) -> None:
        self.value = zlib.crc32(data, self.value)


HASHES = {"xxh3_128 (bench.store)": xxhash.xxh3_128, "crc32 (zlib)": _Crc32, "sha1": hashlib.sha1, "blake2b": hashlib.blake2b}


def encode(path: Path, frames: Iterable[av.VideoFrame], fps: int, width: int, height: int, options: dict[str, str]) -> Path:
    """`frames` as libx264 yuv420p in `path`, written under a temporary name so a killed run leaves no half file."""
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options
        for frame in frames:
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.rename(path)
    return path


def make_video(path: Path, gop: int) -> Path:
    """A moving colour gradient with per-frame noise, x264 veryfast CRF 23, fixed GOP, no scene cuts."""
    if path.exists():
        return path
    rng = np.random.default_rng(gop)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([xx * 255 // WIDTH, yy * 255 // HEIGHT, (xx + yy) * 255 // (WIDTH + HEIGHT)], -1).astype(np.int16)

    def frames() -> Iterator[av.VideoFrame]:
        for i in range(SECONDS * FPS):
            image = np.roll(base, (i * 4) % WIDTH, axis=1) + rng.integers(-10, 11, size=(HEIGHT, WIDTH, 1), dtype=np.int16)
            yield av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")

    options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "preset": "veryfast", "crf": "23"}
    return encode(path, frames(), FPS, WIDTH, HEIGHT, options)


def landscape(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A 1/f-textured ground (natural images' spectrum), float RGB in 0-255, for footage to pan across."""
    spectrum = np.fft.rfft2(rng.normal(size=(height, width)))
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    texture = np.fft.irfft2(spectrum / np.maximum(radius, 1 / width), s=(height, width))
    texture = (texture - texture.mean()) / texture.std()
    return np.clip(np.stack([110 + 38 * texture, 120 + 34 * texture, 80 + 28 * texture], -1), 0, 255)


def make_footage(path: Path, seconds: int = 60, fps: int = 30, width: int = 1280, height: int = 720) -> Path:
    """A real-looking clip: panned 1/f landscape under a drifting sky, six moving objects, sensor noise."""
    if path.exists():
        return path
    rng = np.random.default_rng(7)
    ground = landscape(rng, height, 2 * width)
    horizon = height * 2 // 5
    sky_rows = np.linspace(0, 1, horizon)[:, None, None]
    objects = [(rng.uniform(60, 200), rng.uniform(0, width), rng.uniform(horizon, height), rng.uniform(-6, 6), rng.uniform(-3, 3),
                rng.uniform(30, 250, size=3), rng.random() < 0.5) for _ in range(6)]
    yy, xx = np.mgrid[0:height, 0:width]

    def frames() -> Iterator[av.VideoFrame]:
        for i in range(seconds * fps):
            shift = (i * 3) % width
            image = ground[:, shift : shift + width].copy()
            hue = 0.5 + 0.5 * np.sin(i / (fps * 10))
            image[:horizon] = (1 - sky_rows) * np.array([90 + 60 * hue, 150, 230]) + sky_rows * np.array([200, 210, 220 - 40 * hue])
            for size, x0, y0, vx, vy, colour, disc in objects:
                x, y = (x0 + vx * i) % width, horizon + (y0 - horizon + vy * i) % (height - horizon)
                inside = (xx - x) ** 2 + (yy - y) ** 2 <= (size / 2) ** 2 if disc else (abs(xx - x) <= size / 2) & (abs(yy - y) <= size / 3)
                shade = 0.75 + 0.25 * (yy[inside] - y) / size  # lit from below: a gradient across each object
                image[inside] = colour * shade[:, None]
            image += rng.normal(0, 2, size=(height, width, 1))
            yield av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")

    return encode(path, frames(), fps, width, height, {"preset": "veryfast", "crf": "23"})


FORMATS = ("raw", "jpeg:quality=50", "jpeg:quality=75", "jpeg:quality=90", "jpeg:quality=95", "jpeg:quality=100")
FORMAT_SIZE = 336


def entry_bytes(cache_dir: Path, key: str) -> int:
    """Bytes of one frames entry's files (record, arrays)."""
    return sum(p.stat().st_size for p in (cache_dir / "frames" / key[:2]).glob(f"{key}.*"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def cache_formats(workdir: Path, gop250: Path, runs: int) -> None:
    """Print each cache format's size, fidelity and write cost on the footage, and its read time against decoding GOP 250."""
    footage = make_footage(workdir / "footage.mp4")
    cache_dir = workdir / "format-cache"
    reference = decode(footage, N, FORMAT_SIZE)[0]
    decode_s = median_seconds(lambda: decode(gop250, N, FORMAT_SIZE), runs)[0]
    print(f"\ncache formats, N={N} at short side {FORMAT_SIZE} ({reference.shape[2]}x{reference.shape[1]} candidates); median of {runs} runs")
    print(f"footage: {footage.stat().st_size / 1e6:.1f} MB, 60 s 1280x720; exact decode of GOP 250 at {FORMAT_SIZE}: {decode_s:.2f} s")
    print(f"{'format':18s} {'MB/video':>9s} {'bytes/px':>9s} {'vs raw':>7s} {'PSNR dB':>8s} {'miss s':>7s} {'GOP250 hit s':>13s} {'decode/hit':>11s}")
    for spec in FORMATS:
        for path in (footage, gop250):  # fill, so the timed reads are hits
            FrameCache(cache_dir, spec).candidates(path, N, FORMAT_SIZE)
        misses = []
        for _ in range(runs):  # decode, store (and for jpeg encode, then decode what was stored) into an empty cache
            shutil.rmtree(workdir / "miss-cache", ignore_errors=True)
            start = time.perf_counter()
            FrameCache(workdir / "miss-cache", spec).candidates(footage, N, FORMAT_SIZE)
            misses.append(time.perf_counter() - start)
        miss = statistics.median(misses)
        got = FrameCache(cache_dir, spec).candidates(footage, N, FORMAT_SIZE)
        size = entry_bytes(cache_dir, got.key)
        per_pixel = size / (reference.size // 3)  # the whole entry per candidate pixel
        hit = median_seconds(lambda spec=spec: np.array(FrameCache(cache_dir, spec).candidates(gop250, N, FORMAT_SIZE).frames), runs)[0]
        quality = psnr(np.asarray(got.frames), reference)
        print(f"{parse_cache_format(spec).spec:18s} {size / 1e6:9.2f} {per_pixel:9.3f} {reference.nbytes / size:6.1f}x {quality:8.1f} {miss:7.2f} {hit:13.3f} {decode_s / hit:10.0f}x")


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


def framebench_torchcodec(path: Path) -> np.ndarray:
    """`bench.video.decode(decoder="torchcodec")`, refusing to time the PyAV path it falls back to."""
    frames, _, _, used = decode(path, N, SIZE, "exact", "torchcodec")
    if used != "torchcodec":
        raise RuntimeError("bench.video fell back to PyAV; its warning says why")
    return frames


def torchcodec_played_at(path: Path) -> np.ndarray:
    """torchcodec on the CPU, as a user would call it: its own frame count, its own resize, two FFmpeg threads."""
    from torchcodec.decoders import VideoDecoder
    from torchcodec.transforms import Resize

    width, height = output_size(WIDTH, HEIGHT, SIZE)
    reader = VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=2, device="cpu", seek_mode="exact", transforms=[Resize((height, width))])
    meta = reader.metadata
    seconds = meta.begin_stream_seconds + (segment_centres(meta.num_frames, N) + 0.5) / meta.average_fps
    return reader.get_frames_played_at(seconds=seconds.tolist()).data.numpy()


def read_hash(path: Path, new) -> None:
    """Hash a file as `bench.store.file_key` reads a video: read() into one 8 MiB buffer."""
    h, buffer = new(), bytearray(READ_CHUNK)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buffer):
            h.update(memoryview(buffer)[:n])


def mapped_xxh3(path: Path) -> None:
    """Hash a file as `bench.store` checks an entry: xxh3 over a memory map."""
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
    parser.add_argument("--only", choices=["decode", "formats"], default=None, help="run only the decoders table (with cache hits) or the cache formats part")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2) as pool:  # two encodes at once: about a minute each on 2 cores
        videos = dict(zip((250, 30), pool.map(make_video, [args.workdir / "gop250.mp4", args.workdir / "gop30.mp4"], [250, 30])))
    if args.only == "formats":
        cache_formats(args.workdir, videos[250], args.runs)
        return

    methods = {
        "framebench exact (cache miss)": lambda p: decode(p, N, SIZE, "exact"),
        "framebench --seek keyframe": lambda p: decode(p, N, SIZE, "keyframe"),
        "framebench --decoder torchcodec": framebench_torchcodec,
        "decord get_batch": decord_get_batch,
        "PyAV keyframe index, 1 thread": pyav_keyframe_index,
        "torchcodec get_frames_played_at, 2 threads": torchcodec_played_at,
    }
    reference = {gop: pyav_keyframe_index(path) for gop, path in videos.items()}
    missing = {}
    for name, fn in methods.items():
        for gop, path in videos.items():
            try:
                frames = fn(path)  # warm-up: library load, page cache
            except (ImportError, RuntimeError) as exc:  # a peer not installed, or torchcodec without FFmpeg's libraries
                reason = str(exc).strip().splitlines()[0]
                missing[name] = "no FFmpeg 4-9 shared libraries found; see README.md" if reason.startswith("Could not load libtorchcodec") else reason
                break
            if "seek keyframe" not in name:  # exact methods must return the reference's frames
                frames = frames[0] if isinstance(frames, tuple) else frames
                # decord and torchcodec scale with other filters, so their pixels differ slightly
                assert np.abs(frames.astype(int) - reference[gop]).mean() < 2, f"{name} returned other frames"
    timed = {name: fn for name, fn in methods.items() if name not in missing}
    times = {(name, gop): [] for name in timed for gop in videos}
    for _ in range(args.runs):  # round robin, so that load from other jobs falls on every method alike
        for name, fn in timed.items():
            for gop, path in videos.items():
                start = time.perf_counter()
                fn(path)
                times[name, gop].append(time.perf_counter() - start)
    medians = {key: statistics.median(spans) for key, spans in times.items()}
    rows = [(name, *(f"{medians[name, gop]:.2f}" if name in timed else "n/a" for gop in videos)) for name in methods]
    exact = [medians["framebench exact (cache miss)", gop] for gop in videos]
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
    for name, reason in missing.items():
        print(f"{name}: not measured ({reason})")
    print("\nframebench exact is this many times faster than each peer, in this run")
    for name in methods:
        if name in timed and name != "framebench exact (cache miss)" and "seek keyframe" not in name:
            print(f"{name:42s} " + " ".join(f"{medians[name, gop] / e:7.2f}x" for gop, e in zip(videos, exact)))
    if args.only == "decode":
        return
    speeds = hash_throughput(videos[30], args.hash_gb, args.runs)
    print(f"\nhash throughput over a {args.hash_gb:g} GB file, page cache warm; median of {args.runs} runs")
    for name, speed in speeds.items():
        print(f"{name:42s} {speed:6.2f} GB/s")
    cache_formats(args.workdir, videos[250], args.runs)


if __name__ == "__main__":
    main()
