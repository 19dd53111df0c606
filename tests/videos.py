"""Test videos whose frames carry their own index, so a decoded frame says which one it is."""

from __future__ import annotations

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
        stream.set_display_rotation(rotation)
        image = np.zeros((height, width, 3), np.uint8)
        image[:16, :32] = 255
        for _ in range(n_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
