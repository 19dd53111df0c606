"""`bench.store` under its old name, for plugins written before the move (`from bench.cache import ArrayStore`)."""

from bench.store import ArrayStore, atomic_write_text, declare, default_root, digest, file_key

__all__ = ["ArrayStore", "atomic_write_text", "declare", "default_root", "digest", "file_key"]
