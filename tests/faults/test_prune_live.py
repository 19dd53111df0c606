"""`bench cache prune` running again and again beside a live run or `bench select` changes nothing they write.

Pruning to 0 bytes every 0.05 s removes every entry no process holds, scores and frames
included, while the grid scores and answers: each miss is recomputed, never an error row.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace

import pandas as pd
import pytest

from bench.results import read_all
from bench.runner import run
from bench.selections import select_dataset
from bench.store.prune import prune
from tests.faults.conftest import small_config

SELECTORS = ("uniform", "oracle", "spatial:scorer=probe")
WHEN = ["run_id", "written_at", "t_decode_s", "t_select_s", "t_answer_s", "peak_mem_mb", "source"]


class Pruning:
    """Prune `cache` to nothing, over and over, in a thread, until the block ends; counts what it removed."""

    def __init__(self, cache) -> None:
        self.cache, self.removed, self.stop = cache, 0, threading.Event()

    def _loop(self) -> None:
        while not self.stop.wait(0.05):
            self.removed += len(prune(self.cache, max_bytes=0).removed)

    def __enter__(self) -> "Pruning":
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _rows(results) -> pd.DataFrame:
    return read_all(results).drop(columns=WHEN).sort_values(["selector", "frames", "sample_id"]).reset_index(drop=True)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_run_under_prune_writes_the_rows_of_an_unpruned_run(cache, tmp_path, workers):
    cfg = small_config(cache, tmp_path / "quiet", selectors=SELECTORS, backbones=("probe:delay=0.05",), frames=(2, 4), workers=workers)
    quiet = run(cfg)
    shutil.rmtree(cache / "frames"), shutil.rmtree(cache / "scores")
    with Pruning(cache) as pruning:
        pruned = run(replace(cfg, results_dir=tmp_path / "pruned"))
    assert pruning.removed > 0, "the prune loop removed nothing: the test did not test"
    assert (pruned.written, pruned.errors) == (quiet.written, 0) == (24, 0)
    assert _rows(tmp_path / "pruned").equals(_rows(tmp_path / "quiet"))


def test_bench_select_under_prune_writes_every_line(cache, tmp_path):
    with Pruning(cache) as pruning:
        summary = select_dataset(["needle"], SELECTORS, [2, 4], tmp_path / "sel.jsonl", candidates=32, frame_size=64,
                                 cache_dir=cache, limit=4, device="cpu")
    assert pruning.removed > 0
    assert (summary.written, summary.errors) == (24, 0)
    lines = pd.read_json(tmp_path / "sel.jsonl", lines=True)
    assert len(lines) == 24 and "error" not in lines
