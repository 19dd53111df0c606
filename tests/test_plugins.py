"""`bench --plugin FILE.py`, FRAMEBENCH_PLUGINS and the `framebench.plugins` entry points: your own classes, no fork.

Every case runs the real `bench` command in a subprocess, so what a plugin registers stays
out of this test process's registries. The README's example selector (examples/my_selector.py)
is run on needle, where frames that change the most are the ones where the shape appears.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.records import DataOptions
from bench.registry import benchmarks
from bench.results import read_all

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_selector.py"


def bench(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "FRAMEBENCH_PLUGINS"}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**environment, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})})


def listed(stdout: str) -> dict[str, str]:
    """`bench list`'s lines as name -> description."""
    return {parts[0]: parts[1].strip() for line in stdout.splitlines() if len(parts := line.split(maxsplit=1)) == 2}


def plugin(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


ALWAYS_A = '''
from bench.records import Reply
from bench.registry import backbones

@backbones.register("always-a")
class AlwaysA:
    """Answers A, whatever it is shown."""
    spec = "always-a"
    def load(self, device): pass
    def release(self): pass
    def answer(self, frames, prompt, max_new_tokens): return Reply("A")
'''


def test_the_readme_selector_runs_from_its_file_and_finds_the_needle(cache_dir, tmp_path):
    needle = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=12))  # the videos, made once per session
    child = bench("--plugin", "examples/my_selector.py", "run", "--dataset", "needle", "--selector", "uniform,motion", "--backbone", "probe",
                  "--frames", "4", "--limit", "12", "--candidates", "32", "--frame-size", "64", "--cache-dir", str(cache_dir),
                  "--results-dir", str(tmp_path), "--device", "cpu")
    assert child.returncode == 0, child.stderr
    rows = read_all(tmp_path)
    right = rows.groupby("selector").correct.sum()
    assert set(rows.selector) == {"uniform", "motion"} and len(rows) == 24 and (rows.error == "").all()
    # the shape shows for 3% of each video, so uniform's 4 frames of 32 rarely see it; a candidate where it
    # appears differs most from the one before it, so motion keeps that one far more often
    assert right["motion"] >= right["uniform"] + 3, right.to_dict()
    assert len(needle) == 12


def test_the_listing_shows_a_plugins_classes_from_the_option_the_environment_and_both(tmp_path):
    backbone = plugin(tmp_path / "always_a.py", ALWAYS_A)
    by_option = bench("--plugin", str(EXAMPLE), "--plugin", str(backbone), "list")
    by_env = bench("list", env={"FRAMEBENCH_PLUGINS": f"{EXAMPLE}{os.pathsep}{backbone}"})
    twice = bench("--plugin", str(EXAMPLE), "list", env={"FRAMEBENCH_PLUGINS": str(EXAMPLE)})  # one file named twice loads once
    for child in (by_option, by_env, twice):
        assert child.returncode == 0, child.stderr
        assert listed(child.stdout)["motion"] == "Candidates that differ most from the one before: where something appears, moves or cuts."
    assert listed(by_option.stdout)["always-a"] == listed(by_env.stdout)["always-a"] == "Answers A, whatever it is shown."
    assert "always-a" not in listed(twice.stdout) and "motion" not in listed(bench("list").stdout)


def test_a_plugin_backbone_answers_in_a_run(cache_dir, tmp_path):
    needle = benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, limit=8))
    backbone = plugin(tmp_path / "always_a.py", ALWAYS_A)
    child = bench("--plugin", str(backbone), "run", "--dataset", "needle", "--backbone", "always-a", "--frames", "2", "--limit", "8",
                  "--candidates", "8", "--frame-size", "64", "--cache-dir", str(cache_dir), "--results-dir", str(tmp_path / "r"), "--device", "cpu")
    assert child.returncode == 0, child.stderr
    rows = read_all(tmp_path / "r").set_index("sample_id")
    # right exactly where needle's answer is A
    assert {s.sample_id: s.answer == "A" for s in needle} == rows.correct.astype(bool).to_dict()


def test_an_installed_packages_entry_point_is_loaded(tmp_path):
    site = tmp_path / "site"
    (site / "mine_plugins-1.0.dist-info").mkdir(parents=True)
    (site / "mine_plugins-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: mine-plugins\nVersion: 1.0\n")
    (site / "mine_plugins-1.0.dist-info" / "entry_points.txt").write_text("[framebench.plugins]\nmine = mine_selectors\n")
    (site / "mine_selectors.py").write_text(EXAMPLE.read_text().replace('"motion"', '"installed-motion"'))
    child = bench("list", env={"PYTHONPATH": str(site)})
    assert child.returncode == 0, child.stderr
    assert listed(child.stdout)["installed-motion"].startswith("Candidates that differ most")
    (site / "mine_selectors.py").write_text("import not_installed_anywhere\n")
    broken = bench("list", env={"PYTHONPATH": str(site)})
    assert broken.returncode == 2
    assert ("Error: plugin entry point mine = mine_selectors (from mine-plugins): "
            "ModuleNotFoundError: No module named 'not_installed_anywhere'") in broken.stderr


@pytest.mark.parametrize("name, text, error", [
    ("missing.py", None, "file not found"),
    ("notes.txt", "selector = 1\n", "not a Python file (.py)"),
    ("needs.py", "import not_installed_anywhere\n", "ModuleNotFoundError: No module named 'not_installed_anywhere'"),
    ("typo.py", "def score(:\n", "SyntaxError: invalid syntax (typo.py, line 1)"),
    ("raises.py", "raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
    ("nospec.py", "from bench.registry import selectors\n@selectors.register('mine')\nclass Mine:\n    pick = 'topk'\n",
     "RegistryError: selector 'mine' (framebench_plugin_nospec.Mine) must declare spec = 'mine', its spec with every parameter at its default"),
])
def test_a_plugin_that_cannot_be_imported_exits_2_naming_the_file_and_the_error(tmp_path, name, text, error):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    child = bench("--plugin", str(path), "list")
    assert child.returncode == 2, child.stderr
    assert f"Error: plugin {path}: {error}" in child.stderr
    assert "Traceback" not in child.stderr


def test_a_name_taken_twice_fails_naming_both(tmp_path):
    copy = plugin(tmp_path / "motion_again.py", EXAMPLE.read_text())
    child = bench("--plugin", str(EXAMPLE), "--plugin", str(copy), "list")
    assert child.returncode == 2
    assert (f"Error: plugin {copy}: RegistryError: selector 'motion' is registered twice (it is already registered by "
            f"framebench_plugin_my_selector.Motion in {EXAMPLE}); pick another name") in child.stderr
    builtin = plugin(tmp_path / "uniform_mine.py", EXAMPLE.read_text().replace('"motion"', '"uniform"'))
    child = bench("--plugin", str(builtin), "list")
    assert child.returncode == 2
    assert (f"Error: plugin {builtin}: RegistryError: selector 'uniform' is registered twice (it is already registered by "
            f"bench.selectors.uniform.Uniform in {ROOT / 'bench' / 'selectors' / 'uniform.py'}); pick another name") in child.stderr
