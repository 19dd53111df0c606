"""EgoSchema: five-option questions about three-minute egocentric clips.

Splits: `subset` (default), the 500 questions whose answers are public, scored here; `full`,
all 5,031, whose answers are hidden: rows carry the parsed letter with `correct` empty, and
`bench submission` writes the `{q_uid: option index}` JSON that EgoSchema's validation server
takes (framebench uploads nothing).

Annotations, two ways:
- the published files (egoschema/EgoSchema `questions.json`, a list of `q_uid, question,
  option 0..option 4`, and `subset_answers.json`, `{q_uid: 0..4}`), found by name under
  `--data-root`;
- else lmms-eval's hub dataset `lmms-lab/egoschema` (now `lmms-eval/egoschema`), config
  `Subset` or `MC` (the full set), split `test`, fields `video_idx, question, option`
  (lettered), `answer` ("0".."4", null in `MC`); `hf=` names another id.
Videos: `<q_uid>.mp4`, found by file name.

Prompt (lmms-eval's `egoschema`, whose post-prompt is forced whenever options exist):
    "{question}\\nA. {option 0}\\n...\\nE. {option 4}\\nAnswer with the option's letter from the given choices directly."
Metric: accuracy on the subset (lmms-eval's `score`); the full set is scored by the server.
No breakdowns: the questions carry no category.

Parsing: the shared parser (`choice.parse_choice`), told that "C" names the camera wearer, as
the questions and options do ("what is C doing?"): a reply "C is cutting the onion, so..."
is not read as option C, while "C", "(C)", "C is correct" and "the answer is C" still are.
An unparsed reply is wrong by default; `--unparsed random` is lmms-eval parity here
(lmms-eval draws a random letter for EgoSchema).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from bench.benchmarks.choice import MultipleChoice, unparsed_mode
from bench.datafiles import DataError, DataFiles, Fields, distinct, read_hub, read_json, records, take, video_root
from bench.options import LETTERS
from bench.records import DataOptions, Sample
from bench.registry import RegistryError, benchmarks

log = logging.getLogger(__name__)

HUB, HUB_CONFIGS = "lmms-eval/egoschema", {"subset": "Subset", "full": "MC"}


@benchmarks.register("egoschema")
class EgoSchema(MultipleChoice):
    """EgoSchema: the 500-question subset with public answers, or the full set for its evaluation server."""

    spec = "egoschema"

    max_new_tokens = 16
    people = "C"  # the camera wearer: "C is cutting the onion" does not answer C

    def __init__(self, split: str = "subset", hf: str = "", unparsed: str = "wrong") -> None:
        if split not in HUB_CONFIGS:
            raise RegistryError(f"split must be one of {', '.join(HUB_CONFIGS)}, not {split!r}")
        self.split, self.hf, self.unparsed = split, hf, unparsed_mode(unparsed)

    def load(self, options: DataOptions) -> list[Sample]:
        files = DataFiles(video_root(options.data_root, "egoschema"))
        questions = None if self.hf else files.find("questions.json", hint="egoschema")
        if questions:
            answers = files.find("subset_answers.json", hint="egoschema") if self.split == "subset" else None
            if self.split == "subset" and not answers:
                raise DataError(f"egoschema: {questions} is here but no subset_answers.json is under {files.root}")
            items = self._local(questions, answers)
        else:
            rows, source = read_hub("egoschema", self.hf, HUB, HUB_CONFIGS[self.split], "test", f"no questions.json under {files.root}")
            items = [(r.ident("video_idx"), r.text("question"), r.lettered("option"), self._hub_answer(r))
                     for r in distinct(records(rows, source), lambda r: r.ident("video_idx"), "video_idx")]
        return take([self._sample(uid, question, choices, answer, files) for uid, question, choices, answer in items], options.limit)

    def _local(self, questions_path: Path, answers_path: Path | None) -> list[tuple[str, str, tuple[str, ...], str]]:
        """(q_uid, question, options, answer letter or "") from the published files."""
        found = distinct(records(read_json(questions_path, list), str(questions_path)), lambda r: r.text("q_uid"), "q_uid")
        items = [(r.text("q_uid"), r.text("question"), tuple(r.text(f"option {i}") for i in range(5))) for r in found]
        if answers_path is None:  # the full set: answers hidden
            return [(uid, question, choices, "") for uid, question, choices in items]
        answers = self._answers(answers_path)
        kept = [(uid, question, choices, answers[uid]) for uid, question, choices in items if uid in answers]
        if not kept:
            raise DataError(f"{answers_path}: none of the {len(items)} questions in {questions_path} has an answer here")
        if len(kept) < len(answers):
            log.warning("egoschema: %d of the %d answered questions are not in %s", len(answers) - len(kept), len(answers), questions_path)
        return kept

    @staticmethod
    def _answers(path: Path) -> dict[str, str]:
        """{q_uid: letter} from subset_answers.json."""
        letters = {}
        for uid, index in read_json(path, dict).items():
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 5:
                raise DataError(f"{path}: record {uid!r}: field 'answer' should be an integer 0-4, got {index!r:.40}")
            letters[uid] = LETTERS[index]
        return letters

    def _hub_answer(self, record: Fields) -> str:
        if self.split == "full":
            return ""  # hidden: null on the hub
        index = record.integer("answer")
        if not 0 <= index < 5:
            raise DataError(f"{record.where}: field 'answer' is {index}, not an option index 0-4")
        return LETTERS[index]

    def _sample(self, uid: str, question: str, choices: tuple[str, ...], answer: str, files: DataFiles) -> Sample:
        return Sample(
            dataset=self.spec,
            split=self.split,
            sample_id=uid,
            video_id=uid,
            videos=files.videos([uid]),
            question=question,
            options=choices,
            answer=answer,
        )



def submission(sample_ids: Iterable[str], parsed: Iterable[str]) -> dict[str, int]:
    """The `{q_uid: option index}` EgoSchema's server scores; an unparsed reply ("") is -1, which it counts wrong."""
    return {uid: LETTERS.index(letter) if letter else -1 for uid, letter in zip(sample_ids, parsed)}
