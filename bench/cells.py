"""Per-cell numbers that tables, plots and the report share: accuracy, counts, timings, paired changes.

A cell is one (dataset, backbone, selector, frames, candidates). Accuracy is the share of
correct rows among rows without an error; error rows (judge failures among them) are
counted, never scored; unparsed replies count as wrong and are counted too. Rows judged by
different judge models are never pooled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.stats import Change, paired_change

CELL = ["dataset", "backbone", "selector", "frames", "candidates"]
OPEN_ENDED = ("activitynet-qa",)  # dataset names whose answers a judge grades with a score
_DEFAULTS = {"category": "", "duration_group": "", "judge_model": "", "judge_score": np.nan, "parse_ok": pd.NA,
             "t_decode_s": np.nan, "t_select_s": np.nan, "t_answer_s": np.nan, "peak_mem_mb": np.nan, "candidates": 0}


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


def prepare(data: pd.DataFrame) -> pd.DataFrame:
    """Rows ready for tables: missing columns filled, one row per (cell, sample), judges checked."""
    data = data.copy()
    for column, default in _DEFAULTS.items():
        if column not in data:
            data[column] = default
    for column in ("category", "duration_group", "judge_model", "error"):
        data[column] = data[column].fillna("").astype(str)
    for column in ("frames", "candidates"):
        data[column] = pd.to_numeric(data[column], errors="coerce").fillna(0).astype(int)
    data["name"] = data["dataset"].astype(str).str.partition(":")[0]
    # a row copied into two files of one results dir must not count twice
    data = data.drop_duplicates(subset=[*CELL, "sample_id"], keep="last")
    check_judges(data)
    return data.reset_index(drop=True)


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
    return bool(rows["name"].isin(OPEN_ENDED).any() or rows["judge_score"].notna().any())


def _verdicts(rows: pd.DataFrame) -> pd.Series:
    """Correct (bool) per answered row, indexed by sample_id; answered but undecided counts as wrong."""
    ok = (rows["error"] == "").to_numpy()
    return pd.Series(rows["correct"].fillna(False).to_numpy(dtype=bool)[ok], index=rows["sample_id"].to_numpy()[ok])


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
        accuracy=100 * float(correct.mean()) if ok.any() else math.nan,
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
    return paired_change(a[shared].to_numpy(), b[shared].to_numpy(), resamples, seed, exact_test=not is_open_ended(after))


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
