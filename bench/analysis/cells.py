"""Per-cell numbers that tables, plots and the report share: accuracy, counts, timings, paired changes.

A cell is one (dataset, backbone, selector, frames) under one protocol: the candidate pool N,
seek mode, frame size, decoder and cache format, which all change what a backbone sees, so
rows of two protocols are never pooled. Rows from CSVs older than a protocol column have it
empty, and empty is a value of its own, except the cache format: before rows recorded it the
frame cache held raw frames only, and such rows share cell files with today's raw rows, so
they read as raw. Accuracy is the share of correct rows among rows without an
error; error rows (judge failures among them) are counted, never scored; unparsed replies
count as wrong and are counted too. Rows judged by different judge models are never pooled.
A (cell, sample) found in several rows counts once: the row without an error, else the one
written last; how many were dropped is logged. Rows of `--backbone none` (selection only, no
prediction) answer nothing and are left out, except by `evidence`, which measures where the
selected frames landed instead: the share of samples whose evidence a selected frame shows.

What a dataset is comes from its benchmark (bench.benchmarks.facts, by the dataset's name):
whether it is open-ended (a mean judge score beside accuracy, no McNemar test) and its
metric (METRICS): "accuracy" is the share of answered rows that are right; "category_mean"
the mean of the per-category accuracies (MLVU's M-Avg), whose change is the change in that
mean, with a bootstrap within categories and no McNemar test (bench.analysis.stats). A name no longer
registered reads as plain multiple choice.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from bench.analysis.stats import Change, paired_change
from bench.benchmarks import facts
from bench.grid.config import NO_BACKBONE

PROTOCOL = ["candidates", "seek", "frame_size", "decoder", "cache_format"]  # how the candidates were made
CELL = ["dataset", "backbone", "selector", "frames", *PROTOCOL]
_PROTOCOL_DEFAULT = {"candidates": 128, "seek": "exact", "frame_size": 336, "decoder": "pyav", "cache_format": "raw"}
_PROTOCOL_NAME = {"candidates": "N", "seek": "seek", "frame_size": "size", "decoder": "decoder", "cache_format": "cache"}
_DEFAULTS = {"category": "", "duration_group": "", "judge_model": "", "judge_score": np.nan, "parse_ok": pd.NA,
             "t_decode_s": np.nan, "t_select_s": np.nan, "t_answer_s": np.nan, "peak_mem_mb": np.nan, "candidates": 0,
             "seek": "", "frame_size": 0, "decoder": "", "cache_format": "", "written_at": "", "evidence_hit": pd.NA}  # 0: not recorded

log = logging.getLogger(__name__)


class TableError(ValueError):
    """The rows cannot make the table asked for; the message says why and what to filter."""


@dataclass(frozen=True, slots=True)
class Summary:
    """What the rows of one cell add up to."""

    n: int  # answered rows (no error)
    accuracy: float  # percent of answered rows that are correct; nan when n == 0
    score: float | None  # mean judge score of answered rows for open-ended datasets, else None
    errors: int  # error rows, excluded from accuracy
    judge_errors: int  # of which the judge failed ("judge: ...")
    unparsed: int  # answered rows whose reply did not parse (counted wrong)


@dataclass(frozen=True, slots=True)
class Timing:
    """Mean seconds per answered question by stage, and the peak memory of a cell."""

    decode: float
    select: float
    answer: float
    peak_mem_mb: float

    @property
    def total(self) -> float:
        """Seconds per question, all stages."""
        return float(np.nansum([self.decode, self.select, self.answer]))


def prepare(data: pd.DataFrame, selection_only: bool = False) -> pd.DataFrame:
    """Rows ready for tables: missing columns filled, one row per (cell, sample), the benchmarks' facts added, judges checked.

    `selection_only` keeps the rows of `--backbone none`, for `evidence`.
    """
    data = data.copy() if selection_only else data[data["backbone"] != NO_BACKBONE].copy()
    for column, default in _DEFAULTS.items():
        if column not in data:
            data[column] = default
    for column in ("dataset", "backbone", "selector", "sample_id", "category", "duration_group", "judge_model", "error", "seek", "decoder", "cache_format", "written_at"):
        data[column] = data[column].fillna("").astype(str)
    data.loc[data["cache_format"] == "", "cache_format"] = "raw"  # the only format before rows recorded one
    for column in ("frames", "candidates", "frame_size"):
        data[column] = pd.to_numeric(data[column], errors="coerce").fillna(0).astype(int)
    nameless = (data[["dataset", "backbone", "selector"]] == "").any(axis=1) | (data["frames"] < 1)
    if nameless.any():
        log.warning("left out %d rows that name no cell (dataset, backbone, selector or frames missing), e.g. in %s",
                    nameless.sum(), data.loc[nameless, "source"].iloc[0] if "source" in data else "the rows given")
        data = data[~nameless]
    data["name"] = data["dataset"].str.partition(":")[0]
    data = _with_facts(_one_row_per_sample(data))
    check_judges(data)
    return data.reset_index(drop=True)


def _one_row_per_sample(data: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per (cell, sample): the one without an error, else the one written last (then the last read)."""
    key = [*CELL, "sample_id"]
    twice = data.duplicated(subset=key, keep=False)
    if not twice.any():
        return data
    order = pd.Series(np.arange(len(data)), index=data.index)
    ranked = data.assign(_ok=data["error"] == "", _order=order).sort_values(["_ok", "written_at", "_order"], kind="stable")
    kept = ranked.drop_duplicates(subset=key, keep="last").sort_values("_order").drop(columns=["_ok", "_order"])
    pairs = len(data[twice].drop_duplicates(subset=key))
    files = ", ".join(sorted(set(data.loc[twice, "source"]))) if "source" in data else "the rows given"
    log.warning("%d (cell, sample) pairs have more than one row (in %s): kept for each the row without an error, "
                "else the one written last; %d rows left out", pairs, files, len(data) - len(kept))
    return kept


def varying(data: pd.DataFrame) -> frozenset[str]:
    """The protocol columns that take more than one value in these rows."""
    return frozenset(column for column in PROTOCOL if data[column].nunique() > 1)


def protocol_text(cell: dict[str, object], shown: frozenset[str] = frozenset()) -> str:
    """' N=32 seek=keyframe': the protocol parts of `cell` that differ from the defaults, and those in `shown` ('?' when not recorded)."""
    parts = []
    for column in PROTOCOL:
        if column not in cell:
            continue
        value = cell[column]
        unknown = value in ("", 0)
        if column in shown or not (unknown or value == _PROTOCOL_DEFAULT[column]):
            parts.append(f" {_PROTOCOL_NAME[column]}={'?' if unknown else value}")
    return "".join(parts)


def check_judges(data: pd.DataFrame) -> None:
    """Raise TableError when one dataset's rows were judged by more than one judge model."""
    judged = data[data["judge_model"] != ""]
    for dataset, rows in judged.groupby("dataset"):
        models = rows["judge_model"].value_counts()
        if len(models) > 1:
            found = ", ".join(f"{model} ({count} rows)" for model, count in models.items())
            raise TableError(f"{dataset}: rows judged by different judge models cannot be pooled: {found}; "
                             "keep one with --judge-model (or rescore with one judge)")


def is_open_ended(rows: pd.DataFrame) -> bool:
    """Whether these rows are judged open-ended answers (accuracy and a mean score) rather than choices."""
    return bool(rows["open_ended"].to_numpy(dtype=bool).any() or rows["judge_score"].notna().any())


def _category_groups(rows: pd.DataFrame) -> list[str]:
    """The group of each row under its benchmark's `--by category`."""
    breakdown = facts(rows["name"].iloc[0]).breakdown("category")
    values = rows[breakdown.column].fillna("").astype(str) if breakdown.column in rows else [""] * len(rows)
    return [" / ".join(groups) for groups in breakdown.grouped(values)]  # a row of several categories is a stratum of its own


METRICS: dict[str, Callable[[pd.DataFrame], list[str]] | None] = {  # one benchmark's rows -> the groups whose accuracies its metric averages
    "accuracy": None,  # no groups: the share of all answered rows
    "category_mean": _category_groups,
}


def _with_facts(data: pd.DataFrame) -> pd.DataFrame:
    """`data` with its benchmarks' facts per row: `open_ended`, and `stratum`, the group its metric averages ("" for none)."""
    names = data["name"].to_numpy(dtype=object)
    open_ended, stratum = np.zeros(len(data), dtype=bool), np.full(len(data), "", dtype=object)
    for name in sorted(set(names)):
        declared, mine = facts(name), names == name
        if declared.metric not in METRICS:
            raise TableError(f"unknown metric {declared.metric} (declared by {name}); known: {', '.join(METRICS)}")
        open_ended[mine] = declared.open_ended
        if METRICS[declared.metric] is not None:
            stratum[mine] = [f"{name}: {group}" for group in METRICS[declared.metric](data[mine])]
    return data.assign(open_ended=open_ended, stratum=stratum)


def evidence(data: pd.DataFrame) -> pd.DataFrame:
    """Prepared rows whose sample has evidence, each scored by `evidence_hit`: where every table reads a verdict it reads the hit.

    Rows with an error made no selection and are left out; the measure is a plain share
    (no per-category mean), and never open-ended.
    """
    rows = data[data["evidence_hit"].notna() & (data["error"] == "")]
    if rows.empty:
        raise TableError("no row has evidence_hit: the evidence table needs a benchmark that declares evidence (needle, lvbench, "
                         "jsonl with an `evidence` field)")
    return rows.assign(correct=rows["evidence_hit"].astype(bool), parse_ok=True, judge_score=np.nan, open_ended=False, stratum="")


def _verdicts(rows: pd.DataFrame) -> pd.Series:
    """Correct (bool) per answered row, indexed by sample_id; answered but undecided counts as wrong."""
    ok = (rows["error"] == "").to_numpy()
    return pd.Series(rows["correct"].fillna(False).to_numpy(dtype=bool)[ok], index=rows["sample_id"].to_numpy()[ok])


def _strata(rows: pd.DataFrame, answered: np.ndarray) -> np.ndarray | None:
    """The group the metric averages of each answered row (`answered`: a mask of `rows`); None when it averages none."""
    groups = rows["stratum"].to_numpy(dtype=object)[answered]
    return None if (groups == "").all() else groups


def _accuracy(rows: pd.DataFrame, answered: np.ndarray, correct: np.ndarray) -> float:
    """Percent right of the answered rows under their metric (`correct`: theirs, in order); nan when none were answered."""
    if not correct.size:
        return math.nan
    groups = _strata(rows, answered)
    return 100 * float(correct.mean() if groups is None else pd.Series(correct).groupby(groups).mean().mean())


def _mean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def summarise(rows: pd.DataFrame) -> Summary:
    """The Summary of one cell's (or one group's) rows."""
    # column-wise on purpose: selecting whole rows of a wide frame costs far more per cell
    errors = rows["error"].to_numpy(dtype=str)
    ok = errors == ""
    correct = rows["correct"].fillna(False).to_numpy(dtype=bool)[ok]
    return Summary(
        n=int(ok.sum()),
        accuracy=_accuracy(rows, ok, correct),
        score=_mean(rows["judge_score"].to_numpy(dtype=float)[ok]) if is_open_ended(rows) else None,
        errors=int((~ok).sum()),
        judge_errors=int(np.char.startswith(errors, "judge: ").sum()),
        unparsed=int((rows["parse_ok"] == False).fillna(False).to_numpy(dtype=bool)[ok].sum()),  # noqa: E712 (nullable boolean)
    )


def timing(rows: pd.DataFrame) -> Timing:
    """Mean stage seconds over the answered rows, and the largest peak memory."""
    ok = (rows["error"] == "").to_numpy()
    mean = {c: _mean(rows[c].to_numpy(dtype=float)[ok]) for c in ("t_decode_s", "t_select_s", "t_answer_s")}
    peak = rows["peak_mem_mb"].to_numpy(dtype=float)
    return Timing(mean["t_decode_s"], mean["t_select_s"], mean["t_answer_s"], float(np.nanmax(peak)) if np.isfinite(peak).any() else math.nan)


def compare(before: pd.DataFrame, after: pd.DataFrame, resamples: int = 10_000, seed: int = 0) -> Change | None:
    """The paired change from `before` to `after` over the samples both answered; None when they share none."""
    a, b = _verdicts(before), _verdicts(after)
    shared = a.index.intersection(b.index)
    if shared.empty:
        return None
    answered = (after["error"] == "").to_numpy()
    groups = _strata(after, answered)
    if groups is not None:
        groups = pd.Series(groups, index=after["sample_id"].to_numpy()[answered])[shared].to_numpy()
    return paired_change(a[shared].to_numpy(), b[shared].to_numpy(), resamples, seed, exact_test=not is_open_ended(after), strata=groups)


def overview(data: pd.DataFrame) -> pd.DataFrame:
    """One line per cell: its keys, answered n, accuracy % and mean seconds per question."""
    lines = [(*key, s.n, s.accuracy, timing(rows).total)
             for key, rows in data.groupby(CELL, sort=True) for s in [summarise(rows)]]
    return pd.DataFrame(lines, columns=[*CELL, "n", "accuracy", "seconds"])


def accuracy_text(s: Summary) -> str:
    """'63.4', or '55.1/3.4' with the mean judge score; '-' when nothing was answered."""
    if s.n == 0:
        return "-"
    text = f"{s.accuracy:.1f}"
    if s.score is not None:
        text += "/-" if math.isnan(s.score) else f"/{s.score:.1f}"
    return text


def flags_text(s: Summary) -> str:
    """' [2 err (1 judge), 5.0% unparsed]' for what was left out or unparsed; '' when nothing was."""
    parts = []
    if s.errors:
        parts.append(f"{s.errors} err" + (f" ({s.judge_errors} judge)" if s.judge_errors else ""))
    if s.unparsed:
        parts.append(f"{100 * s.unparsed / s.n:.1f}% unparsed")
    return f" [{', '.join(parts)}]" if parts else ""


def change_text(change: Change | None, before: Summary, after: Summary) -> str:
    """'+1.0 [-0.4, +2.4] p=0.210', saying so when the two sides answered different samples."""
    if change is None:
        return "no shared samples"
    text = f"{change.points:+.1f} [{change.low:+.1f}, {change.high:+.1f}]"
    if change.p is not None:
        text += " p<0.001" if change.p < 0.001 else f" p={change.p:.3f}"
    if not change.paired == before.n == after.n:
        text += f"; paired on {change.paired} of {before.n}/{after.n}"
    return text
