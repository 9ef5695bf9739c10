"""A real Redis Cluster on loopback for tests: redis-server processes in cluster mode, slots
split between them, joined with CLUSTER MEET (works with redis 6.2 and 7)."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import redis

from hub.store.embedded import find_redis_server

SLOTS = 16384


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


def _pings(client: redis.Redis) -> bool:
    return bool(client.ping())


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


@contextmanager
def redis_cluster(directory: Path, nodes: int = 3) -> Iterator[str]:
    """Start the cluster; yields a URL of one node."""
    ports = [cluster_port() for _ in range(nodes)]
    processes = []
    try:
        for port in ports:
            node = directory / f"node-{port}"
            node.mkdir(parents=True)
            command = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1"]
            command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            command += ["--save", "", "--appendonly", "no", "--dir", str(node)]
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        clients = [redis.Redis(port=port) for port in ports]
        for client in clients:
            _wait(partial(_pings, client))
        share = SLOTS // nodes
        for i, client in enumerate(clients):
            last = SLOTS if i == nodes - 1 else (i + 1) * share
            client.execute_command("CLUSTER ADDSLOTS", *range(i * share, last))  # type: ignore[no-untyped-call]
            if i:
                client.execute_command("CLUSTER MEET", "127.0.0.1", ports[0])  # type: ignore[no-untyped-call]
        _wait(lambda: all(c.cluster("INFO")["cluster_state"] == "ok" for c in clients))
        for client in clients:
            client.close()
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
