"""needle: a synthetic benchmark where a coloured shape shows for about 3% of a video.

Each video is 60-180 s of a drifting grey texture at 8 fps and 160x120, H.264 through PyAV.
A red, green, blue, yellow, purple, orange, cyan or pink square, disc or triangle shows during
one interval of 3% of the duration at a random time and place. The question is "What colour
is the shape that appears in the video?" with five colour options; the ground truth carries
the interval in seconds, and the evidence (`evidence_hit`) is the times of its first and last
frame showing the shape.

Everything follows from (seed, split, index): sample i is the same whatever `--limit` is,
`split=train` and `split=test` draw from disjoint seed streams, and videos are generated into
the cache on first use and reused after. The colours are far apart in RGB and the background
has no saturation, so the `probe` backbone can read them back from the decoded pixels.

`--limit` is how many samples are generated (40 without it). Each video and its annotation
(a small JSON file) are written to a temporary name and renamed, annotation last, so a killed
run leaves no half file behind. An annotation that is cut short or unreadable, or whose
video is gone, is regenerated with the video, and the load logs one warning listing them. A
video that is present but damaged is left to the decoder, which makes its rows error rows
naming the file (delete it to have it generated again). A cache dir that cannot be written is
a DataError naming it.

Prompt: "{question}\\nA. {colour}\\n...\\nE. {colour}\\nAnswer with the option's letter from
the given choices directly."
Columns: `category` is the shape (`bench table --by category`). Metric: accuracy.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.benchmarks import Breakdown
from bench.benchmarks.choice import MultipleChoice
from bench.datafiles import DataError, take
from bench.records import DataOptions, Sample
from bench.registry import RegistryError, benchmarks
from bench.store import atomic_write_text, declare

log = logging.getLogger(__name__)

FOLDER = declare("needle", "generated data (needle)", generated=True)  # a run opens these by path: never pruned

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 40),
    "purple": (150, 60, 210),
    "orange": (245, 140, 30),
    "cyan": (40, 200, 215),
    "pink": (240, 100, 180),
}
QUESTION = "What colour is the shape that appears in the video?"
FPS = 8
WIDTH, HEIGHT = 160, 120
VISIBLE_SHARE = 0.03
SPLITS = {"train": 1, "test": 2}
COUNT = 40  # samples generated without --limit
TRUTH = ("colour", "shape", "duration", "interval", "distractors", "answer_position")  # the keys of an annotation


def _shape_mask(kind: str, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    if kind == "disc":
        return (xx - size / 2) ** 2 + (yy - size / 2) ** 2 <= (size / 2) ** 2
    if kind == "triangle":
        return np.abs(xx - size / 2) <= yy / 2
    return np.ones((size, size), dtype=bool)


def write_video(path: Path, rng: np.random.Generator) -> dict:
    """Write one needle video to `path` and return its annotation."""
    import av

    duration = float(rng.uniform(60, 180))
    n_frames = int(round(duration * FPS))
    visible = max(1, int(round(VISIBLE_SHARE * n_frames)))
    first = int(rng.integers(0, n_frames - visible + 1))
    colour = str(rng.choice(list(COLOURS)))
    kind = str(rng.choice(["square", "disc", "triangle"]))
    size = int(rng.integers(32, 48))
    top, left = int(rng.integers(0, HEIGHT - size)), int(rng.integers(0, WIDTH - size))
    # a smooth grey texture, wider than the frame, that drifts one pixel per frame
    coarse = rng.uniform(60, 190, size=(HEIGHT // 8 + 1, (WIDTH + n_frames) // 8 + 2))
    texture = np.kron(coarse, np.ones((8, 8)))[:HEIGHT].astype(np.uint8)
    mask = _shape_mask(kind, size)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".mp4")
    os.close(fd)
    try:
        with av.open(tmp, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=FPS)
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            # one encoder thread: x264 picks its thread count from the cores it may use, and the count changes the bytes
            stream.options = {"preset": "veryfast", "crf": "20", "g": str(8 * FPS), "threads": "1"}
            for i in range(n_frames):
                grey = texture[:, i : i + WIDTH]
                image = np.repeat(grey[:, :, None], 3, axis=2)
                if first <= i < first + visible:
                    image[top : top + size, left : left + size][mask] = COLOURS[colour]
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {
        "colour": colour,
        "shape": kind,
        "duration": n_frames / FPS,
        "interval": [first / FPS, (first + visible) / FPS],
        "distractors": [str(c) for c in rng.choice([c for c in COLOURS if c != colour], size=4, replace=False)],
        "answer_position": int(rng.integers(0, 5)),
    }


@benchmarks.register("needle")
class Needle(MultipleChoice):
    """Synthetic: which colour is the shape shown during 3% of the video (offline, for tests and the demo)."""

    spec = "needle"

    max_new_tokens = 16
    breakdowns = {"category": Breakdown("category")}  # the shape: square, disc or triangle

    def __init__(self, split: str = "test") -> None:
        if split not in SPLITS:
            raise RegistryError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
        self.split = split

    def load(self, options: DataOptions) -> list[Sample]:
        count = COUNT if options.limit is None else options.limit
        root = Path(options.cache_dir) / FOLDER / f"seed{options.seed}" / self.split
        damaged: list[str] = []
        try:
            samples = [self._sample(root, options.seed, i, damaged) for i in range(count)]
        except OSError as exc:  # read-only, full, or a file where a folder should be
            raise DataError(f"needle: cannot write the generated videos under {options.cache_dir} "
                            f"({exc.strerror or exc}: {exc.filename or root}); pass --cache-dir a writable folder") from None
        if damaged:
            log.warning("needle: regenerated %d sample(s) under %s whose cached files were damaged: %s",
                        len(damaged), root, "; ".join(damaged))
        return take(samples, options.limit)

    def _sample(self, root: Path, seed: int, i: int, damaged: list[str]) -> Sample:
        video, record = root / f"{i:05d}.mp4", root / f"{i:05d}.json"
        truth, problem = _cached_truth(video, record)
        if truth is None:
            if problem:
                damaged.append(problem)
            truth = write_video(video, np.random.default_rng([seed, SPLITS[self.split], i]))
            atomic_write_text(record, json.dumps(truth))  # last, so a record means its video is whole
        options = list(truth["distractors"])
        options.insert(truth["answer_position"], truth["colour"])
        start, end = truth["interval"]
        return Sample(
            dataset=self.spec,
            split=self.split,
            sample_id=f"{self.split}-{seed}-{i:05d}",
            video_id=f"{self.split}-{seed}-{i:05d}",
            videos=(video,),
            question=QUESTION,
            options=tuple(options),
            answer="ABCDE"[truth["answer_position"]],
            category=truth["shape"],
            interval=(start, end),
            evidence=((start, end - 1 / FPS),),  # the first and last frame showing the shape, ends included
        )


def _cached_truth(video: Path, record: Path) -> tuple[dict | None, str]:
    """The cached annotation of a generated sample, else None and what is wrong ("" when nothing was cached)."""
    if not record.exists():
        return None, ""
    try:
        truth = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: cut short (JSONDecodeError) or not UTF-8
        return None, f"{record.name} is unreadable ({exc})"
    missing = [key for key in TRUTH if key not in truth] if isinstance(truth, dict) else list(TRUTH)
    if missing:
        return None, f"{record.name} lacks {', '.join(missing)}"
    if not video.exists():
        return None, f"{video.name} is gone"
    return truth, ""
