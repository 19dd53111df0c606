"""One battery over every registered selector: it builds, its spec round-trips, it scores a needle
sample into a selection, it never reads the answer, and all-black frames do not break it.

Each selector runs offline on the CPU from its entry in TINY; a selector registered without
one fails `test_every_registered_selector_has_a_tiny_spec`, so a new one must add itself.
The poison test replaces a sample's answer and interval by a sentinel that raises on any use
and scores it through `bench.grid.scoring.score_all`, the runner's path.
"""

import json
import re
from dataclasses import replace

import numpy as np
import pytest

from bench.store.frames import FrameCache
from bench.grid.progress import Reporter
from bench.records import Candidates
from bench.registry import Spec, selectors
from bench.grid.scoring import Scorer, score_all
from bench.store.scores import cached, score_store
from bench.selectors import query_for
from bench.selectors.choose import choose
from tests.chat_server import Reply

N, SIZE, K = 32, 64, 4  # candidates, frame size, frames picked: small, so the battery stays fast

# name -> a spec that runs offline on the CPU; {ckpt} is a tiny trained checkpoint made once per session
TINY = {
    "air": "air:scorer=probe:size=tiny",
    "aks": "aks:size=tiny",
    "bolt": "bolt:size=tiny",
    "clip": "clip:size=tiny",
    "dig": "dig:route=localized:scorer=probe:size=tiny",  # route= skips the text LLM; tests/test_peers_2026.py asks one
    "focus": "focus:size=tiny",
    "mdp3": "mdp3:size=tiny",
    "oracle": "oracle",
    "pseudo": "pseudo:captioner=probe:scorer=probe",
    "qframe": "qframe:size=tiny",
    "spatial": "spatial:scorer=probe",
    "temporal": "temporal:captioner=probe",
    "trained": "trained:ckpt={ckpt}",
    "uniform": "uniform",
}
CHATS = ("pseudo", "temporal")  # their text LLM is the local chat server
NAMES = selectors.names()
CAPTION = re.compile(r"^(\d+) \([\d.]+ s\): (.+)$", re.M)


class Poisoned(Exception):
    """Something used a ground-truth field that a selector must never see."""


class Poison:
    """Stands in for a sample's answer or interval: comparing, hashing, printing, iterating... raises Poisoned."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        object.__setattr__(self, "field", field)


def _tripwire(dunder: str):
    def trip(self, *args, **kwargs):
        raise Poisoned(f"the poisoned {object.__getattribute__(self, 'field')} was used ({dunder})")

    return trip


for _dunder in (
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__str__", "__repr__", "__format__", "__bool__",
    "__len__", "__iter__", "__getitem__", "__contains__", "__getattr__", "__setattr__", "__call__", "__add__", "__radd__",
    "__mul__", "__float__", "__int__", "__index__", "__array__", "__reduce__", "__reduce_ex__", "__copy__", "__deepcopy__",
):
    setattr(Poison, _dunder, _tripwire(_dunder))


def poisoned(sample):
    """A copy of `sample` whose answer and interval raise Poisoned when anything touches them."""
    return replace(sample, answer=Poison("answer"), interval=Poison("interval"))


def shape_frames(request: dict) -> Reply:
    """The temporal selector's text LLM: lists the frames whose caption mentions a shape."""
    captions = CAPTION.findall(request["messages"][-1]["content"])
    return Reply(json.dumps([int(i) for i, caption in captions if "shape" in caption]))


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory):
    """A tiny trained-selector checkpoint for N candidates, random weights (made once per session)."""
    from bench.selector_model import checkpoint
    from bench.selector_model.config import SelectorConfig
    from bench.selector_model.model import build

    directory = tmp_path_factory.mktemp("tiny-selector")
    model, _, _ = build(SelectorConfig(size="tiny", candidates=N))
    checkpoint.save(model, directory)
    return directory


@pytest.fixture
def spec(request):
    """The TINY spec of the selector named by the test's `name`; a text LLM it asks is a local chat server."""
    name = request.getfixturevalue("name")
    if name not in TINY:
        pytest.fail(f"selector {name!r} is registered but has no entry in TINY (tests/test_selector_contracts.py); add a spec that runs offline")
    if name in CHATS:
        request.getfixturevalue("chat_server").responder = shape_frames
    # only the trained selector pays for its checkpoint
    return TINY[name].format(ckpt=request.getfixturevalue("ckpt") if "{ckpt}" in TINY[name] else "")


@pytest.fixture(scope="module")
def needle(needle_test, cache_dir):
    """(sample, candidates): the first needle test sample, N candidates at SIZE pixels."""
    sample = needle_test[0]
    return sample, FrameCache(cache_dir).candidates(sample.videos, N, SIZE)


def _build(spec: str, tmp_path):
    return selectors.build(spec, context={"cache_dir": tmp_path / "selector-cache"})


def _score_all(spec: str, sample, cands: Candidates, tmp_path, store: str):
    """Score one sample the way `bench run` does, into a score store of its own: ({key: error}, scores or None)."""
    selector = _build(spec, tmp_path)
    scores = score_store(tmp_path / store)
    scorer = Scorer(selector, selector.spec, scores, "cpu")
    errors, _ = score_all(scorer, [sample], lambda s: cands, Reporter())
    hit = cached(scores, scorer.stored_as, cands.key, sample)
    return errors, None if hit is None else hit.values


def test_every_registered_selector_has_a_tiny_spec():
    assert sorted(TINY) == NAMES, "TINY must name every registered selector, and only those"


@pytest.mark.parametrize("name", NAMES)
def test_it_builds_and_its_canonical_spec_round_trips(name, spec, tmp_path):
    canonical = selectors.canonical(spec)
    assert _build(canonical, tmp_path).spec == canonical
    assert selectors.canonical(canonical) == canonical
    assert Spec.parse(canonical).name == name


@pytest.mark.parametrize("name", NAMES)
def test_it_scores_a_needle_sample_and_picks_k_distinct_candidates_in_time_order(name, spec, needle, tmp_path):
    sample, cands = needle
    selector = _build(spec, tmp_path)
    selector.load("cpu")
    try:
        scores = selector.score(query_for(selector, cands, sample))
    finally:
        selector.release()
    assert scores.dtype == np.float32 and scores.shape == (N,) and np.isfinite(scores).all()
    chosen = choose(selector, selector.pick, scores, K, cands)  # aks and mdp3 run their own rule, after release
    assert len(chosen) == K and len(set(chosen.tolist())) == K
    assert chosen.tolist() == sorted(chosen.tolist()) and chosen.min() >= 0 and chosen.max() < N


@pytest.mark.parametrize("name", NAMES)
def test_a_selector_never_reads_the_answer_unless_it_declares_needs_truth(name, spec, needle, tmp_path):
    sample, cands = needle
    selector = _build(spec, tmp_path)
    needs_truth = getattr(selector, "needs_truth", False)
    assert query_for(selector, cands, sample).truth is (sample if needs_truth else None)
    clean_errors, clean = _score_all(spec, sample, cands, tmp_path, "clean-scores")
    assert clean_errors == {} and clean is not None
    errors, scores = _score_all(spec, poisoned(sample), cands, tmp_path, "poisoned-scores")
    if needs_truth:
        # it was handed the poisoned sample and read the interval: `start, end = interval` iterates it
        assert errors == {(sample.dataset, sample.sample_id): "select: Poisoned: the poisoned interval was used (__iter__)"}
        assert scores is None
    else:
        assert errors == {} and np.array_equal(scores, clean)


@pytest.mark.parametrize("name", NAMES)
def test_all_black_frames_still_give_finite_scores(name, spec, needle, tmp_path):
    sample, cands = needle
    # a key of their own, so no cache (embeddings, captions, features, scores) returns the real frames' results
    black = replace(cands, frames=np.zeros_like(cands.frames), key=f"{cands.key}-black")
    errors, scores = _score_all(spec, sample, black, tmp_path, "black-scores")
    assert errors == {}
    assert scores.dtype == np.float32 and scores.shape == (N,) and np.isfinite(scores).all()


@pytest.mark.parametrize("use, dunder", [
    (lambda p: p == "A", "__eq__"),
    (lambda p: "A" == p, "__eq__"),
    (hash, "__hash__"),
    (str, "__str__"),
    (repr, "__repr__"),
    (lambda p: f"{p:>3}", "__format__"),
    (bool, "__bool__"),
    (len, "__len__"),
    (lambda p: tuple(p), "__iter__"),
    (lambda p: p[0], "__getitem__"),
    (lambda p: "A" in p, "__contains__"),
    (lambda p: p.lower(), "__getattr__"),
    (lambda p: p < 1.0, "__lt__"),
    (float, "__float__"),
])
def test_the_poison_raises_on_any_use(use, dunder):
    with pytest.raises(Poisoned, match=re.escape(f"the poisoned answer was used ({dunder})")):
        use(Poison("answer"))
