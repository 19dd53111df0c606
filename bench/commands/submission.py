"""`bench submission`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bench.commands._options import RESULTS_DIR
from bench.commands._output import err, read_results


@click.command("submission")
@RESULTS_DIR
@click.option("--dataset", default="egoschema:split=full", show_default=True, help="The EgoSchema full-set spec the rows were run under.")
@click.option("--selector", required=True, help="The cell's selector, e.g. uniform.")
@click.option("--backbone", required=True, help="The cell's backbone, e.g. qwen2-vl.")
@click.option("--frames", type=int, required=True, help="The cell's k.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="The JSON file to write.")
def command(results_dir: Path, dataset: str, selector: str, backbone: str, frames: int, out: Path) -> None:
    """Write EgoSchema's full-set submission file, {q_uid: option index}, from one cell's rows.

    EgoSchema's answers for its 5,031 questions are hidden; its validation server scores this
    file (framebench uploads nothing). A reply that named no option is written as -1, which
    the server counts wrong; error rows are left out, and both are counted on stderr.

    \b
    Example:
      bench submission --selector uniform --backbone qwen2-vl --frames 8 --out egoschema_full.json
    """
    from bench.benchmarks.egoschema import submission
    from bench.registry import RegistryError, Spec, backbones, benchmarks
    from bench.selectors import plan

    try:
        spec, chosen, model = benchmarks.canonical(dataset), plan(selector).spec, backbones.canonical(backbone)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None
    parsed = Spec.parse(spec)
    if parsed.name != "egoschema" or parsed.get("split") != "full":
        raise click.UsageError(f"--dataset must be an egoschema:split=full spec, not {dataset!r}")
    data = read_results(results_dir)
    rows = data[(data.dataset == spec) & (data.selector == chosen) & (data.backbone == model) & (data.frames == frames)]
    if rows.empty:
        raise click.ClickException(f"no rows of {spec} x {chosen} x {model} x k={frames} under {results_dir}")
    answered = rows[rows.error == ""]
    answers = submission(answered.sample_id, answered.parsed.fillna(""))
    out.write_text(json.dumps(answers, indent=1) + "\n")
    unparsed = sum(v == -1 for v in answers.values())
    err.print(f"wrote {len(answers)} answers to {out} ({unparsed} unparsed as -1; {len(rows) - len(answered)} error rows left out)")
