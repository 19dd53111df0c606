"""jsonl: your own videos and questions, from a JSONL, CSV or Parquet file (`jsonl:path=FILE`).

One record per question:
- `video` (required): an absolute path, or one relative to the file's folder, else to
  `--data-root`, else a file of that name anywhere under `--data-root`;
- `question` (required);
- `options` (optional): the option texts, without letters (at most 10). With options the
  question is multiple choice, lettered, prompted and parsed like every other benchmark's
  (`choice.parse_choice`); without, it is open-ended;
- `answer` (optional): with options, a letter ("B") or the text of one option; without,
  free text, judged like ActivityNet-QA (`bench.llm.judge`, `judge_model=`). Left out, the answer
  is hidden: rows get `correct` empty, as EgoSchema's full set does;
- `id` (optional, a string or an integer; default the record's position, counting from 1),
  `category` and `duration_group` (optional; `bench table --by category` / `--by duration`);
- `evidence` (optional): where the answer can be seen, `[[start, end], ...]` in seconds, ends
  included; rows then record `evidence_hit` (`bench table --kind evidence`).
In a CSV, `options` and `evidence` are JSON lists in one cell (`["red", "blue"]`) and an empty
cell is a field left out. A field whose name is close to one of these ("option", "quesiton") is an
error, since it would otherwise be ignored; other fields are ignored, so a file may carry
metadata of its own.

One file may mix multiple-choice and open-ended records: `prompt`, `parse` and `score`
dispatch per sample on whether it has options. The facts the tables read are the class's,
not the file's, so `open_ended` is False here; an open-ended record's row carries the judge's
score, and tables show a mean judge score beside accuracy, and skip McNemar's test, for any
cell whose rows carry one (`analysis.cells.is_open_ended`). A mixed cell's accuracy therefore
pools letters right and judged yeses, and its score is the mean over the judged rows only;
give each kind its own file (or `category`) to report them apart.

Departures: the open-ended prompt is the question as written plus ActivityNet-QA's "Answer the
question using a single word or phrase." on its own line (ActivityNet-QA's template also adds
a "?", which a user's question already has).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import numpy as np

from bench.benchmarks import Breakdown
from bench.benchmarks.choice import MultipleChoice, unparsed_mode
from bench.benchmarks.judged import JudgedAnswers
from bench.datafiles import DataError, DataFiles, Fields, no_repeats, read_csv, read_parquet, read_text, records, take
from bench.llm.judge import DEFAULT_MODEL
from bench.options import LETTERS
from bench.records import DataOptions, Outcome, Sample
from bench.registry import RegistryError, benchmarks

SUFFIXES = (".jsonl", ".csv", ".parquet")
FIELDS = ("video", "question", "options", "answer", "id", "category", "duration_group", "evidence")
OPEN_INSTRUCTION = "Answer the question using a single word or phrase."


@benchmarks.register("jsonl")
class Jsonl(MultipleChoice, JudgedAnswers):
    """Your own videos and questions from a JSONL, CSV or Parquet file: path=FILE (multiple choice and open-ended)."""

    spec = "jsonl"

    max_new_tokens = 64  # an open-ended answer's phrase; a letter needs far fewer
    open_ended = False  # per record here, not per benchmark: see the module docstring
    metric = "accuracy"
    breakdowns = {"category": Breakdown("category"), "duration": Breakdown("duration_group")}

    def __init__(self, path: str = "", unparsed: str = "wrong", judge_model: str = DEFAULT_MODEL,
                 judge_timeout: float = 60.0, judge_retries: int = 3) -> None:
        if not path:
            raise RegistryError("needs path=FILE, e.g. jsonl:path=questions.jsonl (a .jsonl, .csv or .parquet file)")
        if Path(path).suffix not in SUFFIXES:
            raise RegistryError(f"path={path}: the file must end in {', '.join(SUFFIXES)}")
        self.set_judge(judge_model, judge_timeout, judge_retries)
        self.path, self.unparsed = Path(path), unparsed_mode(unparsed)

    def load(self, options: DataOptions) -> list[Sample]:
        self.use_cache(options.cache_dir)
        path = self.path.absolute()
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        found = read_records(path)
        roots = _VideoRoots(path.parent, options.data_root)
        samples, first = [], {}
        for position, record in enumerate(found, 1):
            sample = self._sample(record, position, roots)
            if sample.sample_id in first:
                raise DataError(f"{path}: {first[sample.sample_id]} and {record.place} have the same id {sample.sample_id!r}")
            first[sample.sample_id] = record.place
            samples.append(sample)
        return take(samples, options.limit)

    def _sample(self, record: Fields, position: int, roots: "_VideoRoots") -> Sample:
        _check_names(record)
        video = record.text("video")
        if not video.strip():
            raise DataError(f"{record.where}: field 'video' is empty")
        question = record.text("question")
        if not question.strip():
            raise DataError(f"{record.where}: field 'question' is empty")
        choices = _options(record)
        return Sample(
            dataset=self.spec,
            split="",
            sample_id=record.ident("id") if _given(record, "id") else str(position),
            video_id=Path(video).stem,
            videos=roots.videos(video, record),
            question=question,
            options=choices,
            answer=_answer(record, choices) if _given(record, "answer") else "",
            category=record.ident("category") if _given(record, "category") else "",
            duration_group=record.ident("duration_group") if _given(record, "duration_group") else "",
            evidence=_evidence(record) if _given(record, "evidence") else (),
        )

    def prompt(self, sample: Sample, times: np.ndarray) -> str:
        """Multiple choice as every benchmark letters it; open-ended: the question, then a one-phrase instruction."""
        if sample.options:
            return super().prompt(sample, times)
        return f"{sample.question.strip()}\n{OPEN_INSTRUCTION}"

    def parse(self, text: str, sample: Sample) -> str | None:
        """The option letter (multiple choice), or the reply itself (open-ended); None when nothing parses."""
        return super().parse(text, sample) if sample.options else text.strip() or None

    def score(self, sample: Sample, prediction: str) -> Outcome:
        """Multiple choice: the parsed letter against the answer. Open-ended: the judge's verdict (an error outcome when none can be had)."""
        if sample.options:
            return super().score(sample, prediction)
        if not sample.answer:
            return Outcome(correct=None)  # a hidden answer: nothing to judge against
        return self.judged(sample, prediction)


def read_records(path: Path) -> list[Fields]:
    """The records of a .jsonl, .csv or .parquet file, each named by its line (row) in errors."""
    if path.suffix == ".csv":
        return read_csv(path)
    if path.suffix == ".parquet":
        return records(read_parquet(path), str(path))
    found = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, object_pairs_hook=no_repeats(lambda key: f"{path}: line {number}: field {key!r} appears twice"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number}: not valid JSON at column {exc.colno}: {exc.msg}") from None
        found.append(Fields(value, str(path), f"line {number}"))
    if not found:
        raise DataError(f"{path}: holds no records (only blank lines)")
    return found


def _given(record: Fields, key: str) -> bool:
    """Whether an optional field is there: present, and not null or an empty cell."""
    return record.has(key) and record.record[key] not in (None, "")


def _check_names(record: Fields) -> None:
    """DataError for a field whose name is a misspelling of one of FIELDS: it would be ignored otherwise."""
    for key in record.record:
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1, cutoff=0.75)
            if close:
                raise DataError(f"{record.where}: field {key!r} is not one of {', '.join(FIELDS)}; did you mean {close[0]!r}?")


def _options(record: Fields) -> tuple[str, ...]:
    """The option texts: a list of strings, or (a CSV cell) a JSON list of strings; () when left out."""
    if not _given(record, "options"):
        return ()
    value = record.record["options"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DataError(f"{record.where}: field 'options' should be a list of option texts (in a CSV cell, "
                        f"a JSON list such as [\"red\", \"blue\"]), got {record.record['options']!r:.60}")
    if not 2 <= len(value) <= len(LETTERS):
        raise DataError(f"{record.where}: field 'options' should hold 2 to {len(LETTERS)} options (or be left out: open-ended), got {len(value)}")
    return tuple(value)


def _evidence(record: Fields) -> tuple[tuple[float, float], ...]:
    """The evidence intervals: [[start, end], ...] in seconds, 0 <= start <= end (in a CSV cell, that JSON)."""
    value = record.record["evidence"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    pairs = value if isinstance(value, list) and value else None
    if pairs is None or not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(_seconds(t) for t in p) and 0 <= p[0] <= p[1] for p in pairs):
        raise DataError(f"{record.where}: field 'evidence' should be a list of [start, end] pairs in seconds with "
                        f"0 <= start <= end, such as [[12.0, 15.5]], got {record.record['evidence']!r:.60}")
    return tuple((float(start), float(end)) for start, end in pairs)


def _seconds(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _answer(record: Fields, choices: tuple[str, ...]) -> str:
    """The answer letter (multiple choice, from a letter or an option's text) or the reference text (open-ended)."""
    answer = record.ident("answer").strip()
    if not choices:
        return answer
    letters = LETTERS[: len(choices)]
    if len(answer) == 1 and answer in letters:
        return answer
    named = [i for i, text in enumerate(choices) if text.strip().casefold() == answer.casefold()]
    if len(named) == 1:
        return LETTERS[named[0]]
    raise DataError(f"{record.where}: field 'answer' is {answer!r:.60}: with options it must be a letter "
                    f"{letters[0]}-{letters[-1]} or the text of one option")


class _VideoRoots:
    """Where a record's `video` may be: as given, beside the file, under --data-root, or by its name under --data-root."""

    def __init__(self, folder: Path, data_root: Path | None) -> None:
        self.folder, self.data_root = folder, Path(data_root).absolute() if data_root else None
        self._files: DataFiles | None = None  # one walk of --data-root, on the first name not found otherwise

    def videos(self, video: str, record: Fields) -> tuple[Path, ...]:
        """Paths to try, in order: the first that exists is decoded; none existing is the row's video error, naming them all."""
        given = Path(video).expanduser()
        if given.is_absolute():
            return (given,)
        tried = [self.folder / given] + ([self.data_root / given] if self.data_root else [])
        if any(p.exists() for p in tried) or self.data_root is None:
            return tuple(tried)
        if self._files is None:
            self._files = DataFiles(self.data_root)
        try:
            found = self._files.find(given.name)
        except DataError as exc:  # several files of that name under the root
            raise DataError(f"{record.where}: field 'video' {video!r}: {exc}") from None
        return (found,) if found else tuple(tried)
