"""framebench: how much a query-aware frame selector helps video multimodal LLMs.

`from bench import select_frames` gives a selection for any pipeline (see bench.api). The
names are imported on first use, so `import bench` stays instant.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["FrameSelector", "Selection", "select_frames"]


def __getattr__(name: str):
    if name in __all__:
        from bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
