"""The LLM judge for open-ended answers (ActivityNet-QA), in the Video-ChatGPT protocol.

The judge sees the question, the reference answer and the prediction, and replies with a
Python dict string `{'pred': 'yes'|'no', 'score': 0..5}`: the task Video-ChatGPT's
`evaluate_activitynet_qa.py` sets (and lmms-eval's `activitynetqa/utils.py` repeats), a
yes/no meaningful match where synonyms count plus an integer 0-5 score. The messages say
this in framebench's own words, not Video-ChatGPT's; the task, the fields and the reply
format are the same, but the wording differs, so compare accuracy / score pairs with
published ones knowing that judge prompts shift verdicts a little.

Departures, and why:
- A verdict that cannot be read (no dict, `pred` neither yes nor no, a score outside 0-5) raises
  `JudgeError`; lmms-eval turns it into ("no", 0), which counts a judge failure as a wrong answer.
- The call goes through `bench.llm.chat.complete` (429, 5xx, timeouts and dropped connections
  retried with backoff, temperature 0, 64 tokens as in lmms-eval), so any OpenAI-compatible
  server can judge.
- A refused key (401) is not retried, and a judge that met one asks no more in this process:
  every later verdict not in the cache fails at once with the same error, "authentication
  failed (401) at <base_url>: check OPENAI_API_KEY", rather than one refused call per row.
- Verdicts are cached keyed by (model, question, answer, prediction) in the checksummed store
  (bench/store/verdicts.py), so reruns, other cells with the same reply, and `bench rescore`
  never pay twice. Failures are not cached.

The score is truncated to an integer as Video-ChatGPT and lmms-eval do (`int(4.8) == 4`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bench.llm.chat import AuthError, ChatError, complete
from bench.store.verdicts import Verdict, VerdictStore

DEFAULT_MODEL = "gpt-4o-mini"
MAX_TOKENS = 64

SYSTEM = (
    "You grade answers to questions about videos. Given a question, its reference answer and a "
    "predicted answer, decide whether the prediction means the same as the reference: wording may "
    "differ, and synonyms and paraphrases count as matches."
)
USER = (
    "Question: {question}\nReference answer: {answer}\nPredicted answer: {prediction}\n\n"
    "Reply with a Python dict and nothing else: 'pred' is 'yes' if the prediction matches the reference "
    "and 'no' otherwise, and 'score' is an integer from 0 (no match) to 5 (a full match), "
    "for example {{'pred': 'no', 'score': 1}}."
)


class JudgeError(Exception):
    """A verdict that could not be had: the call failed after its retries, or the reply does not parse."""


def messages(question: str, answer: str, prediction: str) -> list[dict[str, str]]:
    """The chat messages that ask for one verdict."""
    user = USER.format(question=question, answer=answer, prediction=prediction)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> Verdict:
    """The verdict in a judge reply such as "{'pred': 'yes', 'score': 4}"; JudgeError when it is not one."""
    found = re.search(r"\{.*\}", text, re.S)
    if not found:
        raise JudgeError(f"verdict does not parse: no {{...}} in {text[:80]!r}")
    try:
        value = ast.literal_eval(found.group(0))  # a Python dict string, or JSON (also a Python literal)
    except (ValueError, SyntaxError):
        raise JudgeError(f"verdict does not parse: {found.group(0)[:80]!r}") from None
    if not isinstance(value, dict) or "pred" not in value or "score" not in value:
        raise JudgeError(f"verdict does not parse: needs keys 'pred' and 'score', got {found.group(0)[:80]!r}")
    pred, score = str(value["pred"]).strip(" .!'\"").lower(), value["score"]
    if pred not in ("yes", "no"):
        raise JudgeError(f"verdict does not parse: 'pred' is {value['pred']!r}, not yes or no")
    if isinstance(score, str):
        score = score.strip()
        score = float(score) if re.fullmatch(r"\d+(\.\d+)?", score) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 5:
        raise JudgeError(f"verdict does not parse: 'score' is {value['score']!r}, not a number from 0 to 5")
    return Verdict(yes=pred == "yes", score=int(score))


class Judge:
    """Verdicts from one judge model, cached under the cache dir `cache_dir`."""

    def __init__(self, model: str, cache_dir: Path, timeout: float = 60.0, retries: int = 3, backoff: float = 1.0) -> None:
        self.model = model
        self.verdicts = VerdictStore(cache_dir)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._refused = ""  # the 401 error, once the server has refused the key

    def verdict(self, question: str, answer: str, prediction: str) -> Verdict:
        """The cached verdict, else one asked of the model and cached; JudgeError when none can be had."""
        cached = self.verdicts.get(self.model, question, answer, prediction)
        if cached is not None:
            return cached
        if self._refused:
            raise JudgeError(self._refused)
        try:
            reply = complete(self.model, messages(question, answer, prediction), max_tokens=MAX_TOKENS,
                             timeout=self.timeout, retries=self.retries, backoff=self.backoff)
        except AuthError as exc:
            self._refused = str(exc)
            raise JudgeError(self._refused) from None
        except ChatError as exc:
            raise JudgeError(str(exc)) from None
        except Exception as exc:  # no client at all (OPENAI_API_KEY unset): error rows keep their predictions for rescore
            raise JudgeError(f"{self.model}: {type(exc).__name__}: {exc}") from None
        verdict = parse_verdict(reply)
        self.verdicts.put(self.model, question, answer, prediction, verdict, reply)
        return verdict
