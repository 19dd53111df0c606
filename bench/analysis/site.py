"""`bench view`: the results as a static site, with the frames each selector chose.

Pages (plain HTML, site_assets' CSS and script; nothing from the network, so the folder opens
from the file system):
- index.html: the grid, the texts `bench table --format csv` prints, each cell a link; a form
  to compare any two cells of one dataset, and the pairs on one dataset, backbone and k listed.
- cells/<cell>.html: the cell's samples (question, options, prediction, answer, correct,
  error), filtered by verdict (right / wrong / unparsed / error) and category (the groups
  `bench table --by category` prints).
- samples/<cell>/<sample>.html: the N candidates as thumbnails with the selection outlined and
  the evidence underlined, the selector's score curve (inline SVG) with the selection and the
  evidence, or a line saying why there are no thumbnails or no scores (site_frames).
- compare.html?a=<cell>&b=<cell>: for two cells on the same samples (one dataset; any backbone,
  selector, k or protocol), the samples whose verdicts differ (right, wrong, or an error row),
  each with both selections side by side, filtered by each cell's verdict and by category. A
  page per pair would grow with the square of the cells, so the page is made in the browser
  from data/<cell>.js, each cell's rows with their selections as the sample pages draw them
  (a script, since a page opened from the file system may load scripts but not fetch files).

A cell is the grid's: (dataset, backbone, selector, k) and its protocol (bench.analysis.cells.CELL).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import html
import json
import re
import time
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis import breakdowns, tables
from bench.analysis.cells import CELL, PROTOCOL, prepare, protocol_text, varying
from bench.analysis.site_assets import CSS, JS
from bench.analysis.site_frames import Frames, Strip, load_samples
from bench.grid.progress import Reporter
from bench.options import LETTERS
from bench.store.thumbs import HEIGHT

e = html.escape


@dataclass(frozen=True, slots=True)
class Built:
    """What one `bench view` wrote."""

    pages: int
    rows: int
    thumbs: int  # sprites written, one per cached video and protocol
    thumb_bytes: int
    over: int  # sprites over their share of the budget even at the smallest size and quality
    seconds: float


def cell_id(values: tuple) -> str:
    """A file name for a cell: its selector and k, readable, and a hash of everything that identifies it."""
    named = dict(zip(CELL, values))
    readable = re.sub(r"[^A-Za-z0-9=.-]+", "_", f"{named['selector']}-k{named['frames']}")[:40]
    return f"{readable}-{hashlib.blake2b(repr(tuple(map(str, values))).encode(), digest_size=5).hexdigest()}"


def sample_file(sample_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._=-]+", "_", sample_id)[:60]
    return f"{safe}.html" if safe == sample_id else f"{safe}-{hashlib.blake2b(sample_id.encode(), digest_size=4).hexdigest()}.html"


VERDICTS = ["right", "wrong", "unparsed", "error"]  # the words `verdict` gives, as the filters offer them


def verdict(row) -> str:
    """The filter words a row answers to: 'error', or 'right', or 'wrong' (and 'unparsed' where nothing parsed)."""
    if row.error:
        return "error"
    if _true(row.correct):
        return "right"
    return "wrong unparsed" if not _true(row.parse_ok) and not pd.isna(row.parse_ok) else "wrong"


def _true(value) -> bool:
    """A boolean column's value, missing (None, NaN, pd.NA) read as False."""
    return value is not None and not pd.isna(value) and bool(value)


def _filter(name: str, label: str, choices: list[str]) -> str:
    """A select that site.js's applyFilters reads: it shows the items whose data-<name> holds the chosen value."""
    options = "".join(f'<option value="{e(c)}">{e(c) or "(none)"}</option>' for c in ["all", *choices])
    return f'<label>{e(label)} <select data-filter="{name}" onchange="applyFilters()">{options}</select></label>'


def _category_filter(categories: list[str], groups) -> str:
    """The category filter, offering those of `categories` that some of `groups` (each '|'-joined, as `_groups` gives) holds."""
    held = {g for joined in groups for g in joined.split("|")}
    return _filter("category", "category", [c for c in categories if c in held])


def _groups(rows: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Each row's category groups as `bench table --by category` counts them, joined by '|', and every group in print order."""
    try:
        grouped = breakdowns.assign_groups(rows, "category")
    except tables.TableError:  # no category column in these CSVs: no category filter
        return pd.Series("", index=rows.index), []
    return grouped["group"].map("|".join), breakdowns.groups_in(grouped, "category")


def build(results_dir: Path, out: Path, cache_dir: Path, data_root: Path | None = None, seed: int = 0, limit: int | None = None,
          thumbs_mb: float = 200, reporter: Reporter | None = None) -> Built:
    """Write the site for every row under `results_dir` into `out`, thumbnails within `thumbs_mb` megabytes; raises tables.TableError when there is no grid."""
    from bench.results import read_all

    start = time.perf_counter()
    data = read_all(results_dir)
    grid = tables.build("grid", data, tables.Filters(), tables.Options(compare=None))
    rows = prepare(data)
    rows["groups"], categories = _groups(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "style.css").write_text(CSS)
    (out / "site.js").write_text(JS)

    samples, failed = load_samples(sorted(rows["dataset"].unique()), cache_dir, data_root, seed, limit)
    frames = Frames(cache_dir, out, budget=int(thumbs_mb * 1e6))
    found = [(samples[key], row) for key, row in zip(zip(rows["dataset"], rows["sample_id"]), rows.itertuples(index=False)) if key in samples]
    frames.prepare((Frames.wanted(sample, int(row.candidates), int(row.frame_size), row.seek, row.cache_format) for sample, row in found), reporter)
    shown = varying(rows)
    cells = {cell_id(tuple(values)): (tuple(values), part) for values, part in rows.groupby(CELL, sort=True)}
    labels = {cid: f"{v[2]} k={v[3]}" + protocol_text(dict(zip(PROTOCOL, v[4:])), shown) for cid, (v, _) in cells.items()}
    pages = 0
    with (reporter or Reporter()).phase("pages", len(cells)) as advance:
        for cid, (values, part) in cells.items():
            pages += _cell_pages(out, cid, values, part, labels[cid], categories, samples, failed, frames)
            advance()
    site = _site_facts(cells, labels, categories)
    _index(out, grid, cells, labels, site)
    (out / "compare.html").write_text(_page("compare two cells", _COMPARE.format(site=site), 0))
    return Built(pages + 2, len(rows), frames.thumbs, frames.thumb_bytes, frames.over, time.perf_counter() - start)


def _page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<link rel="icon" href="data:,"><link rel="stylesheet" href="{up}style.css"><script src="{up}site.js"></script></head>\n'
            f'<body><nav><a href="{up}index.html">grid</a></nav>\n{body}\n</body></html>\n')


def _site_facts(cells: dict, labels: dict, categories: list[str]) -> str:
    """The script line index.html and compare.html share: each cell's dataset and names, the categories and verdicts in filter order."""
    facts = {"cells": {cid: {"dataset": v[0], "backbone": v[1], "label": labels[cid], "title": _describe(v, labels[cid])} for cid, (v, _) in cells.items()},
             "categories": categories, "verdicts": VERDICTS}
    text = json.dumps(facts).replace("<", "\\u003c")  # so no '</script>' a label could hold ends the script early
    return f"<script>var SITE = {text};</script>"


_COMPARE = """<h1 id="title">Compare two cells</h1>
<p id="compare-note" class="missing"></p>
<div id="compare"></div>
{site}
<script>showCompare();</script>"""


def _index(out: Path, grid: pd.DataFrame, cells: dict, labels: dict, site: str) -> None:
    where = {(v[0], v[1], labels[cid]): cid for cid, (v, _) in cells.items()}
    head = "".join(f"<th>{e(str(c))}</th>" for c in grid.columns)
    lines = []
    for values in grid.itertuples(index=False):
        dataset, backbone = values[0], values[1]
        tds = [f"<td>{e(str(dataset))}</td>", f"<td>{e(str(backbone))}</td>"]
        for column, text in zip(grid.columns[2:], values[2:]):
            cid = where.get((dataset, backbone, column))
            inner = f'<a href="cells/{cid}.html">{e(str(text))}</a>' if cid and text != "" else e(str(text))
            tds.append(f'<td class="num" data-column="{e(column)}">{inner}</td>')
        lines.append("<tr>" + "".join(tds) + "</tr>")

    def choices(chosen: int) -> str:  # the form opens on the first two cells, not one cell twice
        return "".join(f'<option value="{cid}"{" selected" * (i == chosen)}>{e(_describe(v, labels[cid]))}</option>' for i, (cid, (v, _)) in enumerate(cells.items()))

    pairs = [(a, b) for a, b in combinations(sorted(cells), 2) if cells[a][0][:2] == cells[b][0][:2] and cells[a][0][3] == cells[b][0][3]]
    links = "".join(f'<li><a href="{e(f"compare.html?a={a}&b={b}")}">{e(cells[a][0][0])} · {e(cells[a][0][1])}: {e(labels[a])} vs {e(labels[b])}</a></li>'
                    for a, b in pairs)
    body = (f"<h1>framebench results</h1>\n<p>Accuracy per cell (as <code>bench table --format csv</code>); "
            f"a cell opens its samples.</p>\n<table id=\"grid\"><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>\n"
            f"<h2>Compare two cells</h2>\n<p>Any two cells of one dataset: the samples whose verdicts differ, both selections side by side.</p>\n"
            f"<form onsubmit=\"return openCompare(event)\"><select id=\"cell-a\">{choices(0)}</select> "
            f"vs <select id=\"cell-b\">{choices(1)}</select> <button>compare</button> <span id=\"compare-note\" class=\"missing\"></span></form>\n"
            f"{site}\n<details><summary>the pairs on one dataset, backbone and k ({len(pairs)})</summary><ul>{links}</ul></details>")
    (out / "index.html").write_text(_page("framebench results", body, 0))


def _describe(values: tuple, label: str) -> str:
    named = dict(zip(CELL, values))
    return f"{named['dataset']} · {named['backbone']} · {label}"


def _cell_pages(out: Path, cid: str, values: tuple, part: pd.DataFrame, label: str, categories: list[str], samples: dict, failed: dict, frames: Frames) -> int:
    (out / "samples" / cid).mkdir(parents=True, exist_ok=True)
    lines, data = [], []
    for row in part.itertuples(index=False):
        kinds = verdict(row)
        name = sample_file(row.sample_id)
        sample = samples.get((row.dataset, row.sample_id))
        drawn = _selection(row, sample, failed.get(row.dataset, ""), frames)
        data.append({"id": row.sample_id, "verdict": kinds, "groups": row.groups, "question": row.question, "answer": _text(row.answer),
                     "prediction": _text(row.prediction), "selected": _text(row.selected), "frames": drawn})
        lines.append(f'<tr class="{kinds.split()[0]} filtered" data-verdict="{kinds.replace(" ", "|")}" data-category="{e(row.groups)}">'
                     f'<td><a href="../samples/{cid}/{name}">{e(row.sample_id)}</a></td><td>{e(row.category)}</td>'
                     f'<td>{e(row.question)}</td><td>{_options(row.options)}</td><td>{e(_text(row.prediction))}</td>'
                     f'<td>{e(_text(row.answer))}</td><td class="verdict">{kinds}</td><td>{e(row.error)}</td></tr>')
        body = _sample_body(row, sample, label, cid, _moved(drawn, 2))
        (out / "samples" / cid / name).write_text(_page(f"{row.sample_id} · {label}", body, 2))
    body = (f"<h1>{e(_describe(values, label))}</h1>\n<p>{_filter('verdict', 'verdict', VERDICTS)} {_category_filter(categories, part['groups'])} "
            f"<span id=\"shown\">{len(part)}</span> of {len(part)} samples</p>\n"
            "<table id=\"samples\"><thead><tr><th>sample</th><th>category</th><th>question</th><th>options</th><th>prediction</th>"
            f"<th>answer</th><th>correct</th><th>error</th></tr></thead><tbody>{''.join(lines)}</tbody></table>")
    (out / "cells" / f"{cid}.html").parent.mkdir(exist_ok=True)
    (out / "cells" / f"{cid}.html").write_text(_page(_describe(values, label), body, 1))
    (out / "data").mkdir(exist_ok=True)
    (out / "data" / f"{cid}.js").write_text(f"cellLoaded({json.dumps(cid)}, {json.dumps(data)});\n")
    return len(part) + 1


def _text(value) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def _options(options) -> str:
    try:
        texts = json.loads(options) if isinstance(options, str) and options else []
    except ValueError:
        texts = []
    return "<br>".join(f"{LETTERS[i]}. {e(str(t))}" for i, t in enumerate(texts[: len(LETTERS)]))


def _selected(row) -> list[int]:
    return [int(i) for i in _text(row.selected).split()]


def _sample_body(row, sample, label: str, cid: str, drawn: str) -> str:
    facts = [("question", e(row.question)), ("options", _options(row.options)), ("prediction", e(_text(row.prediction))),
             ("parsed", e(_text(getattr(row, "parsed", "")))), ("answer", e(_text(row.answer))), ("correct", verdict(row)),
             ("error", e(row.error)), ("selected", e(_text(row.selected))), ("selected times (s)", e(_text(getattr(row, "selected_times", "")))),
             ("evidence_hit", e(_text(getattr(row, "evidence_hit", "")))), ("evidence (s)", e(_evidence_text(sample)))]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    return (f'<h1>{e(row.sample_id)}</h1>\n<p>cell: <a href="../../cells/{cid}.html">{e(row.dataset)} · {e(row.backbone)} · {e(label)}</a></p>\n'
            f"<table>{table}</table>\n{drawn}")


def _evidence(sample) -> tuple[tuple[float, float], ...]:
    if sample is None:
        return ()
    return tuple(sample.evidence) or ((sample.interval,) if sample.interval else ())


def _evidence_text(sample) -> str:
    return ", ".join(f"{a:.1f}-{b:.1f}" for a, b in _evidence(sample)) or ("not known" if sample is not None else "sample not loaded")


def _selection(row, sample, failed: str, frames: Frames) -> str:
    """The strip of thumbnails with the selection and the evidence marked, and the score curve, or why not, for a page at the site's root."""
    if sample is None and failed:
        strip = Strip("", 0, (), 0.0, f"the dataset could not be loaded ({failed})")
    else:
        strip = frames.strip(sample, int(row.candidates), int(row.frame_size), row.seek or "exact", row.cache_format)
    chosen = set(_selected(row))
    if strip.missing:
        return f'<p class="missing frames-missing">No frames: {e(strip.missing)}.</p>'
    evidence = _evidence(sample)
    w, n = strip.width, len(strip.times)
    marks = [f'<span class="sel" style="left:{i * w}px;width:{w}px" title="#{i} at {strip.times[i]:.1f} s"></span>' for i in sorted(chosen) if i < n]
    for start, end in evidence:  # underline the candidates inside [start, end]
        first, last = bisect.bisect_left(strip.times, start), bisect.bisect_right(strip.times, end) - 1
        if first <= last:
            marks.append(f'<span class="ev" style="left:{first * w}px;width:{(last - first + 1) * w}px" title="evidence {start:.1f}-{end:.1f} s"></span>')
    sheet = (f'<div class="sheet" style="width:{w * n}px"><img src="{strip.sprite}" width="{w * n}" height="{HEIGHT}" '
             f'alt="the {n} candidates">{"".join(marks)}</div>')
    legend = '<p class="legend"><span style="color:#e31e1e">■ selected</span><span style="color:#1c7ed6">▁ evidence</span></p>'
    scores = frames.scores(row.selector, strip, sample)
    curve = _curve(scores, strip, chosen, evidence) if scores is not None else f'<p class="missing">No stored scores of {e(row.selector)} for these candidates.</p>'
    return f'{legend}<div class="strip">{sheet}</div>\n{curve}'


def _moved(drawn: str, depth: int) -> str:
    """A `_selection` for a page `depth` folders below the root: its one relative URL is the strip's (texts in it are escaped, so hold no `src="`)."""
    return drawn.replace(' src="thumbs/', f' src="{"../" * depth}thumbs/', 1)


def _curve(scores, strip: Strip, chosen: set[int], evidence, width: int = 800, height: int = 140) -> str:
    """The scores over time as an inline SVG: the curve, the selection as red ticks, the evidence shaded blue."""
    duration = max(strip.duration_s, strip.times[-1] if strip.times else 0.0, 1e-9)
    low, high = float(min(scores)), float(max(scores))

    def x(t: float) -> float:
        return 10 + (width - 20) * t / duration

    shades = "".join(f'<rect x="{x(a):.1f}" y="0" width="{max(x(b) - x(a), 1):.1f}" height="{height - 20}" fill="#1c7ed6" opacity="0.2"/>' for a, b in evidence)
    points = _points(tuple(np.asarray(scores, dtype=float).tolist()), strip.times, duration, width, height)
    ticks = "".join(f'<line x1="{x(strip.times[i]):.1f}" x2="{x(strip.times[i]):.1f}" y1="0" y2="{height - 20}" stroke="#e31e1e"/>' for i in sorted(chosen) if i < len(strip.times))
    return (f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="scores over time">'
            f'{shades}{ticks}<polyline fill="none" stroke="#333" stroke-width="1.5" points="{points}"/>'
            f'<text x="10" y="{height - 5}" font-size="11">0 s</text><text x="{width - 10}" y="{height - 5}" font-size="11" text-anchor="end">{duration:.0f} s</text>'
            f'<text x="12" y="12" font-size="11">scores {low:.3g} to {high:.3g}</text></svg>')


@functools.lru_cache(maxsize=8192)
def _points(scores: tuple[float, ...], times: tuple[float, ...], duration: float, width: int, height: int) -> str:
    """The curve's SVG points, made once for the pages of every k of a selector (its scores are the same)."""
    low, span = min(scores), (max(scores) - min(scores)) or 1.0
    return " ".join(f"{10 + (width - 20) * t / duration:.1f},{height - 20 - (height - 30) * (s - low) / span:.1f}" for t, s in zip(times, scores))
