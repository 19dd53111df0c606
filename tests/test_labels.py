"""`bench labels`: manifests (the `jsonl` dataset), output formats, and what a killed run leaves behind."""

import json

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.labels import make_labels, read_labels
from bench.records import DataOptions
from bench.registry import benchmarks


def manifest_samples(path):
    """What `bench labels --manifest PATH` labels: the samples of `jsonl:path=PATH`."""
    return benchmarks.build(f"jsonl:path={path}").load(DataOptions(cache_dir=path.parent / "cache"))


@pytest.fixture
def manifest(tmp_path, cache_dir):
    path = tmp_path / "train.jsonl"
    needle = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=3))  # needle's first three: the same whatever the limit
    lines = [{"video": str(s.videos[0]), "question": s.question, "options": list(s.options), "id": f"m{i}"} for i, s in enumerate(needle)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


@pytest.mark.parametrize("line, message", [
    ("not json", "line 2: not valid JSON at column 1: Expecting value"),
    ('{"question": "q"}', "line 2: missing field 'video'"),
    ('{"video": "v.mp4", "question": 3}', "line 2: field 'question' should be a string, got int 3"),
    ('{"video": "v.mp4", "question": "q", "options": "A"}',
     "line 2: field 'options' should be a list of option texts (in a CSV cell, a JSON list such as [\"red\", \"blue\"]), got 'A'"),
])
def test_a_bad_manifest_line_exits_2_naming_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "train.jsonl"
    path.write_text('{"video": "v.mp4", "question": "q"}\n' + line + "\n")
    result = CliRunner().invoke(main, ["labels", "--manifest", str(path), "--spatial", "spatial:scorer=probe",
                                       "--out", str(tmp_path / "l.jsonl"), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.output
    assert f"Error: {path}: {message}\n" in result.output


def test_manifest_paths_are_relative_to_the_manifest(tmp_path):
    path = tmp_path / "sub" / "m.jsonl"
    path.parent.mkdir()
    path.write_text('{"video": "clips/a.mp4", "question": "q"}\n')
    (sample,) = manifest_samples(path)
    # beside the manifest; no --data-root to look under; the id is the record's position, from 1
    assert sample.videos == (tmp_path / "sub" / "clips" / "a.mp4",) and sample.sample_id == "1" and sample.options == ()
    assert sample.dataset == f"jsonl:path={path}"


def test_the_manifest_option_is_the_jsonl_dataset(manifest, cache_dir, tmp_path):
    by_option, by_dataset = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    common = ["--spatial", "spatial:scorer=probe", "--candidates", "32", "--cache-dir", str(cache_dir), "--device", "cpu"]
    for extra, out in ((["--manifest", str(manifest)], by_option), (["--dataset", f"jsonl:path={manifest}"], by_dataset)):
        result = CliRunner().invoke(main, ["labels", *extra, *common, "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert by_option.read_text() and by_option.read_text() == by_dataset.read_text()
    assert [json.loads(line)["sample_id"] for line in by_option.read_text().splitlines()] == ["m0", "m1", "m2"]


def test_labels_from_a_manifest_with_one_signal_as_parquet(manifest, cache_dir, tmp_path):
    out = tmp_path / "labels.parquet"
    summary = make_labels(manifest_samples(manifest), "spatial:scorer=probe", None, out, cache_dir, 32, 336, "exact", "cpu")
    assert (summary.written, summary.errors) == (3, ())
    assert out.exists() and not out.with_suffix(".partial.jsonl").exists()
    records = read_labels(out)
    assert [r.sample_id for r in records] == ["m0", "m1", "m2"]
    assert all(r.temporal is None and r.label == r.spatial and len(r.label) == 32 for r in records)
    again = make_labels(manifest_samples(manifest), "spatial:scorer=probe", None, out, cache_dir, 32, 336, "exact", "cpu")
    assert (again.written, again.skipped) == (0, 3)


def test_a_line_cut_by_a_kill_is_dropped_and_relabelled(manifest, cache_dir, tmp_path):
    out = tmp_path / "labels.jsonl"
    make_labels(manifest_samples(manifest), "spatial:scorer=probe", None, out, cache_dir, 32, 336, "exact", "cpu")
    text = out.read_text()
    out.write_text(text[: len(text) - 40])  # the last record loses its end
    assert len(read_labels(out)) == 2
    summary = make_labels(manifest_samples(manifest), "spatial:scorer=probe", None, out, cache_dir, 32, 336, "exact", "cpu")
    assert summary.written == 1
    assert sorted(r.sample_id for r in read_labels(out)) == ["m0", "m1", "m2"]


def test_the_command_needs_a_signal_and_a_source(tmp_path):
    result = CliRunner().invoke(main, ["labels", "--out", str(tmp_path / "l.jsonl"), "--spatial", "spatial:scorer=probe"])
    assert result.exit_code == 2 and "--dataset, --manifest or both" in result.output


def test_an_unreadable_video_is_reported_and_the_others_labelled(manifest, cache_dir, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"nope")
    with manifest.open("a") as f:
        f.write(json.dumps({"video": str(broken), "question": "q", "id": "bad"}) + "\n")
    summary = make_labels(manifest_samples(manifest), "spatial:scorer=probe", None, tmp_path / "l.jsonl", cache_dir, 32, 336, "exact", "cpu")
    assert summary.written == 3 and len(summary.errors) == 1 and "bad" in summary.errors[0] and "broken.mp4" in summary.errors[0]
