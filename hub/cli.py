"""The ``ocpi-hub`` command: ``serve`` runs the hub; the other commands call its admin API."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
import types
from collections.abc import Sequence
from typing import Any, get_args

import msgspec
import uvicorn

from hub import __version__, admin_client, logs
from hub import settings as settings_module
from hub.errors import StartupError
from hub.settings import Settings
from hub.store.embedded import EmbeddedRedis

# Carries the settings to worker processes started by uvicorn (--workers N).
WORKER_SETTINGS_ENV = "OCPI_HUB_WORKER_SETTINGS"
WORKER_EMBEDDED_ENV = "OCPI_HUB_WORKER_EMBEDDED_REDIS"
# Read by prometheus-client when a worker imports it (the hub.metrics module says why).
PROMETHEUS_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

SETTING_HELP = {
    "host": "address to listen on",
    "port": "port to listen on",
    "public_url": "base URL parties use to reach the hub (default http://{host}:{port})",
    "redis_url": "external Redis (redis://, rediss://, unix://); default: embedded",
    "redis_cluster": "the Redis URL points at a Redis Cluster",
    "data_dir": "where the embedded Redis keeps its data and the admin token is written",
    "admin_token": "bearer token for /admin (default: generated into {data-dir}/admin-token)",
    "workers": "processes serving HTTP",
    "log_format": "text or json",
    "log_level": "debug, info, warning or error",
    "metrics_port": "serve /metrics on this port too",
    "shutdown_timeout": "seconds to finish requests in flight on SIGTERM",
    "max_body_size": "largest request body accepted, in bytes (HTTP 413 above)",
    "client_timeout": "seconds a client may take to send a request's headers and body",
    "max_connections": "open client connections per process; idle ones are closed first",
    "country_code": "the hub's own OCPI country code",
    "party_id": "the hub's own OCPI party id",
    "business_name": "the hub's business name in its credentials",
    "business_website": "the hub's website in its credentials",
    "forward_timeout": "seconds to wait for a platform's answer to a forwarded request",
    "handshake_timeout": "seconds to wait for each call of a credentials handshake",
    "max_response_size": "largest answer accepted from a platform, in bytes (OCPI 4000 above)",
    "allow_private_urls": "let platforms' URLs point at loopback and private addresses",
    "message_ttl": "seconds a queued message is retried before it becomes a dead letter",
    "retry_base": "first retry delay of a queued message, in seconds",
    "retry_max": "longest retry delay of a queued message, in seconds",
    "offline_after": "consecutive failed deliveries after which a platform is OFFLINE",
    "keepalive_interval": "seconds of silence after which the hub GETs a platform's versions",
}


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Settings field, so that flags, environment and file never drift apart."""
    for field in msgspec.structs.fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        help_text = SETTING_HELP.get(field.name, "")
        if field.type is bool:
            parser.add_argument(flag, action="store_const", const=True, help=help_text)
            continue
        choices = [a for a in get_args(field.type) if isinstance(a, str)] or None
        kind = next((t for t in (int, float) if t in (field.type, *get_args(field.type))), str)
        parser.add_argument(flag, type=kind, choices=choices, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpi-hub", description="An OCPI roaming hub.")
    parser.add_argument("--version", action="version", version=f"ocpi-hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the hub")
    serve.add_argument("--config", help="TOML settings file (see config/hub.example.toml)")
    _add_setting_flags(serve)
    admin_client.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        return admin_client.run(args)
    except StartupError as e:
        print(f"ocpi-hub: {e.message}", file=sys.stderr)
        return 2


def serve(args: argparse.Namespace) -> int:
    flags = {f: getattr(args, f, None) for f in settings_module.FIELDS}
    settings = settings_module.load(config_file=args.config, environ=os.environ, flags=flags)
    logs.configure(settings.log_format, settings.log_level)
    token_source = (
        "given in the settings"
        if settings.admin_token
        else f"in {settings.admin_token_path.resolve()}"
    )
    settings = msgspec.structs.replace(settings, admin_token=_admin_token(settings))
    if settings.redis_url is not None:
        storage = f"external Redis at {_without_password(settings.redis_url)}"
        _announce(settings, storage, token_source)
        return _run(settings, embedded=False)
    with EmbeddedRedis(settings.data_path) as redis:
        settings = msgspec.structs.replace(settings, redis_url=redis.url)
        storage = f"embedded Redis, data in {settings.data_path.resolve()}"
        _announce(settings, storage, token_source)
        return _run(settings, embedded=True)


def _run(settings: Settings, *, embedded: bool) -> int:
    # uvicorn re-raises the signal that stopped it once it has shut down; with this handler in
    # place that re-raise is a no-op, so the embedded Redis is stopped and the exit code is 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _ignore_signal)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "timeout_graceful_shutdown": max(1, round(settings.shutdown_timeout)),
        "proxy_headers": False,
        "server_header": False,
    }
    if settings.workers == 1:
        from hub.app import create_app

        app = create_app(settings, embedded_redis=embedded)
        uvicorn.Server(uvicorn.Config(app, **common)).run()
        return 0
    # Workers are separate processes: they get the settings through the environment, and
    # prometheus-client's multiprocess mode (a fresh directory of its files) sums their metrics.
    with tempfile.TemporaryDirectory(prefix="ocpi-hub-metrics-") as metrics_dir:
        os.environ[PROMETHEUS_MULTIPROC_DIR] = metrics_dir
        os.environ[WORKER_SETTINGS_ENV] = msgspec.json.encode(settings).decode()
        os.environ[WORKER_EMBEDDED_ENV] = "1" if embedded else ""
        uvicorn.run("hub.cli:worker_app", factory=True, workers=settings.workers, **common)
    return 0


def worker_app() -> Any:
    """The app of one worker process (uvicorn imports this by name in each worker)."""
    from hub.app import create_app

    settings = msgspec.json.decode(os.environ[WORKER_SETTINGS_ENV], type=Settings)
    logs.configure(settings.log_format, settings.log_level)
    return create_app(settings, embedded_redis=bool(os.environ.get(WORKER_EMBEDDED_ENV)))


def _ignore_signal(signum: int, frame: types.FrameType | None) -> None:
    return None


def _admin_token(settings: Settings) -> str:
    """The admin token: given, else read from {data-dir}/admin-token, else made and written
    there once with mode 0600."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.admin_token_path
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise StartupError(f"cannot write the admin token to {path}: {e}") from e
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def _announce(settings: Settings, storage: str, token_source: str) -> None:
    print(f"ocpi-hub {__version__} listening on http://{settings.host}:{settings.port}")
    print(f"OCPI versions: {settings.base_url}/ocpi/versions")
    print(f"admin API: {settings.base_url}/admin (admin token {token_source})")
    print(f"storage: {storage}", flush=True)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


if __name__ == "__main__":
    sys.exit(main())
