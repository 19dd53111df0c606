"""The selector-score cache, and scoring the samples it lacks with one selector: `bench run`, `bench labels` and `bench show` share it.

Scores are cached per (selector spec without `pick`, candidates, question, options), with the
seconds they took, so a grid over k and backbones scores each sample once per selector and a
rerun or a labelling pass scores nothing twice. The selector's model loads only when some
sample is not cached yet.

Each entry also keeps how many candidates the selector scored (`n_scored`, a CSV column), the
cost a selector like FOCUS saves: what the selector's `n_scored` attribute says after `score`
(FOCUS and DIG set it per sample), else 0 for a selector whose own pick is `uniform` (its
scores are never read), else all N. `oracle` counts N: it gives every candidate a score, read
from the ground truth at no model cost.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from bench.cache import ArrayStore, digest
from bench.loading import Lazy
from bench.progress import Reporter
from bench.records import Candidates, Sample
from bench.selectors import query_for
from bench.timing import timed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scores:
    """One selector's scores for one sample, as cached."""

    values: np.ndarray  # float32 (N,)
    seconds: float  # how long scoring took when it ran (CUDA-synchronised on a GPU)
    n_scored: int | None = None  # candidates the selector scored; None for entries cached before it was kept


def score_store(cache_dir: Path) -> ArrayStore:
    """Where scores are cached under a cache dir; `bench run` and `bench labels` share it."""
    return ArrayStore(Path(cache_dir) / "scores")


def score_key(scorer: str, candidates: Candidates, sample: Sample) -> str:
    return digest("scores", scorer, candidates.key, sample.question, sample.options)


def cached(store: ArrayStore, scorer: str, candidates: Candidates, sample: Sample) -> Scores | None:
    hit = store.load(score_key(scorer, candidates, sample), about=f"{scorer} scores of {sample.dataset} {sample.sample_id}")
    return None if hit is None else Scores(np.asarray(hit[0]["scores"]), hit[1]["score_s"], hit[1].get("n_scored"))


def score_all(
    selector,
    scorer: str,
    samples: Iterable[Sample],
    candidates: Callable[[Sample], Candidates | None],
    store: ArrayStore,
    device: str,
    reporter: Reporter,
    done: Callable[[Sample, str], None] = lambda sample, error: None,
) -> tuple[dict[tuple[str, str], str], int]:
    """Score every sample not cached yet with `selector` (built from `scorer`, loaded here only if needed).

    Returns ({(dataset, sample_id): error}, how many were scored now); `done(sample, error)`
    is called as each sample is through, so answering can start on it. A sample whose
    `candidates` are None (its video failed) is passed over.

    A failure on one sample is recorded as `select: <type>: <message>` and the rest go on; a
    selector that cannot load gives every sample it had to score `load: ...`.
    """
    samples = list(samples)
    errors: dict[tuple[str, str], str] = {}
    fresh = 0
    with Lazy(selector, device) as model, reporter.phase(f"score {scorer}", len(samples)) as advance:
        for sample in samples:
            cands = candidates(sample)
            error, now = ("", False) if cands is None else score_missing(model, scorer, cands, sample, store, device)
            if error:
                errors[sample.dataset, sample.sample_id] = error
            fresh += now
            done(sample, error)
            advance()
    return errors, fresh


def score_together(
    selectors: dict[str, object],
    work: Iterable[tuple[Sample, tuple[str, ...]]],
    candidates: Callable[[Sample], Candidates | None],
    store: ArrayStore,
    device: str,
    reporter: Reporter,
    done: Callable[[str, Sample, str], None],
) -> int:
    """Score sample by sample, each with the selectors (scorer spec -> selector) it names, all loaded at once.

    What `score_all` does for one selector, in the order samples come (as their videos are
    decoded), so answering can follow close behind; each selector loads when first needed and
    all are released at the end. `done(scorer, sample, error)` follows each score. Returns
    how many were scored now.
    """
    work = list(work)
    fresh = 0
    with ExitStack() as stack, reporter.phase("score " + ", ".join(selectors), sum(len(names) for _, names in work)) as advance:
        models = {scorer: stack.enter_context(Lazy(selector, device)) for scorer, selector in selectors.items()}
        for sample, scorers in work:
            cands = candidates(sample)
            for scorer in scorers:
                error, now = ("", False) if cands is None else score_missing(models[scorer], scorer, cands, sample, store, device)
                fresh += now
                done(scorer, sample, error)
                advance()
    return fresh


def score_missing(model: Lazy, scorer: str, cands: Candidates, sample: Sample, store: ArrayStore, device: str) -> tuple[str, bool]:
    """Score one sample with `model`'s selector unless its scores are cached: (its error or "", whether it was scored now)."""
    if cached(store, scorer, cands, sample) is not None:
        return "", False
    error = model.ready() or _score(model.model, scorer, cands, sample, store, device)
    return error, not error


def _score(selector, scorer: str, cands: Candidates, sample: Sample, store: ArrayStore, device: str) -> str:
    """Score one sample and cache the scores; "" on success, else the row's error."""
    try:
        score_one(selector, scorer, cands, sample, store, device)
    except Exception as exc:  # one sample's failure is recorded; the others go on
        log.warning("%s on %s %s failed", scorer, sample.dataset, sample.sample_id, exc_info=True)
        return f"select: {type(exc).__name__}: {exc}"
    return ""


def score_one(selector, scorer: str, cands: Candidates, sample: Sample, store: ArrayStore, device: str) -> np.ndarray:
    """float32 (N,): one sample's scores from a loaded selector, timed and cached; raises what scoring raised."""
    query = query_for(selector, cands, sample)
    with timed(device) as took:
        values = np.asarray(selector.score(query), dtype=np.float32)
    if values.shape != (len(cands.times),) or not np.isfinite(values).all():
        raise ValueError(f"scores must be {len(cands.times)} finite floats, got shape {values.shape}")
    store.save(score_key(scorer, cands, sample), {"scores": values}, {"score_s": took[0], "n_scored": n_scored(selector, len(values))})
    return values


def n_scored(selector, n: int) -> int:
    """How many of the n candidates `selector` scored in its last `score` call (see the module docstring)."""
    said = getattr(selector, "n_scored", None)
    if said is not None:
        return int(said)
    return 0 if selector.pick == "uniform" else n
