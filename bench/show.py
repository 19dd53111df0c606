"""`bench show`: one sample's candidates, a selector's scores and its selection, drawn as a PNG.

Researchers judge a selector by looking at what it picked, not by reading index lists. The
figure holds the N candidates as a contact sheet with the selected ones outlined, the score
curve under it (the selection marked, the ground-truth interval shaded where the benchmark
has one), and in the title the question, the backbone's answer and the ground truth.

It goes through a run's own steps (the frame cache, `bench.grid.scoring.Scorer` for scores and
pick, `bench.grid.rows.ask`), so it draws what a run would record.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.grid.loading import Lazy
from bench.grid.rows import ask
from bench.grid.scoring import Scorer
from bench.options import LETTERS
from bench.records import DataOptions, Outcome, Sample
from bench.registry import backbones, benchmarks, selectors
from bench.selectors import plan
from bench.store import default_root
from bench.store.frames import FrameCache
from bench.store.scores import score_store

OUTLINE = (230, 30, 30)  # selected candidates
GAP = (255, 255, 255)  # the border of candidates left out
TILE_WIDTH = 160  # candidates are shrunk to about this many pixels across on the sheet


class UnknownSample(LookupError):
    """The benchmark has no sample with the id asked for."""


class ShowError(RuntimeError):
    """The sample could not be scored or answered; the message is the error a run would record."""


@dataclass(frozen=True, slots=True)
class Shown:
    """What one `bench show` drew."""

    sample: Sample
    scores: np.ndarray  # float32 (N,)
    selected: tuple[int, ...]  # ascending
    prediction: str  # the backbone's raw text; "" when no backbone was asked
    outcome: Outcome | None  # None when no backbone was asked
    path: Path


def contact_sheet(frames: np.ndarray, selected: np.ndarray, columns: int, border: int = 5) -> np.ndarray:
    """uint8 (rows * (h + 2b), columns * (w + 2b), 3): frames (N, h, w, 3) tiled in time order, selected ones outlined."""
    n, h, w, _ = frames.shape
    rows = math.ceil(n / columns)
    sheet = np.full((rows * (h + 2 * border), columns * (w + 2 * border), 3), GAP, dtype=np.uint8)
    chosen = set(np.asarray(selected).tolist())
    for i, frame in enumerate(frames):
        top, left = (i // columns) * (h + 2 * border), (i % columns) * (w + 2 * border)
        if i in chosen:
            sheet[top : top + h + 2 * border, left : left + w + 2 * border] = OUTLINE
        sheet[top + border : top + border + h, left + border : left + border + w] = frame
    return sheet


def _find(dataset: str, sample_id: str, options: DataOptions):
    benchmark = benchmarks.build(dataset)
    samples = list(benchmark.load(options))
    for sample in samples:
        if sample.sample_id == sample_id:
            return benchmark, sample
    known = ", ".join(s.sample_id for s in samples[:5])
    raise UnknownSample(f"{benchmark.spec} has no sample {sample_id!r} ({len(samples)} samples, e.g. {known})")


def show(
    dataset: str, sample_id: str, selector: str, frames: int, out: Path | None = None, backbone: str | None = None,
    candidates: int = 128, cache_dir: Path | None = None, data_root: Path | None = None, seed: int = 0,
    device: str = "cpu", frame_size: int = 336, seek: str = "exact", decoder: str = "pyav", cache_format: str = "raw",
) -> Shown:
    """Score one sample with `selector`, pick `frames` of its candidates, optionally answer, and write the PNG."""
    cache_dir = Path(cache_dir or default_root())
    benchmark, sample = _find(dataset, sample_id, DataOptions(cache_dir=cache_dir, data_root=data_root, seed=seed))
    cands = FrameCache(cache_dir, cache_format).candidates(sample.videos, candidates, frame_size, seek, decoder)
    chosen = plan(selector, seed=seed)
    strategy = selectors.build(chosen.given, context={"cache_dir": cache_dir}, seed=seed)
    with Scorer(strategy, chosen.scorer, score_store(cache_dir), device) as scorer:
        error, _ = scorer.missing(cands, sample)
        if error:
            raise ShowError(error)
        picked = scorer.choose(chosen.pick, frames, cands, sample)
    scores, selected = np.asarray(picked.scores.values), picked.indices
    prediction, outcome = "", None
    if backbone:
        with Lazy(backbones.build(backbone), device) as model:
            if model.ready():
                raise ShowError(model.error)
            prediction = ask(benchmark, model.model, sample, cands, selected, device).reply.text
        outcome = benchmark.score(sample, prediction)
    safe = re.sub(r"[^A-Za-z0-9._=-]+", "_", f"{sample.sample_id}-{selector}-k{frames}")
    path = Path(out or f"{safe}.png")
    shown = Shown(sample, scores, tuple(int(i) for i in selected), prediction, outcome, path)
    _draw(shown, cands.frames, cands.times, selector, backbone)
    return shown


def _truth(sample: Sample) -> str:
    if sample.options and sample.answer in LETTERS[: len(sample.options)]:
        return f"{sample.answer}. {sample.options[LETTERS.index(sample.answer)]}"
    return sample.answer


def _draw(shown: Shown, frames: np.ndarray, times: np.ndarray, selector: str, backbone: str | None) -> None:
    from matplotlib.figure import Figure

    step = max(1, math.ceil(frames.shape[2] / TILE_WIDTH))
    columns = 16 if len(frames) >= 64 else 8
    sheet = contact_sheet(np.asarray(frames[:, ::step, ::step]), np.array(shown.selected), columns)
    sample, k = shown.sample, len(shown.selected)
    figure = Figure(figsize=(16, 16 * sheet.shape[0] / sheet.shape[1] + 4), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=[sheet.shape[0] / sheet.shape[1] * 4, 1])
    top.imshow(sheet)
    top.set_axis_off()
    x = np.arange(len(shown.scores))
    bottom.plot(x, shown.scores, color="0.3", linewidth=1)
    bottom.scatter(shown.selected, shown.scores[list(shown.selected)], color=np.array(OUTLINE) / 255, zorder=3, label=f"selected ({k})")
    if sample.interval is not None:
        inside = x[(times >= sample.interval[0]) & (times < sample.interval[1])]
        if len(inside):
            bottom.axvspan(inside[0] - 0.5, inside[-1] + 0.5, color="tab:green", alpha=0.25, label="ground-truth interval")
    bottom.set_xlim(-0.5, len(x) - 0.5)
    bottom.set_xlabel("candidate (time order)")
    bottom.set_ylabel("score")
    bottom.legend(loc="upper right")
    answer = "no backbone asked"
    if shown.outcome is not None:
        verdict = {True: "right", False: "wrong", None: "undecided"}[shown.outcome.correct]
        answer = f"{backbone} answered {shown.prediction.strip()[:60]!r} ({verdict})"
    lines = [f"{sample.dataset} {sample.sample_id}: {selector}, k={k}", textwrap.shorten(sample.question, 140), f"{answer}; ground truth {_truth(sample)}"]
    figure.suptitle("\n".join(lines), fontsize=12)
    shown.path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(shown.path, dpi=100)
