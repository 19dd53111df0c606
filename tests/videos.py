"""Test videos whose frames carry their own index, so a decoded frame says which one it is."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

BITS = 12


def write_indexed_video(path: Path, n_frames: int, fps: int = 30, gop: int = 30, width: int = 192, height: int = 108, bframes: int = 2, faststart: bool = False) -> Path:
    """H.264 video where frame i shows i in binary as BITS black/white blocks across the top half."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": str(bframes), "preset": "veryfast", "crf": "18"}
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
