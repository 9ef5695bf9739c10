"""The sockets of ``ocpi-hub serve`` (hub/server/processes.py), in this process: the listening
socket bound once for every worker, and the metrics port checked before anything starts. That
``serve`` says so in one line: tests/test_cli.py."""

from __future__ import annotations

import socket

import pytest

from hub.errors import StartupError
from hub.server import check_port_free, listen
from tests.parties import free_port


def test_the_listening_socket_takes_connections_and_its_port_once() -> None:
    port = free_port()
    with listen("127.0.0.1", port) as listening:
        # Bound and listening before any worker runs: a client's connection waits for them.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = listening.accept()
            accepted.close()
        with pytest.raises(StartupError) as refused:
            listen("127.0.0.1", port)
    assert refused.value.message.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in refused.value.message


def test_a_metrics_port_taken_by_another_program_is_refused_before_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartupError) as refused:
            check_port_free("127.0.0.1", port)
    assert refused.value.message.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    # A free port passes, and is left free for the workers to bind.
    free = free_port()
    check_port_free("127.0.0.1", free)
    with socket.socket() as worker:
        worker.bind(("127.0.0.1", free))
