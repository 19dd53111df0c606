"""`bench show`: the contact sheet, and the PNG for one sample, selector and k."""

import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.records import DataOptions
from bench.registry import benchmarks
from bench.show import GAP, OUTLINE, contact_sheet, show


def test_contact_sheet_tiles_in_time_order_and_outlines_the_selected():
    # three 2x2 frames of values 10, 20, 30, two columns, border 1: tiles are 4x4, the sheet 8x8
    frames = np.stack([np.full((2, 2, 3), v, dtype=np.uint8) for v in (10, 20, 30)])
    sheet = contact_sheet(frames, np.array([1]), columns=2, border=1)
    assert sheet.shape == (8, 8, 3)
    assert (sheet[1:3, 1:3] == 10).all() and (sheet[1:3, 5:7] == 20).all() and (sheet[5:7, 1:3] == 30).all()
    assert (sheet[0, 4:8] == OUTLINE).all() and (sheet[3, 4:8] == OUTLINE).all() and (sheet[1:3, 7] == OUTLINE).all()
    assert (sheet[0, 0:4] == GAP).all() and (sheet[4, 0:4] == GAP).all()  # frames 0 and 2 are not selected
    assert (sheet[4:8, 4:8] == GAP).all()  # no fourth frame


@pytest.fixture(scope="module")
def first(cache_dir):
    """The first needle test sample; loading the benchmark makes its 40 default videos."""
    return benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir))[0]


def test_show_draws_the_selection_and_the_answer(first, cache_dir, tmp_path):
    shown = show("needle", first.sample_id, "spatial:scorer=probe", 4, out=tmp_path / "a.png", backbone="probe", cache_dir=cache_dir)
    image = matplotlib.image.imread(shown.path)
    assert image.shape[1] == 1600 and image.shape[0] > 800  # 16 inches at 100 dpi, sheet over curve
    assert len(shown.selected) == 4 and list(shown.selected) == sorted(set(shown.selected))
    assert shown.outcome is not None and shown.outcome.correct and shown.prediction.startswith(first.answer)
    assert shown.scores.shape == (128,) and shown.scores[list(shown.selected)].max() == shown.scores.max()


def test_bench_show_writes_the_png_for_a_selectors_own_rule(first, cache_dir, tmp_path):
    out = tmp_path / "sheets" / "mdp3.png"
    result = CliRunner().invoke(main, [
        "show", "--dataset", "needle", "--sample", first.sample_id, "--selector", "mdp3:size=tiny",
        "--frames", "8", "--cache-dir", str(cache_dir), "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    selected = [int(i) for i in result.output.split("selected")[1].split()]
    assert len(selected) == 8 and selected == sorted(set(selected)) and out.stat().st_size > 10_000


def test_bench_show_names_the_samples_it_has_when_the_id_is_unknown(first, cache_dir, tmp_path):
    result = CliRunner().invoke(main, ["show", "--dataset", "needle", "--sample", "nope", "--selector", "uniform", "--cache-dir", str(cache_dir)])
    assert result.exit_code == 2 and "has no sample 'nope'" in result.output and first.sample_id in result.output
