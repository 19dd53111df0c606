"""LongVideoBench (validation): referring questions over videos of 8 s to an hour, 3-5 options.

Annotations, two ways:
- the published `lvb_val.json` (a list of `id, video_id, video_path, question, candidates,
  correct_choice, duration_group, question_category, topic_category, ...`), found by name under
  `--data-root`;
- else the hub dataset `longvideobench/LongVideoBench` (gated; the one lmms-eval loads), split
  `validation`, whose options are flat `option0..option4` padded with "N/A"; `hf=` names another id.
Videos: `video_path` (`<video_id>.mp4`), found by file name. The test split's answers are
hidden, so only validation is offered.

Prompt (lmms-eval's `longvideobench_val_v`):
    "{question}\\nA. {option 0}\\n...\\nAnswer with the option's letter from the given choices directly.\\n"
Columns: `duration_group` is the published bucket in seconds (15, 60, 600, 3600);
`category` the question category (S2E, T3O, ...); `domain` the topic category.
Metric: accuracy, overall and per duration group and question category (lmms-eval's `lvb_acc`).
"""

from __future__ import annotations

from pathlib import Path

from bench.benchmarks import Breakdown
from bench.benchmarks.choice import INSTRUCTION, MultipleChoice, unparsed_mode
from bench.datafiles import DataError, DataFiles, Fields, distinct, read_hub, read_json, records, take, video_root
from bench.options import LETTERS
from bench.records import DataOptions, Sample
from bench.registry import benchmarks

HUB, HUB_SPLIT, ANNOTATIONS = "longvideobench/LongVideoBench", "validation", "lvb_val.json"
PADDING = "N/A"  # what the hub's flat option columns hold past a question's last option


@benchmarks.register("longvideobench")
class LongVideoBench(MultipleChoice):
    """LongVideoBench validation: referring questions over long videos, by duration group and category."""

    spec = "longvideobench"

    instruction = INSTRUCTION + "\n"  # lmms-eval's post_prompt ends with a newline
    max_new_tokens = 32
    breakdowns = {  # duration groups are seconds, so they print by value: 15, 60, 600, 3600
        "category": Breakdown("category"),
        "duration": Breakdown("duration_group"),
        "domain": Breakdown("domain"),
    }

    def __init__(self, hf: str = "", unparsed: str = "wrong") -> None:
        self.hf, self.unparsed = hf, unparsed_mode(unparsed)

    def load(self, options: DataOptions) -> list[Sample]:
        files = DataFiles(video_root(options.data_root, "datasets/longvideobench"))
        local = None if self.hf else files.find(ANNOTATIONS)
        if local:
            rows, source = read_json(local, list), str(local)
        else:
            rows, source = read_hub("longvideobench", self.hf, HUB, None, HUB_SPLIT, f"no {ANNOTATIONS} under {files.root}")
        found = distinct(records(rows, source), lambda r: r.ident("id"), "id")
        return take([self._sample(record, files) for record in found], options.limit)

    def _sample(self, record: Fields, files: DataFiles) -> Sample:
        if record.has("candidates"):
            choices = tuple(record.strings("candidates"))
        else:
            flat = [record.text(f"option{i}") for i in range(5)]
            choices = tuple(flat[: flat.index(PADDING)] if PADDING in flat else flat)
        answer = record.integer("correct_choice")
        if not 0 <= answer < len(choices):
            raise DataError(f"{record.where}: field 'correct_choice' is {answer}, not an index of its {len(choices)} options")
        return Sample(
            dataset=self.spec,
            split="val",
            sample_id=record.ident("id"),
            video_id=record.ident("video_id"),
            videos=files.videos([Path(record.text("video_path")).stem]),
            question=record.text("question"),
            options=choices,
            answer=LETTERS[answer],
            category=record.text("question_category"),
            duration_group=str(record.integer("duration_group")),
            domain=record.text("topic_category"),
        )

