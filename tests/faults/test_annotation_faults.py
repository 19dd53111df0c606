"""Annotations under faults: stray quotes, wrong field counts and types, empty files, duplicate ids,
bytes that are not UTF-8, bad parameter values, and damaged or unwritable needle caches.

Each fault is made in a copy of the real fixture files (tests/fixtures) and must stop the load
with one DataError or RegistryError naming the file, the line or record, and the field.
Line numbers count the header as line 1, so record i of a CSV without breaks is on line i + 2.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.datafiles import DataError
from bench.records import DataOptions
from bench.registry import RegistryError, benchmarks
from tests.benchdata import EGOSCHEMA_SUBSET, fixture_file, load, unpack

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"  # 13 fields
QUESTION, A4 = 4, 12  # their indices in HEADER
UID = next(iter(EGOSCHEMA_SUBSET))


@pytest.fixture
def root(tmp_path):
    return unpack(tmp_path / "data")


def val_csv(root: Path) -> Path:
    return fixture_file(root, "nextqa", "val.csv")


def edit_line(path: Path, number: int, change) -> str:
    """Replace line `number` (1-based) of a CSV by change(list of its fields), joined with commas; returns the new line."""
    lines = path.read_text().split("\n")
    lines[number - 1] = change(lines[number - 1].split(","))
    path.write_text("\n".join(lines))
    return lines[number - 1]


def quote_field(index: int, where: str = "start"):
    def change(fields: list[str]) -> str:
        text = fields[index]
        fields[index] = {"start": f'"{text}', "end": f'{text}"', "inside": f'"{text[:5]}"{text[5:]}'}[where]
        return ",".join(fields)
    return change


def stray_quote(path: Path, line: int, field: str, detail: str) -> str:
    return (f'{path}: line {line}: field {field!r} has a stray quote (") ({detail}); '
            f'quote the whole field and double each quote inside it ("")')


# item 3: a stray quote joins records; every record must be one line of 13 typed fields
def test_a_quote_opening_a_question_that_never_closes_names_its_line_and_field(root):
    edit_line(val_csv(root), 46, quote_field(QUESTION))  # record 44, the 45th
    with pytest.raises(DataError) as caught:
        load("nextqa", root)
    assert str(caught.value) == stray_quote(val_csv(root), 46, "question", "unexpected end of data")


def test_the_quote_that_used_to_merge_48_records_into_45_is_caught(root):
    # a quote opening a4 of line 46 swallowed lines 47-49 into one answer: records 44-47 became one
    edit_line(val_csv(root), 46, quote_field(A4))
    with pytest.raises(DataError) as caught:
        load("nextqa", root)
    assert str(caught.value) == stray_quote(val_csv(root), 46, "a4", "unexpected end of data")


def test_a_quote_that_closes_lines_later_names_where_the_record_starts_and_ends(root):
    edit_line(val_csv(root), 10, quote_field(QUESTION))
    edit_line(val_csv(root), 12, quote_field(A4, "end"))  # closes the quote opened on line 10
    with pytest.raises(DataError) as caught:
        load("nextqa", root)
    assert str(caught.value) == stray_quote(val_csv(root), 10, "question", "it runs on to line 12")


def test_a_quote_closed_inside_a_field_names_the_field(root):
    edit_line(val_csv(root), 7, quote_field(QUESTION, "inside"))  # '"how d"id the lady ...'
    with pytest.raises(DataError) as caught:
        load("nextqa", root)
    assert str(caught.value) == stray_quote(val_csv(root), 7, "question", "',' expected after '\"'")


def test_a_quote_inside_a_word_is_text_and_the_file_loads(root):
    edit_line(val_csv(root), 3, lambda f: ",".join(f[:QUESTION] + ['how does the "man cycling try'] + f[QUESTION + 1:]))
    samples = load("nextqa", root)
    assert len(samples) == 48 and samples[1].question == 'how does the "man cycling try'


@pytest.mark.parametrize("change, expected", [
    (lambda f: ",".join(f[:-1]), "line 8: 12 fields where the header has 13 (no field 'a4')"),
    (lambda f: ",".join(f + ["one more"]), "line 8: 14 fields where the header has 13 (a field past 'a4')"),
    (lambda f: ",".join(f[:5] + ["two"] + f[6:]), "line 8 (record 6): field 'answer' should be an integer, got str 'two'"),
])
def test_a_record_with_the_wrong_field_count_or_type_names_its_line(root, change, expected):
    edit_line(val_csv(root), 8, change)
    with pytest.raises(DataError) as caught:
        load("nextqa", root)
    assert str(caught.value) == f"{val_csv(root)}: {expected}"


# items 3 and 18: an empty annotation file is an error, not a run over no samples
def _empty_parquet(path: Path) -> None:
    pq.write_table(pq.read_table(path).slice(0, 0), path)


@pytest.mark.parametrize("spec, name, file, empty, expected", [
    ("nextqa", "nextqa", "val.csv", lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
    ("nextqa", "nextqa", "val.csv", lambda p: p.write_text(HEADER + "\n"), "a header and no records"),
    ("nextqa", "nextqa", "val.csv", lambda p: p.write_text(HEADER + "\n\n\n"), "a header and no records"),  # blank lines are no records
    ("longvideobench", "longvideobench", "lvb_val.json", lambda p: p.write_text("[]"), "holds no records ([])"),
    ("egoschema", "egoschema", "subset_answers.json", lambda p: p.write_text("{}"), "holds no records ({})"),
    ("activitynet-qa", "activitynet-qa", "test_q.json", lambda p: p.write_text("\n\n"), "the file is empty (2 bytes)"),
    ("videomme", "videomme", "test-00000-of-00001.parquet", _empty_parquet, "holds no records (0 rows)"),
])
def test_an_empty_annotation_file_is_an_error(root, spec, name, file, empty, expected):
    path = fixture_file(root, name, file)
    empty(path)
    with pytest.raises(DataError) as caught:
        load(spec, root)
    assert str(caught.value) == f"{path}: {expected}"


# item 11: two records with one id, naming the file and both records
def _append_copy(index: int):
    def change(path: Path) -> None:
        rows = json.loads(path.read_text())
        path.write_text(json.dumps(rows + [rows[index]]))
    return change


def _parquet_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_a_nextqa_question_given_twice_names_both_lines(root):
    path = val_csv(root)
    first = path.read_text().split("\n")[1]  # 4010069381,...,6,CH,...: video 4010069381, qid 6
    path.write_text(path.read_text() + first + "\n")  # becomes line 50, record 48
    with pytest.raises(DataError) as caught:
        load("nextqa", root)
    assert str(caught.value) == f"{path}: line 2 (record 0) and line 50 (record 48) have the same video and qid '4010069381_6'"


@pytest.mark.parametrize("spec, name, file, index, count, field, key", [
    ("activitynet-qa", "activitynet-qa", "test_a.json", 5, 54, "question_id", "question_id"),
    ("activitynet-qa", "activitynet-qa", "test_q.json", 3, 54, "question_id", "question_id"),
    ("egoschema:split=full", "egoschema", "questions.json", 0, 20, "q_uid", "q_uid"),
    ("longvideobench", "longvideobench", "lvb_val.json", 6, 31, "id", "id"),
])
def test_a_json_record_given_twice_names_both_records(root, spec, name, file, index, count, field, key):
    path = fixture_file(root, name, file)
    value = json.loads(path.read_text())[index][key]
    _append_copy(index)(path)  # the copy is record `count`, one past the last
    with pytest.raises(DataError) as caught:
        load(spec, root)
    assert str(caught.value) == f"{path}: record {index} and record {count} have the same {field} {value!r}"


def test_a_videomme_question_id_given_twice_names_both_records(root):
    path = fixture_file(root, "videomme", "test-00000-of-00001.parquet")
    rows = _parquet_rows(path)
    rows[5] = {**rows[5], "question_id": rows[4]["question_id"]}  # ids run 001-1..001-3, 002-1..: "002-2" twice
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(DataError) as caught:
        load("videomme", root)
    assert str(caught.value) == f"{path}: record 4 and record 5 have the same question_id '002-2'"


def test_an_answer_key_given_twice_is_not_silently_the_last(root):
    path = fixture_file(root, "egoschema", "subset_answers.json")
    path.write_text(f'{{"{UID}": 3, "{UID}": 1}}')  # json.loads alone would keep 1
    with pytest.raises(DataError) as caught:
        load("egoschema", root)
    assert str(caught.value) == f"{path}: key '{UID}' appears twice in one object"


# item 11: bytes that are not UTF-8 name the byte, its offset and its line
def test_a_byte_that_is_not_utf8_in_a_csv_names_offset_and_line(root):
    path = val_csv(root)
    lines = path.read_bytes().split(b"\n")
    prefix = b"3562017845,1200,640,428,how did the "
    assert lines[4].startswith(prefix)  # line 5
    lines[4] = prefix + b"\xff" + lines[4][len(prefix):]
    path.write_bytes(b"\n".join(lines))
    offset = sum(len(line) + 1 for line in lines[:4]) + len(prefix)  # lines 1-4 with their newlines, then the prefix
    with pytest.raises(DataError) as caught:
        load("nextqa", root)
    assert str(caught.value) == f"{path}: not UTF-8 text: byte 0xff at offset {offset} (line 5); save the file as UTF-8"


def test_a_latin1_byte_in_a_json_file_names_offset_and_line(root):
    path = fixture_file(root, "longvideobench", "lvb_val.json")
    data = path.read_bytes()
    at = data.index(b"In an image of a ") + len(b"In an image of a ")  # the first question, on line 4
    path.write_bytes(data[:at] + "é".encode("latin-1") + data[at:])
    with pytest.raises(DataError) as caught:
        load("longvideobench", root)
    assert str(caught.value) == f"{path}: not UTF-8 text: byte 0xe9 at offset {at} (line 4); save the file as UTF-8"


def test_a_byte_order_mark_is_not_an_error(root):
    path = val_csv(root)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load("nextqa", root)[0].sample_id == "4010069381_6"


# item 11: a bad parameter value names the spec and the values it takes
@pytest.mark.parametrize("spec, parts", [
    ("nextqa:split=train", ["nextqa:split=train", "split must be one of val, test, not 'train'"]),
    ("egoschema:split=all", ["egoschema:split=all", "split must be one of subset, full, not 'all'"]),
    ("needle:split=val", ["needle:split=val", "split must be one of train, test, not 'val'"]),
    ("nextqa:unparsed=guess", ["nextqa:unparsed=guess", "unparsed must be one of wrong, random, not 'guess'"]),
    ("longvideobench:unparsed=guess", ["longvideobench:unparsed=guess", "unparsed must be one of wrong, random"]),
    ("videomme:unparsed=guess", ["videomme:unparsed=guess", "unparsed must be one of wrong, random"]),
    ("videomme:subtitles=maybe", ["subtitles", "'maybe' is not a valid bool"]),
    ("activitynet-qa:judge_timeout=0", ["activitynet-qa:judge_timeout=0", "judge_timeout must be a positive number of seconds, not 0.0"]),
    ("activitynet-qa:judge_retries=-1", ["activitynet-qa:judge_retries=-1", "judge_retries must be 0 or more, not -1"]),
    ("activitynet-qa:judge_model=", ["activitynet-qa:judge_model=", "judge_model must name a model, not ''"]),
    ("nextqa:splits=val", ["has no parameter 'splits'", "split, hf, unparsed"]),
])
def test_a_bad_parameter_value_is_a_registry_error_listing_the_valid_ones(spec, parts):
    with pytest.raises(RegistryError) as caught:
        benchmarks.build(spec)
    assert all(part in str(caught.value) for part in parts), str(caught.value)


# items 3 and 11 through the CLI: exit 2, one message naming the file
def _run(root: Path, tmp_path: Path, dataset: str = "nextqa"):
    args = ["run", "--dataset", dataset, "--data-root", root, "--backbone", "probe", "--frames", "4",
            "--results-dir", tmp_path / "results", "--cache-dir", tmp_path / "cache", "--device", "cpu"]
    return CliRunner().invoke(main, [str(a) for a in args])


def test_the_cli_exits_2_naming_the_line_of_a_stray_quote(root, tmp_path):
    edit_line(val_csv(root), 46, quote_field(QUESTION))
    result = _run(root, tmp_path)
    assert result.exit_code == 2, result.output
    assert f"{val_csv(root)}: line 46: field 'question' has a stray quote" in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (tmp_path / "results").exists()


def test_the_cli_exits_2_on_an_empty_annotation_file(root, tmp_path):
    val_csv(root).write_text(HEADER + "\n")
    result = _run(root, tmp_path)
    assert result.exit_code == 2, result.output
    assert f"{val_csv(root)}: a header and no records" in " ".join(result.output.split())


def test_the_cli_exits_2_on_a_split_nextqa_does_not_have(root, tmp_path):
    result = _run(root, tmp_path, "nextqa:split=train")
    assert result.exit_code == 2, result.output
    assert "split must be one of val, test, not 'train'" in " ".join(result.output.split())


# item 14: a damaged needle cache is regenerated, an unwritable one named
def _needle(cache: Path, limit: int = 3) -> list:
    return benchmarks.build("needle").load(DataOptions(cache_dir=cache, limit=limit))


def _folder(cache: Path) -> Path:
    return cache / "needle" / "seed0" / "test"


@pytest.mark.parametrize("damage, problem", [
    (lambda v, r: r.write_text(r.read_text()[:40]), "00001.json is unreadable (Unterminated string"),  # cut short mid-string
    (lambda v, r: r.write_text("[]"), "00001.json lacks colour, shape, duration, interval, distractors, answer_position"),
    (lambda v, r: r.write_bytes(b'{"colour": "\xff"}'), "00001.json is unreadable ('utf-8' codec can't decode byte 0xff"),
    (lambda v, r: v.unlink(), "00001.mp4 is gone"),
])
def test_a_damaged_needle_sample_is_regenerated_with_one_warning(tmp_path, caplog, damage, problem):
    first = _needle(tmp_path)
    video, record = _folder(tmp_path) / "00001.mp4", _folder(tmp_path) / "00001.json"
    damage(video, record)
    with caplog.at_level(logging.WARNING, logger="bench.benchmarks.needle"):
        again = _needle(tmp_path)
    assert again == first  # the same samples: generation follows from (seed, split, index)
    truth = json.loads(record.read_text())  # whole again, and the video with it
    assert first[1].options["ABCDE".index(first[1].answer)] == truth["colour"] and video.stat().st_size > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"needle: regenerated 1 sample(s) under {_folder(tmp_path)} whose cached files were damaged: ")
    assert problem in warnings[0]


def test_a_video_left_without_its_annotation_is_regenerated_quietly(tmp_path, caplog):
    first = _needle(tmp_path)
    (_folder(tmp_path) / "00002.json").unlink()  # as a run killed between writing the video and its annotation leaves it
    with caplog.at_level(logging.WARNING, logger="bench.benchmarks.needle"):
        assert _needle(tmp_path) == first
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_cache_dir_that_cannot_be_made_names_it_and_says_what_to_pass(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = blocker / "cache"  # tests run as root, so a read-only folder would not stop them: a file in the path does
    with pytest.raises(DataError) as caught:
        _needle(cache, limit=1)
    assert str(caught.value) == (f"needle: cannot write the generated videos under {cache} "
                                 f"(Not a directory: {_folder(cache)}); pass --cache-dir a writable folder")


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    from bench.datafiles import DataError
    from bench.records import DataOptions
    from bench.registry import benchmarks
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    try:
        benchmarks.build("needle").load(DataOptions(cache_dir=Path(sys.argv[1]), limit=2))
    except DataError as exc:
        print(exc)
        sys.exit(2)
""")


def test_a_full_disk_while_generating_is_a_data_error_and_leaves_no_partial_file(tmp_path):
    # every needle video is 40-90 kB, so the 20 kB limit stops the first one mid-write
    child = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert child.returncode == 2, child.stderr
    assert child.stdout.startswith(f"needle: cannot write the generated videos under {tmp_path} (File too large: {_folder(tmp_path)}/")
    assert child.stdout.strip().endswith("; pass --cache-dir a writable folder")
    assert list(_folder(tmp_path).iterdir()) == []  # the temporary video was removed
