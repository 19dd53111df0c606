"""The regression report: current results against a baseline, cell by cell.

For every cell (dataset, backbone, selector, frames, and the protocol: candidates, seek,
frame size, decoder) present in both, the change in accuracy over the samples both answered,
with its 95% paired bootstrap interval. A
regression is a drop larger than the threshold (in points) whose interval lies wholly below
zero, so noise that moves a few answers either way is not one. `write` puts report.md, a
self-contained report.html (figures embedded as base64 PNG) and the PNGs in a directory.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.analysis import plots
from bench.analysis.cells import CELL, Summary, accuracy_text, change_text, check_judges, compare, flags_text, prepare, protocol_text, summarise, varying
from bench.analysis.stats import Change
from bench.analysis.tables import render
from bench.results import read_all

_STYLE = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}img{max-width:100%}"


@dataclass(frozen=True, slots=True)
class Line:
    """One cell found in both result sets."""

    cell: tuple  # bench.analysis.cells.CELL: (dataset, backbone, selector, frames, candidates, seek, frame_size, decoder)
    before: Summary
    after: Summary
    change: Change | None  # None when the two sides share no answered sample
    regression: bool


@dataclass(frozen=True, slots=True)
class Report:
    """Every cell compared, and the cells only one side has."""

    lines: tuple[Line, ...]
    only_baseline: tuple[tuple, ...]
    only_current: tuple[tuple, ...]
    threshold: float

    @property
    def regressions(self) -> tuple[Line, ...]:
        """The lines that regressed."""
        return tuple(line for line in self.lines if line.regression)


def is_regression(change: Change | None, threshold: float) -> bool:
    """A drop of more than `threshold` points whose interval excludes zero."""
    return change is not None and change.points < -threshold and change.high < 0


def compare_runs(baseline: pd.DataFrame, current: pd.DataFrame, threshold: float = 1.0, resamples: int = 10_000, seed: int = 0) -> Report:
    """Compare prepared rows (bench.analysis.cells.prepare) of a baseline and a current run, cell by cell."""
    check_judges(pd.concat([baseline, current]))  # a change across judges would measure the judges
    before, after = dict(iter(baseline.groupby(CELL))), dict(iter(current.groupby(CELL)))
    lines = []
    for cell in sorted(before.keys() & after.keys()):
        change = compare(before[cell], after[cell], resamples, seed)
        lines.append(Line(cell, summarise(before[cell]), summarise(after[cell]), change, is_regression(change, threshold)))
    return Report(tuple(lines), tuple(sorted(before.keys() - after.keys())), tuple(sorted(after.keys() - before.keys())), threshold)


_KEYS = CELL[: CELL.index("candidates") + 1]  # the columns a report always shows; other protocol parts when set


def _shown(cells: list[tuple]) -> frozenset[str]:
    """The protocol parts that differ between these cells, so that each cell's text tells it apart."""
    return varying(pd.DataFrame(cells, columns=CELL)) if cells else frozenset()


def _settings(cell: tuple, shown: frozenset[str]) -> str:
    """The seek mode, frame size and decoder of a cell where they differ from the defaults (or are in `shown`)."""
    return protocol_text(dict(zip(CELL[len(_KEYS):], cell[len(_KEYS):])), shown).strip()


def table(report: Report) -> pd.DataFrame:
    """One line per compared cell: keys, protocol where not the default, shared samples, both accuracies, the change and the verdict."""
    shown = _shown([line.cell for line in report.lines])
    lines = [{**dict(zip(_KEYS, line.cell)), "protocol": _settings(line.cell, shown), "shared": 0 if line.change is None else line.change.paired,
              "baseline": accuracy_text(line.before) + flags_text(line.before), "current": accuracy_text(line.after) + flags_text(line.after),
              "change [95% CI]": change_text(line.change, line.before, line.after), "status": "REGRESSION" if line.regression else "ok"}
             for line in report.lines]
    frame = pd.DataFrame(lines, columns=[*_KEYS, "protocol", "shared", "baseline", "current", "change [95% CI]", "status"])
    return frame if (frame["protocol"] != "").any() else frame.drop(columns="protocol")


def summary(report: Report) -> str:
    """One sentence: cells compared, regressions, cells on one side only."""
    text = f"{len(report.lines)} cells compared, {len(report.regressions)} regressions (a drop of more than {report.threshold:g} points whose 95% interval excludes 0)"
    if report.only_baseline or report.only_current:
        text += f"; {len(report.only_baseline)} cells only in the baseline, {len(report.only_current)} only in the current run"
    return text


def _unmatched(report: Report) -> list[tuple[str, list[str]]]:
    shown = _shown([line.cell for line in report.lines] + list(report.only_baseline + report.only_current))
    return [(title, [" ".join(map(str, cell[: len(_KEYS)] + (_settings(cell, shown),))).strip() for cell in cells])
            for title, cells in (("Only in the baseline", report.only_baseline), ("Only in the current run", report.only_current)) if cells]


def markdown(report: Report, heading: str, figure_names: list[str]) -> str:
    """The report as markdown, linking the PNGs written beside it."""
    parts = [f"# {heading}", summary(report), render(table(report), "md")]
    parts += [f"## {title}\n\n" + "\n".join(f"- {cell}" for cell in cells) for title, cells in _unmatched(report)]
    parts += [f"![{name}]({name})" for name in figure_names]
    return "\n\n".join(parts) + "\n"


def to_html(report: Report, heading: str, figures: dict[str, bytes]) -> str:
    """The report as one HTML page with the figures embedded, needing no other file."""
    body = [f"<h1>{html.escape(heading)}</h1>", f"<p>{html.escape(summary(report))}</p>", table(report).to_html(index=False)]
    body += [f"<h2>{html.escape(title)}</h2><ul>{''.join(f'<li>{html.escape(c)}</li>' for c in cells)}</ul>" for title, cells in _unmatched(report)]
    body += [f'<p><img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>' for name, png in figures.items()]
    return f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(heading)}</title><style>{_STYLE}</style></head>\n<body>\n' + "\n".join(body) + "\n</body></html>\n"


def make(baseline_dir: Path, current_dir: Path, out_dir: Path, threshold: float = 1.0, resamples: int = 10_000, seed: int = 0) -> Report:
    """Read both results dirs, compare them, and write report.md, report.html and the figures into `out_dir`.

    Raises bench.results.ResultsError for a results file holding a value its column cannot hold.
    """
    baseline, current = prepare(read_all(baseline_dir)), prepare(read_all(current_dir))
    report = compare_runs(baseline, current, threshold, resamples, seed)
    figures = plots.figures(current, baseline) if not current.empty else {}
    heading = f"framebench report: {current_dir} against {baseline_dir}"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, png in figures.items():
        (out_dir / name).write_bytes(png)
    (out_dir / "report.md").write_text(markdown(report, heading, list(figures)), encoding="utf-8")
    (out_dir / "report.html").write_text(to_html(report, heading, figures), encoding="utf-8")
    return report
