"""`bench view`: write the results as a static site (grid, cells, samples with their frames, comparisons)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands._options import (
    CACHE_DIR,
    DATA_ROOT,
    LIMIT,
    RESULTS_DIR,
    SEED,
    VERBOSE,
    options,
)
from bench.commands._output import err, setup_logging


@click.command("view")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("site"), show_default=True, help="Folder to write the site into.")
@click.option("--serve", is_flag=True, help="After writing, serve the folder on localhost until Ctrl-C.")
@click.option("--thumbs-mb", type=click.FloatRange(min=0, min_open=True), default=200, show_default=True,
              help="Megabytes all thumbnails may take: each video's strip gets an equal share, stored at fewer pixels where it needs to.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True, help="With --serve: the port (0: any free one).")
@options(RESULTS_DIR, CACHE_DIR, DATA_ROOT, SEED, LIMIT, VERBOSE)
def command(out: Path, serve: bool, thumbs_mb: float, port: int, results_dir: Path, cache_dir: Path | None, data_root: Path | None, seed: int, limit: int | None, verbose: bool) -> None:
    """Write the results as a static site that opens from the file system: open OUT/index.html.

    The index holds the grid (the texts of `bench table --format csv`), each cell linking to
    its samples (filter by right, wrong, unparsed, error and category); each sample shows its
    N candidates as thumbnails with the selection outlined and the evidence underlined, and
    the selector's score curve. The compare page lists, for any two cells of one dataset
    (chosen on the index), the samples whose verdicts differ (right, wrong, or an error row),
    with both selections side by side (filter by each cell's verdict and by category). Thumbnails and
    scores come from the cache, and no video is decoded: each thumbnail strip is the one
    `bench run` kept, or is made once from the cached candidates; where a video has neither
    the page says so. All thumbnails together take at most --thumbs-mb. Datasets are loaded
    as `bench run` loads them (--data-root, --seed, --limit), to find each sample's video.

    \b
    Examples:
      bench view --results-dir results --out site && xdg-open site/index.html
      bench view --out site --serve --port 8000
    """
    from bench.analysis import site, tables
    from bench.commands._output import RichReporter, read_results
    from bench.store import default_root

    setup_logging(verbose)
    read_results(results_dir)  # a malformed CSV exits 2 naming file, line and column, as in `bench table`
    try:
        built = site.build(results_dir, out, Path(cache_dir or default_root()), data_root, seed, limit, thumbs_mb, RichReporter())
    except tables.TableError as exc:
        raise click.ClickException(f"{results_dir}: {exc}") from None
    err.print(f"wrote {built.pages} pages for {built.rows} rows and {built.thumbs} thumbnail strips "
              f"({built.thumb_bytes / 1e6:.1f} MB) in {built.seconds:.1f} s: {out / 'index.html'}", soft_wrap=True)
    if built.over:
        err.print(f"{built.over} strips are over their share of --thumbs-mb {thumbs_mb:g} even at the smallest size and quality: "
                  "give a larger --thumbs-mb, or fewer rows (--limit)", soft_wrap=True)
    if serve:
        _serve(out, port)


def _serve(folder: Path, port: int) -> None:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        err.print(f"serving {folder} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", soft_wrap=True)  # one line, so the address can be copied
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
