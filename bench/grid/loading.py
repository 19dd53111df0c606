"""Models loaded on first use and released once: selectors and backbones, for the runner, labels and `bench show`."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Lazy:
    """A selector or backbone loaded on first use and released on exit, also when the work fails.

    A load that fails is remembered: every row that needed the model gets its error
    (`load: <type>: <message>`) and the rest of the grid goes on.
    """

    def __init__(self, model, device: str) -> None:
        self.model, self.device = model, device
        self.loaded, self.error = False, ""

    def ready(self) -> str:
        """"" once loaded, else the load's error; loads at most once."""
        if not self.loaded and not self.error:
            try:
                self.model.load(self.device)
                self.loaded = True
            except Exception as exc:  # a missing checkpoint, no GPU memory: this model's rows fail, not the run
                self.error = f"load: {type(exc).__name__}: {exc}"
                log.warning("%s could not load: %s", self.model.spec, exc, exc_info=True)
        return self.error

    def release(self) -> None:
        """Free the model if it was loaded; it loads again on the next `ready`."""
        if self.loaded:
            self.loaded = False
            self.model.release()

    def __enter__(self) -> "Lazy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
