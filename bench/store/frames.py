"""The frame cache: decoded candidates on disk, keyed by content, in front of bench.video.

Candidates are stored in one of two formats (`--cache-format`):
- `raw` (default): the decoded arrays as they are, memory-mapped on a hit. Exact, and a hit
  costs milliseconds, but 77 MB per video at N = 128 and 336x597.
- `jpeg:quality=Q` (Q 1-100, default 95): each candidate a JPEG (Pillow, libjpeg-turbo, 4:2:0
  chroma), 8x smaller at 95; a hit decodes them (about 0.2 s for 128 at 336x597). JPEG is lossy,
  so the frames handed on are always the ones decoded from the stored JPEGs, on a miss too and
  where the cache cannot be written: a cold and a warm run see the same pixels. The format is
  part of the frames key (raw keeps the key it always had) and of the candidates' identity.
Why raw stays the default, with the measurements, is in perf/README.md.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.records import Candidates, VideoMeta
from bench.store.arrays import ArrayStore, digest, file_key, unwritable
from bench.store.jpeg import from_jpeg, to_jpeg
from bench.store.prune import declare
from bench.store.thumbs import ThumbStore
from bench.video import FORMAT, VideoError, decode, open_video, output_size

log = logging.getLogger(__name__)

FRAMES = declare("frames", "frames (decoded candidates)")
FILE_KEYS = declare("file_keys", "file keys")


@dataclass(frozen=True, slots=True)
class CacheFormat:
    """How the frame cache stores candidates: raw arrays, or one JPEG per candidate at a quality."""

    name: str  # "raw" or "jpeg"
    quality: int = 0  # JPEG quality 1-100; 0 for raw

    @property
    def spec(self) -> str:
        """The canonical spelling, as rows and cell file names record it: "raw" or "jpeg:quality=95"."""
        return self.name if self.name == "raw" else f"jpeg:quality={self.quality}"


JPEG_QUALITY = 95  # the default: see perf/README.md


def parse_cache_format(text: str) -> CacheFormat:
    """Parse `raw`, `jpeg` or `jpeg:quality=Q`; a ValueError says what to type instead."""
    name, _, rest = text.strip().partition(":")
    if name == "raw" and not rest:
        return CacheFormat("raw")
    if name == "jpeg":
        key, _, value = rest.partition("=")
        if not rest:
            return CacheFormat("jpeg", JPEG_QUALITY)
        if key == "quality" and value.isdigit() and 1 <= int(value) <= 100:
            return CacheFormat("jpeg", int(value))
        raise ValueError(f"{text!r}: the JPEG quality must be a whole number from 1 to 100, e.g. jpeg:quality={JPEG_QUALITY}")
    raise ValueError(f"{text!r} is not a cache format: use raw, or jpeg with an optional quality, e.g. jpeg:quality={JPEG_QUALITY}")


class FrameCache:
    """Decoded candidates on disk, keyed by (video content, N, size, seek, format)."""

    def __init__(self, root: Path, cache_format: str = "raw") -> None:
        self.format = parse_cache_format(cache_format)
        self.root = Path(root)
        self.store = ArrayStore(self.root / FRAMES)
        self.keys = ArrayStore(self.root / FILE_KEYS)  # each video's content key, by file version
        self.thumbs = ThumbStore(self.root)
        self._file_keys: dict[tuple[int, ...], str] = {}

    def _version(self, path: Path) -> tuple[int, ...]:
        stat = path.stat()
        return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns

    def content_key(self, path: Path) -> str:
        """`file_key(path)`, hashed once per file version and remembered in memory and in the cache.

        A version is (device, inode, size, mtime, ctime): any write, replacement or rename
        gives a new one, and then a fresh hash, which finds the same entries if the bytes
        are the same.
        """
        seen = self._version(path)
        if seen not in self._file_keys:
            memo = digest("file version", *seen)
            hit = self.keys.load(memo, about=f"key of {path}")
            if hit is None:
                self._file_keys[seen] = file_key(path)
                self.keys.save(memo, {}, {"key": self._file_keys[seen]})
            else:
                self._file_keys[seen] = hit[1]["key"]
        return self._file_keys[seen]

    def _key(self, content: str, n: int, size: int, seek: str) -> str:
        parts = ("frames", FORMAT, content, n, size, seek)
        return digest(*parts) if self.format.name == "raw" else digest(*parts, self.format.spec)  # raw: the key it always had

    def candidates(self, videos: tuple[Path, ...] | Path, n: int, size: int = 336, seek: str = "exact", decoder: str = "pyav", threads: int | None = None) -> Candidates:
        """The candidates of the first of `videos` that exists; decodes (with `threads`, see `decode`) only on a cache miss.

        `decode_s` is the miss's cost, JPEG encoding and decoding included, kept on later hits.
        A miss also stores the candidates' thumbnail strip (bench/store/thumbs.py), for `bench view`.
        """
        path = resolve(videos)
        key = self._key(self.content_key(path), n, size, seek)
        jpeg = self.format.name == "jpeg"
        hit = self._load(path, key, seek)
        if hit is not None:
            return hit
        start = time.perf_counter()
        frames, times, meta, used = decode(path, n, size, seek, decoder, threads)
        stored = {"frames": frames}
        if jpeg:  # hand on what a hit will give, not the decoder's pixels
            stored = dict(zip(("jpeg", "offsets"), to_jpeg(frames, self.format.quality)))
            frames = from_jpeg(stored["jpeg"], stored["offsets"], frames.shape)
        seconds = time.perf_counter() - start
        info = {"duration_s": meta.duration_s, "fps": meta.fps, "n_frames": meta.n_frames, "width": meta.width, "height": meta.height,
                "decoder": used, "decode_s": seconds, "format": self.format.spec, "shape": list(frames.shape)}
        self.store.save(key, {**stored, "times": times}, info)
        if not unwritable(self.root):  # a strip kept in memory would only grow with the run
            self.thumbs.save(key, frames, times, meta.duration_s)
        return Candidates(frames, times, key, meta, seek, used, seconds, cached=False)

    def key(self, videos: tuple[Path, ...] | Path, n: int, size: int = 336, seek: str = "exact") -> str:
        """The key of these candidates' entry, whether or not it is stored (the video is hashed once per file version)."""
        return self._key(self.content_key(resolve(videos)), n, size, seek)

    def cached(self, videos: tuple[Path, ...] | Path, n: int, size: int = 336, seek: str = "exact", rows: int = 0) -> Candidates | None:
        """The candidates if the cache holds them, else None: never decodes a video (`bench view` shows only what a run left).

        `rows` > 0: JPEG entries may come back smaller, down to `rows` rows (see from_jpeg); raw ones come as stored.
        """
        path = resolve(videos)
        return self._load(path, self._key(self.content_key(path), n, size, seek), seek, rows)

    def _load(self, path: Path, key: str, seek: str, rows: int = 0) -> Candidates | None:
        hit = self.store.load(key, about=f"video {path}")
        if hit is None:
            return None
        arrays, info = hit
        meta = VideoMeta(path, info["duration_s"], info["fps"], info["n_frames"], info["width"], info["height"])
        frames = from_jpeg(arrays["jpeg"], arrays["offsets"], tuple(info["shape"]), rows) if self.format.name == "jpeg" else arrays["frames"]
        return Candidates(frames, arrays["times"], key, meta, seek, info["decoder"], info["decode_s"], cached=True)

    def space_needed(self, videos: Iterable[tuple[Path, ...] | Path], n: int, size: int = 336, seek: str = "exact") -> SpaceNeed:
        """What the entries still missing for `videos` will take, estimated before decoding any.

        A video is new unless this file version's key is already known (in memory or under
        file_keys) and its entry is there: nothing is hashed or decoded to tell. Frame sizes
        come from the headers of up to PROBED new videos, spread over the list.
        """
        new = []
        for each in videos:
            try:
                path = resolve(each)
                memo = self._file_keys.get(self._version(path)) or self._known_key(path)
            except (VideoError, OSError):
                continue  # its rows will be error rows; it writes nothing
            if memo is None or not self.store.has(self._key(memo, n, size, seek)):
                new.append(path)
        probed = [_frame_size(p, size) for p in new[:: max(1, -(-len(new) // PROBED))]]
        probed = [p for p in probed if p is not None]
        pixels = float(np.mean([w * h for w, h in probed])) if probed else 0.0
        per_entry = n * (pixels * bytes_per_pixel(self.format) + 8) + ENTRY_OVERHEAD  # frames, times (float64), record and headers
        return SpaceNeed(len(new), int(len(new) * per_entry), _free_bytes(self.root), pixels, n, self.format, self.root)

    def _known_key(self, path: Path) -> str | None:
        hit = self.keys.load(digest("file version", *self._version(path)), about=f"key of {path}")
        return None if hit is None else hit[1]["key"]

    def check_space(self, videos: Iterable[tuple[Path, ...] | Path], n: int, size: int = 336, seek: str = "exact") -> SpaceNeed:
        """`space_needed`, logging a warning with the numbers and the flag to change when it exceeds the free space."""
        need = self.space_needed(videos, n, size, seek)
        if (text := space_warning(need)) is not None:
            log.warning(text)
        return need


PROBED = 64  # new videos whose headers the space estimate reads
ENTRY_OVERHEAD = 4096  # bytes: a frames entry's record and .npy headers, rounded up to a block
# bytes per pixel of a JPEG candidate by quality, measured on the real-looking clip of
# perf/decode.py (336x597 candidates; perf/README.md); interpolated between
JPEG_BYTES_PER_PIXEL = ((50, 0.098), (75, 0.142), (90, 0.245), (95, 0.356), (100, 0.675))


def bytes_per_pixel(fmt: CacheFormat) -> float:
    """Bytes a stored candidate takes per pixel: 3 raw, the measured JPEG figure at its quality."""
    if fmt.name == "raw":
        return 3.0
    qualities, sizes = zip(*JPEG_BYTES_PER_PIXEL)
    return float(np.interp(fmt.quality, qualities, sizes))


@dataclass(frozen=True, slots=True)
class SpaceNeed:
    """The frame cache entries a run will write, estimated, against the free space where they go."""

    entries: int  # videos without an entry yet
    bytes: int  # what those entries will take
    free: int  # bytes free on the cache's filesystem
    pixels: float  # mean pixels of one candidate of those videos
    n: int  # candidates per video
    format: CacheFormat
    root: Path  # the cache dir


def space_warning(need: SpaceNeed) -> str | None:
    """The warning for an estimate that exceeds the free space, with the numbers and what to change; None when it fits."""
    if need.bytes <= need.free:
        return None
    per_pixel = bytes_per_pixel(need.format)
    text = (f"the frame cache needs about {_gb(need.bytes)} for {need.entries} new entries ({need.entries} videos x {need.n} candidates "
            f"x {need.pixels:,.0f} px x {per_pixel:g} bytes/px, {need.format.spec}), and {need.root} has {_gb(need.free)} free; ")
    if need.format.name == "raw":
        jpeg = CacheFormat("jpeg", JPEG_QUALITY)
        smaller = need.bytes * bytes_per_pixel(jpeg) / per_pixel
        return text + f"pass --cache-format jpeg (about {_gb(smaller)} at quality {JPEG_QUALITY}), or a --cache-dir with more room"
    return text + "pass a lower --cache-format jpeg:quality=Q, fewer --candidates, a smaller --frame-size, or a --cache-dir with more room"


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _frame_size(path: Path, size: int) -> tuple[int, int] | None:
    """(width, height) of this video's candidates from its header; None where it cannot be opened."""
    try:
        with open_video(path) as container:
            codec = container.streams.video[0].codec_context
            return output_size(codec.width, codec.height, size)
    except VideoError:
        return None


def _free_bytes(root: Path) -> int:
    """Free bytes on the filesystem `root` is (or will be) on."""
    for folder in (root, *root.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return 0


def resolve(videos: tuple[Path, ...] | Path) -> Path:
    """The first path that exists, or a VideoError naming every path tried."""
    paths = (videos,) if isinstance(videos, Path) else tuple(videos)
    for path in paths:
        if path.exists():
            return path
    if not paths:
        raise VideoError("<none>", "the sample names no video file")
    tried = ", ".join(str(p) for p in paths)
    raise VideoError(paths[0], f"file not found (tried {tried})")
