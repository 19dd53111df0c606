"""PNG figures from the results: accuracy against frames, and accuracy against seconds per question.

Each figure has one panel per (dataset, backbone) and one line per selector and protocol
(candidate pool, seek mode, frame size, decoder: named in the legend where they differ from
the defaults or between lines); the baseline selector is drawn black. Figures are drawn on
matplotlib's Agg canvas directly, so nothing needs a display or pyplot's global state.
"""

from __future__ import annotations

import io
import math

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.analysis.cells import PROTOCOL, overview, protocol_text, varying

_PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def _panels(keys: list[tuple[str, str]]) -> tuple[Figure, dict[tuple[str, str], object]]:
    """A figure with one titled panel per (dataset, backbone); spare grid slots hidden."""
    columns = min(3, len(keys))
    rows = math.ceil(len(keys) / columns)
    figure = Figure(figsize=(5 * columns, 3.8 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = list(figure.subplots(rows, columns, squeeze=False).flat)
    for spare in axes[len(keys):]:
        spare.set_visible(False)
    for (dataset, backbone), ax in zip(keys, axes):
        ax.set_title(f"{dataset} / {backbone}", fontsize=10)
        ax.grid(alpha=0.3)
    return figure, dict(zip(keys, axes))


def _lines(cells: pd.DataFrame, compare: str) -> dict[tuple, pd.DataFrame]:
    """(dataset, backbone, label, colour) -> that line's cells sorted by frames."""
    shown = varying(cells)
    others = sorted(set(cells["selector"]) - {compare})
    colours = {compare: "black"} | {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(others)}
    lines = {}
    for (dataset, backbone, selector, *protocol), part in cells.groupby(["dataset", "backbone", "selector", *PROTOCOL]):
        label = selector + protocol_text(dict(zip(PROTOCOL, protocol)), shown)
        lines[(dataset, backbone, label, colours[selector])] = part.sort_values("frames")
    return lines


def accuracy_vs_frames(data: pd.DataFrame, baseline: pd.DataFrame | None = None, compare: str = "uniform") -> Figure:
    """Accuracy (%) against k on a log2 axis per selector; `baseline` rows (an earlier run) drawn dashed."""
    cells = overview(data)
    figure, axes = _panels(sorted(set(zip(cells["dataset"], cells["backbone"]))))
    runs = [(cells, {}, "")]
    if baseline is not None:  # hollow and dashed, so that it shows where the current run covers it
        runs.append((overview(baseline), {"linestyle": "--", "markerfacecolor": "none", "markersize": 9, "alpha": 0.7}, " (baseline)"))
    for run, style, suffix in runs:
        for (dataset, backbone, label, colour), line in _lines(run, compare).items():
            if (dataset, backbone) in axes:
                axes[(dataset, backbone)].plot(line["frames"], line["accuracy"], marker="o", color=colour,
                                               linewidth=2 if colour == "black" else 1.5, label=label + suffix, **style)
    for ax in axes.values():
        ax.set_xscale("log", base=2)
        ticks = sorted(set(cells["frames"]))
        ax.set_xticks(ticks, [str(k) for k in ticks])
        ax.set_xlabel("frames k")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=8)
    return figure


def accuracy_vs_seconds(data: pd.DataFrame, compare: str = "uniform") -> Figure:
    """Accuracy (%) against mean seconds per question (decode + select + answer), a line per selector through its k."""
    cells = overview(data)
    figure, axes = _panels(sorted(set(zip(cells["dataset"], cells["backbone"]))))
    for (dataset, backbone, label, colour), line in _lines(cells, compare).items():
        ax = axes[(dataset, backbone)]
        ax.plot(line["seconds"], line["accuracy"], marker="o", color=colour, label=label)
        for seconds, accuracy, k in zip(line["seconds"], line["accuracy"], line["frames"]):
            ax.annotate(f"k={k}", (seconds, accuracy), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour)
    for ax in axes.values():
        ax.set_xlabel("seconds per question")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=8)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def figures(data: pd.DataFrame, baseline: pd.DataFrame | None = None, compare: str = "uniform") -> dict[str, bytes]:
    """Both figures of prepared rows as PNG bytes, by file name."""
    return {"accuracy_vs_frames.png": _png(accuracy_vs_frames(data, baseline, compare)),
            "accuracy_vs_seconds.png": _png(accuracy_vs_seconds(data, compare))}
