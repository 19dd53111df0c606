"""`bench labels`: manifests, output formats, and what a killed run leaves behind."""

import json

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.labels import make_labels, manifest_samples, read_labels


@pytest.fixture
def manifest(tmp_path, needle_test):
    path = tmp_path / "train.jsonl"
    lines = [{"video": str(s.videos[0]), "question": s.question, "options": list(s.options), "id": f"m{i}"} for i, s in enumerate(needle_test[:3])]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


@pytest.mark.parametrize("line, message", [
    ("not json", r"train.jsonl:2: not JSON"),
    ('{"question": "q"}', r"train.jsonl:2: field 'video' must be a string"),
    ('{"video": "v.mp4", "question": 3}', r"train.jsonl:2: field 'question' must be a string"),
    ('{"video": "v.mp4", "question": "q", "options": "A"}', r"train.jsonl:2: field 'options' must be a list of strings"),
])
def test_a_bad_manifest_line_is_named_with_its_field(tmp_path, line, message):
    path = tmp_path / "train.jsonl"
    path.write_text('{"video": "v.mp4", "question": "q"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        manifest_samples(path)


def test_manifest_paths_are_relative_to_the_manifest(tmp_path):
    path = tmp_path / "sub" / "m.jsonl"
    path.parent.mkdir()
    path.write_text('{"video": "clips/a.mp4", "question": "q"}\n')
    (sample,) = manifest_samples(path)
    assert sample.videos == (tmp_path / "sub" / "clips" / "a.mp4",) and sample.sample_id == "1" and sample.options == ()


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
