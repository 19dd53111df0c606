"""Shared fixtures: offline settings, a session cache of needle videos, temporary results dirs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from bench.records import DataOptions  # noqa: E402
from bench.registry import benchmarks  # noqa: E402

NEEDLE_TEST_COUNT = 120  # enough samples for the geometry checks (see test_needle_world.py)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole session, so each needle video is generated and decoded once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def needle_test(cache_dir: Path) -> list:
    """The first NEEDLE_TEST_COUNT samples of needle:split=test, seed 0."""
    return benchmarks.build("needle").load(DataOptions(cache_dir=cache_dir, seed=0, limit=NEEDLE_TEST_COUNT))


@pytest.fixture
def private_cache(tmp_path: Path, cache_dir: Path, needle_test: list) -> Path:
    """A cache of its own holding copies of the first 8 needle test videos, safe to damage."""
    source = cache_dir / "needle" / "seed0" / "test"
    target = tmp_path / "cache" / "needle" / "seed0" / "test"
    target.mkdir(parents=True)
    for path in sorted(source.iterdir())[:16]:
        shutil.copy(path, target / path.name)
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def tiny_hf_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2-VL saved with save_pretrained (model and processor): the offline checkpoint `hf:path=` loads."""
    from tests.checkpoints import save_tiny

    return save_tiny("qwen2-vl", tmp_path_factory.mktemp("hf-qwen2-vl"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny matrices gain nothing from threads, and on a shared 2-core machine they thrash (`pytestmark` of the backbone modules)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    """name -> that backbone at size=tiny, loaded on the CPU once for the module."""
    from bench.registry import backbones

    loaded = {}

    def get(name: str):
        if name not in loaded:
            loaded[name] = backbones.build(f"{name}:size=tiny")
            loaded[name].load("cpu")
        return loaded[name]

    yield get
    for backbone in loaded.values():
        backbone.release()


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def chat_server(monkeypatch: pytest.MonkeyPatch):
    """A local chat-completions server; OPENAI_BASE_URL and OPENAI_API_KEY point the openai client at it."""
    from tests.chat_server import ChatServer

    with ChatServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield server


@pytest.fixture(scope="session")
def ray_address() -> str:
    """A Ray instance of this session's own (2 CPUs, no dashboard), shut down at the end; its GCS address, for `--ray-address`.

    In this process `run(RunConfig(executor="ray"))` uses it as it is; a CLI subprocess joins
    it with `--ray-address`. Never `ray stop`: that would end other people's clusters on this machine.
    """
    ray = pytest.importorskip("ray")
    # "local" starts a new instance even where `ray start` left one running on this machine, which None would join
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
