"""Breakdowns of accuracy: which group each row falls in, and the order groups print in.

`by` is `category` (Video-MME task type, LongVideoBench question category, ActivityNet-QA
question type, NExT-QA type codes grouped as the papers report them), `duration` (Video-MME
short/medium/long, LongVideoBench 15/60/600/3600 seconds) or the name of any other column a
benchmark adds (`domain`, `sub_category`: Video-MME's 30 sub-categories). Rows without a
value (other benchmarks, CSVs written before the column existed) fall in no group.
"""

from __future__ import annotations

import pandas as pd

from bench.cells import TableError

COLUMNS = {"category": "category", "duration": "duration_group"}
NEXTQA_TYPES = {"CW": "causal", "CH": "causal", "TN": "temporal", "TC": "temporal", "TP": "temporal",
                "DB": "descriptive", "DC": "descriptive", "DL": "descriptive", "DO": "descriptive"}
_NAMED_ORDER = ("causal", "temporal", "descriptive", "short", "medium", "long")


def assign_groups(data: pd.DataFrame, by: str) -> pd.DataFrame:
    """`data` with a `group` column: each row's group under `by`; "" where the row has none."""
    column = COLUMNS.get(by, by)
    if column not in data:
        raise TableError(f"the results have no column {column!r}; --by takes category, duration or a column name")
    values = data[column].fillna("").astype(str)
    if by == "category":
        values = values.where(data["name"] != "nextqa", values.map(lambda code: NEXTQA_TYPES.get(code, code)))
    return data.assign(group=values)


def order(group: str) -> tuple:
    """Sort key: the named groups in the papers' order, then numbers by value (15 < 60 < 600), then words."""
    if group in _NAMED_ORDER:
        return (0, _NAMED_ORDER.index(group), "")
    try:
        return (1, float(group), "")
    except ValueError:
        return (2, 0, group)


def groups_in(data: pd.DataFrame) -> list[str]:
    """The groups present in a frame with a `group` column, in print order."""
    return sorted(set(data["group"]) - {""}, key=order)
