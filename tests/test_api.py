"""`bench.select_frames` and `FrameSelector`: selections for other pipelines, on clips that look like real footage.

The clips (tests/videos.py FOOTAGE) differ in codec, container, size, frame timing and
rotation; a red ball crosses each at a known speed, so a chosen frame can be checked against
its time: the ball must be where it was at that time, as displayed.
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bench.api
from bench import FrameSelector, Selection, select_frames
from bench.registry import RegistryError
from bench.video import VideoError
from tests.videos import FOOTAGE, ball_centre, find_ball, footage_seconds, write_footage, write_footage_set

ROOT = Path(__file__).resolve().parents[1]
TINY = "clip:size=tiny"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    return write_footage_set(tmp_path_factory.mktemp("footage"))


@pytest.fixture(autouse=True)
def nothing_held():
    yield
    bench.api.close()


# uniform k=4 of N=8 keeps candidates floor((j + 0.5) * 8 / 4) = 1, 3, 5, 7; the N=8 candidates of a
# 48-frame clip are frames floor((i + 0.5) * 48 / 8) = 3 + 6i, so the kept ones are frames 9, 21, 33, 45:
#   at 24 fps:  9/24 = 0.375, 21/24 = 0.875, 33/24 = 1.375, 45/24 = 1.875 s
#   VFR (20, 33, 50, 41 ms per 4 frames, 144 ms a cycle): frame 4c + 1 is at 144c + 20 ms:
#   9 -> 288 + 20 = 308, 21 -> 720 + 20 = 740, 33 -> 1152 + 20 = 1172, 45 -> 1584 + 20 = 1604 ms
CFR_TIMES = [0.375, 0.875, 1.375, 1.875]
TIMES = {name: [0.308, 0.740, 1.172, 1.604] if kwargs.get("vfr") else CFR_TIMES for name, kwargs in FOOTAGE.items()}


@pytest.mark.parametrize("name", list(FOOTAGE))
def test_uniform_frames_are_the_frames_at_their_times_as_displayed(clips, tmp_path, name):
    kwargs = FOOTAGE[name]
    width, height = kwargs.get("width", 320), kwargs.get("height", 180)
    chosen = select_frames(clips[name], "Where is the ball?", selector="uniform", k=4, candidates=8, cache_dir=tmp_path)
    assert isinstance(chosen, Selection) and chosen.selector == "uniform" and chosen.video == clips[name]
    assert chosen.indices.tolist() == [1, 3, 5, 7] and chosen.indices.dtype == np.int64
    assert chosen.times == pytest.approx(TIMES[name], abs=1e-3)
    assert chosen.candidates[chosen.indices] == pytest.approx(chosen.times) and chosen.candidates.shape == (8,)
    assert chosen.scores is None
    assert chosen.frames.shape == (4, height, width, 3) and chosen.frames.dtype == np.uint8  # short side <= 336: not resized
    for frame, t in zip(chosen.frames, chosen.times):
        want = ball_centre(t, width, height, footage_seconds(vfr=kwargs.get("vfr", False)))
        assert find_ball(frame) == pytest.approx(want, abs=3), f"{name} at {t:.3f} s"


def test_frames_come_out_with_the_short_side_asked_for(clips, tmp_path):
    # the phone clip shows 180 x 320 upright; short side 90 scales it by 1/2 to 90 x 160
    chosen = select_frames(clips["phone.mov"], "Where is the ball?", selector="uniform", k=2, candidates=8, frame_size=90, cache_dir=tmp_path)
    assert chosen.frames.shape == (2, 160, 90, 3)
    for frame, t in zip(chosen.frames, chosen.times):
        x, y = ball_centre(t, 180, 320, footage_seconds())
        assert find_ball(frame) == pytest.approx((x / 2, y / 2), abs=2)


def test_a_model_selector_scores_every_candidate_and_picks_by_nms(clips, tmp_path):
    chosen = select_frames(clips["camera.mp4"], "Where is the red ball?", selector=TINY, k=4, candidates=32, cache_dir=tmp_path, device="cpu")
    assert chosen.selector == TINY and chosen.scores.shape == (32,) and chosen.scores.dtype == np.float32
    picked = chosen.indices.tolist()
    # NMS with delta = 32 // (4 * 4) = 2: the best candidate is kept, and no two kept ones are within 2 of each other
    assert int(np.argmax(chosen.scores)) in picked and picked == sorted(set(picked)) and len(picked) == 4
    assert min(np.diff(picked)) > 2
    assert bench.api.loaded() == (TINY,)
    again = select_frames(clips["odd.webm"], "Where is the red ball?", selector=f"{TINY}:pick=topk", k=4, candidates=32, cache_dir=tmp_path, device="cpu")
    assert again.indices.tolist() == sorted(np.argsort(-again.scores, kind="stable")[:4].tolist())
    assert bench.api.loaded() == (TINY,)  # another pick, another video: the same model, loaded once


def test_scores_are_cached_where_bench_select_finds_them(clips, tmp_path):
    """`select_frames` after `bench select` over the same video and question loads no model: the scores are in the cache."""
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"video": str(clips["vfr.mp4"]), "question": "Where is the red ball?", "id": "v"}) + "\n")
    out = tmp_path / "sel.jsonl"
    child = subprocess.run([sys.executable, "-m", "bench", "select", "--dataset", f"jsonl:path={questions}", "--selector", TINY,
                            "--frames", "4", "--candidates", "32", "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--device", "cpu"],
                           capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert child.returncode == 0, child.stderr
    (line,) = [json.loads(text) for text in out.read_text().splitlines()]
    chosen = select_frames(clips["vfr.mp4"], "Where is the red ball?", selector=TINY, k=4, candidates=32, cache_dir=tmp_path / "cache", device="cpu")
    assert bench.api.loaded() == ()  # nothing scored here
    assert chosen.scores.tolist() == line["scores"] and chosen.indices.tolist() == line["indices"]
    assert chosen.times.round(6).tolist() == line["times"]


def test_a_frame_selector_releases_its_model_when_its_block_ends(clips, tmp_path):
    with FrameSelector(TINY, candidates=16, cache_dir=tmp_path, device="cpu") as selector:
        first = selector.select(clips["odd.mkv"], "Is the ball red?", k=2)
        second = selector.select(clips["odd.mkv"], "Is the ball red?", k=3)
        assert bench.api.loaded() == (TINY,)
    assert bench.api.loaded() == ()
    assert first.scores.tolist() == second.scores.tolist()  # the second came from the score cache


@pytest.mark.parametrize("make, reason", [
    (lambda p: p, "file not found (tried {path})"),
    (lambda p: (p.mkdir(), p)[1], "cannot read: Is a directory"),
    (lambda p: (p.write_text("not a video\n" * 50), p)[1], "cannot open: "),
    (lambda p: (p.write_bytes(b""), p)[1], "empty file (0 bytes)"),
])
def test_a_video_that_cannot_be_read_raises_video_error_naming_it(tmp_path, make, reason):
    path = make(tmp_path / "clip.mp4")
    with pytest.raises(VideoError) as raised:
        select_frames(path, "q", selector="uniform", k=2, candidates=8, cache_dir=tmp_path / "cache")
    assert raised.value.path == str(path)
    assert str(raised.value).startswith(f"{path}: {reason.format(path=path)}")


def test_k_above_the_candidates_names_both(clips, tmp_path):
    with pytest.raises(ValueError) as raised:
        select_frames(clips["camera.mp4"], "q", selector="uniform", k=9, candidates=8, cache_dir=tmp_path)
    assert str(raised.value) == "k=9 frames cannot be picked from candidates=8: give 1 <= k <= 8, or raise candidates"


def test_an_unknown_selector_says_what_there_is(clips, tmp_path):
    with pytest.raises(RegistryError, match=r"unknown selector 'clips'\. Did you mean clip\?"):
        select_frames(clips["camera.mp4"], "q", selector="clips", cache_dir=tmp_path)


def test_the_docstring_example_runs(tmp_path, monkeypatch):
    # the example's clip: 640 x 360, 144 frames at 24 fps
    write_footage(tmp_path / "clip.mp4", width=640, height=360, n_frames=144)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRAMEBENCH_CACHE", str(tmp_path / "cache"))
    (test,) = doctest.DocTestFinder().find(select_frames, "select_frames", globs={})
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert (runner.failures, runner.tries) == (0, 5)  # five >>> lines, none failing
    assert (tmp_path / "cache" / "frames").is_dir()  # cached where bench run caches


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env}, timeout=300)


def test_a_model_loads_once_per_process_and_again_only_after_close(clips, tmp_path):
    plugin = tmp_path / "counting.py"
    plugin.write_text(
        "import numpy as np\n"
        "from bench.registry import selectors\n"
        "LOADS, RELEASES = [], []\n"
        "@selectors.register('counting')\n"
        "class Counting:\n"
        "    spec, pick = 'counting', 'topk'\n"
        "    def load(self, device): LOADS.append(device)\n"
        "    def release(self): RELEASES.append(1)\n"
        "    def score(self, query): return np.arange(len(query.candidates.times), dtype=np.float32)\n"
    )
    code = (
        "import sys, bench.api\n"
        "from bench import select_frames\n"
        f"videos = [{str(clips['camera.mp4'])!r}, {str(clips['odd.webm'])!r}]\n"
        "for video in videos + videos:\n"
        f"    chosen = select_frames(video, 'q', selector='counting', k=2, candidates=8, device='cpu', cache_dir={str(tmp_path / 'c')!r})\n"
        "plugin = sys.modules['framebench_plugin_counting']\n"
        "print(chosen.indices.tolist(), len(plugin.LOADS), len(plugin.RELEASES))\n"
        "bench.api.close()\n"
        "print(len(plugin.LOADS), len(plugin.RELEASES))\n"
        f"select_frames(videos[0], 'another question', selector='counting', k=2, candidates=8, device='cpu', cache_dir={str(tmp_path / 'c')!r})\n"
        "print(len(plugin.LOADS), len(plugin.RELEASES))\n"
    )
    child = _python(code, FRAMEBENCH_PLUGINS=str(plugin))
    assert child.returncode == 0, child.stderr
    # scores 0..7 rising: top 2 are 6 and 7. Two videos scored once each with one load; the repeats hit the score cache;
    # close releases it; a new question needs the model again: a second load
    assert child.stdout.splitlines() == ["[6, 7] 1 0", "1 1", "2 1"]


def test_import_bench_stays_light():
    child = _python("import sys, bench; print(sorted(m for m in ('numpy', 'av', 'torch', 'bench.api') if m in sys.modules))")
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"
