"""What framebench wrote before the package was grouped into folders reads the same after it.

`fixtures/before-layout/` was written by framebench at commit 538da2d (the flat layout):
`bench run --dataset needle --selector uniform,spatial:scorer=probe --backbone probe --frames 2,4
--candidates 8 --frame-size 32 --limit 3 --workers 0` into `results/` and `cache/`, plus one
judge verdict as that version cached it (plain JSON, `cache/judge/0e/...json`).
"""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.llm.judge import Judge
from bench.results import read_all
from bench.runner import RunConfig, run
from bench.store.verdicts import Verdict, VerdictStore

BEFORE = Path(__file__).parent / "fixtures" / "before-layout"
CFG = RunConfig(datasets=("needle",), selectors=("uniform", "spatial:scorer=probe"), backbones=("probe",), frames=(2, 4),
                candidates=8, frame_size=32, limit=3, device="cpu", workers=0)
REMOVED = Path("needle/probe/spatial+scorer=probe__k4__n8+s32.csv")
WHEN = ["run_id", "written_at", "t_decode_s", "t_select_s", "t_answer_s", "peak_mem_mb"]  # what differs between two runs of one row
ADDED = ["evidence_hit"]  # columns framebench added after the fixture was written


@pytest.fixture
def before(tmp_path):
    copy = tmp_path / "before-layout"
    shutil.copytree(BEFORE, copy)
    return copy


def test_a_rerun_over_the_old_dirs_writes_nothing_and_decodes_and_scores_nothing(before):
    rows = read_all(before / "results")
    summary = run(replace(CFG, results_dir=before / "results", cache_dir=before / "cache"))
    assert (summary.written, summary.skipped, summary.decoded, summary.scored) == (0, 12, 0, 0)
    assert read_all(before / "results").drop(columns=ADDED, errors="ignore").equals(rows)  # the header gained the new column, empty


def test_a_cell_made_again_from_the_old_cache_equals_the_old_rows(before):
    old = read_all(before / "results")
    (before / "results" / REMOVED).unlink()
    summary = run(replace(CFG, results_dir=before / "results", cache_dir=before / "cache"))
    # its 3 rows come from the old frames (3 videos from the cache) and the old scores (none scored now)
    assert (summary.written, summary.errors, summary.decoded, summary.cached, summary.scored) == (3, 0, 0, 3, 0)
    key = ["selector", "frames", "sample_id"]
    new = read_all(before / "results").sort_values(key).reset_index(drop=True).drop(columns=WHEN + ADDED)
    assert new.equals(old.sort_values(key).reset_index(drop=True).drop(columns=WHEN + ADDED, errors="ignore"))


def test_an_old_verdict_is_read_without_asking_and_moves_into_the_checked_store(before, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens: asking would fail
    cache = before / "cache"
    assert Judge("judge-x", cache, retries=0).verdict("what is he holding", "a cup", "a mug") == Verdict(True, 4)
    (cache / "judge" / "0e").rename(cache / "judge" / "gone")  # the old entry out of reach: the store alone answers
    assert VerdictStore(cache).get("judge-x", "what is he holding", "a cup", "a mug") == Verdict(True, 4)


def test_cache_info_names_every_kind_of_the_old_cache(before):
    result = CliRunner().invoke(main, ["cache", "info", "--cache-dir", str(before / "cache")])
    assert result.exit_code == 0, result.output
    kinds = {line[:30].strip() for line in result.output.splitlines()[2:]}
    assert kinds == {"frames (decoded candidates)", "file keys", "scores", "verdicts (judge)", "generated data (needle)", "total"}
