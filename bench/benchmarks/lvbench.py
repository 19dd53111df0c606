"""LVBench: multiple-choice questions over hour-long videos, each with the time of its evidence.

Annotations, two ways:
- the official `video_info.meta.jsonl`, found by name under `--data-root`: one line per video,
  `key, type, video_info, qa`, each `qa` item `uid, question` (its options written under it as
  "(A) ..." lines), `answer` (a letter), `question_type` (a list: a question may have several)
  and `time_reference` ("HH:MM:SS-HH:MM:SS", where the answer can be seen);
- else the hub dataset lmms-eval loads, `lmms-eval/LVBench`, split `train` (`hf=` names
  another id or a local folder): a row per question with the same fields and the video as
  `key` or `video_path`.
Videos: `<key>.mp4`, found by file name under `--data-root`. `sample_id` is the question's
`uid`, `video_id` the video's key.

Prompt (lmms-eval's `lvbench` YAML): the question, its options as "(A) ..." lines, then
"Answer the question with the option letter" (the YAML has no full stop).

Metric: accuracy, overall and by question type (`bench table --by question_type`), where a
question counts in every type it lists, as the official `compute_accuracy.py` counts it
(`category` holds its types joined by "; "; "all" counts it once). Its evidence
(`time_reference`) gives each row `evidence_hit`, so `--backbone none` compares selectors
without an answering model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from bench.benchmarks import Breakdown
from bench.benchmarks.choice import MultipleChoice, unparsed_mode
from bench.datafiles import DataError, DataFiles, Fields, distinct, read_hub, read_text, records, take, video_root
from bench.options import LETTERS
from bench.records import DataOptions, Sample
from bench.registry import benchmarks

ANNOTATIONS = "video_info.meta.jsonl"
HUB, HUB_SPLIT = "lmms-eval/LVBench", "train"
INSTRUCTION = "Answer the question with the option letter"
TYPES = "; "  # joins a question's types in `category`
_CLOCK = re.compile(r"^\s*(\d+(?::\d{1,2}){1,2}(?:\.\d+)?)\s*-\s*(\d+(?::\d{1,2}){1,2}(?:\.\d+)?)\s*$")


@benchmarks.register("lvbench")
class LVBench(MultipleChoice):
    """LVBench: hour-long videos, questions of six capability types, each with its evidence's time range."""

    spec = "lvbench"

    max_new_tokens = 16
    breakdowns = {"question_type": Breakdown("category", separator=TYPES), "category": Breakdown("category", separator=TYPES)}

    def __init__(self, hf: str = "", unparsed: str = "wrong") -> None:
        self.hf, self.unparsed = hf, unparsed_mode(unparsed)

    def load(self, options: DataOptions) -> list[Sample]:
        files = DataFiles(video_root(options.data_root, "lvbench"))
        local = None if self.hf else files.find(ANNOTATIONS)
        if local:
            found = [(question, video.ident("key")) for video in _lines(local) for question in _questions(video)]
        else:
            rows, source = read_hub("lvbench", self.hf, HUB, None, HUB_SPLIT, f"no {ANNOTATIONS} under {files.root}")
            found = [(record, _video_key(record)) for record in records(rows, source)]
        distinct([question for question, _ in found], lambda r: r.ident("uid"), "uid")
        return take([self._sample(question, key, files) for question, key in found], options.limit)

    def _sample(self, record: Fields, key: str, files: DataFiles) -> Sample:
        question, choices = record.with_options("question")
        answer = record.text("answer").strip().strip("()")
        if answer not in LETTERS[: len(choices)]:
            raise DataError(f"{record.where}: field 'answer' is {record.text('answer')!r}, not the letter of one of its {len(choices)} options")
        types = record.strings("question_type")
        return Sample(dataset=self.spec, split="test", sample_id=record.ident("uid"), video_id=key, videos=files.videos([key]),
                      question=question, options=choices, answer=answer, category=TYPES.join(types), evidence=_evidence(record))

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        lines = "\n".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(sample.options))
        return f"{sample.question}\n{lines}\n{INSTRUCTION}"


def _lines(path: Path) -> list[Fields]:
    """One record per video line of `video_info.meta.jsonl`, named by its line."""
    found = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if line.strip():
            try:
                found.append(Fields(json.loads(line), str(path), f"line {number}"))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number}: not valid JSON at column {exc.colno}: {exc.msg}") from None
    return found


def _questions(video: Fields) -> list[Fields]:
    """A video line's `qa` items, each named by the line and its place in `qa`."""
    items = video.record.get("qa")
    if not isinstance(items, list) or not items:
        raise DataError(f"{video.where}: field 'qa' should be a non-empty list of questions")
    return [Fields(item, video.source, f"{video.place} qa {i}") for i, item in enumerate(items)]


def _video_key(record: Fields) -> str:
    return record.ident("key") if record.has("key") else Path(record.text("video_path")).stem


def _evidence(record: Fields) -> tuple[tuple[float, float], ...]:
    """`time_reference` "HH:MM:SS-HH:MM:SS" as ((start s, end s),); () where the record has none."""
    if not record.has("time_reference") or record.record["time_reference"] in (None, ""):
        return ()
    found = _CLOCK.match(record.text("time_reference"))
    start, end = (_seconds(t) for t in found.groups()) if found else (0.0, -1.0)
    if not found or start > end:
        raise DataError(f"{record.where}: field 'time_reference' should be 'HH:MM:SS-HH:MM:SS' with start <= end, "
                        f"got {record.record['time_reference']!r}")
    return ((start, end),)


def _seconds(clock: str) -> float:
    """'01:02:03' (or '02:03') in seconds."""
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total
