"""Decoding candidates into the frame cache ahead of the models: in this process, or in W worker processes.

With workers, every video still to decode goes to a pool of W processes at once (one decode
thread each when W > 1, FFmpeg's own slice threads off, so W videos decode side by side on W cores),
and the models' phases ask for a sample's candidates as they reach it, waiting only for that
video: model time hides decode time. The frame cache stays the one place decoded frames live:
a worker writes the entry (atomically, so two workers or two runs asking for one video never
mix one) and the run reads it back. A video named by several samples is decoded once.
Workers' log records (a decoder's fallback warning, say) are handed to this process's loggers.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import threading
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, Iterable

from bench.store.arrays import learn_unwritable, unwritable
from bench.store.frames import FrameCache
from bench.grid.progress import Reporter
from bench.records import Candidates
from bench.video import VideoError

log = logging.getLogger(__name__)

Videos = tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Decoding:
    """How candidates are made and where they are kept: all a decode worker needs."""

    cache_dir: Path
    cache_format: str
    n: int
    size: int
    seek: str
    decoder: str

    def candidates(self, frames: FrameCache, videos: Videos, threads: int | None = None) -> Candidates:
        return frames.candidates(videos, self.n, self.size, self.seek, self.decoder, threads=threads)


@dataclass(frozen=True, slots=True)
class Decoded:
    """What decoding one video came to."""

    cached: bool  # its entry was already in the cache
    error: str = ""  # "video: <reason>" when it could not be decoded: its rows are error rows
    trace: str = ""  # the traceback, for the log, of a failure that is not a VideoError
    unwritable: str = ""  # why the cache could not be written in the decoding process, if it could not


def decode_into_cache(how: Decoding, videos: Videos, threads: int | None = None, frames: FrameCache | None = None) -> Decoded:
    """Make sure `videos`' candidates are in the frame cache; never raises for a bad video."""
    try:
        return Decoded(how.candidates(frames or FrameCache(how.cache_dir, how.cache_format), videos, threads).cached, unwritable=unwritable(how.cache_dir))
    except Exception as exc:  # a video that cannot be read is an error row, not a crash
        # a file the OS will not read (a folder, no permission) is as plain a bad video as a VideoError: one line, no traceback
        return Decoded(False, f"video: {exc}", "" if isinstance(exc, (VideoError, OSError)) else traceback.format_exc(), unwritable(how.cache_dir))


class Tally:
    """Decoded and from-cache counts by job, as run summaries give them: the first job naming a
    video counts its decode, every other success a cache hit; each failure is logged, naming its job."""

    def __init__(self, jobs: Iterable[tuple[Hashable, Videos]], about: Callable[[Hashable], str] = str) -> None:
        self.first: dict[Videos, Hashable] = {}  # the job that counts a video as decoded
        for key, videos in jobs:
            self.first.setdefault(videos, key)
        self.about = about
        self.decoded = self.cached = 0
        self._lock = threading.Lock()  # results arrive on a pool's thread

    def add(self, key: Hashable, videos: Videos, result: Decoded) -> None:
        if result.error:
            log.warning("%s: %s%s", self.about(key), result.error.removeprefix("video: "), f"\n{result.trace}" if result.trace else "")
            return
        with self._lock:
            fresh = not result.cached and self.first[videos] == key
            self.decoded += fresh
            self.cached += not fresh


class DecodeAhead:
    """Each job's video decoded into the frame cache, ahead of whoever asks for its candidates.

    `workers` 0 decodes every job in this process when `start` is called, before any model
    runs; W >= 1 starts W processes that decode while the caller goes on.
    """

    def __init__(self, how: Decoding, workers: int, reporter: Reporter | None = None) -> None:
        self.how, self.workers, self.reporter = how, workers, reporter or Reporter()
        self.frames = FrameCache(how.cache_dir, how.cache_format)
        self.tally = Tally(())
        self._results: dict[Videos, Future] = {}
        self._stack = ExitStack()

    def start(self, jobs: list[tuple[Hashable, Videos]], about: Callable[[Hashable], str] = str) -> None:
        """Decode every job's videos: now (workers 0), or in the background."""
        self.tally = Tally(jobs, about)
        if self.workers == 0:
            with self.reporter.phase("decode candidates", len(jobs)) as advance:
                for key, videos in jobs:
                    self._finish(key, videos, _done(decode_into_cache(self.how, videos, frames=self.frames)))
                    advance()
            return
        advance = self._stack.enter_context(self.reporter.phase("decode candidates", len(jobs)))
        pool = self._stack.enter_context(_pool(self.workers))
        threads = 1 if self.workers > 1 else None
        by_video: dict[Videos, list[Hashable]] = {}
        for key, videos in jobs:
            by_video.setdefault(videos, []).append(key)
        for videos, keys in by_video.items():
            future = pool.submit(decode_into_cache, self.how, videos, threads)
            self._results[videos] = future
            future.add_done_callback(lambda f, videos=videos, keys=keys: [self._count(k, videos, f, advance) for k in keys])

    def _count(self, key: Hashable, videos: Videos, future: Future, advance: Callable[[], None]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._finish(key, videos, future)
        advance()

    def _finish(self, key: Hashable, videos: Videos, future: Future) -> None:
        self._results.setdefault(videos, future)
        self.tally.add(key, videos, future.result())

    def error(self, videos: Videos) -> str:
        """"" once `videos` are in the cache, else why not; waits for their decode."""
        future = self._results[videos]
        try:
            result = future.result()
            if result.unwritable:  # the worker said why; this process decodes what it reads back, without trying to write
                learn_unwritable(self.how.cache_dir, result.unwritable)
            return result.error
        except Exception as exc:  # the worker died (killed, out of memory): decode here instead
            log.warning("a decode worker failed on %s (%s: %s); decoding it in this process", videos[0], type(exc).__name__, exc)
            result = decode_into_cache(self.how, videos, frames=self.frames)
            self._results[videos] = _done(result)
            self._finish(self.tally.first[videos], videos, self._results[videos])
            return result.error

    def candidates(self, videos: Videos) -> Candidates | None:
        """The candidates, read from the cache once decoded; None when the video failed (its rows say why)."""
        if self.error(videos):
            return None
        return self.how.candidates(self.frames, videos)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "DecodeAhead":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _done(result: Decoded) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


class _pool:
    """A process pool whose workers' log records reach this process's loggers; cancels what is queued on exit."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("forkserver")  # fork would copy this process's threads and locks
        context.set_forkserver_preload(["bench.grid.decoding"])
        self.queue = context.Queue()
        self.listener = logging.handlers.QueueListener(self.queue, _Relay())
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start, initargs=(self.queue, logging.getLogger().level, os.getpid()))

    def __enter__(self) -> ProcessPoolExecutor:
        self.listener.start()
        return self.executor

    def __exit__(self, *exc: object) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.listener.stop()


class _Relay(logging.Handler):
    """Hands a worker's record to the logger of the same name here, as if it were logged here; what several workers say alike is said once."""

    def __init__(self) -> None:
        super().__init__()
        self.said: set[tuple[str, str]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        said = (record.name, record.getMessage())
        if logger.isEnabledFor(record.levelno) and said not in self.said:
            self.said.add(said)
            logger.handle(record)


def _worker_start(queue, level: int, run: int) -> None:
    """A worker's log records go to `queue`; and it ends with the run's process `run`, even one killed (SIGKILL)."""
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(queue)]
    root.setLevel(level)
    threading.Thread(target=_end_with, args=(run,), daemon=True).start()


def _end_with(run: int) -> None:
    # a killed run leaves its workers waiting on a queue whose pipe they hold open themselves: they would wait forever
    while True:
        time.sleep(1)
        try:
            os.kill(run, 0)
        except ProcessLookupError:
            os._exit(0)
