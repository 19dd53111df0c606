"""Hand-made results CSVs for the table, report and plot tests, small enough to work out by hand."""

from __future__ import annotations

import csv
from pathlib import Path

from bench.records import COLUMNS

_OUTCOMES = {  # outcome letter -> (correct, parse_ok, error)
    "1": ("true", "true", ""),
    "0": ("false", "true", ""),
    "u": ("false", "false", ""),  # the reply did not parse: wrong, and counted
    "e": ("", "", "video: cannot open"),
    "j": ("", "true", "judge: timeout after 3 tries"),
}


def cell(selector: str, frames: int, outcomes: str, *, dataset: str = "d", backbone: str = "b", candidates: int = 128, **columns) -> list[dict]:
    """Rows of one cell; outcomes[i] is sample s{i}: 1 right, 0 wrong, u unparsed, e error, j judge error.

    Any other column is a scalar for every row or a list with one value per row.
    """
    rows = []
    for i, letter in enumerate(outcomes):
        correct, parse_ok, error = _OUTCOMES[letter]
        row = {"dataset": dataset, "split": "test", "sample_id": f"s{i}", "video_id": f"v{i}", "backbone": backbone,
               "selector": selector, "frames": frames, "candidates": candidates, "correct": correct, "parse_ok": parse_ok, "error": error}
        row |= {name: value[i] if isinstance(value, list) else value for name, value in columns.items()}
        rows.append(row)
    return rows


def write(results_dir: Path, *cells: list[dict], header: tuple[str, ...] = COLUMNS) -> Path:
    """Write each cell to its own CSV under `results_dir` (extra columns after `header`); returns the dir."""
    for i, rows in enumerate(cells):
        path = Path(results_dir) / f"cell{i}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        names = list(header) + sorted({name for row in rows for name in row} - set(header))
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=names)
            writer.writeheader()
            writer.writerows({name: row.get(name, "") for name in names} for row in rows)
    return Path(results_dir)
