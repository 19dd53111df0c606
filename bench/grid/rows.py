"""How one (cell, sample) becomes a row: pick the cell's frames, ask the backbone, score the reply.

With `--backbone none` (`SelectionOnly`) a row stops after the pick: the selection, its cost
and whether it landed on the evidence, no prediction.

The local and the Ray executors write these rows, and `bench show` answers through `ask`,
so a figure shows the prompt, frames and reply a run would record.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from bench.grid.config import Cell, RunConfig, SelectionOnly
from bench.grid.scoring import LoadError, Scorer
from bench.records import Candidates, Outcome, Reply, Row, Sample
from bench.timing import peak_mb, reset_peak, timed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Asked:
    """A backbone's reply to one sample's selected frames."""

    reply: Reply
    seconds: float  # the backbone's answer, CUDA-synchronised on a GPU
    peak_mem_mb: float  # peak CUDA memory during the answer; peak process RSS on the CPU


def ask(benchmark, backbone, sample: Sample, candidates: Candidates, selected: np.ndarray, device: str) -> Asked:
    """The benchmark's prompt and the selected frames (int64 (k,), ascending) to the backbone; their seconds too where it takes `times`."""
    times = candidates.times[selected]
    prompt = benchmark.prompt(sample, times)
    reset_peak(device)
    with timed(device) as took:
        reply = answer(backbone, candidates.frames[selected], times, prompt, benchmark.max_new_tokens)
    return Asked(reply, took[0], peak_mb(device))


def answer(backbone, frames: np.ndarray, times: np.ndarray, prompt: str, max_new_tokens: int) -> Reply:
    """`backbone.answer`, given the frames' seconds where it takes `times`; a TypeError when it returns no Reply."""
    timing = {"times": times} if "times" in inspect.signature(backbone.answer).parameters else {}
    reply = backbone.answer(frames, prompt, max_new_tokens, **timing)
    if not isinstance(reply, Reply) or not isinstance(reply.text, str):  # a plugin's mistake is this row's error, not the grid's end
        raise TypeError(f"{backbone.spec}.answer returned {_shown(reply)}, not a Reply whose text is a str")
    return reply


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(slots=True)
class Counts:
    written: int = 0
    errors: int = 0
    decoded: int = 0
    cached: int = 0
    scored: int = 0
    examples: list[str] = field(default_factory=list)

    def count(self, row: Row) -> None:
        self.written += 1
        if row.error:
            self.errors += 1
            if len(self.examples) < 5:
                self.examples.append(f"{row.dataset} {row.sample_id}: {row.error}")


def answer_row(cell: Cell, sample: Sample, cands: Candidates, benchmark, backbone, scorer: Scorer, cfg: RunConfig, device: str, run_id: str) -> Row:
    """Pick the cell's frames (from the stored scores, else scoring now), ask the backbone, score the reply: the row."""
    try:
        chosen = scorer.choose(cell.pick, cell.frames, cands, sample)
    except LoadError as exc:  # its scores were gone (pruned) and the selector cannot load to make them again
        return base_row(cell, sample, cfg, device, run_id, str(exc))
    except Exception as exc:  # a rule of the selector's own that fails is this row's error
        return base_row(cell, sample, cfg, device, run_id, f"select: {type(exc).__name__}: {exc}")
    times = cands.times[chosen.indices]
    picked = replace(
        base_row(cell, sample, cfg, device, run_id),
        selected=" ".join(map(str, chosen.indices)),
        selected_times=" ".join(f"{t:.3f}" for t in times),
        t_decode_s=cands.decode_s,
        t_select_s=chosen.seconds,
        n_scored=chosen.scores.n_scored,
        decoder=cands.decoder,
        evidence_hit=evidence_hit(sample.evidence, times),
    )
    if isinstance(backbone, SelectionOnly):
        return picked
    try:
        asked = ask(benchmark, backbone, sample, cands, chosen.indices, device)
    except Exception as exc:  # one failed answer is one error row; the run goes on
        log.warning("%s failed on %s %s", cell.backbone, cell.dataset, sample.sample_id, exc_info=True)
        return base_row(cell, sample, cfg, device, run_id, f"answer: {type(exc).__name__}: {exc}")
    reply = asked.reply
    outcome: Outcome = benchmark.score(sample, reply.text)
    return replace(
        picked,
        prediction=reply.text,
        parsed=outcome.parsed,
        correct=outcome.correct,
        judge_score=outcome.judge_score,
        parse_ok=outcome.parse_ok,
        error=outcome.error,
        t_answer_s=asked.seconds,
        peak_mem_mb=None if reply.remote else asked.peak_mem_mb,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        n_visual_tokens=reply.n_visual_tokens,
        t_preprocess_s=reply.t_preprocess_s,
        judge_model=outcome.judge_model,
    )


def evidence_hit(evidence: tuple[tuple[float, float], ...], times: np.ndarray) -> bool | None:
    """Whether any of `times` (seconds) lies in an evidence interval, ends included; None without evidence.

    Times are compared as the CSV's `selected_times` records them (to the millisecond), so the
    column can be checked from the row alone.
    """
    if not evidence:
        return None
    shown = np.round(np.asarray(times, dtype=np.float64), 3)
    return bool(any(((shown >= start) & (shown <= end)).any() for start, end in evidence))


def base_row(cell: Cell, sample: Sample, cfg: RunConfig, device: str, run_id: str, error: str = "") -> Row:
    """A row with the cell's and the sample's fields: an error row, or what `answer_row` completes."""
    return Row(
        dataset=cell.dataset, split=sample.split, sample_id=sample.sample_id, video_id=sample.video_id,
        question=sample.question, category=sample.category, duration_group=sample.duration_group,
        domain=sample.domain, category_group=sample.category_group, sub_category=sample.sub_category,
        options=json.dumps(list(sample.options)),
        selector=cell.selector, backbone=cell.backbone, frames=cell.frames, candidates=cfg.candidates,
        selected="", prediction="", answer=sample.answer, correct=None, judge_score=None, parse_ok=None,
        error=error, t_decode_s=None, t_select_s=None, t_answer_s=None, peak_mem_mb=None,
        device=device, run_id=run_id, seek=cfg.seek, frame_size=cfg.frame_size, cache_format=cfg.cache_format,
        written_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
