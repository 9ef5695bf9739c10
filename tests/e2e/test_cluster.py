"""The hub on a real three-node Redis Cluster (``--redis-url … --redis-cluster``)."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from hub.store.embedded import find_redis_server
from tests import client
from tests.hubproc import HubProcess
from tests.parties import FakePlatform, b64

SLOTS = 16384


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """Three masters on loopback, slots split between them, joined with CLUSTER MEET."""
    ports = [cluster_port() for _ in range(3)]
    processes = []
    for port in ports:
        node = tmp_path / f"node-{port}"
        node.mkdir()
        processes.append(
            subprocess.Popen(
                [
                    find_redis_server(),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(node),
                ],
                stdout=subprocess.DEVNULL,
            )
        )
    try:
        nodes = [redis.Redis(port=port) for port in ports]
        for node in nodes:
            _wait(lambda node=node: bool(node.ping()))
        share = SLOTS // len(nodes)
        for i, node in enumerate(nodes):
            last = SLOTS if i == len(nodes) - 1 else (i + 1) * share
            node.execute_command("CLUSTER ADDSLOTS", *range(i * share, last))
            if i:
                node.execute_command("CLUSTER MEET", "127.0.0.1", ports[0])
        _wait(lambda: all(n.cluster("INFO")["cluster_state"] == "ok" for n in nodes))
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = random.randint(20000, 30000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _wait(ready: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise TimeoutError("the Redis Cluster did not come up")


def test_registration_and_rotation_on_a_cluster(
    cluster: str, hub_factory: Callable[..., HubProcess]
) -> None:
    hub = hub_factory(args=["--redis-url", cluster, "--redis-cluster"]).start()
    created = hub.add_platform("CPO", ("NL", "CLU", "CPO"))
    status, _, error = hub.admin(
        "POST",
        "/platforms",
        {"name": "x", "roles": [{"country_code": "NL", "party_id": "CLU", "role": "CPO"}]},
    )
    assert status == 409, error

    with FakePlatform(roles=[("NL", "CLU", "CPO")]) as cpo:
        assert cpo.register(hub.versions_url, created["token_a"])[0] == 200
        old = cpo.peer_token or ""
        assert hub.admin("POST", f"/platforms/{created['id']}/rotate")[0] == 200

        def versions(token: str) -> int:
            return client.request(
                "GET", hub.versions_url, headers={"Authorization": f"Token {b64(token)}"}
            )[0]

        assert versions(old) == 401
        assert versions(cpo.peer_token or "") == 200
    assert hub.platform(created["id"])["status"] == "CONNECTED"
