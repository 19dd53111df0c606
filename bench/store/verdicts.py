"""The judge's verdicts, kept through the checksummed array store like every other cache entry.

One entry per (judge model, question, reference answer, prediction), holding the verdict and
the judge's raw reply. Verdicts cached before they went through the store (plain JSON under
the same folder, another key) are still read, and copied into the store when first read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.store.arrays import ArrayStore, digest
from bench.store.prune import declare

FOLDER = declare("judge", "verdicts (judge)")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judge's decision on one prediction."""

    yes: bool
    score: int  # 0..5


class VerdictStore:
    """Verdicts under `<cache dir>/judge`."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / FOLDER
        self.store = ArrayStore(self.root)

    def get(self, model: str, question: str, answer: str, prediction: str) -> Verdict | None:
        """The stored verdict, or None for a miss (a damaged entry is one, named once in the log)."""
        key = digest("verdict", model, question, answer, prediction)
        hit = self.store.load(key, about=f"{model}'s verdict")
        if hit is not None:
            return Verdict(yes=bool(hit[1]["yes"]), score=int(hit[1]["score"]))
        old = _unchecked(self.root, digest("judge", model, question, answer, prediction))
        if old is not None:
            self.put(model, question, answer, prediction, *old)
            return old[0]
        return None

    def put(self, model: str, question: str, answer: str, prediction: str, verdict: Verdict, reply: str) -> None:
        """Store a verdict; where the cache cannot be written it is kept for this process (see ArrayStore.save)."""
        meta = {"model": model, "question": question, "answer": answer, "prediction": prediction,
                "yes": verdict.yes, "score": verdict.score, "reply": reply}
        self.store.save(digest("verdict", model, question, answer, prediction), {}, meta)


def _unchecked(root: Path, key: str) -> tuple[Verdict, str] | None:
    """A verdict written as plain JSON (`<key>.json`, no checksum), with its reply; None when absent or unreadable."""
    try:
        record = json.loads((root / key[:2] / f"{key}.json").read_text())
        return Verdict(yes=bool(record["yes"]), score=int(record["score"])), str(record.get("reply", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None
