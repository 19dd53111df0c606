"""Breakdowns of accuracy: which group each row falls in, and the order groups print in.

`by` is a name each benchmark declares (bench.benchmarks.Breakdown): `category` (Video-MME
task type, LongVideoBench question category, ActivityNet-QA question type, NExT-QA type codes
grouped as the papers report them), `duration` (Video-MME short/medium/long, LongVideoBench
15/60/600/3600 seconds), `domain`, `sub_category` (Video-MME's 30 sub-categories); or the
column a declared breakdown reads; or any other column, as is. Rows of a dataset whose
benchmark is no longer registered read `category` and `duration` (duration_group) as they
are. Rows without a value (other benchmarks, CSVs written before the column existed) fall in
no group; a row whose column holds several values (a breakdown with a `separator`: an LVBench
question of two types) falls in each of their groups, and once in "all". Groups print in the order their benchmarks declare (for several datasets, in the
order of their names), then numbers by value, then words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.cells import TableError
from bench.benchmarks import facts


def assign_groups(data: pd.DataFrame, by: str) -> pd.DataFrame:
    """`data` with a `group` column: the tuple of each row's groups under `by`, as its benchmark declares; () where it has none."""
    names = data["name"].to_numpy(dtype=object)
    groups, columns = np.empty(len(data), dtype=object), set()
    groups.fill(())
    for name in sorted(set(names)):
        breakdown, mine = facts(name).breakdown(by), names == name
        columns.add(breakdown.column)
        if breakdown.column in data:
            for i, found in zip(np.flatnonzero(mine), breakdown.grouped(data.loc[mine, breakdown.column].fillna("").astype(str))):
                groups[i] = found  # one by one: numpy would spread a list of equal tuples into a 2-D array
    if not any(column in data for column in columns):
        declared = sorted({b for name in data["name"].unique() for b, _ in facts(name).breakdowns})
        takes = f"a breakdown their benchmarks declare ({', '.join(declared)})" if declared else "category, duration"
        raise TableError(f"the results have no column {', '.join(map(repr, sorted(columns)))}; --by takes {takes} or a column name")
    return data.assign(group=groups)


def named_order(data: pd.DataFrame, by: str) -> tuple[str, ...]:
    """The groups the benchmarks of these rows list under `by`, in their order (benchmarks by name)."""
    named: dict[str, None] = {}
    for name in sorted(data["name"].unique()):
        named |= dict.fromkeys(facts(name).breakdown(by).order)
    return tuple(named)


def order(group: str, named: tuple[str, ...] = ()) -> tuple:
    """Sort key: the `named` groups in that order, then numbers by value (15 < 60 < 600), then words."""
    if group in named:
        return (0, named.index(group), "")
    try:
        return (1, float(group), "")
    except ValueError:
        return (2, 0, group)


def groups_in(data: pd.DataFrame, by: str) -> list[str]:
    """The groups present in a frame that `assign_groups(data, by)` made, in print order."""
    named = named_order(data, by)
    return sorted({g for groups in data["group"] for g in groups}, key=lambda group: order(group, named))


def in_group(data: pd.DataFrame, group: str) -> pd.DataFrame:
    """The rows of a frame that `assign_groups` made that fall in `group`."""
    return data[[group in groups for groups in data["group"]]]
