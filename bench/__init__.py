"""framebench: how much a query-aware frame selector helps video multimodal LLMs."""

__version__ = "0.1.0"
