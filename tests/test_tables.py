"""Each table kind on hand-made CSVs; every expected number below is worked out by hand.

Bootstrap intervals of tiny cells are exact quantiles of a small binomial: with d the paired
differences, the resampled count of each nonzero value is binomial(n, its share), so e.g.
two +1 out of four give P(count=0) = P(count=4) = 1/16 > 2.5%: the interval is [+0.0, +100.0].
"""

import csv
from contextlib import contextmanager

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.analysis import tables
from bench.analysis.cells import TableError
from bench.benchmarks import Breakdown
from bench.benchmarks.choice import MultipleChoice
from bench.cli import main
from bench.records import Outcome
from bench.registry import benchmarks
from bench.results import read_all
from tests.handmade import cell, write


def build(tmp_path, kind, *cells, filters=tables.Filters(), **options):
    return tables.build(kind, read_all(write(tmp_path, *cells)), filters, tables.Options(**options))


def as_lists(table: pd.DataFrame) -> list[list[str]]:
    return [list(table.columns)] + [[str(v) for v in row] for row in table.itertuples(index=False)]


def test_grid_counts_judge_errors_and_unparsed_and_pairs_the_change(tmp_path):
    # uniform: s0 right, s1 unparsed, s2 s3 wrong -> 25.0, 1 of 4 unparsed.
    # clip: s0-s2 right, s3 wrong, s4 a judge error (left out) -> 75.0. Paired on s0-s3 the
    # differences are 0, +1, +1, 0: +50.0, interval [+0.0, +100.0]; McNemar 0 vs 2 discordant:
    # p = 2 * C(2,0) / 2^2 = 0.5.
    table = build(tmp_path, "grid", cell("uniform", 4, "1u00"), cell("clip", 4, "1110j"), compare="uniform")
    assert as_lists(table) == [
        ["dataset", "backbone", "uniform k=4", "clip k=4"],
        ["d", "b", "25.0 [25.0% unparsed]", "75.0 (+50.0 [+0.0, +100.0] p=0.500) [1 err (1 judge)]"],
    ]


def test_a_change_over_different_sample_sets_says_so(tmp_path):
    # uniform answered s0-s3 (50.0), clip only s0-s2 (100.0). Paired on s0-s2: 0, 0, +1 -> +33.3;
    # Bin(3, 1/3): P(0) = 8/27 and P(3) = 1/27 both > 2.5% -> [+0.0, +100.0]; McNemar 0 vs 1: p = 1.
    table = build(tmp_path, "grid", cell("uniform", 4, "1100"), cell("clip", 4, "111"), compare="uniform")
    assert table.loc[0, "clip k=4"] == "100.0 (+33.3 [+0.0, +100.0] p=1.000; paired on 3 of 4/3)"


def test_main_puts_baseline_then_selector_per_backbone_and_dataset(tmp_path):
    # nextqa b1: 50.0 -> 75.0, differences 0 0 +1 0: +25.0; Bin(4, 1/4): P(0) = 81/256 and
    # P(>=3) = 13/256 > 2.5% but P(4) = 1/256 < 2.5% -> [+0.0, +75.0]; McNemar 0 vs 1: p = 1.
    # nextqa b2: 50.0 -> 0.0, differences 0 -1: -50.0 [-100.0, +0.0], p = 1.
    # activitynet-qa b1 (open-ended, no McNemar): 50.0 with scores 4, 1 (2.5) -> 100.0 with 5, 3 (4.0).
    table = build(
        tmp_path, "main",
        cell("uniform", 8, "1100", dataset="nextqa", backbone="b1"), cell("clip", 8, "1110", dataset="nextqa", backbone="b1"),
        cell("uniform", 8, "10", dataset="nextqa", backbone="b2"), cell("clip", 8, "00", dataset="nextqa", backbone="b2"),
        cell("uniform", 8, "10", dataset="activitynet-qa", backbone="b1", judge_score=[4, 1], judge_model="j"),
        cell("clip", 8, "11", dataset="activitynet-qa", backbone="b1", judge_score=[5, 3], judge_model="j"),
    )
    assert as_lists(table) == [
        ["backbone", "frames", "selector", "activitynet-qa", "nextqa"],
        ["b1", "8", "clip", "50.0/2.5 → 100.0/4.0 (+50.0 [+0.0, +100.0])", "50.0 → 75.0 (+25.0 [+0.0, +75.0] p=1.000)"],
        ["b2", "8", "clip", "", "50.0 → 0.0 (-50.0 [-100.0, +0.0] p=1.000)"],
    ]


def test_ablation_lists_the_baseline_first_and_needs_one_k(tmp_path):
    # oracle: differences 0 +1 +1 +1 -> +75.0; Bin(4, 3/4): P(4) = 81/256 -> top +100.0;
    # P(0) = 1/256 < 2.5% < P(<=1) = 13/256 -> bottom +25.0; McNemar 0 vs 3: p = 2/8 = 0.25.
    cells = [cell("uniform", 8, "1000"), cell("clip", 8, "1100"), cell("oracle", 8, "1111")]
    assert as_lists(build(tmp_path / "one", "ablation", *cells)) == [
        ["selector", "d"],
        ["uniform", "25.0"],
        ["clip", "50.0 (+25.0 [+0.0, +75.0] p=1.000)"],
        ["oracle", "100.0 (+75.0 [+25.0, +100.0] p=0.250)"],
    ]
    with pytest.raises(TableError, match="found 4, 8: choose one with --frames"):
        build(tmp_path / "two", "ablation", *cells, cell("uniform", 4, "1"))


def test_efficiency_groups_nextqa_types_and_splits_seconds(tmp_path):
    # types CW TN DB CH -> causal {s0, s3}, temporal {s1}, descriptive {s2}.
    # uniform 1010: causal 1/2, temporal 0/1, descriptive 1/1; seconds 0.2 + 0 + 0.5.
    # clip 1110: causal 1/2, temporal 1/1, descriptive 1/1; +25.0 as in the main test; 0.2 + 0.2 + 0.5.
    common = dict(dataset="nextqa", category=["CW", "TN", "DB", "CH"], t_decode_s=[0.1, 0.3, 0.2, 0.2], t_answer_s=0.5)
    table = build(tmp_path, "efficiency", cell("uniform", 4, "1010", t_select_s=0.0, peak_mem_mb=[100, 300, 200, 200], **common),
                  cell("clip", 4, "1110", t_select_s=0.2, peak_mem_mb=250, **common))
    assert as_lists(table) == [
        ["frames", "selector", "acc causal", "acc temporal", "acc descriptive", "accuracy", "vs uniform", "s/question", "decode s", "select s", "answer s", "peak MB"],
        ["4", "uniform", "50.0", "0.0", "100.0", "50.0", "", "0.70", "0.20", "0.00", "0.50", "300"],
        ["128→4", "clip", "50.0", "100.0", "100.0", "75.0", "+25.0 [+0.0, +75.0] p=1.000", "0.90", "0.20", "0.20", "0.50", "250"],
    ]


def test_kvs2k_compares_selector_at_k_with_uniform_at_2k(tmp_path):
    # k=4: clip 1110 (75.0) against uniform@8 1100 (50.0): 0 0 +1 0 -> +25.0 [+0.0, +75.0], yes.
    # k=8: clip 1101 (75.0) against uniform@16 1111 (100.0): 0 0 -1 0 -> -25.0 [-75.0, +0.0], no.
    cells = [cell("uniform", 4, "1000"), cell("uniform", 8, "1100"), cell("uniform", 16, "1111"), cell("clip", 4, "1110"), cell("clip", 8, "1101")]
    table = build(tmp_path, "kvs2k", *cells)
    assert as_lists(table)[1:] == [
        ["d", "b", "clip", "4", "25.0", "50.0", "75.0 (+50.0 [+0.0, +100.0] p=0.500)", "+25.0 [+0.0, +75.0] p=1.000", "yes"],
        ["d", "b", "clip", "8", "50.0", "100.0", "75.0 (+25.0 [+0.0, +75.0] p=1.000)", "-25.0 [-75.0, +0.0] p=1.000", "no"],
    ]
    assert list(table.columns[-2:]) == ["vs uniform@2k", "≥ uniform@2k"]
    # --frames 4 keeps uniform at 8 for the comparison
    filtered = tables.build("kvs2k", read_all(tmp_path), tables.Filters(frames=(4,)), tables.Options())
    assert as_lists(filtered)[1:] == as_lists(table)[1:2]


def test_pool_orders_pools_by_size_against_uniform_from_its_largest_pool(tmp_path):
    # uniform at N=32 (0000) is ignored: the baseline at k=4 is uniform at N=128 (1000, 25.0).
    cells = [cell("uniform", 4, "0000", candidates=32), cell("uniform", 4, "1000"),
             cell("clip", 4, "1110"), cell("clip", 4, "1100", candidates=16)]
    assert as_lists(build(tmp_path, "pool", *cells)) == [
        ["backbone", "selector", "pool", "d"],
        ["b", "uniform", "4", "25.0"],
        ["b", "clip", "16→4", "50.0 (+25.0 [+0.0, +75.0] p=1.000)"],
        ["b", "clip", "128→4", "75.0 (+50.0 [+0.0, +100.0] p=0.500)"],
    ]


def test_variants_label_specs_by_the_parameter_they_differ_in(tmp_path):
    # tokens=4 sorts before tokens=25 (numbers by value), the default first; clip has one spec: not a variant.
    cells = [cell("uniform", 8, "1000"), cell("trained:ckpt=x", 8, "1100"), cell("trained:ckpt=x:tokens=25", 8, "1110"),
             cell("trained:ckpt=x:tokens=4", 8, "1000"), cell("clip", 8, "1111")]
    assert as_lists(build(tmp_path, "variants", *cells)) == [
        ["selector", "variant", "d"],
        ["uniform", "", "25.0"],
        ["trained", "tokens=default", "50.0 (+25.0 [+0.0, +75.0] p=1.000)"],
        ["trained", "tokens=4", "25.0 (+0.0 [+0.0, +0.0] p=1.000)"],
        ["trained", "tokens=25", "75.0 (+50.0 [+0.0, +100.0] p=0.500)"],
    ]


def test_by_duration_orders_groups_by_seconds(tmp_path):
    # 15: s0 right, s4 wrong; 60: s2 right; 600: s3 s5 right; 3600: s1 wrong; all 4 of 6.
    rows = cell("uniform", 8, "101101", dataset="longvideobench", duration_group=["15", "3600", "60", "600", "15", "600"])
    table = build(tmp_path, "grid", rows, by="duration", compare=None)
    assert as_lists(table) == [
        ["dataset", "backbone", "selector", "frames", "15", "60", "600", "3600", "all"],
        ["longvideobench", "b", "uniform", "8", "50.0", "100.0", "100.0", "0.0", "66.7"],
    ]


def test_by_takes_a_column_another_issue_adds_and_rejects_a_missing_one(tmp_path):
    rows = cell("uniform", 8, "110", dataset="videomme", domain=["sports", "news", "news"])
    assert as_lists(build(tmp_path / "a", "grid", rows, by="domain"))[1][-3:] == ["50.0", "100.0", "66.7"]
    with pytest.raises(TableError, match="no column 'colour'"):
        build(tmp_path / "b", "grid", rows, by="colour")


def test_rows_of_two_judge_models_are_never_pooled(tmp_path):
    cells = [cell("uniform", 8, "10", dataset="activitynet-qa", judge_score=[4, 1], judge_model="gpt-4o-mini"),
             cell("clip", 8, "11", dataset="activitynet-qa", judge_score=[5, 3], judge_model="gpt-3.5-turbo")]
    with pytest.raises(TableError, match=r"gpt-4o-mini \(2 rows\), gpt-3.5-turbo \(2 rows\)|gpt-3.5-turbo \(2 rows\), gpt-4o-mini \(2 rows\)"):
        build(tmp_path, "grid", *cells)
    kept = tables.build("grid", read_all(tmp_path), tables.Filters(judge_model="gpt-4o-mini"), tables.Options())
    assert list(kept.columns) == ["dataset", "backbone", "uniform k=8"]


def test_filters_match_a_spec_by_its_name_and_old_csvs_still_read(tmp_path):
    # a CSV written before judge_model and the timing columns existed
    old_header = ("dataset", "split", "sample_id", "video_id", "selector", "backbone", "frames", "candidates", "correct", "parse_ok", "error")
    write(tmp_path, cell("uniform", 8, "10", dataset="nextqa:split=val"), cell("uniform", 8, "1", dataset="egoschema"), header=old_header)
    table = tables.build("grid", read_all(tmp_path), tables.Filters(datasets=("nextqa",)), tables.Options(compare=None))
    assert as_lists(table) == [["dataset", "backbone", "uniform k=8"], ["nextqa:split=val", "b", "50.0"]]


def test_latex_writes_arrows_as_math():
    text = tables.render(pd.DataFrame({"pool": ["128→4"], "≥ uniform@2k": ["yes"]}), "latex")
    assert r"128$\rightarrow$4" in text and r"$\geq$ uniform@2k" in text and "→" not in text


def test_cli_table_kind_main_as_csv_and_by_only_where_it_applies(tmp_path):
    write(tmp_path, cell("uniform", 8, "1100"), cell("clip", 8, "1110"))
    result = CliRunner().invoke(main, ["table", "--results-dir", str(tmp_path), "--kind", "main", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert list(csv.reader(result.output.strip().splitlines())) == [
        ["backbone", "frames", "selector", "d"], ["b", "8", "clip", "50.0 → 75.0 (+25.0 [+0.0, +75.0] p=1.000)"]]
    result = CliRunner().invoke(main, ["table", "--results-dir", str(tmp_path), "--kind", "ablation", "--by", "category"])
    assert result.exit_code == 2 and "--by works with --kind grid, efficiency or evidence" in result.output


def test_cells_of_different_protocols_are_never_pooled_and_their_labels_tell_them_apart(tmp_path):
    # uniform under seek=exact (1000: 25.0) and under keyframe (1100: 50.0) are two cells, and
    # clip under keyframe (1110: 75.0) is compared with uniform under keyframe: 0 0 +1 0 -> +25.0;
    # Bin(4, 1/4): P(0) = 81/256 -> +0.0, P(>=3) = 13/256 > 2.5% > P(4) -> +75.0; McNemar 0 vs 1: p = 1.
    # Pooled, uniform would hold 8 rows for 4 samples; compared with exact, the change would be +50.0.
    table = build(tmp_path, "grid", cell("uniform", 4, "1000", seek="exact"), cell("uniform", 4, "1100", seek="keyframe"),
                  cell("clip", 4, "1110", seek="keyframe"), compare="uniform")
    assert as_lists(table) == [
        ["dataset", "backbone", "uniform k=4 seek=exact", "uniform k=4 seek=keyframe", "clip k=4 seek=keyframe"],
        ["d", "b", "25.0", "50.0", "75.0 (+25.0 [+0.0, +75.0] p=1.000)"],
    ]


def test_labels_name_non_default_protocol_parts_and_rows_older_than_the_columns_are_a_cell_of_their_own(tmp_path):
    # every cell at N=32 and 64 px: both named although they do not vary (in the order N, seek, size,
    # decoder); the older rows (seek,
    # frame size and decoder empty) are a cell apart from the new ones at the defaults, shown '?'
    cells = [cell("uniform", 4, "10", candidates=32, frame_size=64, seek="exact", decoder="pyav"),
             cell("clip", 4, "11", candidates=32, frame_size=64, seek="keyframe", decoder="decord")]
    assert list(build(tmp_path / "a", "grid", *cells).columns)[2:] == [
        "uniform k=4 N=32 seek=exact size=64 decoder=pyav", "clip k=4 N=32 seek=keyframe size=64 decoder=decord"]
    old_and_new = [cell("uniform", 4, "10"), cell("uniform", 4, "11", seek="exact", frame_size=336, decoder="pyav")]
    assert as_lists(build(tmp_path / "b", "grid", *old_and_new, compare=None)) == [
        ["dataset", "backbone", "uniform k=4 seek=? size=? decoder=?", "uniform k=4 seek=exact size=336 decoder=pyav"],
        ["d", "b", "50.0", "100.0"],
    ]


def test_main_takes_the_baseline_of_the_same_protocol_or_says_there_is_none(tmp_path):
    # clip at 64 px (1110) against uniform at 64 px (1100): 50.0 -> 75.0 as above; clip at 336 px has no uniform at 336 px
    cells = [cell("uniform", 8, "1100", frame_size=64), cell("clip", 8, "1110", frame_size=64), cell("clip", 8, "1111", frame_size=336)]
    assert as_lists(build(tmp_path, "main", *cells)) == [
        ["backbone", "frames", "selector", "d"],
        ["b", "8", "clip size=64", "50.0 → 75.0 (+25.0 [+0.0, +75.0] p=1.000)"],
        ["b", "8", "clip size=336", "no uniform@8 → 100.0"],
    ]


# A benchmark declares what the tables need; these are registered for one test, as a plugin
# would register them, and read back by the dataset's name in the CSV.
class ToyJudged:
    """Open-ended, with a breakdown of its own: places grouped into outdoor and indoor, outdoor first."""

    spec = "toy-judged"
    max_new_tokens = 8
    open_ended = True
    metric = "accuracy"
    breakdowns = {"scene": Breakdown("domain", (("kitchen", "indoor"), ("office", "indoor"), ("street", "outdoor")), ("outdoor", "indoor"))}

    def load(self, options):
        return []

    def prompt(self, sample, times):
        return sample.question

    def parse(self, text, sample):
        return text.strip() or None

    def score(self, sample, prediction):
        return Outcome(correct=prediction.strip() == sample.answer)


class ToyMLVU(MultipleChoice):
    """Multiple choice scored as MLVU's M-Avg: the mean of the per-category accuracies."""

    spec = "toy-mlvu"
    max_new_tokens = 8
    metric = "category_mean"
    breakdowns = {"category": Breakdown("category")}

    def load(self, options):
        return []


class ToyUnknownMetric(ToyMLVU):
    """Declares a metric the tables do not know."""

    spec = "toy-median"
    metric = "median"


@contextmanager
def registered_benchmark(name, cls):
    """`cls` registered as benchmark `name` for the block, then removed, so the registry is left as other tests expect it."""
    benchmarks.names()  # discover the real ones first, so this one is only added
    benchmarks.register(name)(cls)
    try:
        yield name
    finally:
        del benchmarks._classes[name]


def test_a_new_benchmark_s_open_endedness_and_groups_reach_the_table_from_its_class(tmp_path):
    # domains kitchen street office street -> indoor outdoor indoor outdoor, printed outdoor first.
    # uniform 1000: outdoor {s1 0, s3 0} 0.0, indoor {s0 1, s2 0} 50.0, all 25.0; clip 1111: 100.0 each.
    # outdoor +1 +1 -> +100.0 [+100.0, +100.0]; indoor 0 +1 -> +50.0, Bin(2, 1/2): P(0) = P(2) = 1/4 -> [+0.0, +100.0];
    # all 0 +1 +1 +1 -> +75.0, Bin(4, 3/4): P(0) = 1/256 < 2.5% < P(<=1) = 13/256 -> +25.0, P(4) = 81/256 -> +100.0.
    # Open-ended: a score after the slash ('-': no judge scores here) and no McNemar p.
    domains = ["kitchen", "street", "office", "street"]
    with registered_benchmark("toy-judged", ToyJudged):
        table = build(tmp_path / "a", "grid", cell("uniform", 8, "1000", dataset="toy-judged", domain=domains),
                      cell("clip", 8, "1111", dataset="toy-judged", domain=domains), by="scene")
        assert as_lists(table) == [
            ["dataset", "backbone", "selector", "frames", "outdoor", "indoor", "all"],
            ["toy-judged", "b", "uniform", "8", "0.0/-", "50.0/-", "25.0/-"],
            ["toy-judged", "b", "clip", "8", "100.0/- (+100.0 [+100.0, +100.0])", "100.0/- (+50.0 [+0.0, +100.0])",
             "100.0/- (+75.0 [+25.0, +100.0])"],
        ]
    # the same rows once the benchmark is gone: plain multiple choice, each domain its own group, words in order;
    # McNemar 0 vs 3 discordant: p = 2 * C(3,0) / 2^3 = 0.25
    table = build(tmp_path / "b", "grid", cell("uniform", 8, "1000", dataset="toy-judged", domain=domains),
                  cell("clip", 8, "1111", dataset="toy-judged", domain=domains), by="domain")
    assert as_lists(table)[0][4:] == ["kitchen", "office", "street", "all"]
    assert as_lists(table)[2][-1] == "100.0 (+75.0 [+25.0, +100.0] p=0.250)"
    with pytest.raises(TableError, match="no column 'scene'; --by takes category, duration or a column name"):
        build(tmp_path / "c", "grid", cell("uniform", 8, "1000", dataset="toy-judged", domain=domains), by="scene")


def test_an_mlvu_style_metric_averages_the_category_accuracies_and_their_change(tmp_path):
    # categories count count count order. uniform 1100: count 2/3, order 0/1 -> (66.7 + 0) / 2 = 33.3
    # (plain accuracy would be 50.0); clip 1111: 100.0. The change is the change in that mean:
    # count 0 0 +1 -> 1/3, order +1 -> 1: (1/3 + 1) / 2 = +66.7. Resampled within each category:
    # order always +1; count's +1s k ~ Bin(3, 1/3), mean (k/3 + 1) / 2: P(k=0) = 8/27 -> +50.0,
    # P(k=3) = 1/27 = 3.7% > 2.5% -> +100.0. No McNemar p: it tests the plain share.
    categories = ["count", "count", "count", "order"]
    cells = [cell("uniform", 8, "1100", dataset="toy-mlvu", category=categories), cell("clip", 8, "1111", dataset="toy-mlvu", category=categories)]
    with registered_benchmark("toy-mlvu", ToyMLVU):
        assert as_lists(build(tmp_path / "a", "grid", *cells)) == [
            ["dataset", "backbone", "uniform k=8", "clip k=8"],
            ["toy-mlvu", "b", "33.3", "100.0 (+66.7 [+50.0, +100.0])"],
        ]
        # within one category the mean of category accuracies is that category's accuracy: uniform count 2/3, order 0/1
        by = build(tmp_path / "b", "grid", *cells, by="category", compare=None)
        assert [row[2:] for row in as_lists(by)[1:]] == [["clip", "8", "100.0", "100.0", "100.0"], ["uniform", "8", "66.7", "0.0", "33.3"]]
    # unregistered, the same rows are plain accuracy: 50.0 -> 100.0, 0 0 +1 +1: +50.0, Bin(4, 1/2): P(0) = 1/16
    # -> [+0.0, +100.0]; McNemar 0 vs 2: p = 2 * 1 / 4 = 0.5
    assert as_lists(build(tmp_path / "c", "grid", *cells))[1] == ["toy-mlvu", "b", "50.0", "100.0 (+50.0 [+0.0, +100.0] p=0.500)"]


def test_a_metric_the_tables_do_not_know_is_an_error_naming_the_benchmark(tmp_path):
    with (registered_benchmark("toy-median", ToyUnknownMetric),
          pytest.raises(TableError, match=r"unknown metric median \(declared by toy-median\); known: accuracy, category_mean")):
        build(tmp_path, "grid", cell("uniform", 8, "10", dataset="toy-median"))


@pytest.fixture
def narrow(monkeypatch):
    """The CLI's table console at 80 columns, recording what it prints."""
    from rich.console import Console

    import bench.commands._output

    console = Console(width=80, record=True)
    monkeypatch.setattr(bench.commands._output, "out", console)
    return console


@pytest.mark.parametrize("layout, whole", [("auto", True), ("long", True), ("wide", False)])
def test_the_demo_table_reads_whole_at_80_columns(private_cache, results_dir, narrow, layout, whole):
    result = CliRunner().invoke(main, ["demo", "--videos", "8", "--candidates", "32", "--frame-size", "64", "--layout", layout,
                                       "--results-dir", str(results_dir), "--cache-dir", str(private_cache), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    text = narrow.export_text()
    assert max(map(len, text.splitlines())) <= 80
    cells = tables.build("long", read_all(results_dir), tables.Filters(), tables.Options(compare="uniform"))
    numbers = [v for column in ("acc", "vs uniform", "95% CI", "p", "unparsed") for v in cells[column] if v]
    assert len(numbers) >= 3 * 6  # six cells: an accuracy each, a change, interval and p for each oracle cell
    found = [n in text for n in numbers]
    assert all(found) if whole else not all(found), [n for n, f in zip(numbers, found) if f != whole]
