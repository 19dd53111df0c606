"""Selections for any pipeline: `select_frames` for one video, `FrameSelector` for many, `select_dataset` for `bench select`.

A selection is made the way `bench run` makes one, through `bench.grid.scoring.Scorer`:
candidates from the frame cache, scores from the score store under the same keys (a run and a
call share entries under one cache dir), then the selector's pick.

Models: `select_frames` and `FrameSelector` keep each selector model they load for the rest
of the process, keyed by its canonical spec (plus the settings the canonical spec leaves out,
such as a server's base_url), the device and the cache dir, so a loop over a thousand videos
loads CLIP once. `close()` releases them all, `FrameSelector.close()` (or leaving its `with`
block) the one it uses; whatever is still loaded is released when the process exits. A model
that fails to load raises, and the next call tries again.

Departure from `bench run`: a uniform pick (`uniform`, or any spec with `pick=uniform`)
scores nothing and returns `scores=None`, since the pick never reads them.
"""

from __future__ import annotations

import atexit
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.grid.scoring import Scorer
from bench.records import Sample
from bench.registry import Spec, selectors
from bench.selectors import SelectorPlan, plan
from bench.selectors.pick import uniform_indices
from bench.store import default_root
from bench.store.frames import FrameCache
from bench.store.scores import score_store
from bench.timing import resolve_device
from bench.video import VideoError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class Selection:
    """The k frames a selector kept of one video's N candidates."""

    indices: np.ndarray
    """int64 (k,): the chosen candidates, ascending, as indices into the N candidates."""

    times: np.ndarray
    """float64 (k,): seconds of the chosen frames."""

    scores: np.ndarray | None
    """float32 (N,): the selector's score of every candidate, higher = more useful; None for a uniform pick."""

    frames: np.ndarray
    """uint8 (k, H, W, 3): the chosen frames, RGB, as displayed, short side `frame_size` (never upscaled)."""

    candidates: np.ndarray
    """float64 (N,): seconds of all N candidates."""

    selector: str
    """The canonical selector spec, as `bench run` records it."""

    video: Path
    """The file decoded."""


_HELD: dict[tuple[str, ...], Scorer] = {}  # built selectors of this process, by _key


def _key(chosen: SelectorPlan, device: str, cache_dir: Path) -> tuple[str, ...]:
    """What tells two models apart: the canonical scorer, the settings it leaves out, the device and the cache dir."""
    settings = getattr(selectors.get(Spec.parse(chosen.scorer).name), "settings", ())
    left_out = Spec("", tuple((k, v) for k, v in Spec.parse(chosen.given).params if k in settings))
    return chosen.scorer, str(left_out), device, str(cache_dir)


def loaded() -> tuple[str, ...]:
    """The canonical specs of the selector models this process holds loaded."""
    return tuple(key[0] for key, held in _HELD.items() if held.model.loaded)


def close() -> None:
    """Release every selector model `select_frames` and `FrameSelector` loaded."""
    while _HELD:
        _HELD.popitem()[1].release()


atexit.register(close)


class FrameSelector:
    """One selector spec for many videos: `select` per video; `close()` or a `with` block releases its model.

    Args:
        selector: a spec as `bench run --selector` takes it, e.g. "clip", "clip:pick=topk", "uniform".
        candidates: N, the frames decoded uniformly over each video.
        frame_size: short side of decoded frames in pixels (never upscaled).
        device: "auto", "cpu" or "cuda".
        cache_dir: frames, scores and embeddings; default `$FRAMEBENCH_CACHE` or ~/.cache/framebench.
        seek, decoder, seed, cache_format: as `bench run`'s --seek, --decoder, --seed and --cache-format.
    """

    def __init__(self, selector: str = "clip", candidates: int = 128, frame_size: int = 336, device: str = "auto",
                 cache_dir: Path | str | None = None, seek: str = "exact", decoder: str = "pyav", seed: int = 0,
                 cache_format: str = "raw") -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, not {candidates}")
        from bench import plugins

        plugins.load_all()  # installed and FRAMEBENCH_PLUGINS selectors, as the command line sees them
        self.plan = plan(selector, seed=seed)
        self.spec = self.plan.spec
        self.candidates, self.frame_size, self.seek, self.decoder, self.seed = candidates, frame_size, seek, decoder, seed
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir else default_root()
        self._frames = FrameCache(self.cache_dir, cache_format)
        self._key = _key(self.plan, device, self.cache_dir)

    def _held(self) -> Scorer:
        if self._key not in _HELD:
            model = selectors.build(self.plan.given, context={"cache_dir": self.cache_dir}, seed=self.seed)
            _HELD[self._key] = Scorer(model, self.plan.scorer, score_store(self.cache_dir), resolve_device(self.device))
        return _HELD[self._key]

    def select(self, video: Path | str, question: str, k: int = 8, options: Sequence[str] | None = None) -> Selection:
        """The k frames of `video` this selector keeps for `question` (and its `options`, multiple choice).

        Raises `bench.video.VideoError` naming the file when it is missing or cannot be
        decoded, and ValueError when k is not between 1 and the number of candidates.
        """
        if not 1 <= k <= self.candidates:
            raise ValueError(f"k={k} frames cannot be picked from candidates={self.candidates}: "
                             f"give 1 <= k <= {self.candidates}, or raise candidates")
        path = Path(video)
        try:
            cands = self._frames.candidates(path, self.candidates, self.frame_size, self.seek, self.decoder)
        except OSError as exc:  # a folder, a file this user may not read
            raise VideoError(path, f"cannot read: {exc.strerror or exc}") from None
        sample = Sample("api", "", path.stem, path.stem, (path,), question, tuple(options or ()))
        if self.plan.pick == "uniform":
            scores, indices = None, uniform_indices(len(cands.times), k)
        else:
            chosen = self._held().choose(self.plan.pick, k, cands, sample)  # a model that cannot load raises RuntimeError
            scores, indices = np.array(chosen.scores.values), chosen.indices
        # copies, not views of the cache's memory maps: a Selection may outlive the cache entry
        return Selection(indices, cands.times[indices], scores, cands.frames[indices], np.array(cands.times), self.spec, cands.meta.path)

    def close(self) -> None:
        """Release this selector's model (other selectors' stay loaded)."""
        held = _HELD.pop(self._key, None)
        if held is not None:
            held.release()

    def __enter__(self) -> "FrameSelector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def select_frames(video: Path | str, question: str, selector: str = "clip", k: int = 8, candidates: int = 128,
                  options: Sequence[str] | None = None, frame_size: int = 336, device: str = "auto",
                  cache_dir: Path | str | None = None) -> Selection:
    """The k frames of `video` that `selector` keeps for `question`, from N = `candidates` decoded uniformly.

    Frames and scores are cached under `cache_dir` as `bench run` caches them, and the
    selector's model is loaded once per process (see `close`). `options` makes the question
    multiple choice for selectors that read them. Raises `bench.video.VideoError` naming the
    file when it is missing or cannot be decoded, and ValueError when k > candidates.

    Example, with a 640x360 `clip.mp4` in the working directory:

    >>> from bench import select_frames
    >>> chosen = select_frames("clip.mp4", "When does the ball leave the frame?", selector="uniform", k=4)
    >>> chosen.indices.tolist()  # segment centres floor((j + 0.5) * 128 / 4)
    [16, 48, 80, 112]
    >>> chosen.frames.shape  # short side 336 of 360: 640 * 336 / 360 = 597.3 wide
    (4, 336, 597, 3)
    >>> chosen.scores is None  # uniform reads no scores; clip would give 128
    True
    """
    return FrameSelector(selector, candidates, frame_size, device, cache_dir).select(video, question, k, options)
