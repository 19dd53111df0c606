"""Re-scoring the predictions already in the results CSVs, in place, without rerunning any model.

Each row's raw `prediction` goes back through its benchmark's current `score` (the parser for
multiple choice, the judge through its cache for open-ended), and `parsed`, `parse_ok`,
`correct`, `judge_score`, `judge_model` and judge errors are rewritten; every other column,
known or not, is kept. The benchmark is rebuilt from the row's `dataset` spec and the sample
from the row itself (`question`, `answer` and the `options` JSON), so no data files are needed.

Rows left alone: error rows other than judge errors (a video or a backbone failed, so there is
no prediction), and rows without an `options` cell (written before that column existed).
Judge errors are retried. When the judge fails now (down, refusing the key, replying nonsense),
a row that already holds a verdict keeps it (`correct`, `judge_score`, `judge_model`, no
error) and is counted in `kept`: a verdict once paid for is not thrown away because the judge
is unreachable today. Only a row with no verdict to keep becomes, or stays, an error row.

`settings` (`judge_timeout`, `judge_retries`) replace what a row's dataset spec says about them:
they change no verdict, only how long an unreachable judge is waited for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.records import Sample
from bench.registry import Spec, benchmarks
from bench.results import rewrite

JUDGE_ERROR = "judge: "
MAX_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class RescoreSummary:
    """What one rescore did, counted."""

    files: int  # cell CSVs read
    rescored: int  # rows scored again
    changed: int  # rows whose outcome columns changed
    skipped: int  # rows left alone (no prediction, or no options column)
    judge_errors: int  # rows that still have a judge error
    kept: int = 0  # rows that kept their previous verdict because the judge failed
    error_examples: tuple[str, ...] = ()  # "<file>: <dataset> <sample>: <error>", judge errors and kept rows


class _Rescorer:
    """The per-row update for `results.rewrite`, with benchmarks built once per dataset spec."""

    def __init__(self, cache_dir: Path, datasets: tuple[str, ...], settings: dict[str, object]) -> None:
        self.cache_dir, self.datasets, self.settings = cache_dir, datasets, settings
        self.built: dict[str, object] = {}
        self.rescored = self.skipped = self.judge_errors = self.kept = 0
        self.examples: list[str] = []
        self.path = Path()  # the file being rewritten, for the examples

    def _benchmark(self, spec: str):
        if spec not in self.built:
            benchmark = benchmarks.build(Spec.parse(spec).without(*self.settings), context=self.settings)
            if hasattr(benchmark, "use_cache"):  # a benchmark with a judge caches verdicts under --cache-dir
                benchmark.use_cache(self.cache_dir)
            self.built[spec] = benchmark
        return self.built[spec]

    def __call__(self, row: dict[str, str]) -> dict[str, object]:
        spec = row.get("dataset", "")
        if not spec or "prediction" not in row:  # not a results CSV (a table written with --out, say)
            return {}
        if self.datasets and spec not in self.datasets and Spec.parse(spec).name not in self.datasets:
            return {}
        try:  # no options cell: written before the column existed
            options = tuple(json.loads(row["options"])) if row.get("options") else None
        except ValueError:
            options = None
        if options is None or (row.get("error") and not row["error"].startswith(JUDGE_ERROR)):
            self.skipped += 1
            return {}
        sample = Sample(
            dataset=spec, split=row.get("split", ""), sample_id=row.get("sample_id", ""), video_id=row.get("video_id", ""),
            videos=(), question=row.get("question", ""), options=options, answer=row.get("answer", ""),
            category=row.get("category", ""), duration_group=row.get("duration_group", ""),
        )
        outcome = self._benchmark(spec).score(sample, row.get("prediction", ""))
        self.rescored += 1
        if outcome.error.startswith(JUDGE_ERROR):
            had_verdict = not row.get("error") and row.get("correct", "") != ""
            self.kept += had_verdict
            self.judge_errors += not had_verdict
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(f"{self.path}: {spec} {sample.sample_id}: {outcome.error}{'; previous verdict kept' if had_verdict else ''}")
            if had_verdict:
                return {}
        return {"parsed": outcome.parsed, "parse_ok": outcome.parse_ok, "correct": outcome.correct,
                "judge_score": outcome.judge_score, "judge_model": outcome.judge_model, "error": outcome.error}


def rescore(results_dir: Path, cache_dir: Path, datasets: tuple[str, ...] = (), settings: dict[str, object] | None = None) -> RescoreSummary:
    """Re-score every row under `results_dir` (or those of `datasets`, by name or spec) and rewrite the CSVs.

    Args:
        settings: benchmark parameters that change no outcome (judge_timeout, judge_retries),
            used instead of the values in the rows' dataset specs.
    """
    update = _Rescorer(Path(cache_dir), datasets, dict(settings or {}))
    paths = sorted(p for p in Path(results_dir).rglob("*.csv") if p.is_file())
    changed = 0
    for path in paths:
        update.path = path
        changed += rewrite(path, update)
    return RescoreSummary(len(paths), update.rescored, changed, update.skipped, update.judge_errors, update.kept, tuple(update.examples))
