"""A training checkpoint save killed at each step of its swap leaves a whole checkpoint, and the next save works.

The save writes `checkpoint.new` (state.json last), renames `checkpoint` to `checkpoint.old`,
`checkpoint.new` to `checkpoint`, and removes `checkpoint.old`. Each test stops it at one of
those steps, as a SIGKILL would, then checks what a resumed training loads and that it can save.
"""

import json
import shutil
from pathlib import Path

import pytest

from bench.selector_model import checkpoint
from bench.selector_model.checkpoint import newest, swap_in


class Killed(BaseException):
    """The process dies here: nothing after this line of the save runs."""


def writer(step: int, die_before_state: bool = False):
    def write(directory: Path) -> None:
        directory.mkdir(parents=True)
        (directory / "model.safetensors").write_text(f"weights at {step}")
        if die_before_state:
            raise Killed
        (directory / "state.json").write_text(json.dumps({"position": {"steps": step}}))

    return write


def steps(out: Path) -> int:
    return json.loads((newest(out) / "state.json").read_text())["position"]["steps"]


def kill_at_rename(monkeypatch, which: int) -> None:
    """The `which`-th rename from now on (0-based) is never made."""
    calls, real = [], Path.rename

    def rename(self, target):
        calls.append(self)
        if len(calls) == which + 1:
            raise Killed
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)


def kill_while_removing_old(monkeypatch) -> None:
    """Removing checkpoint.old dies half way: its state.json is gone, its weights are not."""
    real = shutil.rmtree

    def rmtree(path, ignore_errors=False):
        if Path(path).name == "checkpoint.old" and Path(path).exists():
            (Path(path) / "state.json").unlink()
            raise Killed
        return real(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(checkpoint.shutil, "rmtree", rmtree)


@pytest.mark.parametrize("where, resumes_at", [
    ("writing the new one", 1),  # checkpoint.new has no state.json: not whole, the old one stands
    ("before checkpoint -> checkpoint.old", 2),  # checkpoint.new is whole and newest
    ("before checkpoint.new -> checkpoint", 2),  # only checkpoint.old and checkpoint.new are left: the new one wins
    ("removing checkpoint.old", 2),  # the reported case: a half-removed checkpoint.old used to block every later save
])
def test_a_save_killed_at_each_step_resumes_from_the_newest_whole_checkpoint(tmp_path, monkeypatch, where, resumes_at):
    swap_in(tmp_path, writer(1))
    with monkeypatch.context() as patch:
        if where == "before checkpoint -> checkpoint.old":
            kill_at_rename(patch, 0)
        elif where == "before checkpoint.new -> checkpoint":
            kill_at_rename(patch, 1)
        elif where == "removing checkpoint.old":
            kill_while_removing_old(patch)
        with pytest.raises(Killed):
            swap_in(tmp_path, writer(2, die_before_state=where == "writing the new one"))
    assert steps(tmp_path) == resumes_at
    swap_in(tmp_path, writer(3))  # the next save settles the leftovers and goes through
    assert steps(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    assert (tmp_path / "checkpoint" / "model.safetensors").read_text() == "weights at 3"
