"""The one-way data flow: lower layers import nothing from selectors, backbones, benchmarks or the runner."""

import ast
from pathlib import Path

import pytest

import bench

PACKAGE = Path(bench.__file__).parent
LOWER = ("records", "registry", "cache", "video", "frame_cache", "chat", "sampling", "options", "datafiles", "timing", "progress", "loading", "inflight", "locks", "decoding")
UPPER = ("selectors", "backbones", "benchmarks", "runner", "grid", "ray_grid", "score_cache", "analysis", "commands", "cli")


def imported(path: Path) -> set[str]:
    """Every bench module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("bench.")}


@pytest.mark.parametrize("module", LOWER)
def test_a_lower_layer_imports_no_upper_one(module):
    upward = sorted(n for n in imported(PACKAGE / f"{module}.py") if n.split(".")[1] in UPPER)
    assert not upward, f"bench/{module}.py reaches up to {', '.join(upward)}"


def test_the_check_sees_an_upward_import(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from bench.selectors.pick import topk\n")
    assert imported(path) == {"bench.selectors.pick"}
