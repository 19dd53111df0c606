"""Running jobs with a bounded number in flight, results handed back as they finish.

A server backbone answers many requests at once (continuous batching); the runner keeps up to
its `concurrency` requests outstanding and still writes every row from one thread, so a kill
loses at most the requests in flight.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Iterator, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def in_flight(jobs: Iterable[tuple[K, Callable[[], V]]], width: int) -> Iterator[tuple[K, V]]:
    """(key, job()) for each (key, job), at most `width` jobs running at once; in order when width is 1.

    `jobs` is drawn from this thread only, so whatever it does between jobs (loading a model,
    decoding) stays single-threaded; a job that raises ends the iteration with its exception.
    """
    if width <= 1:
        for key, job in jobs:
            yield key, job()
        return
    with ThreadPoolExecutor(width) as pool:
        running: dict[Future, K] = {}
        for key, job in jobs:
            if len(running) >= width:
                yield from _finished(running)
            running[pool.submit(job)] = key
        while running:
            yield from _finished(running)


def _finished(running: dict[Future, K]) -> Iterator[tuple[K, object]]:
    done, _ = wait(running, return_when=FIRST_COMPLETED)
    for future in done:
        yield running.pop(future), future.result()
