"""Figures: the points drawn are the hand-computed accuracies and seconds; PNGs come out; `bench plot` writes them."""

from click.testing import CliRunner

from bench.analysis import plots
from bench.analysis.cells import prepare
from bench.cli import main
from bench.results import read_all
from tests.handmade import cell, write
from tests.test_tables import ToyMLVU, registered_benchmark

# uniform: 25.0 at k=4 (0.2 + 0.3 = 0.5 s), 50.0 at k=8 (1.0 s); clip: 75.0 and 100.0, 0.1 s more each
CELLS = [cell("uniform", 4, "1000", t_decode_s=0.2, t_answer_s=0.3), cell("uniform", 8, "1100", t_decode_s=0.2, t_answer_s=0.8),
         cell("clip", 4, "1110", t_decode_s=0.2, t_select_s=0.1, t_answer_s=0.3), cell("clip", 8, "1111", t_decode_s=0.2, t_select_s=0.1, t_answer_s=0.8)]


def lines_of(figure):
    (ax,) = [ax for ax in figure.axes if ax.get_visible()]
    return ax, {line.get_label(): (line.get_xydata().tolist(), line.get_color(), line.get_linestyle()) for line in ax.get_lines()}


def test_accuracy_vs_frames_draws_each_selector_and_the_baseline_run_dashed(tmp_path):
    data = prepare(read_all(write(tmp_path / "now", *CELLS)))
    earlier = prepare(read_all(write(tmp_path / "then", cell("uniform", 4, "0000"), cell("uniform", 8, "1000"))))
    ax, lines = lines_of(plots.accuracy_vs_frames(data, earlier))
    assert ax.get_title() == "d / b"
    assert lines["uniform"] == ([[4, 25.0], [8, 50.0]], "black", "-")
    assert lines["clip"][0] == [[4, 75.0], [8, 100.0]]
    assert lines["uniform (baseline)"] == ([[4, 0.0], [8, 25.0]], "black", "--")


def test_accuracy_vs_seconds_places_each_k_at_its_mean_seconds(tmp_path):
    _, lines = lines_of(plots.accuracy_vs_seconds(prepare(read_all(write(tmp_path, *CELLS)))))
    (uniform, _, _), (clip, _, _) = lines["uniform"], lines["clip"]
    assert [[round(x, 9), y] for x, y in uniform] == [[0.5, 25.0], [1.0, 50.0]]
    assert [[round(x, 9), y] for x, y in clip] == [[0.6, 75.0], [1.1, 100.0]]


def test_one_panel_per_dataset_and_backbone(tmp_path):
    pairs = [("d1", "b1"), ("d1", "b2"), ("d2", "b1"), ("d2", "b2")]
    data = prepare(read_all(write(tmp_path, *(cell("uniform", 4, "10", dataset=d, backbone=b) for d, b in pairs))))
    figure = plots.accuracy_vs_frames(data)
    visible = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert visible == [f"{d} / {b}" for d, b in pairs] and len(figure.axes) == 6  # a 2 x 3 grid, two slots hidden


def test_help_documents_the_options():
    result = CliRunner().invoke(main, ["plot", "--help"])
    assert result.exit_code == 0
    for word in ("--results-dir", "--dataset", "--backbone", "--selector", "--frames", "--compare", "--out", "Example"):
        assert word in result.output


def test_bench_plot_writes_two_pngs_and_says_when_nothing_matches(tmp_path):
    write(tmp_path / "results", *CELLS)
    result = CliRunner().invoke(main, ["plot", "--results-dir", str(tmp_path / "results"), "--out", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    for name in ("accuracy_vs_frames.png", "accuracy_vs_seconds.png"):
        assert (tmp_path / "plots" / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    result = CliRunner().invoke(main, ["plot", "--results-dir", str(tmp_path / "results"), "--dataset", "nextqa"])
    assert result.exit_code == 1 and "no result rows match" in result.output


def test_a_line_per_protocol_named_by_what_differs(tmp_path):
    # uniform under seek=exact: 25.0 at k=4, 50.0 at k=8; under keyframe: 50.0 and 100.0
    cells = [cell("uniform", 4, "1000", seek="exact"), cell("uniform", 8, "1100", seek="exact"),
             cell("uniform", 4, "1100", seek="keyframe"), cell("uniform", 8, "1111", seek="keyframe")]
    _, lines = lines_of(plots.accuracy_vs_frames(prepare(read_all(write(tmp_path, *cells)))))
    assert {label: points for label, (points, _, _) in lines.items()} == {
        "uniform seek=exact": [[4, 25.0], [8, 50.0]], "uniform seek=keyframe": [[4, 50.0], [8, 100.0]]}


def test_points_are_drawn_under_the_metric_the_benchmark_declares(tmp_path):
    # toy-mlvu averages its categories: 1100 over count count count order -> (2/3 + 0/1) / 2 = 33.3 (plain: 50.0)
    categories = ["count", "count", "count", "order"]
    with registered_benchmark("toy-mlvu", ToyMLVU):
        data = prepare(read_all(write(tmp_path, cell("uniform", 4, "1100", dataset="toy-mlvu", category=categories))))
        _, lines = lines_of(plots.accuracy_vs_frames(data))
    ((k, accuracy),) = lines["uniform"][0]
    assert (k, round(accuracy, 1)) == (4, 33.3)
