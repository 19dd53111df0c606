"""Wall time of `bench run` against a slow OpenAI-compatible server, at 1, 4, 8 and 16 requests in flight.

The server is the tests' image server (tests/image_server.py: the needle probe behind HTTP,
reading the JPEG frames it is sent) spending `--latency` seconds (0.4) on every request, as a
served model would; framebench should keep it busy, so that at concurrency C the wall time
approaches questions x latency / C. Each concurrency runs the same grid (needle, `--limit`
questions, uniform, k=4, `openai:model=probe-server:concurrency=C`, the server found through
OPENAI_BASE_URL) into a results dir of its own, after one warm-up run with the in-process
probe has generated and decoded the videos, so only answering is timed. Prints a markdown
table: wall seconds, the ratio to concurrency 1, the most requests the server held at once,
and the ideal. Target: concurrency 8 at most 0.2x.

    python -m perf.serving
    python -m perf.serving --limit 16 --latency 0.2 --concurrency 1,8   # a quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.runner import RunConfig, run
from tests.image_server import ImageServer


def grid(root: Path, backbone: str, limit: int, results: str) -> RunConfig:
    return RunConfig(datasets=("needle",), selectors=("uniform",), backbones=(backbone,), frames=(4,), limit=limit,
                     results_dir=root / results, cache_dir=root / "cache", device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=48, help="needle questions")
    parser.add_argument("--latency", type=float, default=0.4, help="seconds the server spends on each request")
    parser.add_argument("--concurrency", default="1,4,8,16")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "unused")  # the test server checks no key
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp, ImageServer(latency=args.latency) as server:
        root = Path(tmp)
        os.environ["OPENAI_BASE_URL"] = server.url
        run(grid(root, "probe", args.limit, "warm-up"))  # generates and decodes the videos, so that only answering is timed
        timings = []
        for c in levels:
            server.peak = 0
            start = time.perf_counter()
            summary = run(grid(root, f"openai:model=probe-server:concurrency={c}", args.limit, f"c{c}"))
            seconds = time.perf_counter() - start
            if summary.written != args.limit or summary.errors:
                raise SystemExit(f"concurrency {c}: {summary.written} rows, {summary.errors} errors: {summary.error_examples}")
            timings.append((c, seconds, server.peak))
    base = timings[0][1] if levels[0] == 1 else None
    print(f"{args.limit} needle questions, k=4, uniform; {args.latency} s per request at the server\n")
    print("| concurrency | wall s | ratio to concurrency 1 | most requests in flight | ideal s |")
    print("|---|---|---|---|---|")
    for c, seconds, peak in timings:
        ratio = f"{seconds / base:.3f}" if base else "-"
        print(f"| {c} | {seconds:.2f} | {ratio} | {peak} | {args.limit * args.latency / c:.1f} |")


if __name__ == "__main__":
    main()
