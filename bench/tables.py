"""Tables from the results CSVs: accuracy per (dataset, backbone) x (selector, frames).

Accuracy is the share of correct rows among rows without an error, printed as a percentage
with one decimal as the papers do. Error rows count in neither numerator nor denominator and
are reported in their own column, as are replies that did not parse (which count as wrong).
"""

from __future__ import annotations

import pandas as pd
from tabulate import tabulate

FORMATS = ("rich", "md", "csv", "latex")
KEYS = ["dataset", "backbone", "selector", "frames"]


def summarise(data: pd.DataFrame) -> pd.DataFrame:
    """One line per (dataset, backbone, selector, frames): n, accuracy %, errors, unparsed."""
    answered = data[data["error"] == ""]
    grouped = answered.groupby(KEYS, sort=True)
    summary = pd.DataFrame({
        "n": grouped.size(),
        "accuracy": grouped["correct"].mean().astype(float) * 100,
        "unparsed": grouped["parse_ok"].apply(lambda s: int((s == False).sum())),  # noqa: E712 (pandas boolean)
    })
    errors = data[data["error"] != ""].groupby(KEYS).size().rename("errors")
    summary = summary.join(errors, how="outer").fillna({"n": 0, "errors": 0, "unparsed": 0})
    return summary.astype({"n": int, "errors": int, "unparsed": int}).reset_index()


def grid(data: pd.DataFrame, compare: str | None = None) -> pd.DataFrame:
    """Rows (dataset, backbone); a column per (selector, frames) holding accuracy (and the change vs `compare`)."""
    summary = summarise(data)
    if summary.empty:
        return pd.DataFrame()
    base = summary[summary["selector"] == compare].set_index(["dataset", "backbone", "frames"])["accuracy"] if compare else None
    cells = []
    for line in summary.itertuples(index=False):
        text = "-" if pd.isna(line.accuracy) else f"{line.accuracy:.1f}"
        if base is not None and line.selector != compare:
            reference = base.get((line.dataset, line.backbone, line.frames))
            if reference is not None and not pd.isna(line.accuracy):
                text += f" ({line.accuracy - reference:+.1f})"
        if line.errors:
            text += f" [{line.errors} err]"
        cells.append({"dataset": line.dataset, "backbone": line.backbone, "column": f"{line.selector} k={line.frames}", "order": (line.selector != compare, line.selector, line.frames), "text": text})
    long = pd.DataFrame(cells)
    columns = [c for _, c in sorted({(o, c) for o, c in zip(long["order"], long["column"])})]
    table = long.pivot(index=["dataset", "backbone"], columns="column", values="text").reindex(columns=columns)
    return table.fillna("").reset_index()


def render(table: pd.DataFrame, fmt: str) -> str:
    """The table as markdown, CSV or LaTeX text (rich tables are drawn by the CLI)."""
    if fmt == "csv":
        return table.to_csv(index=False)
    style = {"md": "github", "latex": "latex_booktabs", "rich": "simple"}[fmt]
    return tabulate(table.values.tolist(), headers=list(table.columns), tablefmt=style, disable_numparse=True)
