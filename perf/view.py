"""`bench view` at scale: seconds, peak memory and thumbnail megabytes for a results dir of 10,000 rows.

The target (issue 28): 10,000 rows build in under a minute, with at most 200 MB of thumbnails.
Thumbnails cost per distinct video, not per row, so the rows here are the heavy case: one
video per sample, 1,000 samples as a `jsonl` dataset, times 10 cells (uniform and
`clip:size=tiny`, each at k = 4, 8, 16, 32, 64) with the `probe` backbone, N = 128 candidates at
short side 336 (the defaults), the frame cache in JPEG at quality 95 (raw would need 77 GB for
1,000 such videos; `bench run` says so before decoding). Each video is 16 s of 640x360 at 8 fps cut from one panned 1/f
landscape with moving objects and sensor noise (perf/decode.py's footage, whose JPEGs weigh
what natural frames weigh), each from its own place in it.

The videos, rows and caches are made once under --workdir and kept, so a rerun times only
`bench view`, twice (a child process each: wall and CPU seconds, peak resident memory): first
over the cache as `bench run` left it, whose strips the run stored as it decoded; then with
the strips set aside, as a cache filled before runs stored them is, so each is made from the
frame cache. Then it times what a strip adds to a cache miss, on a few videos.

    python -m perf.view                      # 1,000 videos x 10 cells = 10,000 rows
    python -m perf.view --videos 2000 --thumbs-mb 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np

from perf.decode import encode, landscape

WIDTH, HEIGHT, FPS, FRAMES = 640, 360, 8, 128
OBJECTS = 5


def make_video(path: Path, index: int, ground: np.ndarray) -> Path:
    """Video `index`: a pan across `ground` from its own offset and speed, with moving discs and sensor noise."""
    if path.exists():
        return path
    rng = np.random.default_rng(index)
    start, speed = int(rng.integers(0, ground.shape[1] - WIDTH - FRAMES * 4)), int(rng.integers(1, 4))
    noise = rng.normal(0, 2, size=(8, HEIGHT, WIDTH, 1)).astype(np.float32)  # a few frames of sensor noise, cycled
    objects = [(int(rng.uniform(15, 60)), rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(-6, 6), rng.uniform(-3, 3),
                rng.uniform(30, 250, size=3)) for _ in range(OBJECTS)]

    def frames():
        for i in range(FRAMES):
            image = ground[:, start + i * speed : start + i * speed + WIDTH] + noise[i % len(noise)]
            for radius, x0, y0, vx, vy, colour in objects:
                x, y = int(x0 + vx * i) % WIDTH, int(y0 + vy * i) % HEIGHT
                top, bottom, left, right = max(0, y - radius), min(HEIGHT, y + radius + 1), max(0, x - radius), min(WIDTH, x + radius + 1)
                yy, xx = np.ogrid[top:bottom, left:right]
                box = image[top:bottom, left:right]
                box[(yy - y) ** 2 + (xx - x) ** 2 <= radius**2] = colour
            yield av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")

    return encode(path, frames(), FPS, WIDTH, HEIGHT, {"preset": "ultrafast", "crf": "23"})


def _make(args: tuple[Path, int]) -> Path:
    return make_video(*args, ground=_GROUND)


def _start(ground: np.ndarray) -> None:
    global _GROUND
    _GROUND = ground


_GROUND: np.ndarray


def dataset(workdir: Path, n: int, workers: int) -> Path:
    """n videos and a jsonl of one five-option question per video (answers and categories drawn at random)."""
    folder = workdir / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    ground = landscape(np.random.default_rng(7), HEIGHT, 8 * WIDTH).astype(np.float32)  # every video pans across it from its own offset
    with ProcessPoolExecutor(workers, initializer=_start, initargs=(ground,)) as pool:
        for done, _ in enumerate(pool.map(_make, [(folder / f"v{i:05d}.mp4", i) for i in range(n)], chunksize=8), 1):
            if done % 100 == 0:
                print(f"  {done}/{n} videos", file=sys.stderr)
    rng = np.random.default_rng(0)
    questions = workdir / f"questions-{n}.jsonl"
    with questions.open("w") as file:
        for i in range(n):
            file.write(json.dumps({"id": f"q{i:05d}", "video": f"videos/v{i:05d}.mp4", "question": "Which colour is the largest disc?",
                                   "options": ["red", "green", "blue", "yellow", "grey"], "answer": "ABCDE"[rng.integers(5)],
                                   "category": ["colour", "count", "motion"][rng.integers(3)]}) + "\n")
    return questions


def bench(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000, help="samples, one video each (default 1000: 10,000 rows)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/framebench-perf-view"), help="kept between runs")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes that make videos and decode")
    parser.add_argument("--thumbs-mb", type=float, default=None, help="passed to bench view (default: its own)")
    args = parser.parse_args()

    workdir = args.workdir
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    questions = dataset(workdir, args.videos, args.workers)
    results, cache = workdir / f"results-{args.videos}", workdir / "cache"
    started = time.perf_counter()
    subprocess.run(bench("run", "--dataset", f"jsonl:path={questions}", "--selector", "uniform,clip:size=tiny", "--backbone", "probe",
                         "--frames", "4,8,16,32,64", "--results-dir", str(results), "--cache-dir", str(cache), "--cache-format", "jpeg", "--device", "cpu",
                         "--workers", str(args.workers)), check=True, env=env)
    print(f"bench run (or its resume): {time.perf_counter() - started:.1f} s", file=sys.stderr)

    rows = sum(max(0, sum(1 for _ in p.open()) - 1) for p in results.rglob("*.csv"))
    aside = cache / "thumbs.aside"
    if aside.exists():  # a run stopped in the second view: the strips bench run stored come back first
        shutil.rmtree(cache / "thumbs", ignore_errors=True)
        aside.rename(cache / "thumbs")
    for when in ("view after bench run (strips it stored)", "view of a cache without strips (each made from the frame cache)"):
        if when.startswith("view of a cache without"):
            (cache / "thumbs").rename(aside)
        site = workdir / "site"
        shutil.rmtree(site, ignore_errors=True)
        view = bench("view", "--results-dir", str(results), "--cache-dir", str(cache), "--out", str(site))
        if args.thumbs_mb is not None:
            view += ["--thumbs-mb", str(args.thumbs_mb)]
        started = time.perf_counter()
        _, status, usage = os.wait4(subprocess.Popen(view, env=env).pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status):
            sys.exit(f"bench view failed: {' '.join(view)}")
        thumbs = sum(p.stat().st_size for p in (site / "thumbs").glob("*.jpg"))
        pages = sum(1 for _ in site.rglob("*.html"))
        written = {folder: sum(p.stat().st_size for p in site.glob(f"{folder}/**/*") if p.is_file()) for folder in ("samples", "data")}
        print(f"{when}: {rows} rows, {args.videos} videos -> {pages} pages in {seconds:.1f} s wall, {usage.ru_utime + usage.ru_stime:.1f} CPU s "
              f"(target < 60 s); thumbnails {thumbs / 1e6:.1f} MB (target < 200 MB); peak memory {usage.ru_maxrss / 1024:.0f} MB; "
              f"sample pages {written['samples'] / 1e6:.1f} MB, cell data for the compare page {written['data'] / 1e6:.1f} MB")
    shutil.rmtree(cache / "thumbs")
    aside.rename(cache / "thumbs")
    # after the views: a child's peak memory starts from its parent's at the fork, and this decodes in-process
    strip_cost(sorted((workdir / "videos").glob("*.mp4"))[:STRIP_VIDEOS], workdir / "strip-cost")


STRIP_VIDEOS = 12
CANDIDATES = 128  # bench run's default N


def strip_cost(videos: list[Path], scratch: Path) -> None:
    """Seconds of a cache miss (raw: the decode; jpeg q95: decode, encode, decode back) against seconds of the strip it also stores."""
    from bench.store.frames import FrameCache
    from bench.store.thumbs import ThumbStore

    miss, strip = {"raw": [], "jpeg": []}, []
    for video in videos:
        for cache_format in miss:
            shutil.rmtree(scratch, ignore_errors=True)
            cands = FrameCache(scratch, cache_format).candidates(video, CANDIDATES, 336)
            miss[cache_format].append(cands.decode_s)
        started = time.perf_counter()
        ThumbStore(scratch / "again").save(cands.key, cands.frames, cands.times, cands.meta.duration_s)
        strip.append(time.perf_counter() - started)
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"a strip (N={CANDIDATES}, 336 px) over {len(videos)} videos: median {np.median(strip):.3f} s; "
          + "; ".join(f"a {f} cache miss {np.median(s):.3f} s (the strip adds {np.median(strip) / np.median(s):.1%})" for f, s in miss.items()))


if __name__ == "__main__":
    main()
