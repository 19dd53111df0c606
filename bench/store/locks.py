"""One writer per file: an exclusive flock on `<file>.lock`, naming its holder inside.

The results store (a cell CSV) and `bench select` (a selections file) both take it for as
long as they write. Only the lock counts, not the file's existence: the kernel releases the
lock of a killed process, so a stale `.lock` file never blocks anyone.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import datetime, timezone
from pathlib import Path


class LockBusy(Exception):
    """Another live process holds the lock; `holder` is what it wrote (pid, host, since when)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class FileLock:
    """Held from construction until `release`; raises LockBusy, or OSError when the lock file cannot be made or written."""

    def __init__(self, target: Path) -> None:
        self.path = Path(target).with_name(Path(target).name + ".lock")
        while True:
            self._file = open(self.path, "a+b", buffering=0)  # noqa: SIM115 (held until release)
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._file.seek(0)
                holder = self._file.read().decode("utf-8", "replace").strip() or "another process (not yet named)"
                self._file.close()
                raise LockBusy(holder) from None
            # a holder that released meanwhile removed the file we opened: lock the one now there
            if self._same_file():
                break
            self._file.close()
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            self._file.truncate(0)
            self._file.write(f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode())
        except OSError:  # a full disk: nothing could be written beside it either
            self.release()
            raise

    def _same_file(self) -> bool:
        try:
            now, held = os.stat(self.path), os.fstat(self._file.fileno())
        except FileNotFoundError:
            return False
        return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        """Remove the lock file and unlock; safe to call twice."""
        if self._file.closed:
            return
        try:
            os.unlink(self.path)  # while still held, so nobody locks a file about to vanish
        except OSError:
            pass  # a read-only dir: the file stays and, unlocked, blocks nobody
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)  # also for copies of the descriptor a fork made
        self._file.close()
