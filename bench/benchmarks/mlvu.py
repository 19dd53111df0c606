"""MLVU: multiple-choice questions over long videos, seven task types on dev (nine on test); M-avg.

Annotations, two ways:
- the official release (`MLVU/json/<n>_<task>.json`, one file per task type: `1_plotQA`,
  `2_needle`, `3_ego`, `4_count`, `5_order`, `6_anomaly_reco`, `7_topic_reasoning`), each a
  list of `video, duration, question, candidates, answer` where `answer` is the right option's
  text; files found by name under `--data-root`, videos (`MLVU/video/<n>_<task>/<video>`) by
  file name, those in the task's own folder first. Sample ids are `<n>_<task>/<position>`.
- else the form lmms-eval loads (hub `sy1998/MLVU_dev`, split `test`; `split=test` reads
  `sy1998/MLVU_Test`; `hf=` names another id or a local folder): `video_name, duration,
  question` with the options already written under it as "(A) ..." lines, `candidates`,
  `answer` a letter, `task_type`, `question_id` (the sample id).
Both give `category` the task type as lmms-eval names it and `answer` the letter. The test
split has nine task types (adding sportsQA and tutorialQA) where its annotations hold them.

Prompt (lmms-eval's `mlvu_dev`): the question, its options as "(A) ..." lines, then
"Only give the best option.\\nBest option: (" — the reply continues after the open bracket.

Metric: M-avg, the plain mean of the per-task accuracies (not the mean over questions), with
its 95% interval from a bootstrap within each task (`metric = "category_mean"`).

Parsing: lmms-eval changed its MLVU parser in April 2026 (PR #1274, commit 9ca4445d). Before,
it took the character before the reply's first ")" and otherwise compared the whole reply
with the options; since, it uses its shared `extract_mcq_answer`, which ranks a letter at the
start or end, a phrase or "(X)", and falls back to any capital A-D in the reply. Scores from
before and after the change are not comparable. framebench reads replies with its one parser
(`choice.parse_choice`): like the newer lmms-eval it ranks explicit forms, and with this
prompt's prefill the usual "B) ..." reply reads the same under all three; unlike it, a reply
naming no option or several stays unparsed (counted wrong) instead of taking any capital.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.benchmarks import Breakdown
from bench.benchmarks.choice import MultipleChoice, unparsed_mode
from bench.datafiles import DataError, DataFiles, Fields, distinct, read_hub, read_json, records, take, video_root
from bench.options import LETTERS
from bench.records import DataOptions, Sample
from bench.registry import RegistryError, benchmarks

DEV_TASKS = ("plotQA", "needle", "ego", "count", "order", "anomaly_reco", "topic_reasoning")
TEST_TASKS = (*DEV_TASKS, "sportsQA", "tutorialQA")
FILES = tuple(f"{n}_{task}.json" for n, task in enumerate(DEV_TASKS, 1))  # the official dev release
HUB = {"dev": "sy1998/MLVU_dev", "test": "sy1998/MLVU_Test"}
HUB_SPLIT = "test"  # both hub datasets keep their rows in a split named test
INSTRUCTION = "Only give the best option.\nBest option: ("


@benchmarks.register("mlvu")
class MLVU(MultipleChoice):
    """MLVU dev (split=test: the test set): long-video multiple choice over task types, scored by M-avg."""

    spec = "mlvu"

    max_new_tokens = 16
    metric = "category_mean"
    breakdowns = {"category": Breakdown("category", order=TEST_TASKS)}

    def __init__(self, split: str = "dev", hf: str = "", unparsed: str = "wrong") -> None:
        if split not in HUB:
            raise RegistryError(f"mlvu: split must be one of {', '.join(HUB)}, not {split!r}")
        self.split, self.hf, self.unparsed = split, hf, unparsed_mode(unparsed)

    def load(self, options: DataOptions) -> list[Sample]:
        files = DataFiles(video_root(options.data_root, "mlvu" if self.split == "dev" else "mlvu_test"))
        found = [] if self.hf or self.split != "dev" else [(name, files.find(name, hint="mlvu")) for name in FILES]
        if any(path for _, path in found):
            samples = [self._official(record, name, i, files) for name, path in found if path
                       for i, record in enumerate(records(read_json(path, list), str(path)))]
        else:
            missing = f"no {', '.join(FILES)} under {files.root}" if self.split == "dev" else "split=test is read from the hub form"
            rows, source = read_hub("mlvu", self.hf, HUB[self.split], None, HUB_SPLIT, missing)
            samples = [self._lmms_eval(record, files) for record in distinct(records(rows, source), lambda r: r.ident("question_id"), "question_id")]
        return take(samples, options.limit)

    def _official(self, record: Fields, file: str, position: int, files: DataFiles) -> Sample:
        folder = Path(file).stem  # "1_plotQA"
        choices = tuple(record.strings("candidates"))
        answer = record.text("answer")
        if answer not in choices:
            raise DataError(f"{record.where}: field 'answer' is {answer!r}, not the text of one of its options {list(choices)}")
        video = Path(record.text("video")).stem
        return self._sample(f"{folder}/{position}", video, record.text("question"), choices, LETTERS[choices.index(answer)],
                            folder.partition("_")[2], _task_first(files.videos([video]), folder))

    def _lmms_eval(self, record: Fields, files: DataFiles) -> Sample:
        question, written = record.with_options("question")
        choices = tuple(record.strings("candidates"))
        if written != choices:
            raise DataError(f"{record.where}: the options under 'question' {list(written)} differ from 'candidates' {list(choices)}")
        answer = record.text("answer").strip()
        if answer not in LETTERS[: len(choices)]:
            raise DataError(f"{record.where}: field 'answer' is {answer!r}, not the letter of one of its {len(choices)} options")
        task = record.text("task_type")
        video = Path(record.text("video_name")).stem
        return self._sample(record.ident("question_id"), video, question, choices, answer, task, files.videos([video]))

    def _sample(self, sample_id: str, video: str, question: str, choices: tuple[str, ...], answer: str, task: str,
                videos: tuple[Path, ...]) -> Sample:
        return Sample(dataset=self.spec, split=self.split, sample_id=sample_id, video_id=video, videos=videos,
                      question=question, options=choices, answer=answer, category=task)

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        lines = "\n".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(sample.options))
        return f"{sample.question}\n{lines}\n{INSTRUCTION}"


def _task_first(paths: tuple[Path, ...], folder: str) -> tuple[Path, ...]:
    """The video files found, those in the task's own folder (`video/1_plotQA/`) first: tasks reuse file names."""
    return tuple(sorted(paths, key=lambda p: folder not in p.parts))

