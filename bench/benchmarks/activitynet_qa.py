"""ActivityNet-QA (test): open-ended questions, judged by an LLM for accuracy and a 0-5 score.

Annotations, two ways:
- the published files (MILVLG/activitynet-qa `dataset/test_q.json`, a list of `video_name,
  question, question_id`, and `test_a.json`, a list of `answer, type, question_id`, joined on
  `question_id`), found by name under `--data-root`;
- else lmms-eval's hub dataset `lmms-lab/ActivityNetQA` (now `lmms-eval/ActivityNetQA`), split
  `test`, fields `video_name, question_id, question, answer, type`; `hf=` names another id.
Videos: `v_<video_name>` with .mp4, .webm, .mkv or .MP4 (lmms-eval's order), then without the
`v_` prefix; found by file name.

Prompt (lmms-eval's `activitynetqa`): the question, first letter capitalised, then
    "{Question}? Answer the question using a single word or phrase."
Scoring: the Video-ChatGPT judge protocol (`bench.llm.judge`), model `judge_model`
(`--judge-model`, default gpt-4o-mini; lmms-eval now uses gpt-4o-2024-11-20, papers before
2025 gpt-3.5-turbo, so compare only rows judged by the same model). `correct` is the judge's
yes, `judge_score` its 0-5 score; accuracy = yes / judged, score = mean over judged rows. A
verdict that cannot be had is an error row `judge: <reason>`, never a "no" (lmms-eval counts
it as ("no", 0)). `category` is the question type by name: motion, spatial, temporal,
yes/no, color, object, location, number, other (codes 0-8 in the files).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.benchmarks import Breakdown
from bench.benchmarks.judged import JudgedAnswers
from bench.datafiles import DataError, DataFiles, Fields, distinct, read_hub, read_json, records, take, video_root
from bench.llm.judge import DEFAULT_MODEL
from bench.records import DataOptions, Outcome, Sample
from bench.registry import benchmarks

HUB, HUB_SPLIT = "lmms-eval/ActivityNetQA", "test"
TYPES = ("motion", "spatial", "temporal", "yes/no", "color", "object", "location", "number", "other")
INSTRUCTION = " Answer the question using a single word or phrase."


@benchmarks.register("activitynet-qa")
class ActivityNetQA(JudgedAnswers):
    """ActivityNet-QA test: open-ended questions, judged by an LLM (accuracy and a 0-5 score)."""

    spec = "activitynet-qa"

    max_new_tokens = 64
    open_ended = True
    metric = "accuracy"  # of the judge's yes; tables add the mean judge score because open_ended is set
    breakdowns = {"category": Breakdown("category")}

    def __init__(self, hf: str = "", judge_model: str = DEFAULT_MODEL, judge_timeout: float = 60.0, judge_retries: int = 3) -> None:
        self.set_judge(judge_model, judge_timeout, judge_retries)
        self.hf = hf

    def load(self, options: DataOptions) -> list[Sample]:
        self.use_cache(options.cache_dir)
        files = DataFiles(video_root(options.data_root, "activitynetqa"))
        questions = None if self.hf else files.find("test_q.json", hint="activitynet")
        if questions:
            answers = files.find("test_a.json", hint="activitynet")
            if not answers:
                raise DataError(f"activitynet-qa: {questions} is here but no test_a.json is under {files.root}")
            items = self._local(questions, answers)
        else:
            rows, source = read_hub("activitynet-qa", self.hf, HUB, None, HUB_SPLIT, f"no test_q.json under {files.root}")
            items = [(r, r) for r in distinct(records(rows, source), lambda r: r.ident("question_id"), "question_id")]
        return take([self._sample(question, answer, files) for question, answer in items], options.limit)

    @staticmethod
    def _local(questions_path: Path, answers_path: Path) -> list[tuple[Fields, Fields]]:
        """(question record, answer record) pairs joined on question_id, in the questions' order."""
        def question_id(record: Fields) -> str:
            return record.ident("question_id")

        answers = distinct(records(read_json(answers_path, list), str(answers_path)), question_id, "question_id")
        by_id = {question_id(a): a for a in answers}
        pairs = []
        for question in distinct(records(read_json(questions_path, list), str(questions_path)), question_id, "question_id"):
            qid = question.ident("question_id")
            if qid not in by_id:
                raise DataError(f"{question.where}: field 'question_id' {qid!r} has no record in {answers_path}")
            pairs.append((question, by_id[qid]))
        return pairs

    def _sample(self, question: Fields, answer: Fields, files: DataFiles) -> Sample:
        name, kind = question.ident("video_name"), answer.integer("type")
        if not 0 <= kind < len(TYPES):
            raise DataError(f"{answer.where}: field 'type' is {kind}, not a question type 0-8")
        return Sample(
            dataset=self.spec,
            split="test",
            sample_id=question.ident("question_id"),
            video_id=name,
            videos=files.videos([f"v_{name}", name]),
            question=question.text("question"),
            answer=answer.text("answer"),
            category=TYPES[kind],
        )

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        question = sample.question.strip()
        return f"{question[:1].upper()}{question[1:]}?{INSTRUCTION}"

    def parse(self, text: str, sample: Sample) -> str | None:
        """The answer is the reply itself; None when it is empty."""
        return text.strip() or None

    def score(self, sample: Sample, prediction: str) -> Outcome:
        """The judge's verdict; an error outcome (`correct` None) when none can be had."""
        return self.judged(sample, prediction)