"""Bounded jobs in flight: the order, the bound, and a failing job."""

import threading
import time

import pytest

from bench.llm.inflight import in_flight


def test_one_at_a_time_keeps_the_order():
    assert list(in_flight(((i, lambda i=i: i * i) for i in range(5)), 1)) == [(0, 0), (1, 1), (2, 4), (3, 9), (4, 16)]


@pytest.mark.parametrize("width", [2, 3, 8])
def test_never_more_than_width_run_at_once_and_every_job_finishes(width):
    lock, running, most = threading.Lock(), [0], [0]

    def job(i):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return i

    results = list(in_flight(((i, lambda i=i: job(i)) for i in range(12)), width))
    assert sorted(results) == [(i, i) for i in range(12)]
    assert most[0] == min(width, 12)  # 12 jobs of 20 ms: the pool fills up to its width


def test_jobs_are_drawn_from_the_calling_thread():
    drawn_in = set()

    def jobs():
        for i in range(6):
            drawn_in.add(threading.get_ident())
            yield i, lambda: threading.get_ident()

    workers = {ident for _, ident in in_flight(jobs(), 3)}
    assert drawn_in == {threading.get_ident()} and threading.get_ident() not in workers


def test_a_job_that_raises_ends_the_iteration_with_its_error():
    def boom():
        raise RuntimeError("server gone")

    with pytest.raises(RuntimeError, match="server gone"):
        list(in_flight([(0, lambda: 1), (1, boom)], 2))
