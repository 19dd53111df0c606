"""`bench view`: the static site's files, its grid against `bench table`, its compare pages against
the CSVs, thumbnails from the frame cache only; then the site in a real (headless) chromium."""

from __future__ import annotations

import csv
import html
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.records import DataOptions
from bench.registry import benchmarks
from bench.results import read_all
from bench.runner import RunConfig, run
from bench.store.frames import FrameCache

N, SIZE = 32, 64
UNCACHED = "test-0-00005"  # the sample whose candidates the fixture removes from the frame cache


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A needle grid (uniform, oracle at k=4 and 16 with probe), one sample's candidates then dropped from the cache, and its site."""
    root = tmp_path_factory.mktemp("view")
    cache, results, site = root / "cache", root / "results", root / "site"
    run(RunConfig(datasets=("needle",), selectors=("uniform", "oracle"), backbones=("probe",), frames=(4, 16), limit=6,
                  candidates=N, frame_size=SIZE, results_dir=results, cache_dir=cache, device="cpu"))
    sample = next(s for s in benchmarks.build("needle").load(DataOptions(cache_dir=cache, limit=6)) if s.sample_id == UNCACHED)
    frames = FrameCache(cache)
    key = frames.cached(sample.videos, N, SIZE, "exact").key
    for path in (frames.store.root / key[:2]).glob(f"{key}*"):
        path.unlink()
    assert frames.cached(sample.videos, N, SIZE, "exact") is None
    result = CliRunner().invoke(main, ["view", "--results-dir", str(results), "--out", str(site), "--cache-dir", str(cache), "--limit", "6"])
    assert result.exit_code == 0, result.output
    return {"cache": cache, "results": results, "site": site}


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
    assert len(list((site / "compare").glob("*.html"))) == 2  # uniform vs oracle at k=4 and at k=16
    assert "http" not in (site / "index.html").read_text()  # nothing from the network


def test_the_grid_shows_the_texts_of_bench_table_csv(built):
    printed = CliRunner().invoke(main, ["table", "--results-dir", str(built["results"]), "--format", "csv"])
    assert printed.exit_code == 0, printed.output
    expected = list(csv.reader(io.StringIO(printed.stdout)))
    assert _grid_texts((built["site"] / "index.html").read_text()) == [row for row in expected if row]


def test_a_compare_page_lists_exactly_the_samples_whose_verdicts_differ(built):
    data = read_all(built["results"])
    data = data[data["error"].fillna("") == ""]
    for page in (built["site"] / "compare").glob("*.html"):
        text = page.read_text()
        k = int(re.search(r"-k(\d+)-", page.name).group(1))  # oracle-k16-<hash>--uniform-k16-<hash>.html
        at_k = data[data["frames"] == k]
        both = at_k[at_k["selector"] == "oracle"].merge(at_k[at_k["selector"] == "uniform"], on="sample_id", suffixes=("_o", "_u"))
        expected = set(both.loc[both["correct_o"].astype(bool) != both["correct_u"].astype(bool), "sample_id"])
        assert set(re.findall(r'data-sample="([^"]+)"', text)) == expected
        assert f'<span id="differ">{len(expected)}</span>' in text


def test_sample_pages_show_cached_thumbnails_and_say_when_frames_are_not_cached(built):
    site = built["site"]
    for page in (site / "samples").glob("*/*.html"):
        text = page.read_text()
        if page.stem == UNCACHED:
            assert "candidates not cached" in text and "<img" not in text
            continue
        sprites = set(re.findall(r'src="\.\./\.\./(thumbs/[0-9a-f]+\.jpg)"', text))
        assert len(sprites) == 1 and (site / sprites.pop()).stat().st_size > 0
        assert text.count('<span class="sel"') == (4 if "-k4-" in page.parent.name else 16)  # the selection is marked
        assert "<svg" in text  # uniform and oracle scores are stored by the run


# --- a real browser ----------------------------------------------------------------------------

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


def _shot(driver, tmp_path: Path, name: str) -> None:
    """Keep a screenshot of the page under the test's tmp dir, and under $FRAMEBENCH_ARTIFACTS when set."""
    for folder in (tmp_path, os.environ.get("FRAMEBENCH_ARTIFACTS")):
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(Path(folder) / f"view-{name}.png"))


def _no_console_errors(driver) -> None:
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_in_a_browser_the_grid_cell_and_sample_pages_show_numbers_and_frames(built, browser, tmp_path):
    from selenium.webdriver.common.by import By

    printed = CliRunner().invoke(main, ["table", "--results-dir", str(built["results"]), "--format", "csv"]).stdout
    expected = [row for row in csv.reader(io.StringIO(printed)) if row]
    browser.get((built["site"] / "index.html").as_uri())
    rendered = [[c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")] for row in browser.find_elements(By.CSS_SELECTOR, "#grid tr")]
    assert rendered == expected
    _shot(browser, tmp_path, "index")
    _no_console_errors(browser)

    browser.find_element(By.CSS_SELECTOR, '#grid a[href*="oracle-k16"]').click()
    assert "oracle k=16" in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.ID, "verdict").send_keys("right")  # the filter hides the other rows
    shown = [r for r in browser.find_elements(By.CSS_SELECTOR, "#samples tbody tr") if r.is_displayed()]
    assert shown and all("right" in r.get_attribute("data-verdict") for r in shown)
    _shot(browser, tmp_path, "cell")
    _no_console_errors(browser)

    browser.find_element(By.CSS_SELECTOR, '#samples a[href$="test-0-00000.html"]').click()
    sheet = browser.find_element(By.CSS_SELECTOR, ".strip img")  # the N candidates side by side, each a thumbnail
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", sheet) == N * round(SIZE * 4 / 3 * 64 / SIZE)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".strip span.sel")) == 16
    assert browser.find_elements(By.CSS_SELECTOR, "svg.curve polyline")
    _shot(browser, tmp_path, "sample")
    _no_console_errors(browser)


def test_in_a_browser_the_compare_form_opens_the_page_of_the_two_cells(built, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get((built["site"] / "index.html").as_uri())
    labels = [o.text for o in Select(browser.find_element(By.ID, "cell-a")).options]
    Select(browser.find_element(By.ID, "cell-a")).select_by_visible_text(next(t for t in labels if "uniform k=16" in t))
    Select(browser.find_element(By.ID, "cell-b")).select_by_visible_text(next(t for t in labels if "oracle k=16" in t))
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    assert "compare/" in browser.current_url
    listed = {d.get_attribute("data-sample") for d in browser.find_elements(By.CSS_SELECTOR, "div.sample")}
    page = Path(browser.current_url.removeprefix("file://")).read_text()
    assert listed == set(re.findall(r'data-sample="([^"]+)"', page))
    assert int(browser.find_element(By.ID, "differ").text) == len(listed)
    _shot(browser, tmp_path, "compare")
    _no_console_errors(browser)
