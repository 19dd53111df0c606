"""`bench view`: the static site's files, its grid against `bench table`, each cell's data (what the
compare page reads) against the CSVs, thumbnails from the frame cache only; then the site in a real
(headless) chromium, the compare page for every two cells against the CSVs."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import shutil
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from click.testing import CliRunner

from bench.cli import main
from bench.records import DataOptions
from bench.registry import benchmarks
from bench.results import read_all, rewrite
from bench.runner import RunConfig, run
from bench.store.frames import FrameCache

N, SIZE = 32, 64
UNCACHED = "test-0-00005"  # the sample whose candidates the fixture removes from the frame cache
FAILED = "test-0-00002"  # the sample whose uniform k=16 row the fixture turns into an error row
WRONG = "test-0-00001"  # the sample whose uniform k=4 row the fixture makes a parsed wrong answer (unparsed at k=16: no disagreement)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A needle grid (uniform, oracle at k=4 and 16 with probe), one sample's candidates and strip then dropped from the cache,
    one row made an error row as a run whose server failed writes it, one a parsed wrong answer, and its site."""
    root = tmp_path_factory.mktemp("view")
    cache, results, site = root / "cache", root / "results", root / "site"
    run(RunConfig(datasets=("needle",), selectors=("uniform", "oracle"), backbones=("probe",), frames=(4, 16), limit=6,
                  candidates=N, frame_size=SIZE, results_dir=results, cache_dir=cache, device="cpu"))
    sample = next(s for s in benchmarks.build("needle").load(DataOptions(cache_dir=cache, limit=6)) if s.sample_id == UNCACHED)
    frames = FrameCache(cache)
    key = frames.cached(sample.videos, N, SIZE, "exact").key
    for store, entry in ((frames.store, key), (frames.thumbs.store, frames.thumbs.key(key))):
        paths = list((store.root / entry[:2]).glob(f"{entry}*"))
        assert paths
        for path in paths:
            path.unlink()
    assert frames.cached(sample.videos, N, SIZE, "exact") is None and frames.thumbs.load(key) is None
    failed = {"error": "answer: ConnectionError: the server went away", "selected": "", "prediction": "", "correct": None, "parse_ok": None}
    uniform16 = next(p for p in results.rglob("*.csv") if p.name.startswith("uniform") and "k16" in p.name)
    assert rewrite(uniform16, lambda row: failed if row["sample_id"] == FAILED else {}) == 1
    uniform4 = next(p for p in results.rglob("*.csv") if p.name.startswith("uniform") and "k4" in p.name)
    wrong = {"prediction": "A. pink", "parsed": "A", "parse_ok": True, "correct": False}  # a parsed wrong answer: the probe's are right or unparsed
    assert rewrite(uniform4, lambda row: wrong if row["sample_id"] == WRONG else {}) == 1
    _view(results, site, cache)
    return {"cache": cache, "results": results, "site": site}


def _view(results: Path, site: Path, cache: Path, *extra: str) -> str:
    """Run `bench view` over the fixture's six samples; its output."""
    result = CliRunner().invoke(main, ["view", "--results-dir", str(results), "--out", str(site), "--cache-dir", str(cache), "--limit", "6", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _grid_texts(index: str) -> list[list[str]]:
    """The grid table of index.html as rows of cell texts, header first."""
    table = re.search(r'<table id="grid">(.*?)</table>', index, re.DOTALL).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)] for row in rows]


def test_the_site_has_an_index_cells_samples_and_compare_pages(built):
    site = built["site"]
    assert (site / "index.html").exists() and (site / "style.css").exists() and (site / "site.js").exists()
    assert len(list((site / "cells").glob("*.html"))) == 4  # 2 selectors x 2 k
    assert len(list((site / "samples").glob("*/*.html"))) == 4 * 6
    assert (site / "compare.html").exists() and len(list((site / "data").glob("*.js"))) == 4  # the compare page and each cell's rows
    assert not any("http" in (site / name).read_text() for name in ("index.html", "compare.html", "site.js"))  # nothing from the network


def test_the_grid_shows_the_texts_of_bench_table_csv(built):
    printed = CliRunner().invoke(main, ["table", "--results-dir", str(built["results"]), "--format", "csv"])
    assert printed.exit_code == 0, printed.output
    expected = list(csv.reader(io.StringIO(printed.stdout)))
    assert _grid_texts((built["site"] / "index.html").read_text()) == [row for row in expected if row]


def _verdicts(rows) -> dict[str, str]:
    """sample_id -> 'error', 'right' or 'wrong', from the CSV columns."""
    return {r.sample_id: "error" if isinstance(r.error, str) and r.error else "right" if pd.notna(r.correct) and r.correct else "wrong" for r in rows.itertuples()}


def _cell_data(path: Path) -> list[dict]:
    """The rows data/<cell>.js hands the compare page."""
    text = path.read_text()
    assert text.startswith(f'cellLoaded("{path.stem}", ') and text.endswith(");\n")
    return json.loads(text[len(f'cellLoaded("{path.stem}", '):-3])


def test_each_cells_data_holds_its_rows_verdicts_and_selections_for_the_compare_page(built):
    data = read_all(built["results"])
    files = sorted((built["site"] / "data").glob("*.js"))
    assert len(files) == 4
    for path in files:
        selector, k = re.match(r"(\w+)-k(\d+)-", path.name).groups()  # oracle-k16-<hash>.js
        rows = data[(data["frames"] == int(k)) & (data["selector"] == selector)]
        cell = _cell_data(path)
        assert {r["id"]: r["verdict"].split()[0] for r in cell} == _verdicts(rows)
        for row in cell:
            if row["id"] == UNCACHED:
                assert "candidates not cached" in row["frames"] and "<img" not in row["frames"]
                continue
            assert re.search(r'<img src="thumbs/[0-9a-f]+\.jpg"', row["frames"])  # paths from the site's root, where compare.html is
            assert row["frames"].count('<span class="sel"') == len(row["selected"].split()) == (0 if row["verdict"] == "error" else int(k))
        if (selector, k) == ("uniform", "16"):
            assert next(r for r in cell if r["id"] == FAILED)["verdict"] == "error"


def test_sample_pages_show_cached_thumbnails_and_say_when_frames_are_not_cached(built):
    site = built["site"]
    for page in (site / "samples").glob("*/*.html"):
        text = page.read_text()
        if page.stem == UNCACHED:
            assert "candidates not cached" in text and "<img" not in text
            continue
        sprites = set(re.findall(r'src="\.\./\.\./(thumbs/[0-9a-f]+\.jpg)"', text))
        assert len(sprites) == 1 and (site / sprites.pop()).stat().st_size > 0
        failed = page.stem == FAILED and page.parent.name.startswith("uniform-k16")
        assert text.count('<span class="sel"') == (0 if failed else 4 if "-k4-" in page.parent.name else 16)  # the selection is marked
        assert "<svg" in text  # uniform and oracle scores are stored by the run


def test_thumbnails_stay_within_thumbs_mb_shown_at_the_same_size(built, tmp_path):
    full = sum(p.stat().st_size for p in (built["site"] / "thumbs").glob("*.jpg"))
    budget = full / 4
    site = tmp_path / "small"
    _view(built["results"], site, built["cache"], "--thumbs-mb", str(budget / 1e6))
    sprites = sorted((site / "thumbs").glob("*.jpg"))
    assert len(sprites) == 5 and sum(p.stat().st_size for p in sprites) <= budget  # five cached videos, each within a fifth
    assert all(Image.open(p).height < 64 for p in sprites)  # stored smaller ...
    page = next((site / "samples").glob("oracle-k16-*/test-0-00000.html")).read_text()
    assert f'width="{N * 85}" height="64"' in page  # ... and shown at the size a full budget shows

    output = _view(built["results"], tmp_path / "tiny", built["cache"], "--thumbs-mb", "0.000001")
    assert "5 strips are over their share of --thumbs-mb 1e-06" in output


def test_the_run_stored_each_videos_strip_and_the_site_shows_it(built):
    cache = FrameCache(built["cache"])
    samples = [s for s in benchmarks.build("needle").load(DataOptions(cache_dir=built["cache"], limit=6)) if s.sample_id != UNCACHED]
    assert len(list((built["cache"] / "thumbs").rglob("*.json"))) == len(samples) == 5  # one per decoded video
    for sample in samples:
        cands = cache.cached(sample.videos, N, SIZE, "exact")
        strip = cache.thumbs.load(cands.key)
        assert strip.times == tuple(cands.times.tolist()) and strip.duration_s == cands.meta.duration_s
        assert (built["site"] / "thumbs" / f"{cands.key}.jpg").read_bytes() == strip.jpeg
        sprite = np.asarray(Image.open(io.BytesIO(strip.jpeg)).convert("L"), dtype=float)
        assert sprite.shape == (64, N * 85)  # 120x160 frames at 64 rows: 85 across
        for i in (0, N // 2, N - 1):  # each thumbnail is its own candidate, in time order
            frame = np.asarray(Image.fromarray(np.ascontiguousarray(cands.frames[i])).convert("L"), dtype=float)
            assert np.abs(sprite[:, i * 85:(i + 1) * 85] - frame).mean() < 6


def test_a_later_build_reads_the_thumbnails_the_cache_keeps_not_the_frames(built, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(built["cache"], cache, ignore=lambda folder, names: ["frames"] if Path(folder) == built["cache"] else [])
    assert not (cache / "frames").exists() and len(list((cache / "thumbs").rglob("*.json"))) == 5
    _view(built["results"], tmp_path / "site", cache)
    again = {p.name: p.read_bytes() for p in (tmp_path / "site" / "thumbs").glob("*.jpg")}
    assert again == {p.name: p.read_bytes() for p in (built["site"] / "thumbs").glob("*.jpg")}
    uncached = next((tmp_path / "site" / "samples").glob(f"uniform-k4-*/{UNCACHED}.html")).read_text()
    assert "candidates not cached" in uncached  # it never had thumbnails either


def test_a_video_that_cannot_be_read_is_a_line_on_its_page_and_the_site_is_built(built, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(built["cache"], cache)
    sample = next(s for s in benchmarks.build("needle").load(DataOptions(cache_dir=cache, limit=6)) if s.sample_id == "test-0-00003")
    video = next(p for p in sample.videos if p.exists())
    video.unlink()
    video.mkdir()  # there, but opening it fails (a permission error reads the same, but root may read anything)
    _view(built["results"], tmp_path / "site", cache)
    page = next((tmp_path / "site" / "samples").glob("uniform-k4-*/test-0-00003.html")).read_text()
    assert f"the video cannot be read ({video}: Is a directory)" in html.unescape(page) and "<img" not in page
    other = next((tmp_path / "site" / "samples").glob("uniform-k4-*/test-0-00004.html")).read_text()
    assert "<img" in other


# --- a real browser ----------------------------------------------------------------------------

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError:  # the browser fixture skips, saying how to install selenium
    By = Select = None

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("no chromium here: install it with `apt-get install chromium chromium-driver` to run the browser tests")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install selenium (in the test extras)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000", "--allow-file-access-from-files"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


ARTIFACTS = Path(os.environ.get("FRAMEBENCH_ARTIFACTS") or Path(__file__).parents[1] / "artifacts") / "view"


def _shot(driver, name: str) -> None:
    """Keep a screenshot of the page as a CI artifact: artifacts/view/ in the checkout, or $FRAMEBENCH_ARTIFACTS/view/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _no_console_errors(driver) -> None:
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def _shown(driver, css: str) -> list:
    return [item for item in driver.find_elements(By.CSS_SELECTOR, css) if item.is_displayed()]


def _choose(driver, label: str, value: str) -> None:
    """Pick `value` in the filter whose label starts with `label`."""
    select = next(s for s in driver.find_elements(By.CSS_SELECTOR, "label") if s.text.startswith(label)).find_element(By.TAG_NAME, "select")
    Select(select).select_by_value(value)


def test_in_a_browser_the_grid_cell_and_sample_pages_show_numbers_and_frames(built, browser):
    printed = CliRunner().invoke(main, ["table", "--results-dir", str(built["results"]), "--format", "csv"]).stdout
    expected = [row for row in csv.reader(io.StringIO(printed)) if row]
    browser.get((built["site"] / "index.html").as_uri())
    rendered = [[c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")] for row in browser.find_elements(By.CSS_SELECTOR, "#grid tr")]
    assert rendered == expected
    _shot(browser, "index")
    _no_console_errors(browser)

    browser.find_element(By.CSS_SELECTOR, '#grid a[href*="oracle-k16"]').click()
    assert "oracle k=16" in browser.find_element(By.TAG_NAME, "h1").text
    _choose(browser, "category", "disc")  # the filters hide the other rows
    assert {r.get_attribute("data-category") for r in _shown(browser, "#samples tbody tr")} == {"disc"}
    assert int(browser.find_element(By.ID, "shown").text) == len(_shown(browser, "#samples tbody tr")) == 2
    _choose(browser, "verdict", "wrong")
    assert _shown(browser, "#samples tbody tr") == [] and browser.find_element(By.ID, "shown").text == "0"
    _choose(browser, "verdict", "right")
    _shot(browser, "cell")
    _no_console_errors(browser)

    browser.find_element(By.CSS_SELECTOR, '#samples a[href$="test-0-00001.html"]').click()
    sheet = browser.find_element(By.CSS_SELECTOR, ".strip img")  # the N candidates side by side, each a thumbnail
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", sheet) == N * round(SIZE * 4 / 3 * 64 / SIZE)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".strip span.sel")) == 16
    assert browser.find_elements(By.CSS_SELECTOR, "svg.curve polyline")
    _shot(browser, "sample")
    _no_console_errors(browser)


def _compare(browser, site: Path, a: str, b: str) -> None:
    """Choose cells `a` and `b` (by label) in the grid page's compare form and open their page."""
    browser.get((site / "index.html").as_uri())
    labels = [o.text for o in Select(browser.find_element(By.ID, "cell-a")).options]
    for select, label in (("cell-a", a), ("cell-b", b)):
        Select(browser.find_element(By.ID, select)).select_by_visible_text(next(t for t in labels if t.endswith(f"· {label}")))
    browser.find_element(By.CSS_SELECTOR, "form button").click()


def test_in_a_browser_the_compare_page_lists_the_disagreeing_samples_of_any_two_cells(built, browser):
    data = read_all(built["results"])
    verdicts = {(s, k): _verdicts(data[(data["frames"] == k) & (data["selector"] == s)]) for s in ("oracle", "uniform") for k in (4, 16)}
    for (a, b) in combinations(sorted(verdicts), 2):  # across k as well as within
        _compare(browser, built["site"], f"{a[0]} k={a[1]} N={N} size={SIZE}", f"{b[0]} k={b[1]} N={N} size={SIZE}")
        assert "compare.html?a=" in browser.current_url
        differ = {s for s in verdicts[a] if verdicts[a][s] != verdicts[b][s]}
        listed = [d.get_attribute("data-sample") for d in _shown(browser, "div.sample")]
        assert sorted(listed) == sorted(differ) and browser.find_element(By.ID, "differ").text == str(len(differ)), (a, b)
        for sample in listed:  # both selections, each with its thumbnails loaded
            if sample != UNCACHED:
                sheets = browser.find_elements(By.CSS_SELECTOR, f'div.sample[data-sample="{sample}"] .strip img')
                assert len(sheets) == 2 and all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i) for i in sheets)
        _no_console_errors(browser)


def test_in_a_browser_the_compare_page_filters_by_each_cells_verdict_and_by_category(built, browser):
    _compare(browser, built["site"], f"uniform k=16 N={N} size={SIZE}", f"oracle k=16 N={N} size={SIZE}")
    data = read_all(built["results"])
    oracle, uniform = (_verdicts(data[(data["frames"] == 16) & (data["selector"] == s)]) for s in ("oracle", "uniform"))
    differ = {s for s in oracle if oracle[s] != uniform[s]}

    def listed() -> set[str]:
        return {d.get_attribute("data-sample") for d in _shown(browser, "div.sample")}

    assert listed() == differ == {"test-0-00001", FAILED}  # a wrong answer and the error row, each against oracle's right one
    _shot(browser, "compare")
    for side, verdicts in (("uniform k=16", uniform), ("oracle k=16", oracle)):
        for value in ("right", "wrong", "error"):
            _choose(browser, side, value)
            assert listed() == {s for s in differ if verdicts[s] == value}, (side, value)
            assert int(browser.find_element(By.ID, "shown").text) == len(listed())
        _choose(browser, side, "all")
    _choose(browser, "uniform k=16", "unparsed")  # the probe's "I did not see any shape." parses to no option
    assert listed() == {s for s in differ if uniform[s] == "wrong"} != set()
    _choose(browser, "uniform k=16", "all")
    categories = dict(zip(data["sample_id"], data["category"]))
    for category in sorted({categories[s] for s in differ}):
        _choose(browser, "category", category)
        assert listed() == {s for s in differ if categories[s] == category}
    _no_console_errors(browser)


def test_in_a_browser_two_cells_that_share_no_samples_or_a_cell_not_there_are_refused_with_a_line(built, browser):
    browser.get((built["site"] / "index.html").as_uri())
    opened = [Select(browser.find_element(By.ID, f"cell-{side}")).first_selected_option.get_attribute("value") for side in "ab"]
    assert opened[0] != opened[1]  # the form opens on two cells it can compare
    _compare(browser, built["site"], f"uniform k=4 N={N} size={SIZE}", f"uniform k=4 N={N} size={SIZE}")
    assert browser.current_url.endswith("index.html") and browser.find_element(By.ID, "compare-note").text == "Choose two different cells."
    other = browser.execute_script("SITE.cells.elsewhere = {dataset: 'nextqa'}; var a = document.getElementById('cell-a').value;"
                                   "return compareProblem(a, 'elsewhere');")
    assert other == "These cells are of different datasets, so they share no samples."
    real = next(p.stem for p in (built["site"] / "data").glob("*.js"))
    for missing in ("uniform-k4-0000000000", "constructor"):  # a name no cell has, and one every script object answers to
        browser.get((built["site"] / "compare.html").as_uri() + f"?a={missing}&b={real}")
        assert browser.find_element(By.ID, "compare-note").text.startswith(f"There is no cell {missing} on this site")
        assert browser.find_elements(By.CSS_SELECTOR, "div.sample") == []
    _no_console_errors(browser)


def test_bench_view_serve_serves_the_site_on_localhost_until_interrupted(built, browser, tmp_path):
    site = tmp_path / "served"
    command = [sys.executable, "-m", "bench", "view", "--results-dir", str(built["results"]), "--cache-dir", str(built["cache"]),
               "--limit", "6", "--out", str(site), "--serve", "--port", "0"]
    # Ctrl-C reaches a foreground process whose SIGINT is the default; a suite started in the background has SIGINT ignored,
    # which its children keep across exec unless it is caught here (a caught signal is the default again in the child)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    finally:
        signal.signal(signal.SIGINT, previous)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stderr], daemon=True).start()
    try:
        said, found = [], None
        while not found:
            said.append(lines.get(timeout=120))  # the build takes seconds; a server that never says where it is fails here
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", said[-1])
        url = found.group(1)
        with urllib.request.urlopen(url + "index.html", timeout=10) as reply:
            assert reply.read() == (site / "index.html").read_bytes()
        browser.get(url)
        assert len(browser.find_elements(By.CSS_SELECTOR, "#grid a")) == 4  # the four cells, over HTTP
        browser.find_element(By.CSS_SELECTOR, '#grid a[href*="uniform-k4"]').click()
        assert browser.find_elements(By.CSS_SELECTOR, "#samples tbody tr")
        _no_console_errors(browser)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()  # not left serving after the suite
            code = "still running 30 s after Ctrl-C"
        while not lines.empty():
            said.append(lines.get())
        assert code == 0, "".join(said[-20:])
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)
