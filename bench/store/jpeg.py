"""Frames as JPEG bytes and back: the frame cache's `jpeg` format and the thumbnail strips.

Pillow (libjpeg-turbo) encodes and decodes with the GIL released, so frames go through a
small thread pool.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

THREADS = 8


def jpeg_bytes(image, quality: int) -> bytes:
    """A PIL image as JPEG bytes at `quality`."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def to_jpeg(frames: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 (N, H, W, 3) as JPEGs: (the bytes one after another, uint8 (B,); offsets int64 (N + 1,))."""
    from PIL import Image

    def encode(frame: np.ndarray) -> bytes:
        return jpeg_bytes(Image.fromarray(np.ascontiguousarray(frame)), quality)

    with ThreadPoolExecutor(min(THREADS, os.cpu_count() or 1)) as pool:
        blobs = list(pool.map(encode, frames))
    offsets = np.cumsum([0, *map(len, blobs)], dtype=np.int64)
    return np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets


def from_jpeg(data: np.ndarray, offsets: np.ndarray, shape: tuple[int, ...], rows: int = 0) -> np.ndarray:
    """The frames uint8 `shape` (N, H, W, 3), read-only, decoded from `to_jpeg`'s output.

    `rows` > 0 decodes them smaller, at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, far
    cheaper than decoding whole frames and resizing them), the smallest with at least `rows`
    rows: for thumbnails.
    """
    from PIL import Image

    n, h, w, c = shape
    scale = max((s for s in (1, 2, 4, 8) if -(-h // s) >= rows), default=1) if rows > 0 else 1
    shape = (n, -(-h // scale), -(-w // scale), c)  # libjpeg rounds a scaled size up
    frames = np.empty(shape, dtype=np.uint8)

    def decode_one(i: int) -> None:
        with Image.open(io.BytesIO(data[offsets[i] : offsets[i + 1]].tobytes())) as image:
            if scale > 1:
                image.draft("RGB", (w // scale, h // scale))  # Pillow picks the scale from the floored ratio
            frames[i] = np.asarray(image)  # RGB, as to_jpeg wrote it

    with ThreadPoolExecutor(min(THREADS, os.cpu_count() or 1)) as pool:
        list(pool.map(decode_one, range(len(offsets) - 1)))
    frames.flags.writeable = False  # like a raw hit's memory map: candidates are read, never changed
    return frames
