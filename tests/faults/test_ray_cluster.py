"""A Ray cluster of two nodes on this machine, one of which cannot see the cache dir: the run exits 2 naming it.

The second node runs in a private mount namespace with a tmpfs mounted over the cache dir,
so it sees an empty folder where the head sees the cache: what a node without the shared
filesystem sees. Both nodes are `ray start --block` processes in sessions of their own, killed
by process group at the end, so no other Ray instance on the machine is touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# a private cluster of the test's own: token authentication off, so its nodes and driver need no shared token
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _can_mount() -> bool:
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _alive_nodes(address: str) -> int:
    script = "import ray; ray.init(address=%r, logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))" % address
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=120)
    return int(child.stdout.split()[-1]) if child.returncode == 0 and child.stdout.split() else 0


@pytest.fixture
def two_nodes(tmp_path):
    """(address, cache dir): a head node that sees the cache dir and a second node that does not."""
    if not _can_mount():
        pytest.skip("needs a private mount namespace (unshare -m)")
    cache = tmp_path / "cache"
    cache.mkdir()
    address = f"127.0.0.1:{_free_port()}"
    nodes = [_start([RAY, "start", "--head", "--port", address.split(":")[1], "--num-cpus", "1", "--include-dashboard", "false", "--block"])]
    try:
        deadline = time.monotonic() + 90
        while _alive_nodes(address) < 1:
            assert time.monotonic() < deadline, "the head node did not start"
        blind = 'mount -t tmpfs none "$1" && shift && exec "$@"'
        nodes.append(_start(["unshare", "-m", "sh", "-c", blind, "sh", str(cache), RAY, "start", "--address", address, "--num-cpus", "1", "--block"]))
        while _alive_nodes(address) < 2:
            assert time.monotonic() < deadline, "the second node did not join"
        yield address, cache
    finally:
        for node in reversed(nodes):
            os.killpg(node.pid, signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)


def test_a_node_that_cannot_see_the_cache_dir_stops_the_run_before_any_row(two_nodes, tmp_path):
    address, cache = two_nodes
    results = tmp_path / "results"
    command = [sys.executable, "-m", "bench", "run", "--dataset", "needle", "--selector", "uniform", "--backbone", "probe", "--frames", "4",
               "--limit", "2", "--candidates", "16", "--frame-size", "64", "--executor", "ray", "--ray-address", address,
               "--cache-dir", str(cache), "--results-dir", str(results)]
    child = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    assert child.returncode == 2, child.stderr
    message = " ".join(child.stderr.split())
    assert f"the cache dir {cache} is not visible from 1 of 2 Ray nodes" in message, child.stderr
    assert "a filesystem all nodes mount" in message
    assert not list(results.rglob("*.csv")) or all(len(p.read_text().splitlines()) <= 1 for p in results.rglob("*.csv"))
    assert not list(cache.glob(".ray-check-*")), "the marker file is removed"
