"""Video-MME: four-option questions over short, medium and long videos, with or without subtitles.

Annotations, two ways:
- the published parquet `videomme/test-00000-of-00001.parquet` (`video_id, duration, domain,
  sub_category, videoID, question_id, task_type, question, options` lettered "A. ...", `answer`),
  found by name under `--data-root` (in a folder named videomme where several share the name);
- else lmms-eval's hub dataset `lmms-lab/Video-MME` (now `lmms-eval/Video-MME`), config
  `videomme`, split `test`; `hf=` names another id.
Videos: `data/<videoID>.mp4`; subtitles `subtitle/<videoID>.srt`; both found by file name.

Prompts: the Video-MME authors' two templates, which lmms-eval quotes:
    frames:            "Select the best answer to the following multiple-choice question based on the video.
                        Respond with only the letter (A, B, C, or D) of the correct option.\\n{question}\\nA. ...\\nD. ...\\nThe best answer is:"
    subtitles=true:    "This video's subtitles are listed below: \\n{subtitle lines}\\nSelect the best answer to the following
                        multiple-choice question based on the video and the subtitles. Respond with only the letter
                        (A, B, C, or D) of the correct option.\\n{question}\\nA. ...\\nD. ...\\nThe best answer is:"
(each a single line). lmms-eval's no-subtitle default departs from the authors' (it keeps
"and the subtitles" and ends with "Answer with the option's letter..."); it also picks
subtitles at 32 uniform frames whatever the backbone sees, where here they follow the frames
the selector chose.

Subtitles: the published .srt files wrap each cue's text in markup
(`<font color="white" size=".72c">...</font>`). A cue is a block between blank lines holding a
`hh:mm:ss,mmm --> hh:mm:ss,mmm` line (a dot before the milliseconds is read too); its text is
what follows that line with every `<...>` tag removed, its lines joined by single spaces.
Cues left empty are dropped. The prompt lists, one a line and in time order, each cue shown
at the time of any frame the backbone is given (start <= t < end), once however many frames
fall in it. A video without a subtitle file gets "No subtitles available", as in lmms-eval.
A block without a timing line stops the load with a DataError naming the file and the cue;
bytes that are not UTF-8 are read as U+FFFD rather than stopping the run.

Unparsed replies: lmms-eval scores a Video-MME reply it cannot parse as wrong (its parser
returns ""), so here the default `unparsed=wrong` is lmms-eval parity and `--unparsed random`
is not: it departs from lmms-eval for this benchmark alone (for NExT-QA, LongVideoBench and
EgoSchema, lmms-eval draws a random letter and `random` is the parity setting).

Columns: `duration_group` short/medium/long; `category` the task type (12); `sub_category`
the sub-category (30, e.g. "Humanity & History"); `domain` the domain (6). Metric: accuracy,
by duration, domain, sub-category and task type (lmms-eval's breakdowns; `bench table --by
sub_category`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.benchmarks import Breakdown
from bench.benchmarks.choice import MultipleChoice, unparsed_mode
from bench.datafiles import DataError, DataFiles, Fields, distinct, read_hub, read_parquet, records, take, video_root
from bench.options import LETTERS, format_options
from bench.records import DataOptions, Sample
from bench.registry import benchmarks

HUB, HUB_CONFIG, HUB_SPLIT = "lmms-eval/Video-MME", "videomme", "test"
ANNOTATIONS = "test-00000-of-00001.parquet"
DURATIONS = ("short", "medium", "long")
TASK = "Respond with only the letter (A, B, C, or D) of the correct option."
FRAMES = f"Select the best answer to the following multiple-choice question based on the video. {TASK}"
SUBTITLED = f"Select the best answer to the following multiple-choice question based on the video and the subtitles. {TASK}"
SUBTITLES_HEAD = "This video's subtitles are listed below: \n"
NO_SUBTITLES = "No subtitles available"
END = "The best answer is:"
_TIME = re.compile(r"(\d+):(\d+):(\d+)[,.](\d+)\s*-->\s*(\d+):(\d+):(\d+)[,.](\d+)")


@benchmarks.register("videomme")
class VideoMME(MultipleChoice):
    """Video-MME: four-option questions over short, medium and long videos; subtitles=true adds the subtitles."""

    spec = "videomme"

    max_new_tokens = 16
    breakdowns = {
        "category": Breakdown("category"),
        "duration": Breakdown("duration_group", order=DURATIONS),
        "domain": Breakdown("domain"),
        "sub_category": Breakdown("sub_category"),
    }

    def __init__(self, subtitles: bool = False, hf: str = "", unparsed: str = "wrong") -> None:
        self.subtitles, self.hf, self.unparsed = subtitles, hf, unparsed_mode(unparsed)

    def load(self, options: DataOptions) -> list[Sample]:
        files = DataFiles(video_root(options.data_root, "videomme"))
        local = None if self.hf else files.find(ANNOTATIONS, hint="videomme")
        if local:
            rows, source = read_parquet(local), str(local)
        else:
            rows, source = read_hub("videomme", self.hf, HUB, HUB_CONFIG, HUB_SPLIT, f"no {ANNOTATIONS} under {files.root}")
        found = distinct(records(rows, source), lambda r: r.ident("question_id"), "question_id")
        samples = take([self._sample(record, files) for record in found], options.limit)
        for path in {s.subtitles for s in samples if s.subtitles}:
            cues(path)  # a malformed subtitle file stops the run here, not in the middle of answering
        return samples

    def _sample(self, record: Fields, files: DataFiles) -> Sample:
        video, duration = record.text("videoID"), record.text("duration")
        if duration not in DURATIONS:
            raise DataError(f"{record.where}: field 'duration' is {duration!r}, not one of {', '.join(DURATIONS)}")
        answer = record.text("answer")
        choices = record.lettered("options")
        if len(answer) != 1 or answer not in LETTERS[: len(choices)]:
            raise DataError(f"{record.where}: field 'answer' is {answer!r}, not the letter of one of its {len(choices)} options")
        return Sample(
            dataset=self.spec,
            split="test",
            sample_id=record.ident("question_id"),
            video_id=video,
            videos=files.videos([video]),
            question=record.text("question"),
            options=choices,
            answer=answer,
            category=record.text("task_type"),
            duration_group=duration,
            domain=record.text("domain"),
            sub_category=record.text("sub_category"),
            subtitles=files.find(f"{video}.srt") if self.subtitles else None,
        )

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        body = f"{sample.question}\n{format_options(sample.options)}\n{END}"
        if not self.subtitles:
            return f"{FRAMES}\n{body}"
        lines = "\n".join(subtitle_lines(cues(sample.subtitles), times)) if sample.subtitles else NO_SUBTITLES
        return f"{SUBTITLES_HEAD}{lines}\n{SUBTITLED}\n{body}"


@lru_cache(maxsize=256)
def cues(path: Path) -> tuple[tuple[float, float, str], ...]:
    """(start s, end s, text) of every cue of an .srt file, markup removed; DataError naming the cue when malformed."""
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace").replace("\r\n", "\n")
    found = []
    for number, block in enumerate(b for b in re.split(r"\n\s*\n", text) if b.strip()):
        timing = _TIME.search(block)
        if not timing:
            raise DataError(f"{path}: cue {number + 1} ({block.strip()[:40]!r}): no 'hh:mm:ss,mmm --> hh:mm:ss,mmm' line")
        h, m, s, ms, h2, m2, s2, ms2 = map(int, timing.groups())
        words = re.sub(r"<[^>]+>", "", block[timing.end():]).split()
        found.append((h * 3600 + m * 60 + s + ms / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000, " ".join(words)))
    return tuple(sorted(found))


def subtitle_lines(timed: tuple[tuple[float, float, str], ...], times: np.ndarray) -> list[str]:
    """The text of each cue of `timed` shown at any of `times` (seconds), in time order."""
    return [text for start, end, text in timed if text and any(start <= t < end for t in times)]
