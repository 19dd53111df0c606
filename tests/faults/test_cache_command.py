"""`bench cache info` and `bench cache prune`: sizes as du counts them, least recently used first,
never an entry a live process holds, never generated data.

Frames entries here are N=32 candidates at short side 64 of the 160x120 needle videos: 85x64
pixels each, so a frames file holds 32 x 64 x 85 x 3 = 522,240 bytes after its 128-byte header.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.store import ArrayStore, atomic_write_text
from bench.cli import main
from bench.commands.cache import human, size
from bench.store.frames import FrameCache

DAY = 86400


def _du(*paths: Path) -> int:
    """Bytes of disk the paths take, as du counts them (each inode once)."""
    out = subprocess.run(["du", "-scB1", *map(str, paths)], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[-1].split()[0])


def _videos(needle4: Path) -> list[Path]:
    return [needle4 / "seed0" / "test" / f"{i:05d}.mp4" for i in range(4)]


def _frames_files(cache: Path, key: str) -> list[Path]:
    return sorted((cache / "frames" / key[:2]).glob(f"{key}.*"))


def _age(files: list[Path], days: float) -> None:
    """Make files look last used `days` ago."""
    then = time.time() - days * DAY
    for path in files:
        os.utime(path, (then, then))


def _cli(*args: str):
    return CliRunner().invoke(main, ["cache", *args])


@pytest.fixture
def four(needle4, tmp_path) -> tuple[Path, list[str]]:
    """A cache holding the frames of the four needle videos (kept outside it), and their keys in video order."""
    cache = tmp_path / "cache"
    frames = FrameCache(cache)
    return cache, [frames.candidates(video, 32, 64).key for video in _videos(needle4)]


def test_info_numbers_match_du(needle4, tmp_path):
    cache = tmp_path / "cache"
    frames = FrameCache(cache)
    for video in _videos(needle4):
        frames.candidates(video, 32, 64)
    FrameCache(cache, "jpeg").candidates(_videos(needle4)[0], 32, 64)  # a second format is a fifth frames entry
    ArrayStore(cache / "scores").save("s1", {"scores": np.zeros(32, np.float32)}, {})
    for i in range(2):
        ArrayStore(cache / "embeddings").save(f"e{i}", {"image": np.zeros((32, 512), np.float16)}, {})
    ArrayStore(cache / "captions").save("c1", {}, {"captions": ["a grey textured background"] * 32})
    atomic_write_text(cache / "judge" / "ab" / "abcdef.json", '{"yes": true, "score": 4}')
    (cache / "needle").mkdir()
    for name in ("00000.mp4", "00000.json"):  # generated data: one sample is one entry of two files
        (cache / "needle" / name).write_bytes((needle4 / "seed0" / "test" / name).read_bytes())
    os.link(cache / "needle" / "00000.mp4", cache / "needle" / "linked.mp4")  # an entry of its own, whose blocks du counts once

    result = _cli("info", "--cache-dir", str(cache), "--bytes")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"cache dir {cache} (")
    table = {line[:30].strip(): line[30:].split() for line in lines[2:]}
    expected = {  # kind: (entries, folder)
        "frames (decoded candidates)": (5, "frames"),  # 4 raw + 1 jpeg
        "file keys": (4, "file_keys"),  # one per video
        "thumbnail strips (bench view)": (5, "thumbs"),  # one per frames entry, stored as it was decoded
        "scores": (1, "scores"),
        "embeddings": (2, "embeddings"),
        "captions": (1, "captions"),
        "verdicts (judge)": (1, "judge"),
        "generated data (needle)": (2, "needle"),
    }
    for kind, (entries, folder) in expected.items():
        assert table[kind] == [str(entries), str(_du(cache / folder))], kind
    assert table["total"] == [str(5 + 4 + 5 + 1 + 2 + 1 + 1 + 2), str(_du(cache))]
    assert len(table) == len(expected) + 1


def test_info_in_human_units_and_on_a_missing_dir(four, tmp_path):
    cache, _ = four
    result = _cli("info", "--cache-dir", str(cache))
    assert result.exit_code == 0
    frames_line = next(line for line in result.output.splitlines() if line.startswith("frames"))
    assert frames_line.split()[-2:] == human(_du(cache / "frames")).split()
    missing = _cli("info", "--cache-dir", str(tmp_path / "nowhere"))
    assert (missing.exit_code, missing.output) == (0, f"cache dir {tmp_path / 'nowhere'}: does not exist (nothing cached yet)\n")


def test_max_size_keeps_the_most_recently_used(four):
    cache, keys = four
    files = [_frames_files(cache, key) for key in keys]
    for i, days in enumerate([3, 1, 4, 2]):  # video 2 used longest ago, then 0, 3, 1
        _age(files[i], days)
    total = _du(cache)
    # room for everything but the two least recently used frames entries (videos 2 and 0)
    limit = total - _du(*files[2], *files[0])
    result = _cli("prune", "--cache-dir", str(cache), "--max-size", str(limit))
    assert result.exit_code == 0, result.output
    assert [all(p.exists() for p in f) for f in files] == [False, True, False, True]
    assert not any(p.exists() for f in (files[0], files[2]) for p in f)
    freed = _du(*files[1]) * 2  # every entry is the same size
    assert result.output.splitlines()[0] == f"removed 2 entries, {human(freed)}, least recently used first, from {cache}"
    assert result.output.splitlines()[1].split() == ["frames", "(decoded", "candidates)", "2", *human(freed).split()]
    assert _du(cache) <= limit
    assert len(list((cache / "file_keys").rglob("*.json"))) == 4  # used just now: kept


def test_older_than_removes_what_was_not_used_since_and_a_load_counts_as_use(four, needle4):
    cache, keys = four
    files = [_frames_files(cache, key) for key in keys]
    for f in files:
        _age(f, 40)
    _age(list((cache / "file_keys").rglob("*.json")), 40)
    loaded = time.time()
    FrameCache(cache).candidates(_videos(needle4)[1], 32, 64)  # a hit: video 1 and its key are used now
    record = next(p for p in files[1] if p.suffix == ".json")
    assert record.stat().st_mtime >= loaded - 1  # the load stamped it (atime alone is not kept on noatime mounts)
    result = _cli("prune", "--cache-dir", str(cache), "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert [all(p.exists() for p in f) for f in files] == [False, True, False, False]
    assert result.output.startswith("removed 6 entries")  # three frames entries and three file keys
    assert len(list((cache / "file_keys").rglob("*.json"))) == 1


def test_a_dry_run_removes_nothing_and_says_what_would_go(four):
    cache, keys = four
    _age(_frames_files(cache, keys[0]), 40)
    before = sorted(cache.rglob("*"))
    result = _cli("prune", "--cache-dir", str(cache), "--older-than", "30d", "--dry-run", "--list")
    assert result.exit_code == 0, result.output
    assert sorted(cache.rglob("*")) == before
    lines = result.output.splitlines()
    assert lines[0].startswith("would remove 1 entry, ")
    assert lines[2].startswith(f"  {cache / 'frames' / keys[0][:2] / keys[0]}  ")


HOLD = """
import sys
from pathlib import Path
from bench.store.frames import FrameCache
candidates = FrameCache(Path(sys.argv[1])).candidates(Path(sys.argv[2]), 32, 64)
assert candidates.cached
print("holding", flush=True)
sys.stdin.readline()
"""


def test_prune_never_removes_an_entry_a_live_process_holds(four, needle4):
    cache, keys = four
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(cache), str(_videos(needle4)[2])],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        assert holder.stdout.readline() == "holding\n"
        held = _frames_files(cache, keys[2])
        result = _cli("prune", "--cache-dir", str(cache), "--max-size", "0")
        assert result.exit_code == 0, result.output
        assert all(p.exists() for p in held)
        assert not any(p.exists() for i in (0, 1, 3) for p in _frames_files(cache, keys[i]))
        assert f"kept 1 entry that a running process holds ({human(_du(*held))})" in result.output
        assert "still " in result.output and " over 0 B" in result.output
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    again = _cli("prune", "--cache-dir", str(cache), "--max-size", "0")
    assert again.output.startswith("removed 1 entry, ") and not any(p.exists() for p in held)


def test_generated_data_is_never_pruned(needle4, tmp_path):
    cache = tmp_path / "cache"
    (cache / "needle").mkdir(parents=True)
    for name in ("00000.mp4", "00000.json"):
        (cache / "needle" / name).write_bytes((needle4 / "seed0" / "test" / name).read_bytes())
    _age(list((cache / "needle").iterdir()), 400)
    result = _cli("prune", "--cache-dir", str(cache), "--older-than", "1d", "--max-size", "0")
    assert result.exit_code == 0
    assert result.output.startswith("removed 0 entries")
    assert sorted(p.name for p in (cache / "needle").iterdir()) == ["00000.json", "00000.mp4"]


@pytest.mark.parametrize("args, message", [
    ((), "say what to remove: --max-size (e.g. 50GB), --older-than (e.g. 30d), or both"),
    (("--max-size", "50XB"), "Invalid value for '--max-size': '50XB' is not a size: give a number and a unit, e.g. 50GB, 500MB or 2TiB"),
    (("--older-than", "30"), "Invalid value for '--older-than': '30' is not an age: give a number and a unit (s, m, h, d, w), e.g. 30d or 12h"),
])
def test_bad_prune_usage_exits_2_saying_what_to_type(args, message, tmp_path):
    result = _cli("prune", "--cache-dir", str(tmp_path), *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


@pytest.mark.parametrize("text, expected", [
    ("50GB", 50 * 10**9),
    ("50G", 50 * 10**9),
    ("1.5TB", 1_500_000_000_000),
    ("500MiB", 500 * 1024 * 1024),  # 524,288,000
    ("0", 0),
    ("4096", 4096),
    ("12 kb", 12_000),
])
def test_sizes_read_as_bytes(text, expected):
    assert size(None, None, text) == expected


@pytest.mark.parametrize("n, text", [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (532_480, "532.5 kB"), (69_329_203_200, "69.3 GB")])
def test_human_sizes(n, text):
    assert human(n) == text


def test_a_kind_a_plugin_declares_is_listed_by_its_name_and_pruned(tmp_path):
    cache = tmp_path / "cache"
    plugin = tmp_path / "my_store.py"
    plugin.write_text(
        "from bench.store import ArrayStore, declare\n"
        "FOLDER = declare('optical_flow', 'optical flow (my plugin)')\n"
        f"ArrayStore({str(cache)!r} + '/' + FOLDER).save('f1', {{'flow': __import__('numpy').zeros((8, 2), 'float32')}}, {{}})\n"
    )
    result = CliRunner().invoke(main, ["--plugin", str(plugin), "cache", "info", "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    rows = {line[:30].strip(): line[30:].split() for line in result.output.splitlines()[2:]}
    assert rows["optical flow (my plugin)"][0] == "1"
    pruned = CliRunner().invoke(main, ["--plugin", str(plugin), "cache", "prune", "--max-size", "0", "--cache-dir", str(cache)])
    assert pruned.exit_code == 0, pruned.output
    assert "optical flow (my plugin)" in pruned.output and not list((cache / "optical_flow").rglob("*.npy"))
