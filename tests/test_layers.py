"""The one-way data flow, as rules over folders: a module imports only from its own layer or lower ones.

Every module of the package belongs to a layer by its folder (or, at the top, by its name), so
a new module in a folder is checked without anyone listing it, and a new top-level module or
folder fails here until it is given a layer.
"""

import ast
import importlib.util
from pathlib import Path

import pytest

import bench

PACKAGE = Path(bench.__file__).parent

# lowest first; a name is a top-level module (bench/NAME.py) or a folder (bench/NAME/)
LAYERS = (
    ("base", {"records", "registry", "options", "sampling", "timing", "tiny", "datafiles"}),
    ("storage", {"video", "store", "results", "llm", "plugins", "cache"}),
    ("components", {"selectors", "backbones", "benchmarks", "selector_model"}),
    ("grid", {"grid"}),
    ("uses", {"api", "runner", "selections", "show", "labels", "rescore", "analysis", "harnesses"}),
    ("cli", {"cli", "commands", "__main__", "__init__"}),
)
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}

# within a layer, what must still not be imported (importer -> imported)
SIDEWAYS = {
    "store": {"llm", "results", "plugins", "cache"},
    "video": {"store", "results", "llm", "plugins", "cache"},
    "selectors": {"benchmarks", "backbones"},
    "backbones": {"selectors", "selector_model"},
    "benchmarks": {"selectors", "backbones", "selector_model"},
    "selector_model": {"selectors", "backbones", "benchmarks"},
}


def imported(path: Path) -> set[str]:
    """Every bench module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "bench":  # `from bench import chat` names a module too
                names.update(f"bench.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("bench.")}


def part(module: str) -> str:
    """The layer name of `bench.X...`: its folder or top-level module X."""
    return module.split(".")[1]


MODULES = sorted(p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=str)
def test_a_module_imports_nothing_above_its_layer(path):
    mine = path.parts[0].removesuffix(".py")
    assert mine in RANK, f"bench/{path}: bench/{path.parts[0]} has no layer: add it to LAYERS in {__file__}"
    found = imported(PACKAGE / path)
    upward = sorted(n for n in found if part(n) in RANK and RANK[part(n)] > RANK[mine])
    assert not upward, f"bench/{path} ({LAYERS[RANK[mine]][0]}) reaches up to {', '.join(upward)}"
    sideways = sorted(n for n in found if part(n) in SIDEWAYS.get(mine, ()))
    assert not sideways, f"bench/{path} reaches across to {', '.join(sideways)}"
    missing = sorted(n for n in found if importlib.util.find_spec(n) is None)
    assert not missing, f"bench/{path} imports {', '.join(missing)}, which does not exist (moved?)"


def test_every_top_level_module_and_folder_has_a_layer():
    found = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert sorted(found - set(RANK)) == []
    assert sorted(set(RANK) - found) == [], "LAYERS names something that no longer exists"


def test_the_check_sees_an_upward_import(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from bench.selectors.pick import topk\nfrom bench import chat\n")
    assert imported(path) == {"bench.selectors.pick", "bench.chat"}
    assert RANK[part("bench.selectors.pick")] > RANK["store"]


def test_few_modules_sit_at_the_top():
    top = [p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")]
    assert len(top) <= 18, sorted(top)
