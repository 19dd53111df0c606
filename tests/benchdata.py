"""Data roots for the benchmark tests: the fixture annotations unpacked at different depths, and hub-shaped folders.

`tests/fixtures/` holds real records of the five benchmarks in their published formats, and
records written here in MLVU's and LVBench's (see its README). A hub-shaped folder is what `datasets.load_dataset` reads for a Hugging Face id:
parquet files plus a README whose YAML names the configs and splits, so `hf=<folder>` runs the
real hub code path offline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.records import DataOptions
from bench.registry import benchmarks

FIXTURES = Path(__file__).parent / "fixtures"
# where each fixture folder goes under the data root: deliberately uneven, as users unpack things
LAYOUT = {
    "nextqa": "NExT-QA/dataset/nextqa",
    "activitynet-qa": "activitynet/annotations",
    "egoschema": "EgoSchema",
    "longvideobench": "lvb",
    "videomme": "Video-MME/videomme",
    "mlvu": "MVLU",  # holds MLVU/json/<n>_<task>.json, as the official download does
    "lvbench": "LVBench/annotations",
}
EGOSCHEMA_SUBSET = {  # none of the preview questions is among the 500 public answers, so the tests answer three
    "001934bb-81bd-4cd8-a574-0472ef3f6678": 3,
    "005651d6-f710-4909-b76d-acf7306fb72a": 4,
    "0089a0d6-fe3f-4db7-8c89-19e9e08e5e7c": 0,
}


def unpack(root: Path) -> Path:
    """Copy every fixture folder under `root` as LAYOUT says, with the tests' EgoSchema subset answers."""
    for name, place in LAYOUT.items():
        shutil.copytree(FIXTURES / name, root / place)
    (root / LAYOUT["egoschema"] / "subset_answers.json").write_text(json.dumps(EGOSCHEMA_SUBSET))
    return root


def fixture_file(root: Path, name: str, file: str) -> Path:
    """Where `file` of fixture folder `name` lies under an unpacked root."""
    return root / LAYOUT[name] / file


def load(spec: str, root: Path | None, limit: int | None = None) -> list:
    """The samples of `spec` with `root` as --data-root."""
    cache = (root or Path(".")).parent / "cache"
    return benchmarks.build(spec).load(DataOptions(cache_dir=cache, data_root=root, limit=limit))


def hub_folder(folder: Path, config: str | None, split: str, rows: list[dict]) -> Path:
    """A folder `datasets.load_dataset` reads like a hub repo: config/split parquet and a README naming them."""
    import datasets

    name = config or "default"
    datasets.Dataset.from_list(rows).to_parquet(str(folder / name / f"{split}-00000-of-00001.parquet"))
    (folder / "README.md").write_text(
        f"---\nconfigs:\n- config_name: {name}\n  data_files:\n  - split: {split}\n    path: {name}/{split}-*.parquet\n---\n"
    )
    return folder


def essentials(samples: list) -> list[tuple]:
    """What a loader must get right, whatever the source: everything but the spec and the video paths."""
    return [(s.sample_id, s.video_id, s.question, s.options, s.answer, s.category, s.duration_group, s.domain, s.category_group,
             s.sub_category) for s in samples]
