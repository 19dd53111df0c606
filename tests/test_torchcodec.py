"""`decode(decoder="torchcodec")`: the PyAV path's candidates, displayed upright, and PyAV where torchcodec cannot.

torchcodec loads FFmpeg's shared libraries (versions 4-9) through the dynamic loader, and
only once, when it is first imported. Where the system has none (as on the machine these
tests were written on), PyAV's wheel carries FFmpeg 8's under other file names; a child
process gets them on LD_LIBRARY_PATH under the names torchcodec links against. So every
decode that needs torchcodec runs in one child per module (`decoded`), and the tests read
what it wrote. Where torchcodec still cannot load, those tests skip, naming the reason.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from bench.video import decode
from tests.videos import (
    find_ball,
    read_index,
    write_corner_video,
    write_footage,
    write_indexed_video,
)

ROOT = Path(__file__).resolve().parent.parent

# the child: decode every job with torchcodec, keep each job's warnings, write frames and a report
CHILD = """
import json, logging, sys
from pathlib import Path
import numpy as np
from bench.video import decode

class Keep(logging.Handler):
    def emit(self, record):
        lines.append(record.getMessage())

logging.getLogger("bench.video").addHandler(Keep(logging.WARNING))
jobs, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
report = {}
for name, (path, n, size, seek) in jobs.items():
    lines = []
    frames, times, _, used = decode(Path(path), n, size, seek, decoder="torchcodec")
    np.savez(out / f"{name}.npz", frames=frames, times=times)
    report[name] = {"used": used, "warnings": lines}
(out / "report.json").write_text(json.dumps(report))
"""

# rotation (FFmpeg's sign, degrees counter-clockwise) -> displayed (width, height) and where the
# white block of write_corner_video (stored 96 wide x 48 high, rows 0-15, cols 0-31) shows:
#   0:   rows 0-15, cols 0-31 of 96 x 48
#   90:  rows 95-31..95-0 = 64-95, cols 0-15 of 48 x 96
#   180: rows 47-15..47 = 32-47, cols 95-31..95 = 64-95 of 96 x 48
#   -90: rows 0-31, cols 47-15..47 = 32-47 of 48 x 96 (a phone held upright)
ROTATIONS = {
    0: ((96, 48), (slice(0, 16), slice(0, 32))),
    90: ((48, 96), (slice(64, 96), slice(0, 16))),
    180: ((96, 48), (slice(32, 48), slice(64, 96))),
    -90: ((48, 96), (slice(0, 32), slice(32, 48))),
}
LATIN1 = os.fsdecode(b"caf\xe9.mp4")  # "cafe" with e-acute in Latin-1: a name that is not UTF-8


def _pyav_ffmpeg(folder: Path) -> Path:
    """PyAV's bundled libraries in `folder` under their own names and as torchcodec names them (libavutil.so.60, ...)."""
    folder.mkdir()
    bundled = Path(av.__file__).resolve().parent.parent / "av.libs"
    for lib in bundled.glob("*.so*") if bundled.is_dir() else ():
        (folder / lib.name).symlink_to(lib)
        if versioned := re.fullmatch(r"(lib(?:av|sw)[a-z]+)-[0-9a-f]{8}(\.so\.\d+)\..*", lib.name):
            (folder / (versioned[1] + versioned[2])).symlink_to(lib)
    return folder


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("torchcodec")
    clips = {
        "gop30": write_indexed_video(root / "gop30.mp4", 300, gop=30),
        "gop100": write_indexed_video(root / "gop100.mp4", 300, gop=100),
        "camera": write_footage(root / "camera.mp4"),  # 320x180 H.264 with B-frames, 48 frames, a red ball crossing
        "turned45": write_corner_video(root / "turned45.mp4", 45),
    }
    for rotation in ROTATIONS:
        clips[f"corner{rotation}"] = write_corner_video(root / f"corner{rotation}.mp4", rotation)
    try:
        latin1 = root / LATIN1
        latin1.write_bytes(clips["gop30"].read_bytes())
        clips["latin1"] = latin1
    except (UnicodeEncodeError, OSError):  # a filesystem that takes only UTF-8 names (macOS)
        pass
    return clips


JOBS = {  # name -> (clip, n, size, seek)
    "exact": ("gop30", 32, 54, "exact"),
    "keyframe": ("gop100", 16, 108, "keyframe"),
    "camera-unscaled": ("camera", 16, 336, "exact"),
    "camera-90": ("camera", 16, 90, "exact"),
    "corner-resized": ("corner-90", 8, 24, "exact"),
    "turned45": ("turned45", 8, 96, "exact"),
    "latin1": ("latin1", 8, 108, "exact"),
    **{f"corner{r}": (f"corner{r}", 8, 96, "exact") for r in ROTATIONS},
}


@pytest.fixture(scope="module")
def decoded(clips, tmp_path_factory) -> dict[str, tuple[np.ndarray, np.ndarray, str, list[str]]]:
    """Each job of JOBS decoded with torchcodec in one child: (frames, times, decoder used, warnings)."""
    if importlib.util.find_spec("torchcodec") is None:
        pytest.skip("torchcodec is not installed")
    out = tmp_path_factory.mktemp("decoded")
    jobs = {name: (str(clips[clip]), n, size, seek) for name, (clip, n, size, seek) in JOBS.items() if clip in clips}
    (out / "jobs.json").write_text(json.dumps(jobs))
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(_pyav_ffmpeg(out / "ffmpeg")), env.get("LD_LIBRARY_PATH")]))
    child = subprocess.run([sys.executable, "-c", CHILD, str(out / "jobs.json"), str(out)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    cannot_load = [w for w in report["exact"]["warnings"] if "cannot load FFmpeg" in w]
    if cannot_load:
        pytest.skip(cannot_load[0])
    arrays = {name: np.load(out / f"{name}.npz") for name in report}
    return {name: (arrays[name]["frames"], arrays[name]["times"], got["used"], got["warnings"]) for name, got in report.items()}


def test_exact_candidates_are_the_pyav_paths_frames(clips, decoded):
    frames, times, used, warnings = decoded["exact"]
    ours, our_times, _, _ = decode(clips["gop30"], 32, 54)
    assert (used, warnings) == ("torchcodec", [])
    # segment centres floor((j + 0.5) * 300 / 32) = floor(9.375 j + 4.6875): 4, 14, 23, ..., 285, 295
    expected = [int((j + 0.5) * 300 / 32) for j in range(32)]
    assert expected[:3] == [4, 14, 23] and expected[-2:] == [285, 295]
    assert [read_index(f) for f in frames] == expected
    np.testing.assert_allclose(times, np.array(expected) / 30, atol=1e-9)
    np.testing.assert_array_equal(times, our_times)
    assert frames.shape == ours.shape == (32, 54, 96, 3)  # 192x108 halved
    # flat blocks on grey, halved on 8-pixel boundaries: the scalers' rounding differs by at
    # most 3 levels here (measured); a wrong frame flips whole 8x27 blocks by 255
    assert np.abs(frames.astype(int) - ours).max() <= 4


@pytest.mark.parametrize("job, size, mean_within", [
    # unscaled the frames were identical (max 0, measured); neighbouring frames differ by >= 1.7 on average
    ("camera-unscaled", 336, 0.5),
    # at 160x90 the two scalers differ by 0.98 on average (max 117 on the ball's rim), measured
    ("camera-90", 90, 1.5),
])
def test_footage_frames_match_the_pyav_path_within_tolerance(clips, decoded, job, size, mean_within):
    frames, times, used, _ = decoded[job]
    ours, our_times, _, _ = decode(clips["camera"], 16, size)
    assert used == "torchcodec" and frames.shape == ours.shape
    np.testing.assert_array_equal(times, our_times)
    assert np.abs(frames.astype(int) - ours).mean() <= mean_within
    # the same moment: the ball moves 0.7 x 320 / 48 = 4.7 px a frame unscaled, 2.3 px at 160 wide
    for mine, theirs in zip(frames, ours):
        assert np.allclose(find_ball(mine), find_ball(theirs), atol=1.0)


def test_keyframe_mode_decodes_each_candidates_preceding_keyframe(decoded):
    frames, times, used, _ = decoded["keyframe"]
    # centres floor((j + 0.5) * 300 / 16) = 9, 28, 46, 65, 84 | 103, ..., 196 | 215, ..., 290;
    # keyframes every 100 frames: 5 snap to 0, 6 to 100, 5 to 200
    expected = [0] * 5 + [100] * 6 + [200] * 5
    assert used == "torchcodec"
    assert [read_index(f) for f in frames] == expected
    np.testing.assert_allclose(times, np.array(expected) / 30, atol=1e-9)


@pytest.mark.parametrize("rotation", list(ROTATIONS))
def test_a_rotated_clip_comes_out_as_displayed(decoded, rotation):
    frames, _, used, _ = decoded[f"corner{rotation}"]
    (width, height), block = ROTATIONS[rotation]
    expected = np.zeros((height, width), bool)
    expected[block] = True
    assert used == "torchcodec" and frames.shape == (8, height, width, 3)  # short side 48 <= 96: not resized
    assert ((frames.mean(axis=-1) > 128) == expected).all()


def test_a_rotated_clip_is_resized_by_its_displayed_short_side(decoded):
    frames, _, used, _ = decoded["corner-resized"]
    # displayed 48 x 96, short side 48 -> 24: 24 wide, 48 high; the block halves to rows 0-15, cols 16-23
    assert used == "torchcodec" and frames.shape == (8, 48, 24, 3)
    grey = frames.mean(axis=-1)
    assert (grey[:, 2:14, 18:22] > 200).all() and (grey[:, 18:46, 2:22] < 50).all()


def test_a_file_torchcodec_cannot_open_is_decoded_by_pyav_with_one_warning(clips, decoded):
    if "latin1" not in clips:
        pytest.skip("this filesystem takes only UTF-8 file names")
    frames, _, used, warnings = decoded["latin1"]
    assert used == "pyav"
    assert len(warnings) == 1 and warnings[0].startswith(f"torchcodec failed on {clips['latin1']} (")
    assert warnings[0].endswith("); decoding with PyAV")
    # floor((j + 0.5) * 300 / 8) = floor(37.5 j + 18.75)
    assert [read_index(f) for f in frames] == [18, 56, 93, 131, 168, 206, 243, 281]


def test_a_clip_torchcodec_turns_otherwise_is_decoded_by_pyav_with_one_warning(clips, decoded):
    # 45 degrees: we round 45 / 90 = 0.5 to 0 turns (half to even) and show it 96 x 48; torchcodec turns it to 48 x 96
    frames, _, used, warnings = decoded["turned45"]
    path = clips["turned45"]
    assert used == "pyav"
    assert warnings == [f"torchcodec gave 48x96 frames of {path} where 96x48 are displayed; decoding with PyAV"]
    np.testing.assert_array_equal(frames, decode(path, 8, 96)[0])


def test_without_torchcodec_it_is_one_warning_and_pyav(clips, monkeypatch, caplog):
    for name in ("torchcodec", "torchcodec.decoders", "torchcodec.transforms"):  # None: what an import finds when a package is absent
        monkeypatch.setitem(sys.modules, name, None)
    with caplog.at_level(logging.WARNING, logger="bench.video"):
        frames, _, _, used = decode(clips["gop30"], 8, 108, decoder="torchcodec")
    assert used == "pyav"
    assert [r.getMessage() for r in caplog.records] == [f"torchcodec is not installed; decoding {clips['gop30']} with PyAV"]
    assert [read_index(f) for f in frames] == [18, 56, 93, 131, 168, 206, 243, 281]  # as in the test above
