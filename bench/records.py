"""The frozen records every stage passes on: Sample -> Candidates -> Query -> scores -> Reply -> Outcome -> Row.

Each stage makes a new record; nothing is mutated as it travels. Arrays carry their shape and
dtype in the field comment.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class Sample:
    """One question about one video, as a benchmark loads it."""

    dataset: str  # canonical dataset spec, e.g. "needle:split=test"
    split: str
    sample_id: str
    video_id: str
    videos: tuple[Path, ...]  # paths to try in order; the first that exists is decoded
    question: str
    options: tuple[str, ...] = ()  # option texts without letters; () when open-ended
    answer: str = ""  # option letter, or the reference answer when open-ended
    category: str = ""
    duration_group: str = ""
    interval: tuple[float, float] | None = None  # seconds [start, end) where the needle shows
    subtitles: Path | None = None  # Video-MME's .srt for this video, when the spec asks for subtitles and one exists
    domain: str = ""  # a further breakdown: Video-MME's domain, LongVideoBench's topic category
    category_group: str = ""  # NExT-QA's causal, temporal or descriptive (the group of its type code)
    sub_category: str = ""  # Video-MME's sub-category (30 of them, e.g. "Humanity & History")
    evidence: tuple[tuple[float, float], ...] = ()  # seconds [start, end], ends included, where the answer can be seen; () when unknown


@dataclass(frozen=True, slots=True)
class DataOptions:
    """What `bench run` tells a benchmark's loader."""

    cache_dir: Path  # where generated data (needle) and decoded frames live
    data_root: Path | None = None  # where the user unpacked annotations and videos
    seed: int = 0
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class VideoMeta:
    """What the container holds, read by demuxing (not from header counts alone)."""

    path: Path
    duration_s: float
    fps: float
    n_frames: int  # frames the stream actually holds
    width: int
    height: int


@dataclass(frozen=True, slots=True, eq=False)
class Candidates:
    """The N frames decoded uniformly over a video, indexed 0..N-1 in time."""

    frames: np.ndarray  # uint8 (N, H, W, 3), RGB, time order
    times: np.ndarray  # float64 (N,), seconds of each decoded frame
    key: str  # content key of (video bytes, N, size, seek, cache format); also the cache key
    meta: VideoMeta
    seek: str  # "exact" or "keyframe"
    decoder: str  # "pyav", "decord" or "torchcodec": the one actually used
    decode_s: float  # seconds the decode took when these frames were decoded
    cached: bool  # loaded from the frame cache, nothing decoded


@dataclass(frozen=True, slots=True, eq=False)
class Query:
    """What a selector may use to score one sample's candidates: everything but the ground truth.

    Built by `bench.selectors.query_for`, the one place that decides whether a selector sees the
    `Sample` itself. Compared by identity, like the candidates whose arrays it holds.
    """

    candidates: Candidates
    """The N decoded frames, their times, their content key and the video's metadata."""

    question: str
    """The question as the benchmark asks it, without the options."""

    options: tuple[str, ...]
    """Option texts without letters, in order; () when open-ended."""

    duration_s: float
    """The video's duration in seconds, as demuxing measured it (`candidates.meta.duration_s`)."""

    sample_id: str
    """The sample's id: for log messages and per-sample seeding only."""

    dataset: str
    """The canonical dataset spec: for log messages and per-sample seeding only."""

    truth: Sample | None = None
    """The whole sample, answer and interval included; None unless the selector declares `needs_truth`."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A backbone's answer to one prompt."""

    text: str  # raw generated text, kept as is in the CSV's `prediction`
    n_visual_tokens: int | None = 0  # None: unknown (a server counts images inside prompt_tokens)
    t_preprocess_s: float | None = None  # seconds of processor work inside the answer (the rest is generate)
    prompt_tokens: int | None = None  # as a remote server counted them; None in process
    completion_tokens: int | None = None
    remote: bool = False  # answered by a server: this process's memory means nothing for it


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one prediction."""

    correct: bool | None  # None when it could not be decided (see error)
    parsed: str = ""  # the parsed answer (option letter); "" when nothing parsed
    judge_score: float | None = None
    parse_ok: bool = True
    error: str = ""  # "" or e.g. "judge: timeout after 3 tries"
    judge_model: str = ""  # the LLM that judged an open-ended answer; "" when none did


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a results CSV: one (cell, sample). Columns are only ever added."""

    dataset: str
    split: str
    sample_id: str
    video_id: str
    question: str
    category: str
    duration_group: str
    selector: str
    backbone: str
    frames: int
    candidates: int
    selected: str  # chosen candidate indices, space-separated, ascending
    prediction: str
    answer: str
    correct: bool | None
    judge_score: float | None
    parse_ok: bool | None
    error: str
    t_decode_s: float | None
    t_select_s: float | None
    t_answer_s: float | None
    peak_mem_mb: float | None
    device: str
    run_id: str
    parsed: str = ""
    n_visual_tokens: int | None = None
    seek: str = ""
    decoder: str = ""
    frame_size: int | None = None
    selected_times: str = ""  # seconds of the selected frames, space-separated
    written_at: str = ""  # ISO time the row was written
    t_preprocess_s: float | None = None  # the processor's share of t_answer_s
    judge_model: str = ""
    domain: str = ""
    category_group: str = ""
    options: str = ""  # the option texts as a JSON list ("[]" when open-ended), so rescore needs no data files
    sub_category: str = ""  # Video-MME's sub-category (one of 30); "" for the other benchmarks
    prompt_tokens: int | None = None  # remote backbones: tokens the server counted in the request
    completion_tokens: int | None = None  # remote backbones: tokens the server generated
    n_scored: int | None = None  # candidates the selector scored (N, fewer for focus and dig, 0 for uniform); None: not known
    cache_format: str = ""  # how the frame cache stored the candidates: "raw" or "jpeg:quality=Q"
    evidence_hit: bool | None = None  # a selected frame's time lies in one of the sample's evidence intervals; None: it has none


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Row))
