"""Test videos: frames that carry their own index, phone clips stored sideways, and clips that look like footage.

`write_indexed_video` makes a decoded frame say which one it is; `write_corner_video` a
stored-sideways phone clip with a block in one corner; `write_footage` clips like real ones
(different codecs and containers, odd sizes, variable frame rate, a display rotation) over
a drifting textured gradient with a red ball crossing it, whose place at any time
`ball_centre` gives and `find_ball` reads back from a decoded frame.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 12


def write_indexed_video(path: Path, n_frames: int, fps: int = 30, gop: int = 30, width: int = 192, height: int = 108, bframes: int = 2, faststart: bool = False, codec: str = "libx264") -> Path:
    """H.264 (or `codec`: libsvtav1) video where frame i shows i in binary as BITS black/white blocks across the top half."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": str(bframes), "preset": "veryfast", "crf": "18"}
        else:  # SVT-AV1 codes hidden frames and shows them later by reference, its own kind of reordering
            stream.options = {"g": str(gop), "preset": "8", "crf": "20"}  # preset 12 wrote streams libdav1d rejects
        block = width // BITS
        for i in range(n_frames):
            image = np.full((height, width, 3), 128, np.uint8)
            for bit in range(BITS):
                image[: height // 2, bit * block : (bit + 1) * block] = 255 if (i >> bit) & 1 else 0
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_index(frame: np.ndarray) -> int:
    """The index a frame of `write_indexed_video` carries, at any resolution."""
    height, width = frame.shape[:2]
    grey = frame.mean(axis=-1)
    value = 0
    for bit in range(BITS):
        left, right = int((bit + 0.25) * width / BITS), int((bit + 0.75) * width / BITS)
        if grey[height // 8 : 3 * height // 8, left:right].mean() > 128:
            value |= 1 << bit
    return value


def write_corner_video(path: Path, rotation: int, n_frames: int = 30, width: int = 96, height: int = 48) -> Path:
    """H.264 video, black with a white 32x16 block in the stored top-left corner, as a phone stores it.

    `rotation` goes into the stream's display matrix in FFmpeg's sign: degrees counter-clockwise
    that turn a stored frame upright (a phone held upright writes -90). The block is 16-pixel
    aligned, so H.264 blocks never blur its edges.
    """
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": "10", "preset": "veryfast", "crf": "18"}
        matrix_written = display_rotation(stream, rotation)
        image = np.zeros((height, width, 3), np.uint8)
        image[:16, :32] = 255
        for _ in range(n_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if not matrix_written:
        patch_track_matrix(path, rotation)
    return path


def display_rotation(stream, rotation: int) -> bool:
    """Give `stream` a display matrix turning stored frames `rotation` degrees counter-clockwise, where PyAV can (16 and later)."""
    if rotation and hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        stream.set_display_rotation(rotation)
        return True
    return not rotation


def patch_track_matrix(path: Path, rotation: int) -> None:
    """Write the display matrix into an MP4/MOV's track header as FFmpeg's muxer does, for PyAV 15 (which cannot).

    tkhd (version 0) holds, 44 bytes after its type, the 3x3 matrix (a, b, u, c, d, v, x, y, w;
    16.16 fixed point, cut toward zero, but u, v, w 2.30) and then the displayed width and
    height (16.16): a turn of r degrees counter-clockwise is a = d = cos r, b = -sin r, c = sin r,
    and an odd quarter turn swaps width and height. The file's only track is its video.
    """
    data = bytearray(path.read_bytes())
    header = data.find(b"tkhd", data.find(b"moov"))
    if header < 0 or data[header + 4] != 0:
        raise ValueError(f"{path}: no version-0 track header to write a rotation into")
    at = header + 44
    cos, sin = (int(f(math.radians(rotation)) * 65536) for f in (math.cos, math.sin))
    width, height = struct.unpack(">II", data[at + 36 : at + 44])
    if rotation % 180 == 90:
        width, height = height, width
    data[at : at + 44] = struct.pack(">9i2I", cos, -sin, 0, sin, cos, 0, 0, 0, 1 << 30, width, height)
    path.write_bytes(bytes(data))


@dataclass(frozen=True)
class Codec:
    """How `write_footage` writes one codec: the container, the encoder and its options."""

    container: str  # FFmpeg's format name
    suffix: str
    encoder: str
    options: dict
    pix_fmt: str = "yuv420p"


# what this PyAV build encodes (check av.codecs_available); speed settings keep each clip under a second
CODECS = {
    "h264": Codec("mp4", ".mp4", "libx264", {"preset": "veryfast", "crf": "23", "g": "24", "bf": "2"}),
    # 4:4:4 lets H.264 take an odd size; 4:2:0 needs even sides
    "h264-444": Codec("mp4", ".mp4", "libx264", {"preset": "veryfast", "crf": "23", "g": "24"}, "yuv444p"),
    "vp9": Codec("webm", ".webm", "libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "g": "24"}),
    "mpeg4": Codec("matroska", ".mkv", "mpeg4", {"g": "24", "qscale": "3"}),
    "hevc": Codec("mov", ".mov", "libx265", {"preset": "ultrafast", "x265-params": "log-level=none:keyint=24"}),
}
VFR_STEPS_MS = (20, 33, 50, 41)  # frame durations a variable-rate clip cycles through: 144 ms per 4 frames
BALL = (230, 40, 40)


def footage_times(n_frames: int, fps: int = 24, vfr: bool = False) -> list[float]:
    """Seconds of each frame `write_footage` writes: i / fps, or the VFR_STEPS_MS cycle."""
    if not vfr:
        return [i / fps for i in range(n_frames)]
    return [(sum(VFR_STEPS_MS) * (i // 4) + sum(VFR_STEPS_MS[: i % 4])) / 1000 for i in range(n_frames)]


def footage_seconds(n_frames: int = 48, fps: int = 24, vfr: bool = False) -> float:
    """The time the ball takes to cross a `write_footage` clip: its last frame's time plus one frame at `fps`."""
    return footage_times(n_frames, fps, vfr)[-1] + 1 / fps


def ball_centre(t: float, width: int, height: int, seconds: float) -> tuple[float, float]:
    """(x, y) of the ball's centre at `t` seconds, in displayed pixels: left to right over `seconds`, bobbing."""
    return width * (0.15 + 0.7 * t / seconds), height * (0.5 + 0.2 * math.sin(2 * math.pi * t / seconds))


def footage_frame(t: float, width: int, height: int, seconds: float) -> np.ndarray:
    """uint8 (height, width, 3): a drifting sky-to-ground gradient, a fixed texture panning with it, and the ball."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    drift = x / width + t / 4
    red = 60 + 50 * x / width + 20 * np.sin(2 * np.pi * drift)
    green = 90 + 70 * y / height + 25 * np.sin(2 * np.pi * (y / height - t / 3))
    blue = 170 - 60 * y / height + 20 * np.cos(2 * np.pi * drift)
    texture = np.random.default_rng(0).integers(-8, 9, (height, width), dtype=np.int16)
    texture = np.roll(texture, int(t * 20), axis=1)  # the camera pans a little
    image = np.stack([red, green, blue], axis=-1) + texture[..., None]
    cx, cy = ball_centre(t, width, height, seconds)
    radius = min(width, height) / 8
    image[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = BALL
    return np.clip(image, 0, 255).astype(np.uint8)


def write_footage(path: Path, codec: str = "h264", width: int = 320, height: int = 180, n_frames: int = 48, fps: int = 24,
                  vfr: bool = False, rotation: int = 0) -> Path:
    """A clip that looks like footage (see `footage_frame`), `width` x `height` as displayed, `n_frames` long.

    `vfr`: frame times follow `footage_times(..., vfr=True)`, in a 1/1000 s time base.
    `rotation`: the display matrix, degrees counter-clockwise that turn a stored frame upright
    (FFmpeg's sign; a phone held upright writes -90): frames are stored turned the other way,
    so the clip shows upright only to a decoder that applies the matrix. The ball crosses in
    `footage_seconds(n_frames, fps, vfr)`.
    """
    spec = CODECS[codec]
    times, seconds = footage_times(n_frames, fps, vfr), footage_seconds(n_frames, fps, vfr)
    turns = round(rotation / 90) % 4
    stored_w, stored_h = (height, width) if turns % 2 else (width, height)
    with av.open(str(path), "w", format=spec.container) as container:
        stream = container.add_stream(spec.encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = stored_w, stored_h, spec.pix_fmt
        stream.options = dict(spec.options)
        if vfr:
            stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        matrix_written = display_rotation(stream, rotation)
        for i, t in enumerate(times):
            stored = np.ascontiguousarray(np.rot90(footage_frame(t, width, height, seconds), -turns))
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            if vfr:
                frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if not matrix_written:
        patch_track_matrix(path, rotation)
    return path


def find_ball(frame: np.ndarray) -> tuple[float, float] | None:
    """(x, y) of the red ball's centre in a decoded frame (its pixels' centroid); None when it is not there."""
    rgb = frame.astype(np.int16)
    red = (rgb[..., 0] > 150) & (rgb[..., 0] - rgb[..., 1] > 80) & (rgb[..., 0] - rgb[..., 2] > 80)
    if red.sum() < 4:
        return None
    ys, xs = np.nonzero(red)
    return float(xs.mean()), float(ys.mean())


# clips like the ones people have: name -> write_footage arguments; each is 48 frames at 24 fps (2 s; the VFR one's last frame at 1.687 s)
FOOTAGE = {
    "camera.mp4": dict(codec="h264"),  # H.264 with B-frames in MP4, 320x180
    "odd.webm": dict(codec="vp9", width=322, height=181),  # VP9 in WebM at an odd size
    "odd.mkv": dict(codec="mpeg4", width=322, height=181),  # MPEG-4 part 2 in Matroska at an odd size
    "odd444.mp4": dict(codec="h264-444", width=322, height=181),  # H.264 4:4:4, which takes odd sides
    "vfr.mp4": dict(codec="h264", vfr=True),  # irregular frame times, as phones record
    "phone.mov": dict(codec="hevc", width=180, height=320, rotation=-90),  # HEVC stored sideways, shown upright (portrait)
}


def write_footage_set(folder: Path) -> dict[str, Path]:
    """Every clip of FOOTAGE under `folder`, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write_footage(folder / name, **kwargs) for name, kwargs in FOOTAGE.items()}
