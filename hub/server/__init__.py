"""Serving HTTP: the listening socket, uvicorn with the limits it lacks (``protocol``), and the
processes (``processes``): one, or a supervisor and its workers, all with a bounded shutdown."""

from hub.server.processes import (
    GRACE,
    KILL_AFTER,
    AppFactory,
    check_port_free,
    listen,
    raise_open_files_limit,
    run,
)

__all__ = [
    "GRACE",
    "KILL_AFTER",
    "AppFactory",
    "check_port_free",
    "listen",
    "raise_open_files_limit",
    "run",
]
