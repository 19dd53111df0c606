"""Throughput of a grid on this machine: decode workers, pipelined phases, Ray, and one long video.

Four parts (`--only` runs one). Each times its ways in interleaved repeats, so that the load
of a shared machine falls on every way alike, and prints per way the median wall seconds, the
median CPU seconds of this process tree (decode workers and Ray's processes included), the
cores these come to (CPU / wall: a way that got fewer cores than it could use shows it), and
each run's wall seconds:

- decode: the decode phase filling a cold cache dir with the candidates of 16 videos, in
  videos/s: W = 1 with one decode thread (a pool of one process calling `decode_into_cache`
  with `threads=1`, as each worker does when W > 1), W = 1 with the default two threads, and
  W = 2 (both `bench.grid.decoding.DecodeAhead`, what `bench run --workers W` starts). Target: W = 2
  at least 1.6x W = 1 with one thread. A decode thread is ours: FFmpeg runs slice threads of
  its own inside each (PyAV's default), which the CPU column shows.
- grid: `--selectors` (default uniform, and `spatial:scorer=probe` picked by NMS and by top-k:
  one scoring, two selections) x k = 4, 8 x `probe:delay=0.05`, 96 rows over the 16 videos as
  a `jsonl` dataset, serial (`workers=0`) and pipelined (`workers=2`), each on a cold cache;
  and apart, the decode alone (the decode phase at W = 2, cold) and the models alone
  (`workers=0` on a cache that holds the frames but no scores). Target: pipelined within 10%
  of max(decode, models), not their sum. The probe's frame relevance, which the spatial scorer
  asks of every candidate, is CPU work on the decoders' two cores, so no schedule beats the
  parts' CPU seconds over two cores either; that bound is printed beside the target.
  `--selectors uniform,uniform:pick=topk,uniform:pick=nms` makes the models cost no CPU (uniform
  scores are zeros), as models on a GPU would cost the decoders none.
- ray: the same grid with `executor="ray"` on a new local instance (`ray.init(num_cpus=2)`,
  timed apart), cold cache, interleaved with the local pipelined run it is compared with.
- long: one 20-minute 1280x720 30 fps video, GOP 250, decoded exact and with
  `seek="keyframe"` (`bench.video.decode`: what a cache miss costs).

Every part decodes N = 128 candidates at short side 224, as perf/decode.py does (the run
default is 336). The 16 videos are one `perf.decode.make_video` encode (240 s of 640x360
at 30 fps, per-frame noise, x264 veryfast CRF 23 with B-frames), its GOP 30 file: the cheaper of
that script's two, so that a default invocation takes about 13 minutes on two shared cores. It
is copied 16 times, each copy with a distinct MP4 `free` box appended: decoders skip the box,
the frame cache (keyed by content) sees 16 videos, and every video costs the same to decode, so
the ways differ only in how the work is scheduled. The long video is made here with x264's
ultrafast preset (5x faster to make than superfast on this machine: about 3.5 minutes, once)
with B-frames and CABAC put back, so that it decodes like a usual x264 file. Videos stay in
`--workdir` between invocations; each run's cache dir and results are deleted after it.

    python -m perf.throughput [--runs 3] [--workdir /tmp/framebench-throughput] [--only decode|grid|ray|long]
    python -m perf.throughput --only grid --selectors uniform,uniform:pick=topk,uniform:pick=nms
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing
import os
import shutil
import statistics
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

import av
import numpy as np

from bench.grid.decoding import DecodeAhead, Decoding, decode_into_cache
from bench.grid.progress import Reporter
from bench.registry import RegistryError, selectors
from bench.runner import RunConfig, run
from bench.selectors import plan
from bench.video import decode
from perf.decode import encode, make_video

N, SIZE, COUNT, GOP = 128, 224, 16, 30
SELECTORS = "uniform,spatial:scorer=probe,spatial:scorer=probe:pick=topk"  # no downloads; the two spatial ones share one scoring
FRAMES = (4, 8)
BACKBONE = "probe:delay=0.05"
OPTIONS = ("red", "green", "blue", "yellow", "purple")
LONG_SECONDS, LONG_FPS, LONG_WIDTH, LONG_HEIGHT, LONG_GOP = 1200, 30, 1280, 720, 250


def make_videos(workdir: Path) -> list[Path]:
    """COUNT distinct files that decode alike: copies of one make_video encode, each with its own `free` box."""
    source = make_video(workdir / f"source-gop{GOP}.mp4", GOP)
    (workdir / "videos").mkdir(exist_ok=True)
    videos = []
    for i in range(COUNT):
        path = workdir / "videos" / f"video{i:02d}.mp4"
        if not path.exists():
            tmp = path.with_suffix(".part")
            shutil.copyfile(source, tmp)
            payload = f"framebench throughput copy {i}".encode()
            with tmp.open("ab") as f:  # an MP4 box is a 4-byte big-endian size (header included) and a 4-byte type
                f.write(struct.pack(">I4s", 8 + len(payload), b"free") + payload)
            tmp.rename(path)
        videos.append(path)
    return videos


def write_dataset(workdir: Path, videos: list[Path]) -> Path:
    """A `jsonl` dataset of one needle-like question (five colours) per video."""
    path = workdir / "questions.jsonl"
    lines = [json.dumps({"video": str(v), "question": "What colour is the shape?", "options": list(OPTIONS), "answer": "A", "id": v.stem}) for v in videos]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_long_video(path: Path) -> Path:
    """The long video: a panned luma gradient over a cycle of 7 noise planes, so no frame repeats its neighbour."""
    if path.exists():
        return path
    rng = np.random.default_rng(LONG_GOP)
    height, width = LONG_HEIGHT, LONG_WIDTH
    yy, xx = np.mgrid[0:height, 0:width]
    luma = (40 + xx * 120 // width + yy * 50 // height).astype(np.uint8)
    cb, cr = (np.broadcast_to(np.linspace(lo, hi, width // 2, dtype=np.uint8), (height // 2, width // 2)) for lo, hi in ((100, 160), (150, 110)))
    noise = rng.integers(0, 9, size=(7, height, width), dtype=np.uint8)  # drawn once: fresh noise per frame would cost more than encoding

    def frames() -> Iterator[av.VideoFrame]:
        for i in range(LONG_SECONDS * LONG_FPS):
            shift = (i * 4) % width
            planes = [np.roll(luma, shift, axis=1) + noise[i % 7]] + [np.roll(c, shift // 2, axis=1).reshape(height // 4, width) for c in (cb, cr)]
            yield av.VideoFrame.from_ndarray(np.concatenate(planes), format="yuv420p")

    options = {"g": str(LONG_GOP), "keyint_min": str(LONG_GOP), "sc_threshold": "0", "preset": "ultrafast", "x264-params": "bframes=3:cabac=1", "crf": "23"}
    return encode(path, frames(), LONG_FPS, width, height, options)


@contextmanager
def scratch(workdir: Path, name: str):
    """An empty dir under the workdir for one run's cache or results, removed afterwards."""
    path = workdir / "scratch" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def decode_phase(cache_dir: Path, videos: list[Path], workers: int, threads: int | None = None) -> float:
    """Seconds to fill a cold `cache_dir` with the videos' candidates: DecodeAhead, or (`threads` given) a pool calling decode_into_cache."""
    how = Decoding(cache_dir, "raw", N, SIZE, "exact", "pyav")
    jobs = [(str(v), (v,)) for v in videos]
    start = time.perf_counter()
    if threads is None:
        with DecodeAhead(how, workers) as ahead:
            ahead.start(jobs)
            errors = [ahead.error(each) for _, each in jobs]
        decoded = ahead.tally.decoded
    else:  # the context DecodeAhead's pool uses, so only the thread count differs
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            results = list(pool.map(decode_into_cache, itertools.repeat(how), [each for _, each in jobs], itertools.repeat(threads)))
        errors, decoded = [r.error for r in results], sum(not r.cached and not r.error for r in results)
    seconds = time.perf_counter() - start
    if any(errors) or decoded != len(videos):
        raise SystemExit(f"decode phase at W={workers}: {decoded} of {len(videos)} decoded; errors: {[e for e in errors if e][:3]}")
    return seconds


class PhaseClock(Reporter):
    """Records when each phase of a run last advanced, in seconds from `reset`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.start, self.last = time.perf_counter(), {}

    def phase(self, description: str, total: int):
        @contextmanager
        def span():
            def advance() -> None:  # also called from the decode pool's callback thread: one dict store
                self.last[description] = time.perf_counter() - self.start

            yield advance

        return span()


def grid_config(dataset: Path, chosen: tuple[str, ...]) -> RunConfig:
    """What every grid run here runs: the questions file x the selectors x FRAMES x BACKBONE; each run sets its own dirs and workers."""
    return RunConfig(datasets=(f"jsonl:path={dataset}",), selectors=chosen, backbones=(BACKBONE,), frames=FRAMES,
                     candidates=N, frame_size=SIZE, device="cpu")


def rows(grid: RunConfig) -> int:
    return COUNT * len(grid.selectors) * len(grid.frames)


def grid_run(grid: RunConfig, workdir: Path, workers: int, executor: str = "local", frames_from: Path | None = None,
             limit: int | None = None, clock: PhaseClock | None = None) -> float:
    """Seconds the grid takes into fresh results on a cold cache, or on one holding only `frames_from`'s frames."""
    with scratch(workdir, "cache") as cache, scratch(workdir, "results") as results:
        if frames_from is not None:  # hard links: the frames and video keys, not the scores
            for kind in ("frames", "file_keys"):
                shutil.copytree(frames_from / kind, cache / kind, copy_function=os.link)
        cfg = replace(grid, limit=limit, results_dir=results, cache_dir=cache, workers=workers, executor=executor)
        clock = clock or PhaseClock()
        clock.reset()
        summary = run(cfg, clock)
        seconds = time.perf_counter() - clock.start
    expected = rows(grid) if limit is None else rows(grid) * limit // COUNT
    if summary.written != expected or summary.errors:
        raise SystemExit(f"grid ({executor}, workers={workers}): {summary.written} of {expected} rows, {summary.errors} errors: {summary.error_examples}")
    return seconds


SAMPLE_S = 0.2  # how often CpuMeter reads /proc: about 2 ms a read, 1% of a core


def tree_ticks() -> dict[int, int]:
    """CPU clock ticks (user + system) used so far by this process and by each live descendant, by pid (Linux /proc)."""
    children: dict[int, list[int]] = {}
    used = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        # after the name: state, ppid, ...; utime and stime are the 12th and 13th
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        used[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, found = [os.getpid()], {}
    while tree:
        pid = tree.pop()
        found[pid] = used.get(pid, 0)
        tree += children.get(pid, [])
    return found


class CpuMeter:
    """CPU seconds that this process and its descendants use over a `with` block (0 off Linux).

    Sampled from /proc every SAMPLE_S, not read from the kernel's totals of reaped children:
    those miss every process whose parent ignores SIGCHLD, as Ray's raylet does for its
    workers. A process's last SAMPLE_S before it exits goes uncounted.
    """

    def __enter__(self) -> Self:
        self.first = tree_ticks()
        self.last = dict(self.first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cpu-meter", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.last.update(tree_ticks())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.last.update(tree_ticks())
        self.seconds = sum(ticks - self.first.get(pid, 0) for pid, ticks in self.last.items()) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Timing:
    """One run of a way: wall seconds, and CPU seconds of this process tree (decode workers and Ray's processes included)."""

    wall: float
    cpu: float


def interleaved(ways: dict[str, Callable[[], float]], runs: int) -> dict[str, list[Timing]]:
    """Each way's timings over `runs` rounds, the ways taking turns within each round; a way returns its wall seconds."""
    times: dict[str, list[Timing]] = {name: [] for name in ways}
    for _ in range(runs):
        for name, way in ways.items():
            with CpuMeter() as meter:
                wall = way()
            times[name].append(Timing(wall, meter.seconds))
    return times


def wall(times: list[Timing]) -> float:
    return statistics.median(t.wall for t in times)


HEADER = f"{'':46s} {'wall s':>7s} {'CPU s':>7s} {'cores':>6s}"


def row(name: str, times: list[Timing], extra: str = "") -> str:
    """The median wall and CPU seconds, the cores they come to, `extra`, and each run's wall seconds."""
    cpu = statistics.median(t.cpu for t in times)
    return f"{name:46s} {wall(times):7.2f} {cpu:7.1f} {cpu / wall(times):6.2f} {extra:>9s}   runs: {' '.join(f'{t.wall:.2f}' for t in times)}"


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def decode_part(workdir: Path, videos: list[Path], runs: int) -> None:
    with scratch(workdir, "warm-up") as cache:
        decode_phase(cache, videos[:2], 2)  # starts the forkserver, as every later pool reuses it
    ways = {
        "W=1, one decode thread": (1, 1),
        "W=1, two decode threads (the default at W=1)": (1, None),
        "W=2, one decode thread each": (2, None),
    }

    def way(workers: int, threads: int | None) -> Callable[[], float]:
        def timed() -> float:
            with scratch(workdir, "cache") as cache:
                return decode_phase(cache, videos, workers, threads)

        return timed

    print(f"\ndecode phase: {COUNT} videos (240 s 640x360 GOP {GOP}) into a cold cache, N={N} at short side {SIZE}; {load()}")
    times = interleaved({name: way(*w) for name, w in ways.items()}, runs)
    print(HEADER + f" {'videos/s':>9s}")
    for name, each in times.items():
        print(row(name, each, f"{COUNT / wall(each):.2f}"))
    one, two_threads, two = map(wall, times.values())
    print(f"W=2 / W=1 (one thread): {one / two:.2f}x (target >= 1.6); W=2 / W=1 (two threads): {two_threads / two:.2f}x; {load()}")


def warm_up(workdir: Path, grid: RunConfig) -> None:
    """One pipelined run of one sample, untimed: the imports and the forkserver a first run pays for."""
    grid_run(grid, workdir, 2, limit=1)


def grid_part(workdir: Path, grid: RunConfig, videos: list[Path], runs: int) -> None:
    warm_up(workdir, grid)
    clock = PhaseClock()
    ends: list[tuple[float, float]] = []
    keep = workdir / "scratch" / "frames"

    def pipelined() -> float:
        seconds = grid_run(grid, workdir, 2, clock=clock)
        ends.append((clock.last["decode candidates"], max(t for name, t in clock.last.items() if name.startswith("answer"))))
        return seconds

    def decode_alone() -> float:
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        return decode_phase(keep, videos, 2)

    def models_alone() -> float:
        try:
            return grid_run(grid, workdir, 0, frames_from=keep)
        finally:
            shutil.rmtree(keep, ignore_errors=True)

    print(f"\ngrid: {', '.join(grid.selectors)} x k {','.join(map(str, FRAMES))} x {BACKBONE}, {rows(grid)} rows over the {COUNT} videos, "
          f"N={N} at {SIZE}; {load()}")
    times = interleaved({
        "serial (workers=0), cold cache": lambda: grid_run(grid, workdir, 0),
        "pipelined (workers=2), cold cache": pipelined,
        "decode alone (decode phase, W=2), cold cache": decode_alone,
        "models alone (workers=0), frames cached": models_alone,
    }, runs)
    print(HEADER)
    for name, each in times.items():
        print(row(name, each))
    serial, piped, decoding, models = map(wall, times.values())
    bound = sum(statistics.median(t.cpu for t in times[name]) for name in list(times)[2:]) / 2
    print(f"max(decode, models) = {max(decoding, models):.2f} s, sum = {decoding + models:.2f} s; "
          f"their CPU over two cores = {bound:.2f} s (no schedule on two cores beats that)")
    print(f"pipelined / max = {piped / max(decoding, models):.2f} (target <= 1.10); pipelined / max(decode, models, CPU over two cores) = "
          f"{piped / max(decoding, models, bound):.2f}; pipelined / sum = {piped / (decoding + models):.2f}; serial / sum = {serial / (decoding + models):.2f}")
    print("pipelined runs, seconds from the start to the last decode and the last row: "
          + "; ".join(f"{d:.1f}, {a:.1f}" for d, a in ends) + f"; {load()}")


def ray_part(workdir: Path, grid: RunConfig, runs: int) -> None:
    import ray

    warm_up(workdir, grid)
    print(f"\nthe grid on Ray (a local instance, ray.init(num_cpus=2)), cold cache; {load()}")
    start = time.perf_counter()
    # "local": a new instance even where another `ray start` cluster runs on this machine, which no address would join
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    startup = time.perf_counter() - start
    try:
        times = interleaved({
            "local pipelined (workers=2)": lambda: grid_run(grid, workdir, 2),
            "ray": lambda: grid_run(grid, workdir, 0, executor="ray"),
        }, runs)
    finally:
        start = time.perf_counter()
        ray.shutdown()
        shutdown = time.perf_counter() - start
    local, on_ray = times["local pipelined (workers=2)"], times["ray"]
    print(f"ray.init: {startup:.2f} s; ray.shutdown: {shutdown:.2f} s")
    print(HEADER)
    print(row("local pipelined (workers=2)", local))
    print(row("ray, first run (its workers start)", on_ray[:1]))
    if len(on_ray) > 1:
        print(row("ray, later runs", on_ray[1:]))
    print(f"ray / local: first run {on_ray[0].wall / wall(local):.2f}x"
          + (f", later runs {wall(on_ray[1:]) / wall(local):.2f}x" if len(on_ray) > 1 else "") + f"; {load()}")


def long_part(workdir: Path, runs: int) -> None:
    path = make_long_video(workdir / f"long-{LONG_WIDTH}x{LONG_HEIGHT}-gop{LONG_GOP}.mp4")
    results = {}

    def way(seek: str) -> Callable[[], float]:
        def timed() -> float:
            start = time.perf_counter()
            results[seek] = decode(path, N, SIZE, seek)
            return time.perf_counter() - start

        return timed

    print(f"\none long video: {LONG_SECONDS} s {LONG_WIDTH}x{LONG_HEIGHT} {LONG_FPS} fps GOP {LONG_GOP}, {path.stat().st_size / 1e6:.0f} MB; "
          f"N={N} at {SIZE}, bench.video.decode; {load()}")
    times = interleaved({"exact": way("exact"), "keyframe": way("keyframe")}, runs)
    print(HEADER)
    for name, each in times.items():
        print(row(name, each))
    exact, keyframe = results["exact"][1], results["keyframe"][1]
    late = exact - keyframe  # a keyframe target is its exact target's preceding keyframe
    print(f"exact / keyframe: {wall(times['exact']) / wall(times['keyframe']):.1f}x; keyframe candidates are "
          f"{late.mean():.2f} s earlier on average (at most {late.max():.2f} s), {len(np.unique(keyframe))} distinct of {N}; {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="interleaved repeats; medians are printed")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "framebench-throughput",
                        help="where the videos are made (once) and the runs' caches and results live")
    parser.add_argument("--only", choices=["decode", "grid", "ray", "long"], default=None, help="run one part")
    parser.add_argument("--selectors", default=SELECTORS, help="the grid's selectors, comma-separated, as `bench run --selector` takes them")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be 1 or more, not {args.runs}")
    chosen = tuple(text.strip() for text in args.selectors.split(",") if text.strip())
    if not chosen:
        parser.error(f"--selectors needs at least one selector, e.g. --selectors {SELECTORS}")
    for text in chosen:  # a typo is a usage error now, not a traceback minutes into the run
        try:
            selectors.build(plan(text).given, context={"cache_dir": args.workdir})
        except RegistryError as exc:
            parser.error(f"--selectors: {exc}")
    if ":" in str(args.workdir.absolute()):
        parser.error(f"--workdir {args.workdir}: a path without ':' please (the dataset spec, jsonl:path=..., separates parameters with it)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.only in (None, "decode", "grid", "ray"):
        videos = make_videos(args.workdir)
        grid = grid_config(write_dataset(args.workdir, videos), chosen)
    if args.only in (None, "decode"):
        decode_part(args.workdir, videos, args.runs)
    if args.only in (None, "grid"):
        grid_part(args.workdir, grid, videos, args.runs)
    if args.only in (None, "ray"):
        ray_part(args.workdir, grid, args.runs)
    if args.only in (None, "long"):
        long_part(args.workdir, args.runs)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
