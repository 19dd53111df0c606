"""Open-ended answers graded by the LLM judge: what ActivityNet-QA and a user's free-text questions share.

The judge's settings are checked when the spec is built, its verdicts are cached under the
cache dir, and a verdict that cannot be had is an error outcome (`judge: ...`), never a "no".
"""

from __future__ import annotations

from pathlib import Path

from bench.store import default_root
from bench.llm.judge import Judge, JudgeError
from bench.records import Outcome, Sample
from bench.registry import RegistryError


class JudgedAnswers:
    """A benchmark mixin: `judge_model`, `judge_timeout` and `judge_retries`, and `judged(sample, prediction)`."""

    settings = ("judge_timeout", "judge_retries")  # change no verdict, so they stay out of the spec

    def set_judge(self, judge_model: str, judge_timeout: float, judge_retries: int) -> None:
        """Check and keep the judge's settings (a RegistryError names a bad one)."""
        if not judge_model.strip():
            raise RegistryError("judge_model must name a model, not ''")
        if not judge_timeout > 0:
            raise RegistryError(f"judge_timeout must be a positive number of seconds, not {judge_timeout}")
        if judge_retries < 0:
            raise RegistryError(f"judge_retries must be 0 or more, not {judge_retries}")
        self.judge_model, self.judge_timeout, self.judge_retries = judge_model, judge_timeout, judge_retries
        self._judge: Judge | None = None

    def use_cache(self, cache_dir: Path) -> None:
        """Cache verdicts under `cache_dir`: `load` passes --cache-dir, `bench rescore` its own."""
        self._judge = Judge(self.judge_model, Path(cache_dir), timeout=self.judge_timeout, retries=self.judge_retries)

    def judged(self, sample: Sample, prediction: str) -> Outcome:
        """The judge's verdict on `prediction` against the reference answer; an error outcome when none can be had."""
        if self._judge is None:
            self.use_cache(default_root())
        try:
            verdict = self._judge.verdict(sample.question, sample.answer, prediction)
        except JudgeError as exc:
            return Outcome(correct=None, error=f"judge: {exc}", judge_model=self.judge_model)
        return Outcome(correct=verdict.yes, judge_score=float(verdict.score), judge_model=self.judge_model)
