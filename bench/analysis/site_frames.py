"""What `bench view` shows of a sample's frames: thumbnails and scores read from the caches, never made.

The CSV does not name a video file, so each dataset is loaded as `bench run` loads it (its
`Sample`s hold the video paths, the question as the selector saw it, and the evidence); a row
whose sample is not found, whose video is gone, or whose candidates are not in the frame
cache gets a reason instead of thumbnails. Nothing here decodes a video: `FrameCache.cached`
reads the entry of the row's protocol (N, frame size, seek, cache format) only where it is stored. Scores likewise: only a stored entry
of the row's selector, under the name a run stores it by (`Scorer.stored_as`).

Thumbnails are one JPEG sprite per cached video (all N candidates side by side, `HEIGHT`
pixels high), written once however many cells show it; a page cuts each candidate out of it
with CSS (`object-position`), so a sample page costs one image request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.grid.scoring import Scorer
from bench.records import Candidates, DataOptions, Sample
from bench.registry import benchmarks, selectors
from bench.selectors import plan
from bench.store.frames import FrameCache
from bench.store.scores import cached, score_store

log = logging.getLogger(__name__)

HEIGHT = 64  # thumbnail height in pixels
QUALITY = 70  # JPEG quality of the sprites


@dataclass(frozen=True, slots=True)
class Strip:
    """One video's candidates as the site shows them."""

    sprite: str  # the sprite's path under the site ("thumbs/<key>.jpg"); "" when there are no thumbnails
    width: int  # pixels across of one thumbnail
    times: tuple[float, ...]  # seconds of each candidate
    duration_s: float
    missing: str = ""  # why there are no thumbnails; "" when there are
    key: str = ""  # the frame cache key of the candidates
    cands: Candidates | None = None  # for score look-ups (frames not kept)


def load_samples(datasets: list[str], cache_dir: Path, data_root: Path | None, seed: int, limit: int | None) -> tuple[dict, dict[str, str]]:
    """({(dataset, sample_id): Sample}, {dataset: why it could not be loaded}), each dataset loaded as `bench run` would."""
    found, failed = {}, {}
    for dataset in datasets:
        try:
            for sample in benchmarks.build(dataset).load(DataOptions(cache_dir=cache_dir, data_root=data_root, seed=seed, limit=limit)):
                found[dataset, sample.sample_id] = sample
        except Exception as exc:  # noqa: BLE001 -- a dataset whose files are not here leaves its pages without frames, not the site unbuilt
            failed[dataset] = f"{type(exc).__name__}: {exc}"
    return found, failed


class Frames:
    """Thumbnails and scores of cached candidates, written under `out/thumbs/` as they are first asked for."""

    def __init__(self, cache_dir: Path, out: Path, device: str = "cpu") -> None:
        self.cache_dir, self.out = Path(cache_dir), Path(out)
        self.device = device
        self._caches: dict[str, FrameCache] = {}
        self._strips: dict[tuple, Strip] = {}
        self._stored_as: dict[str, str | None] = {}
        self._scores: dict[tuple, np.ndarray | None] = {}
        self.scores_store = score_store(self.cache_dir)
        self.thumb_bytes = 0
        self.thumbs = 0

    def strip(self, sample: Sample | None, candidates: int, frame_size: int, seek: str, cache_format: str) -> Strip:
        """The thumbnails of this sample's candidates made with this protocol, or a Strip saying why there are none."""
        if sample is None:
            return Strip("", 0, (), 0.0, "the sample was not found in its dataset (see --data-root, --seed, --limit)")
        wanted = (sample.videos, candidates, frame_size, seek, cache_format or "raw")
        if wanted not in self._strips:
            self._strips[wanted] = self._make(*wanted)
        return self._strips[wanted]

    def _make(self, videos: tuple[Path, ...], n: int, size: int, seek: str, cache_format: str) -> Strip:
        path = next((p for p in videos if p.exists()), None)
        if path is None:
            return Strip("", 0, (), 0.0, f"the video is not here ({', '.join(map(str, videos)) or 'no path'})")
        if cache_format not in self._caches:
            self._caches[cache_format] = FrameCache(self.cache_dir, cache_format)
        cache = self._caches[cache_format]
        cands = cache.cached(path, n, size, seek)  # only what a run stored: nothing is decoded
        if cands is None:
            return Strip("", 0, (), 0.0, f"candidates not cached (N={n}, size={size}, seek={seek}, cache={cache_format} under {self.cache_dir})")
        frames, key, times = cands.frames, cands.key, np.asarray(cands.times, dtype=float)
        sprite, width = self._sprite(frames, key)
        return Strip(sprite, width, tuple(times.tolist()), float(cands.meta.duration_s), "", key, cands)

    def _sprite(self, frames: np.ndarray, key: str) -> tuple[str, int]:
        """Write the candidates side by side, HEIGHT pixels high, as one JPEG; (its path under the site, one thumbnail's width)."""
        from PIL import Image

        n, h, w, _ = frames.shape
        width = max(1, round(w * HEIGHT / h))
        sheet = Image.new("RGB", (width * n, HEIGHT))
        for i, frame in enumerate(frames):
            sheet.paste(Image.fromarray(np.ascontiguousarray(frame)).resize((width, HEIGHT), Image.BILINEAR), (i * width, 0))
        target = self.out / "thumbs" / f"{key}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(target, "JPEG", quality=QUALITY)
        self.thumb_bytes += target.stat().st_size
        self.thumbs += 1
        return f"thumbs/{key}.jpg", width

    def scores(self, selector: str, strip: Strip, sample: Sample | None) -> np.ndarray | None:
        """The selector's N stored scores for this sample's candidates; None where none are stored."""
        if strip.cands is None or sample is None:
            return None
        stored_as = self._name(selector)
        if stored_as is None:
            return None
        wanted = (stored_as, strip.key, sample.question, sample.options)
        if wanted not in self._scores:
            hit = cached(self.scores_store, stored_as, strip.cands, sample)
            self._scores[wanted] = None if hit is None else np.array(hit.values, dtype=float)
        return self._scores[wanted]

    def _name(self, selector: str) -> str | None:
        """What a run stores this selector's scores under; None for a selector this install cannot build."""
        if selector not in self._stored_as:
            try:
                chosen = plan(selector)
                strategy = selectors.build(chosen.given, context={"cache_dir": self.cache_dir})
                self._stored_as[selector] = Scorer(strategy, chosen.scorer, self.scores_store, self.device).stored_as
            except Exception as exc:  # noqa: BLE001 -- an unknown (plugin) selector: its pages show no curve
                log.warning("bench view: no scores for %s (%s)", selector, exc)
                self._stored_as[selector] = None
        return self._stored_as[selector]
