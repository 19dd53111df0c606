"""Paper-style tables from the results CSVs, one function per kind.

- grid: rows (dataset, backbone), a column per (selector, frames); `by` breaks cells down by
  a breakdown each benchmark declares (category, duration, ...) or any column
  (bench.analysis.breakdowns).
- main (the seed paper's Tables 1-4): rows (backbone, frames, selector), a column per
  dataset, each cell baseline -> selector (change).
- ablation (Table 5): rows selector, a column per dataset; one backbone and one k.
- efficiency (Table 6): rows (frames, selector); accuracy per group, accuracy, change, mean
  seconds per question by stage, peak memory; one dataset and one backbone.
- kvs2k (Table 9): selector at k against the baseline at k and at 2k.
- pool (appendix): rows candidate pool N -> k, a column per dataset.
- variants (Tables 7-8): rows specs of one selector that differ in a parameter.

With `measure="evidence"` every kind reads, instead of accuracy, the share of samples whose
evidence interval holds a selected frame (`evidence_hit`), `--backbone none` rows included;
changes against the baseline are paired as for accuracy.

The baseline is `uniform` unless `compare` names another selector; at each k it is taken
from its largest candidate pool made with the same seek mode, frame size, decoder and cache
format. Cells of different protocols stay apart; a label names the protocol parts that differ
from the defaults or between the cells shown (`clip k=8 N=32 cache=jpeg:quality=95`). Every
change carries a 95% paired bootstrap interval and, for multiple choice scored by plain accuracy, an exact
McNemar p-value (see bench.analysis.cells.change_text). Whether a dataset is open-ended, its groups
and its metric come from its benchmark (bench.benchmarks.facts), never from a list here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd
from tabulate import tabulate

from bench.analysis.breakdowns import assign_groups, groups_in, in_group, order
from bench.analysis.cells import CELL, PROTOCOL, TableError, accuracy_text, change_text, compare, evidence, flags_text, prepare, protocol_text, summarise, timing, varying
from bench.registry import RegistryError, Spec

_LATEX = {"→": r"$\rightarrow$", "≥": r"$\geq$"}


@dataclass(frozen=True, slots=True)
class Filters:
    """Which rows to take; an empty tuple takes all. Specs match in full or by name (`clip` takes `clip:pick=topk`)."""

    datasets: tuple[str, ...] = ()
    backbones: tuple[str, ...] = ()
    selectors: tuple[str, ...] = ()
    frames: tuple[int, ...] = ()
    judge_model: str | None = None  # keep rows judged by this model (and rows no judge graded)


@dataclass(frozen=True, slots=True)
class Options:
    """How a table is made."""

    compare: str | None = "uniform"  # the baseline selector; None: the grid shows no changes
    by: str | None = None  # breakdown for grid and efficiency: category, duration or a column name
    resamples: int = 10_000
    seed: int = 0
    measure: str = "accuracy"  # or "evidence": the hit rate of the selections on the samples' evidence (bench.analysis.cells.evidence)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One cell of a table being built."""

    row: tuple  # the row's index values
    column: str
    text: str
    row_order: tuple = ()  # sorts rows (default: row)
    column_order: tuple = ()  # sorts columns (default: column)


def _matches(specs: pd.Series, wanted: tuple[str, ...]) -> pd.Series:
    return specs.isin(wanted) | specs.astype(str).str.partition(":")[0].isin(wanted)


def select(data: pd.DataFrame, filters: Filters, keep: str | None = None, keep_frames: tuple[int, ...] = ()) -> pd.DataFrame:
    """The rows the filters let through; `keep`'s rows pass the selector filter, and the frames filter at `keep_frames`."""
    mask = pd.Series(True, index=data.index)
    kept = data["selector"] == keep
    for column, wanted in (("dataset", filters.datasets), ("backbone", filters.backbones)):
        if wanted:
            mask &= _matches(data[column], wanted)
    if filters.selectors:
        mask &= _matches(data["selector"], filters.selectors) | kept
    if filters.frames:
        mask &= data["frames"].isin(filters.frames) | (kept & data["frames"].isin(keep_frames))
    if filters.judge_model and "judge_model" in data:
        mask &= data["judge_model"].fillna("").isin([filters.judge_model, ""])
    return data[mask]


def _pivot(entries: list[_Entry], index: list[str]) -> pd.DataFrame:
    rows = sorted({(e.row_order or e.row, e.row) for e in entries})
    columns = [c for _, c in sorted({(e.column_order or (e.column,), e.column) for e in entries})]
    cells = {(e.row, e.column): e.text for e in entries}
    return pd.DataFrame([[*row, *(cells.get((row, c), "") for c in columns)] for _, row in rows], columns=[*index, *columns])


def _one(data: pd.DataFrame, column: str, kind: str) -> object:
    values = sorted(data[column].unique())
    if len(values) != 1:
        raise TableError(f"{kind} needs a single {column} value; found {', '.join(map(str, values))}: choose one with --{column}")
    return values[0]


_MATCH = ["dataset", "backbone", "frames", *PROTOCOL[1:]]  # what a baseline shares with the cell it is compared with


def _baselines(data: pd.DataFrame, selector: str | None) -> dict[tuple, pd.DataFrame]:
    """The baseline's rows per (dataset, backbone, frames, seek, frame size, decoder, cache format), from its largest candidate pool."""
    base = data[data["selector"] == selector]
    return {key: rows[rows["candidates"] == rows["candidates"].max()] for key, rows in base.groupby(_MATCH)}


def _base(baselines: dict[tuple, pd.DataFrame], dataset: str, backbone: str, k: int, protocol: tuple) -> pd.DataFrame | None:
    """The baseline for a cell with this protocol (candidates, seek, frame size, decoder, cache format), at k frames."""
    return baselines.get((dataset, backbone, k, *protocol[1:]))


def _versus(rows: pd.DataFrame, base: pd.DataFrame | None, options: Options) -> str:
    """Accuracy of `rows`, its change against `base` when given, and what was left out."""
    s = summarise(rows)
    text = accuracy_text(s)
    if base is not None:
        text += f" ({change_text(compare(base, rows, options.resamples, options.seed), summarise(base), s)})"
    return text + flags_text(s)


def _label(selector: str, protocol: tuple, shown: frozenset[str], pool_shown: bool = False) -> str:
    """The selector and the protocol parts worth naming; `pool_shown` leaves N out where a column shows it."""
    parts = dict(zip(PROTOCOL, protocol))
    if pool_shown:
        del parts["candidates"]
    return selector + protocol_text(parts, shown)


def _contenders(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    rows = data[data["selector"] != options.compare]
    if rows.empty:
        raise TableError(f"no selector besides the baseline {options.compare} in these rows")
    return rows


def grid(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Rows (dataset, backbone), a column per (selector, frames): accuracy and the change against the baseline."""
    if options.by:
        return breakdown(data, options)
    baselines, shown = _baselines(data, options.compare), varying(data)
    entries = []
    for (dataset, backbone, selector, k, *protocol), rows in data.groupby(CELL):
        base = None if selector == options.compare else _base(baselines, dataset, backbone, k, protocol)
        column = f"{selector} k={k}" + protocol_text(dict(zip(PROTOCOL, protocol)), shown)
        entries.append(_Entry((dataset, backbone), column, _versus(rows, base, options), column_order=(selector != options.compare, selector, k, *protocol)))
    return _pivot(entries, ["dataset", "backbone"])


NAMES = ("dataset", "backbone", "selector")  # the long layout's columns that may wrap; numbers never do


def long(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """The grid one line per cell (dataset, backbone, selector, k): accuracy, change, interval and p in columns of their own.

    It fits a narrow terminal, where the grid's cells would be cut: every number stays whole,
    and what was left out (errors) or unparsed has its own column instead of a bracket in
    every cell.
    """
    baselines, shown = _baselines(data, options.compare), varying(data)
    against = options.compare or "baseline"
    lines = []
    for (dataset, backbone, selector, k, *protocol), rows in data.groupby(CELL):
        s = summarise(rows)
        base = None if selector == options.compare else _base(baselines, dataset, backbone, k, protocol)
        change = None if base is None else compare(base, rows, options.resamples, options.seed)
        p = "" if change is None or change.p is None else "<0.001" if change.p < 0.001 else f"{change.p:.3f}"
        lines.append(((dataset, backbone, selector != options.compare, selector, k, *protocol), {
            "dataset": dataset, "backbone": backbone, "selector": _label(selector, protocol, shown), "k": str(k),
            "acc": accuracy_text(s),
            f"vs {against}": "" if base is None else "no shared" if change is None else f"{change.points:+.1f}",
            "95% CI": "" if change is None else f"[{change.low:+.1f}, {change.high:+.1f}]",
            "p": p,
            "unparsed": f"{100 * s.unparsed / s.n:.1f}%" if s.n and s.unparsed else "",
            "err": str(s.errors) if s.errors else "",
        }))
    table = pd.DataFrame([line for _, line in sorted(lines, key=lambda item: item[0])])
    return table.loc[:, [c for c in table.columns if c in NAMES or c in ("k", "acc") or (table[c] != "").any()]]


def breakdown(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Rows (dataset, backbone, selector, frames), a column per group of `options.by` and one for all rows."""
    data = assign_groups(data, options.by)
    baselines, shown = _baselines(data, options.compare), varying(data)
    rank = {g: (0, i) for i, g in enumerate(groups_in(data, options.by))} | {"all": (1, 0)}
    entries = []
    for (dataset, backbone, selector, k, *protocol), rows in data.groupby(CELL):
        base = None if selector == options.compare else _base(baselines, dataset, backbone, k, protocol)
        row = (dataset, backbone, _label(selector, protocol, shown), k)
        for group, part in [*((g, in_group(rows, g)) for g in groups_in(rows, options.by)), ("all", rows)]:
            part_base = None if base is None else base if group == "all" else in_group(base, group)
            entries.append(_Entry(row, group, _versus(part, part_base, options), (dataset, backbone, selector != options.compare, selector, k, *protocol), rank[group]))
    return _pivot(entries, ["dataset", "backbone", "selector", "frames"])


def main(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Tables 1-4: rows (backbone, frames, selector), a column per dataset: baseline -> selector (change)."""
    contenders = _contenders(data, options)
    baselines, shown = _baselines(data, options.compare), varying(contenders)
    entries = []
    for (dataset, backbone, selector, k, *protocol), rows in contenders.groupby(CELL):
        base = _base(baselines, dataset, backbone, k, protocol)
        before = f"no {options.compare}@{k}" if base is None else accuracy_text(summarise(base)) + flags_text(summarise(base))
        entries.append(_Entry((backbone, k, _label(selector, protocol, shown)), dataset, f"{before} → {_versus(rows, base, options)}",
                              (backbone, k, selector, *protocol)))
    return _pivot(entries, ["backbone", "frames", "selector"])


def ablation(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Table 5: rows selector (the baseline first), a column per dataset; one backbone and one k."""
    backbone, k = _one(data, "backbone", "ablation"), _one(data, "frames", "ablation")
    baselines, shown = _baselines(data, options.compare), varying(data)
    entries = []
    for (dataset, _, selector, _, *protocol), rows in data.groupby(CELL):
        is_base = selector == options.compare
        base = None if is_base else _base(baselines, dataset, backbone, k, protocol)
        label = _label(selector, protocol, shown)
        entries.append(_Entry((label,), dataset, _versus(rows, base, options), (not is_base, selector, *protocol)))
    return _pivot(entries, ["selector"])


def _number(value: float, digits: int) -> str:
    return "-" if pd.isna(value) else f"{value:.{digits}f}"


def efficiency(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Table 6: rows (frames, selector): accuracy per group and in all, change, seconds per question by stage, peak memory."""
    _one(data, "dataset", "efficiency")
    _one(data, "backbone", "efficiency")
    by = options.by or "category"
    data = assign_groups(data, by)
    groups, baselines, shown = groups_in(data, by), _baselines(data, options.compare), varying(data)
    lines = []
    for (dataset, backbone, selector, k, *protocol), rows in data.groupby(CELL):
        is_base = selector == options.compare
        base = None if is_base else _base(baselines, dataset, backbone, k, protocol)
        s, t = summarise(rows), timing(rows)
        pool = str(k) if is_base and "candidates" not in shown else f"{protocol[0] or '?'}→{k}"
        line = {"frames": pool, "selector": _label(selector, protocol, shown, pool_shown=True)}
        line |= {f"acc {g}": accuracy_text(summarise(in_group(rows, g))) for g in groups}
        line["accuracy"] = accuracy_text(s) + flags_text(s)
        change = "" if is_base else f"no {options.compare}@{k}" if base is None else change_text(compare(base, rows, options.resamples, options.seed), summarise(base), s)
        line[f"vs {options.compare}"] = change
        line |= {"s/question": _number(t.total, 2), "decode s": _number(t.decode, 2), "select s": _number(t.select, 2),
                 "answer s": _number(t.answer, 2), "peak MB": _number(t.peak_mem_mb, 0)}
        lines.append(((not is_base, selector, k, *protocol), line))
    return pd.DataFrame([line for _, line in sorted(lines, key=lambda item: item[0])])


def kvs2k(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Table 9: rows (dataset, backbone, selector, k): baseline at k and 2k, selector at k, and selector@k against baseline@2k."""
    c = options.compare
    baselines, contenders = _baselines(data, c), _contenders(data, options)
    shown = varying(contenders)
    lines = []
    for (dataset, backbone, selector, k, *protocol), rows in contenders.groupby(CELL):
        at_k, at_2k = _base(baselines, dataset, backbone, k, protocol), _base(baselines, dataset, backbone, 2 * k, protocol)
        s = summarise(rows)
        line = {"dataset": dataset, "backbone": backbone, "selector": _label(selector, protocol, shown), "k": k,
                f"{c}@k": "-" if at_k is None else _versus(at_k, None, options),
                f"{c}@2k": "-" if at_2k is None else _versus(at_2k, None, options),
                "selector@k": _versus(rows, at_k, options), f"vs {c}@2k": "-", f"≥ {c}@2k": "-"}
        if at_2k is not None:
            line[f"vs {c}@2k"] = change_text(compare(at_2k, rows, options.resamples, options.seed), summarise(at_2k), s)
            line[f"≥ {c}@2k"] = "yes" if s.accuracy >= summarise(at_2k).accuracy else "no"
        lines.append(((dataset, backbone, selector, k, *protocol), line))
    return pd.DataFrame([line for _, line in sorted(lines, key=lambda item: item[0])])


def pool(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Appendix: rows (backbone, selector, N→k), the baseline at k first, a column per dataset."""
    _contenders(data, options)
    baselines, shown = _baselines(data, options.compare), varying(data)
    entries = []
    for (dataset, backbone, selector, k, *protocol), rows in data.groupby(CELL):
        base = _base(baselines, dataset, backbone, k, protocol)
        is_base = selector == options.compare
        if is_base and protocol[0] != base["candidates"].iloc[0]:
            continue  # the other pools of the baseline take part in no comparison
        row = (backbone, _label(selector, protocol, shown, pool_shown=True), str(k) if is_base else f"{protocol[0] or '?'}→{k}")
        entries.append(_Entry(row, dataset, _versus(rows, None if is_base else base, options), (backbone, k, not is_base, selector, *protocol)))
    return _pivot(entries, ["backbone", "selector", "pool"])


def _variant_labels(specs: list[str]) -> dict[str, tuple[str, str, tuple]]:
    """spec -> (name, 'key=value' of the parameters its name's specs differ in, sort key), for names run with several specs."""
    parsed = {}
    for spec in specs:
        try:
            parsed[spec] = Spec.parse(spec)
        except RegistryError:
            parsed[spec] = Spec(spec)
    labels = {}
    for name in sorted({p.name for p in parsed.values()}):
        family = {spec: dict(p.params) for spec, p in parsed.items() if p.name == name}
        keys = sorted({key for params in family.values() for key in params})
        varying = [key for key in keys if len({params.get(key) for params in family.values()}) > 1]
        for spec, params in family.items():
            if len(family) > 1:
                values = [params.get(key) for key in varying]
                label = " ".join(f"{key}={value or 'default'}" for key, value in zip(varying, values))
                labels[spec] = (name, label, tuple((0,) if v is None else (1, *order(v)) for v in values))  # the default first
    return labels


def variants(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Tables 7-8: rows specs of one selector that differ in a parameter (the baseline first), a column per dataset."""
    backbone, k = _one(data, "backbone", "variants"), _one(data, "frames", "variants")
    labels = _variant_labels(sorted(set(data["selector"]) - {options.compare}))
    if not labels:
        raise TableError("no selector was run with specs that differ in a parameter (e.g. trained:tokens=1 and trained:tokens=25)")
    baselines, shown = _baselines(data, options.compare), varying(data)
    entries = []
    for (dataset, _, selector, _, *protocol), rows in data.groupby(CELL):
        settings = protocol_text(dict(zip(PROTOCOL, protocol)), shown)
        if selector == options.compare:
            entries.append(_Entry((selector, settings.strip()), dataset, _versus(rows, None, options), (0, *protocol)))
        elif selector in labels:
            name, label, rank = labels[selector]
            base = _base(baselines, dataset, backbone, k, protocol)
            entries.append(_Entry((name, label + settings), dataset, _versus(rows, base, options), (1, name, rank, *protocol)))
    return _pivot(entries, ["selector", "variant"])


KINDS: dict[str, Callable[[pd.DataFrame, Options], pd.DataFrame]] = {
    "grid": grid, "long": long, "main": main, "ablation": ablation, "efficiency": efficiency, "kvs2k": kvs2k, "pool": pool, "variants": variants,
}


def build(kind: str, data: pd.DataFrame, filters: Filters = Filters(), options: Options = Options()) -> pd.DataFrame:
    """The table of `kind` from the rows bench.results.read_all returns, filtered."""
    keep = None if kind in ("grid", "long") else options.compare
    rows = select(data, filters, keep, tuple(2 * k for k in filters.frames) if kind == "kvs2k" else ())
    if rows.empty:
        raise TableError("no result rows match")
    rows = evidence(prepare(rows, selection_only=True)) if options.measure == "evidence" else prepare(rows)
    if rows.empty:
        raise TableError("no result rows match (rows of --backbone none answer nothing: see --kind evidence)")
    return KINDS[kind](rows, options)


def render(table: pd.DataFrame, fmt: str) -> str:
    """The table as markdown, CSV or LaTeX text (rich tables are drawn by the CLI)."""
    if fmt == "csv":
        return table.to_csv(index=False)
    style = {"md": "github", "latex": "latex_booktabs", "rich": "simple"}[fmt]
    text = tabulate(table.values.tolist(), headers=list(table.columns), tablefmt=style, disable_numparse=True)
    if fmt == "latex":
        for symbol, command in _LATEX.items():
            text = text.replace(symbol, command)
    return text
