"""Decoding the N candidates of a video (the frame cache in front of it is bench/store/frames.py).

Candidates are the frames at segment centres, `floor((j + 0.5) * F / N)` for the F frames
the stream holds, resized so the short side is `size` (never upscaled).

How decoding works, and why (numbers in perf/README.md):
- One demux pass (no decoding, ~0.03 s for 7,200 packets) gives the true frame count, every
  frame's timestamp and the keyframes. Counts come from the stream, not the header: a header
  that claims frames the stream does not hold is how decord hangs forever (decord #373), and
  here it is a `VideoError` ("truncated") instead.
- Exact seek (default): targets are grouped by the GOP they fall in; each group costs one
  seek to its keyframe and a forward decode to its last target, the minimum work any exact
  decoder can do. Groups are split between two threads, each with its own container.
- Keyframe seek: each target snaps to its preceding keyframe and only keyframes are decoded,
  far less work on long GOPs, at the price of up to a GOP of temporal error and duplicate
  frames. The CSV's `seek` column says which was used.
- Display rotation: phones store frames as the sensor saw them plus a display matrix saying
  how to turn them. Candidates come out as displayed (quarter turns; other angles round to
  the nearest), and `VideoMeta.width/height` are the displayed size. This PyAV exposes the
  matrix only on decoded frames (`VideoFrame.rotation`), so the index decodes one keyframe.
  Mirroring in the matrix is not applied (cameras do not write it).
- `decoder="decord"` uses decord's `get_batch` where it is installed, and PyAV, after one
  warning line, when decord cannot open the file, fails while decoding, disagrees with the
  demuxed frame count, or the video is rotated (decord 0.6 turns frames itself but returns
  them mis-shaped, e.g. 4 channels for a 96x48 clip turned 90 degrees, or fails when asked to
  resize). PyAV is the default: it was faster on both GOPs measured, has wheels everywhere
  and needs no guard against hangs.
- `decoder="torchcodec"` asks torchcodec (PyTorch's decoder, on the CPU, `threads` FFmpeg
  threads) for the frames played at each target's time: halfway through the frame's display
  time, so float rounding cannot land on a neighbour, with the returned pts checked against
  the targets. It turns frames by the display matrix itself, so its frames are not turned
  again, and resizes with its own `Resize` transform. Its pixels are not ours (torchcodec
  0.17 on PyAV 18's FFmpeg 8, the test clips of tests/videos.py, max abs difference in 0-255):
  unscaled, identical on the even-sized H.264 and HEVC clips, so the colour conversion agrees,
  but up to 58 apart (mean 0.33) on the odd-sized VP9 and MPEG-4 ones; resized, 0.1-1.4 apart
  on average and up to ~120 at hard edges, because it scales in a bilinear, antialiased pass
  of its own (an FFmpeg filter graph where the width is not a multiple of 32) where PyAV
  scales and converts in one libswscale call. The decoder is part of a cell's identity for
  that reason. Where torchcodec is missing, cannot load FFmpeg's shared libraries (it needs a
  system FFmpeg 4-9; the PyAV wheel's own copy is not on the loader's path), fails on the file
  (a file name that is not UTF-8, for one) or returns other frames or another size (it turns
  a 45-degree matrix a quarter, we none), it is one warning line and PyAV. It was about 2x slower
  than the exact path on both GOPs measured (perf/README.md); it stays for its GPU
  route (NVDEC, `device="cuda"`), which this module does not use and which is untested here.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.records import VideoMeta
from bench.sampling import segment_centres

log = logging.getLogger(__name__)

SEEK_MODES = ("exact", "keyframe")
DECODERS = ("pyav", "decord", "torchcodec")
FORMAT = 2  # part of every frames key; bump when decoding changes what an entry holds (2: rotation applied)
# decoders that honour skip_frame packet by packet; libdav1d (AV1), for one, keeps it for the
# decoder's life, so toggling it there loses frames
SKIPS_UNREFERENCED = ("h264", "hevc")


class VideoError(Exception):
    """A video that cannot give its candidates: missing, empty, truncated or undecodable."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Index:
    """One demux pass over the video stream."""

    meta: VideoMeta
    pts: np.ndarray  # int64 (F,), every frame's pts, ascending
    keyframes: np.ndarray  # int64 (G,), keyframe pts, ascending
    time_base: float
    start_pts: int
    turns: int  # quarter turns counter-clockwise that show a decoded frame as displayed
    stream: int  # the video stream's index among all the container's streams


def open_video(path: Path):
    """A PyAV container with a video stream, or a VideoError saying why not."""
    import av

    if not path.exists():
        raise VideoError(path, "file not found")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(path, f"cannot open: {exc}") from None
    if not container.streams.video:
        container.close()
        raise VideoError(path, "no video stream")
    return container


def _index(path: Path) -> _Index:
    import av

    with open_video(path) as container:
        stream = container.streams.video[0]
        pts, keyframes, first_keyframe = [], [], None
        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keyframes.append(packet.pts)
                    if first_keyframe is None:
                        first_keyframe = packet
        except av.error.FFmpegError as exc:
            raise VideoError(path, f"truncated or corrupt container: {exc}") from None
        declared = stream.frames
        time_base = float(stream.time_base)
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        width, height = stream.codec_context.width, stream.codec_context.height
        turns = 0 if first_keyframe is None else _display_turns(path, stream, first_keyframe)
        stream_index = stream.index
    if turns % 2:
        width, height = height, width
    if not pts:
        raise VideoError(path, "the video stream holds no frames")
    if declared and declared > len(pts) + max(2, declared // 100):
        raise VideoError(path, f"truncated: the header declares {declared} frames, the stream holds {len(pts)}")
    if not keyframes:
        raise VideoError(path, "the video stream has no keyframe")
    pts_arr = np.sort(np.array(pts, dtype=np.int64))
    start = int(pts_arr[0])
    frame_s = 1.0 / rate if rate else 0.0
    duration = (pts_arr[-1] - start) * time_base + frame_s
    meta = VideoMeta(path, float(duration), rate or len(pts) / duration, len(pts), width, height)
    return _Index(meta, pts_arr, np.sort(np.array(keyframes, dtype=np.int64)), time_base, start, turns, stream_index)


def _display_turns(path: Path, stream, keyframe) -> int:
    """Quarter turns counter-clockwise that the stream's display matrix asks for (0 without one)."""
    import av

    codec = stream.codec_context
    try:
        frames = codec.decode(keyframe) + codec.decode(None)
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"undecodable first keyframe: {exc}") from None
    return round(frames[0].rotation / 90) % 4 if frames else 0


def probe(path: Path | str) -> VideoMeta:
    """Duration, fps, frame count and size of a video, from one demux pass."""
    return _index(Path(path)).meta


def output_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the short side at `size`; never upscaled."""
    short = min(width, height)
    if short <= size:
        return width, height
    scale = size / short
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode_groups(path: Path, groups: list[np.ndarray], width: int, height: int, single: bool = False) -> dict[int, np.ndarray]:
    """Decode each group of target pts (sorted, within one GOP) with one seek per group; `single`: in this thread alone."""
    out: dict[int, np.ndarray] = {}
    with open_video(path) as container:
        stream = container.streams.video[0]
        if single:  # FFmpeg otherwise adds slice threads of its own, and W one-thread workers would want more than W cores
            stream.codec_context.thread_count = 1
        skip = stream.codec_context.name in SKIPS_UNREFERENCED
        for group in groups:
            try:
                out.update(_decode_group(container, stream, group, width, height, skip_unreferenced=skip))
            except _Missed:
                # the stream's frame pts differ from its packet pts, so skipping could drop a target
                out.update(_decode_group(container, stream, group, width, height, skip_unreferenced=False))
    return out


class _Missed(Exception):
    """A target frame did not come out of the decoder with its own pts, or not at all, while skipping."""


def _decode_group(container, stream, group: np.ndarray, width: int, height: int, skip_unreferenced: bool) -> dict[int, np.ndarray]:
    """Seek to the group's keyframe and decode forward to its last target.

    Two things keep the work at the minimum. Frames that no other frame references and that
    are not targets are skipped undecoded (FFmpeg's skip_frame=NONREF, set packet by packet,
    on H.264 and HEVC): on x264 streams with B-frames about 45% of frames, and the targets come
    out bit-identical.
    And once every target's packet is in, the decoder is drained rather than fed more packets
    until its reorder delay lets the last target out.
    """
    import av

    path = Path(container.name)
    codec = stream.codec_context
    wanted = set(group.tolist())
    unsent = set(wanted)
    out: dict[int, np.ndarray] = {}
    i = 0

    def take(frames) -> bool:
        nonlocal i
        for frame in frames:
            if frame.pts is None or frame.pts < group[i]:
                continue
            if skip_unreferenced and frame.pts != group[i]:
                raise _Missed
            image = frame.to_ndarray(width=width, height=height, format="rgb24")
            while i < len(group) and frame.pts >= group[i]:
                out[int(group[i])] = image
                i += 1
            if i == len(group):
                return True
        return False

    container.seek(int(group[0]), backward=True, any_frame=False, stream=stream)
    try:
        for packet in container.demux(stream):
            skip = skip_unreferenced and packet.pts is not None and packet.pts not in wanted
            codec.skip_frame = "NONREF" if skip else "DEFAULT"
            unsent.discard(packet.pts)
            if take(codec.decode(packet)):
                return out
            if not unsent:  # every target's packet is in; a drained decoder takes no more packets
                if take(codec.decode(None)):
                    return out
                break
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"undecodable near pts {group[i]}: {exc}") from None
    finally:
        codec.skip_frame = "DEFAULT"
        codec.flush_buffers()  # ready for the next seek, also after a drain
    if skip_unreferenced:
        raise _Missed  # a skipped frame was needed: AV1 shows hidden frames later by reference
    raise VideoError(path, f"the stream ended before frame pts {group[i]}")


def _split(groups: list[np.ndarray], costs: np.ndarray, parts: int) -> list[list[np.ndarray]]:
    """Cut the groups into `parts` runs of about equal decode cost, keeping time order."""
    cumulative = np.cumsum(costs)
    cuts = np.searchsorted(cumulative, cumulative[-1] * np.arange(1, parts) / parts)
    return [[groups[i] for i in run] for run in np.split(np.arange(len(groups)), cuts) if len(run)]


def _decode_pyav(path: Path, index: _Index, targets: np.ndarray, width: int, height: int, threads: int) -> np.ndarray:
    """Frames (len(targets), height, width, 3) for target pts (sorted, may repeat)."""
    wanted = np.unique(targets)
    gop = np.searchsorted(index.keyframes, wanted, side="right") - 1
    groups, costs = [], []
    for g in np.unique(gop):
        group = wanted[gop == g]
        groups.append(group)
        # frames this group decodes: from its keyframe to its last target
        costs.append(np.searchsorted(index.pts, group[-1]) - np.searchsorted(index.pts, index.keyframes[g]) + 1)
    runs = _split(groups, np.array(costs, dtype=np.float64), max(1, min(threads, len(groups))))
    decoded: dict[int, np.ndarray] = {}
    if len(runs) == 1:
        decoded = _decode_groups(path, runs[0], width, height, single=threads == 1)
    else:
        with ThreadPoolExecutor(len(runs)) as pool:
            for part in pool.map(lambda run: _decode_groups(path, run, width, height), runs):
                decoded.update(part)
    return np.stack([decoded[int(p)] for p in targets])


def _decode_decord(path: Path, index: _Index, positions: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """decord's get_batch, or None (after one warning line) where decord is missing or fails on the file."""
    try:
        import decord
    except ImportError:
        return None
    if index.turns:
        log.warning("decord mis-shapes rotated videos; decoding %s with PyAV", path)
        return None
    decord.logging.set_level(decord.logging.QUIET)  # its FFmpeg would print each failure again, unasked
    try:
        reader = decord.VideoReader(str(path), width=width, height=height, num_threads=0)
        if len(reader) != index.meta.n_frames:
            log.warning("decord counts %d frames in %s, the stream holds %d; decoding with PyAV", len(reader), path, index.meta.n_frames)
            return None
        return reader.get_batch(positions.tolist()).asnumpy()
    except Exception as exc:  # decord raises its own DECORDError, RuntimeError and IndexError, opening or decoding
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("decord failed on %s (%s); decoding with PyAV", path, reason)
        return None


def _played_at(index: _Index, targets: np.ndarray) -> np.ndarray:
    """Seconds halfway through each target frame's display time, on the stream's own clock."""
    frame_pts = max(1, round(1 / (index.meta.fps * index.time_base)))
    ends = np.append(index.pts[1:], index.pts[-1] + frame_pts)  # the last frame shows for one frame time
    return (targets + ends[np.searchsorted(index.pts, targets)]) / 2 * index.time_base


def _decode_torchcodec(path: Path, index: _Index, targets: np.ndarray, width: int, height: int, threads: int) -> np.ndarray | None:
    """torchcodec's frames played at the target pts, displayed and resized, or None (after one warning line) where it cannot."""
    try:
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize
    except ImportError:
        log.warning("torchcodec is not installed; decoding %s with PyAV", path)
        return None
    wanted, back = np.unique(targets, return_inverse=True)  # keyframe targets repeat; decode each once
    # torchcodec sizes and turns frames as displayed, so (height, width) here is the displayed size
    resize = [] if (width, height) == (index.meta.width, index.meta.height) else [Resize((height, width))]
    try:
        reader = VideoDecoder(str(path), stream_index=index.stream, dimension_order="NHWC", num_ffmpeg_threads=threads, device="cpu",
                              seek_mode="exact", transforms=resize)
        batch = reader.get_frames_played_at(seconds=_played_at(index, wanted).tolist())
    except Exception as exc:  # torchcodec raises RuntimeError, ValueError and more, opening or decoding
        message = str(exc).strip()
        if message.startswith("Could not load libtorchcodec"):
            log.warning("torchcodec cannot load FFmpeg's shared libraries (it needs FFmpeg 4-9 installed); decoding %s with PyAV", path)
        else:
            log.warning("torchcodec failed on %s (%s); decoding with PyAV", path, message.splitlines()[0] if message else type(exc).__name__)
        return None
    got = np.round(batch.pts_seconds.numpy() / index.time_base).astype(np.int64)
    if not np.array_equal(got, wanted):
        first = int(np.flatnonzero(got != wanted)[0])
        log.warning("torchcodec returned the frame at pts %d of %s for pts %d; decoding with PyAV", got[first], path, wanted[first])
        return None
    frames = batch.data.numpy()
    if frames.shape[1:] != (height, width, 3):  # it turned them otherwise
        log.warning("torchcodec gave %dx%d frames of %s where %dx%d are displayed; decoding with PyAV", frames.shape[2], frames.shape[1], path, width, height)
        return None
    return frames[back]


def decode(path: Path, n: int, size: int, seek: str = "exact", decoder: str = "pyav", threads: int | None = None) -> tuple[np.ndarray, np.ndarray, VideoMeta, str]:
    """Decode N candidates: (frames uint8 (N,H,W,3), times float64 (N,), meta, decoder used)."""
    if seek not in SEEK_MODES:
        raise ValueError(f"seek must be one of {SEEK_MODES}, not {seek!r}")
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, not {decoder!r}")
    index = _index(path)
    meta = index.meta
    positions = segment_centres(meta.n_frames, n)
    targets = index.pts[positions]
    if seek == "keyframe":
        targets = index.keyframes[np.searchsorted(index.keyframes, targets, side="right") - 1]
        positions = np.searchsorted(index.pts, targets)
    width, height = output_size(meta.width, meta.height, size)
    threads = threads or min(2, os.cpu_count() or 1)
    if decoder == "torchcodec":
        frames = _decode_torchcodec(path, index, targets, width, height, threads)
        if frames is not None:
            return frames, _seconds(index, targets), meta, "torchcodec"
    if index.turns % 2:  # the other decoders see the stored (sensor) orientation
        width, height = height, width
    frames = _decode_decord(path, index, positions, width, height) if decoder == "decord" else None
    used = "decord" if frames is not None else "pyav"
    if frames is None:
        frames = _decode_pyav(path, index, targets, width, height, threads)
    if index.turns:
        frames = np.ascontiguousarray(np.rot90(frames, index.turns, axes=(1, 2)))
    return frames, _seconds(index, targets), meta, used


def _seconds(index: _Index, targets: np.ndarray) -> np.ndarray:
    """float64 seconds of target pts from the stream's first frame."""
    return ((targets - index.start_pts) * index.time_base).astype(np.float64)
