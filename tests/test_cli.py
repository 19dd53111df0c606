"""The `bench` command line: listing, help, usage errors, exit codes and tables."""

import csv

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.records import COLUMNS


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_list_names_every_registered_component():
    result = invoke("list")
    assert result.exit_code == 0
    for name in ("needle", "uniform", "oracle", "probe"):
        assert name in result.output


@pytest.mark.parametrize("command, words", [
    ([], ["run", "table", "demo", "list", "Examples"]),
    (["run"], ["--dataset", "--selector", "--backbone", "--frames", "--candidates", "--limit", "--data-root",
               "--results-dir", "--device", "--weights", "--shard", "--seed", "--seek", "--cache-dir", "Example"]),
    (["table"], ["--compare", "--format", "--out", "--kind", "--by", "--judge-model"]),
])
def test_help_documents_the_options(command, words):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    for word in words:
        assert word in result.output


def test_an_unknown_selector_is_a_usage_error_with_suggestions(tmp_path):
    result = invoke("run", "--dataset", "needle", "--selector", "unifrm", "--backbone", "probe",
                    "--results-dir", tmp_path, "--cache-dir", tmp_path, "--device", "cpu")
    assert result.exit_code == 2
    assert "Did you mean uniform" in result.output


def test_run_exits_1_when_a_row_has_an_error_and_0_when_none(private_cache, results_dir):
    args = ["run", "--dataset", "needle", "--backbone", "probe", "--frames", "4", "--limit", "4",
            "--results-dir", results_dir, "--cache-dir", private_cache, "--device", "cpu"]
    assert invoke(*args).exit_code == 0
    (private_cache / "needle" / "seed0" / "test" / "00005.mp4").write_bytes(b"broken")
    result = invoke(*args[:-6], "--limit", "6", *args[-6:])
    assert result.exit_code == 1


def _write_cell(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})


def _rows(selector, k, outcomes):
    return [{"dataset": "d", "backbone": "b", "selector": selector, "frames": k, "sample_id": f"s{i}",
             "correct": "" if o is None else str(o).lower(), "parse_ok": "true", "error": "boom" if o is None else ""}
            for i, o in enumerate(outcomes)]


def test_table_computes_accuracy_and_change_against_uniform(tmp_path):
    # uniform k=4: 1 of 4 right = 25.0; clip k=4: 3 of 4 answered right = 75.0 (+50.0), one error row.
    # Paired differences 0 +1 +1 0: the bootstrap count of +1 is Bin(4, 1/2), P(0) = P(4) = 1/16,
    # so the 95% interval is [+0.0, +100.0]; McNemar with 0 vs 2 discordant pairs: p = 2/4.
    _write_cell(tmp_path / "a.csv", _rows("uniform", 4, [True, False, False, False]))
    _write_cell(tmp_path / "b.csv", _rows("clip", 4, [True, True, True, False, None]))
    result = invoke("table", "--results-dir", tmp_path, "--compare", "uniform", "--format", "csv")
    assert result.exit_code == 0
    lines = list(csv.reader(result.output.strip().splitlines()))
    assert lines[0] == ["dataset", "backbone", "uniform k=4", "clip k=4"]
    assert lines[1] == ["d", "b", "25.0", "75.0 (+50.0 [+0.0, +100.0] p=0.500) [1 err]"]


@pytest.mark.parametrize("fmt, marker", [("md", "|"), ("latex", "\\toprule"), ("rich", "uniform")])
def test_table_formats(tmp_path, fmt, marker):
    _write_cell(tmp_path / "a.csv", _rows("uniform", 8, [True, True, False, False]))
    result = invoke("table", "--results-dir", tmp_path, "--format", fmt)
    assert result.exit_code == 0 and marker in result.output and "50.0" in result.output


def test_table_filters_and_says_when_nothing_matches(tmp_path):
    _write_cell(tmp_path / "a.csv", _rows("uniform", 8, [True]))
    result = CliRunner().invoke(main, ["table", "--results-dir", str(tmp_path), "--frames", "4"])
    assert result.exit_code == 1 and "no result rows" in result.output


def test_demo_runs_the_needle_world_end_to_end(private_cache, results_dir):
    result = invoke("demo", "--videos", "8", "--results-dir", results_dir, "--cache-dir", private_cache, "--device", "cpu")
    assert result.exit_code == 0
    assert "oracle k=16" in result.output.replace("\n", " ") or "oracle" in result.output
    assert "100.0" in result.output
    assert sum(1 for _ in results_dir.rglob("*.csv")) == 6


SHARED = ("results_dir", "cache_dir", "seed", "resamples", "verbose", "candidates", "limit", "data_root", "device", "frame_size", "seek", "decoder")


def test_options_several_commands_take_are_declared_once():
    # one declaration per option: the same flags, help and type wherever it appears
    seen: dict[str, tuple] = {}
    for name, command in main.commands.items():
        for param in command.params:
            if param.name in SHARED:
                spelled = (tuple(param.opts), param.help, repr(param.type), param.default)
                assert seen.setdefault(param.name, spelled) == spelled, f"bench {name} declares --{param.name} its own way"
    assert {"results_dir", "cache_dir", "seed", "resamples", "verbose"} <= set(seen)
