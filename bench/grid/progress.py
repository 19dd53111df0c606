"""Progress reporting: the phases of a run call it; the CLI draws rich bars, the library draws nothing."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, ContextManager


class Reporter:
    """Progress callbacks; the default reports nothing. The CLI draws rich bars."""

    def phase(self, description: str, total: int) -> ContextManager[Callable[[], None]]:
        return nullcontext(lambda: None)
