"""What `bench view` shows of a sample's frames: thumbnails and scores read from the caches, never made.

The CSV does not name a video file, so each dataset is loaded as `bench run` loads it (its
`Sample`s hold the video paths, the question as the selector saw it, and the evidence); a row
whose sample is not found, whose video is gone, or whose strip and candidates are both gone
from the cache gets a reason instead of thumbnails. Nothing here decodes a video: each strip is the one
`bench run` stored when it decoded the candidates (bench/store/thumbs.py), or, for a cache
filled before runs stored strips, made once from the cached entry of the row's protocol (N,
frame size, seek, cache format) and stored. Scores likewise: only a stored entry of the row's
selector, under the name a run stores it by (`Scorer.stored_as`).

Thumbnails are one JPEG sprite per cached video (all N candidates side by side, shown
`HEIGHT` pixels high), written once however many cells show it, so a sample page costs one
image request. Sprites share a byte budget (`bench view --thumbs-mb`, 200 MB by default):
each gets an equal share, and one over its share is written at fewer pixels, then at a lower
JPEG quality, and still shown at the same size. They are read in threads (PIL and numpy
release the GIL), before the pages.
"""

from __future__ import annotations

import io
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from bench.grid.progress import Reporter
from bench.grid.scoring import Scorer
from bench.records import DataOptions, Sample
from bench.registry import benchmarks, selectors
from bench.selectors import plan
from bench.store.frames import FrameCache
from bench.store.jpeg import jpeg_bytes
from bench.store.scores import cached, score_store
from bench.store.thumbs import HEIGHT, QUALITY

log = logging.getLogger(__name__)

SMALLEST = 16  # a sprite over its share of the budget is stored at fewer pixels, down to this height, then at lower quality
LOWEST = 30  # the lowest JPEG quality tried; a sprite still over its share at (SMALLEST, LOWEST) is kept as it is


@dataclass(frozen=True, slots=True)
class Strip:
    """One video's candidates as the site shows them."""

    sprite: str  # the sprite's path under the site ("thumbs/<key>.jpg"); "" when there are no thumbnails
    width: int  # pixels across of one thumbnail, as shown
    times: tuple[float, ...]  # seconds of each candidate
    duration_s: float
    missing: str = ""  # why there are no thumbnails; "" when there are
    key: str = ""  # the frame cache key of the candidates, for score look-ups
    bytes: int = 0  # the sprite's size


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


Wanted = tuple  # (videos, candidates, frame_size, seek, cache format): one strip


class Frames:
    """Thumbnails and scores of cached candidates, written under `out/thumbs/` within `budget` bytes in all."""

    def __init__(self, cache_dir: Path, out: Path, budget: int = 200_000_000, device: str = "cpu") -> None:
        self.cache_dir, self.out = Path(cache_dir), Path(out)
        self.budget, self.device = budget, device
        self._caches: dict[str, FrameCache] = {}
        self._strips: dict[Wanted, Strip] = {}
        self._stored_as: dict[str, str | None] = {}
        self._scores: dict[tuple, np.ndarray | None] = {}
        self.scores_store = score_store(self.cache_dir)
        self.thumb_bytes = 0
        self.thumbs = 0
        self.over = 0  # sprites still over their share at the smallest size and quality

    @staticmethod
    def wanted(sample: Sample, candidates: int, frame_size: int, seek: str, cache_format: str) -> Wanted:
        return sample.videos, candidates, frame_size, seek or "exact", cache_format or "raw"

    def prepare(self, wanted: Iterable[Wanted], reporter: Reporter | None = None, threads: int | None = None) -> None:
        """Make the sprites of every strip in `wanted` at once, each within an equal share of the budget."""
        todo = list(dict.fromkeys(w for w in wanted if w not in self._strips))
        for cache_format in {w[4] for w in todo}:
            self._caches.setdefault(cache_format, FrameCache(self.cache_dir, cache_format))
        share = self.budget // max(1, len(todo) + len(self._strips))
        with (reporter or Reporter()).phase("thumbnails", len(todo)) as advance, ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
            for wanted, strip in zip(todo, pool.map(lambda w: self._make(*w, share=share), todo)):
                self._strips[wanted] = strip
                self.thumbs += bool(strip.sprite)
                self.thumb_bytes += strip.bytes
                self.over += strip.bytes > share
                advance()

    def strip(self, sample: Sample | None, candidates: int, frame_size: int, seek: str, cache_format: str) -> Strip:
        """The thumbnails of this sample's candidates made with this protocol, or a Strip saying why there are none."""
        if sample is None:
            return Strip("", 0, (), 0.0, "the sample was not found in its dataset (see --data-root, --seed, --limit)")
        wanted = self.wanted(sample, candidates, frame_size, seek, cache_format)
        if wanted not in self._strips:
            self.prepare([wanted])
        return self._strips[wanted]

    def _make(self, videos: tuple[Path, ...], n: int, size: int, seek: str, cache_format: str, share: int) -> Strip:
        path = next((p for p in videos if p.exists()), None)
        if path is None:
            return Strip("", 0, (), 0.0, f"the video is not here ({', '.join(map(str, videos)) or 'no path'})")
        frames = self._caches[cache_format]
        try:
            key = frames.key(path, n, size, seek)  # hashes the video once per file version
        except OSError as exc:
            return Strip("", 0, (), 0.0, f"the video cannot be read ({path}: {exc.strerror or exc})")
        made = frames.thumbs.load(key, about=f"thumbnails of {path}")
        if made is None:  # a cache filled before runs stored strips: make it from the candidates, once
            cands = frames.cached(path, n, size, seek, rows=HEIGHT)  # only what a run stored: no video is decoded
            if cands is None:
                return Strip("", 0, (), 0.0, f"candidates not cached (N={n}, size={size}, seek={seek}, cache={cache_format} under {self.cache_dir})")
            made = frames.thumbs.save(key, cands.frames, cands.times, cands.meta.duration_s)
        data = _fit(made.jpeg, len(made.times), share)
        target = self.out / "thumbs" / f"{key}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return Strip(f"thumbs/{key}.jpg", _width(made.jpeg, len(made.times)), made.times, made.duration_s, "", key, len(data))

    def scores(self, selector: str, strip: Strip, sample: Sample | None) -> np.ndarray | None:
        """The selector's N stored scores for this sample's candidates; None where none are stored."""
        if not strip.key or sample is None:
            return None
        stored_as = self._name(selector)
        if stored_as is None:
            return None
        wanted = (stored_as, strip.key, sample.question, sample.options)
        if wanted not in self._scores:
            hit = cached(self.scores_store, stored_as, strip.key, sample)
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


def _width(data: bytes, n: int) -> int:
    """Pixels across of one of the n thumbnails in a strip, as shown (its header is all that is read)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.width // n


def _fit(data: bytes, n: int, share: int) -> bytes:
    """The strip `data` if it fits in `share` bytes, else the strip at fewer pixels, then at lower quality, until it does or can go no lower."""
    from PIL import Image

    if len(data) <= share:
        return data
    sheet = Image.open(io.BytesIO(data))
    height, quality, smaller = HEIGHT, QUALITY, sheet
    while len(data) > share and (height > SMALLEST or quality > LOWEST):
        if height > SMALLEST:  # bytes go about with the pixels: aim a little under the share
            height = max(SMALLEST, math.floor(height * math.sqrt(share / len(data)) * 0.95))
            smaller = sheet.resize((max(n, round(sheet.width * height / HEIGHT)), height), Image.BILINEAR)
        else:
            quality = max(LOWEST, quality - 20)
        data = jpeg_bytes(smaller, quality)
    return data

