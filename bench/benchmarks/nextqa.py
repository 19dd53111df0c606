"""NExT-QA multiple choice: five options about causal, temporal and descriptive events.

Annotations, two ways:
- the published CSVs (doc-doc/NExT-QA `dataset/nextqa/val.csv`, `test.csv`; columns
  `video, frame_count, width, height, question, answer, qid, type, a0..a4`, `answer` the index
  of the right `aK`), found by name under `--data-root` (next to `map_vid_vidorID.json` where
  several files share the name);
- else lmms-eval's hub dataset `lmms-lab/NExTQA` (now `lmms-eval/NExTQA`), config `MC`, which
  holds the test split only; `hf=` names another id.
Videos: `NExTVideo/<folder>/<video>.mp4` as published, found by file name.

Prompt (lmms-eval's `nextqa_mc` template, plus an instruction):
    "{question}\\nA. {a0}\\nB. {a1}\\nC. {a2}\\nD. {a3}\\nE. {a4}\\nAnswer with the option's letter from the given choices directly."
lmms-eval gives no instruction here; without one, chat backbones answer in sentences and the
score measures the parser as much as the frames. The instruction is the one lmms-eval uses
for EgoSchema and LongVideoBench. The seed paper reads the answer after a prefilled "Option";
that belongs to a backbone's generation, which framebench keeps the same across benchmarks.

Columns: `category` is the published type code (CW CH TN TC TP DB DC DL DO; TP is kept, not
merged into TN as `eval_mc.py` does); `category_group` is causal (C*), temporal (T*) or
descriptive (D*), the paper's Acc@C / Acc@T / Acc@D. `bench table --by category` reports the
codes by their group, in that order, so CSVs written before `category_group` existed break
down the same way. Metric: accuracy over the options.
"""

from __future__ import annotations

from bench.benchmarks import Breakdown
from bench.benchmarks.choice import MultipleChoice, unparsed_mode
from bench.datafiles import DataError, DataFiles, Fields, distinct, read_csv, read_hub, records, take, video_root
from bench.options import LETTERS
from bench.records import DataOptions, Sample
from bench.registry import RegistryError, benchmarks

HUB, HUB_CONFIG, HUB_SPLITS = "lmms-eval/NExTQA", "MC", ("test",)
SPLITS = ("val", "test")
GROUPS = {"CW": "causal", "CH": "causal", "TN": "temporal", "TC": "temporal", "TP": "temporal",
          "DB": "descriptive", "DC": "descriptive", "DL": "descriptive", "DO": "descriptive"}
ORDER = ("causal", "temporal", "descriptive")  # as the paper's Acc@C, Acc@T, Acc@D print


@benchmarks.register("nextqa")
class NextQA(MultipleChoice):
    """NExT-QA multiple choice (val or test): why/how, before/after, count/location questions."""

    spec = "nextqa"

    max_new_tokens = 32
    breakdowns = {
        "category": Breakdown("category", tuple(GROUPS.items()), ORDER),  # type codes, reported by their group
        "category_group": Breakdown("category_group", order=ORDER),
    }

    def __init__(self, split: str = "val", hf: str = "", unparsed: str = "wrong") -> None:
        if split not in SPLITS:
            raise RegistryError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
        self.split, self.hf, self.unparsed = split, hf, unparsed_mode(unparsed)

    def load(self, options: DataOptions) -> list[Sample]:
        files = DataFiles(video_root(options.data_root, "nextqa"))
        local = None if self.hf else files.find(f"{self.split}.csv", hint="nextqa")
        if local:
            found = read_csv(local)
        else:
            missing = f"no {self.split}.csv under {files.root}"
            if self.split not in HUB_SPLITS and not self.hf:
                raise DataError(f"nextqa: {missing}, and the hub's multiple-choice NExT-QA ({HUB}) has no {self.split} split")
            found = records(*read_hub("nextqa", self.hf, HUB, HUB_CONFIG, self.split, missing))
        found = distinct(found, lambda r: f"{r.ident('video')}_{r.ident('qid')}", "video and qid")
        return take([self._sample(record, files) for record in found], options.limit)

    def _sample(self, record: Fields, files: DataFiles) -> Sample:
        video, kind = record.ident("video"), record.text("type")
        choices = tuple(record.text(f"a{i}") for i in range(5))
        answer = record.integer("answer")
        if not 0 <= answer < len(choices):
            raise DataError(f"{record.where}: field 'answer' is {answer}, not an option index 0-4")
        if kind not in GROUPS:
            raise DataError(f"{record.where}: field 'type' is {kind!r}, not one of {', '.join(GROUPS)}")
        return Sample(
            dataset=self.spec,
            split=self.split,
            sample_id=f"{video}_{record.ident('qid')}",
            video_id=video,
            videos=files.videos([video]),
            question=record.text("question"),
            options=choices,
            answer=LETTERS[answer],
            category=kind,
            category_group=GROUPS[kind],
        )

