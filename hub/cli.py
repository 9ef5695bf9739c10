"""The ``ocpi-hub`` command: ``serve`` runs the hub; the other commands call its admin API."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn, get_args

import msgspec

from hub import __version__, admin_client, logs, server
from hub import settings as settings_module
from hub.errors import StartupError
from hub.settings import Settings
from hub.store.embedded import EmbeddedRedis

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
    "metrics_port": "serve /metrics on this port too (default: none)",
    "shutdown_timeout": "seconds to finish requests in flight on SIGTERM",
    "max_body_size": "largest request body accepted, in bytes (HTTP 413 above)",
    "client_timeout": "seconds a client may take to send a request's headers and body",
    "max_connections": "open client connections per process; idle ones are closed first",
    "country_code": "the hub's own OCPI country code",
    "party_id": "the hub's own OCPI party id",
    "business_name": "the hub's business name in its credentials",
    "business_website": "the hub's website in its credentials (default: none)",
    "forward_timeout": "seconds to wait for a platform's answer to a forwarded request",
    "handshake_timeout": "seconds to wait for each call of a credentials handshake",
    "max_response_size": "largest answer accepted from a platform, in bytes (OCPI 4000 above)",
    "allow_private_urls": "let platforms' URLs point at loopback and private addresses",
    "message_ttl": "seconds a queued message is retried before it becomes a dead letter",
    "retry_base": "first retry delay of a queued message, in seconds",
    "retry_max": "longest retry delay of a queued message, in seconds",
    "offline_after": "consecutive failed deliveries after which a platform is OFFLINE",
    "keepalive_interval": "seconds of silence after which the hub GETs a platform's versions",
    "roles_debounce": "seconds without a change before 2.3.0 platforms are sent the parties "
    "they can reach",
    "agreements": "off: every party reaches every other; required: only partners",
    "rate_limit": "calls per platform and module, like 6000/min (default: no limit)",
    "cdr_retention": "days the hub keeps the sessions and CDRs it delivered, for the eMSP to "
    "pull again",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``ocpi-hub: ...``) and exit code 2, not the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ocpi-hub: {message} (see: {self.prog} --help)\n")


def _shown(default: object) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Settings field, so that flags, environment and file never drift apart;
    the defaults shown are Settings' own (those without one say what happens instead)."""
    for field in msgspec.structs.fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        help_text = SETTING_HELP.get(field.name, "")
        if field.default is not None:
            help_text += f" (default: {_shown(field.default)})"
        if field.type is bool:
            parser.add_argument(flag, action="store_const", const=True, help=help_text)
            continue
        choices = [a for a in get_args(field.type) if isinstance(a, str)] or None
        kind = next((t for t in (int, float) if t in (field.type, *get_args(field.type))), str)
        parser.add_argument(flag, type=kind, choices=choices, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ocpi-hub", description="An OCPI roaming hub.")
    parser.add_argument("--version", action="version", version=f"ocpi-hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the hub")
    serve.add_argument(
        "--config", help="TOML settings file (see config/hub.example.toml) (default: none)"
    )
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
    embedded = settings.redis_url is None
    if embedded or not settings.admin_token:
        _check_data_dir(settings.data_path)
    token_source = (
        "given in the settings"
        if settings.admin_token
        else f"in {settings.admin_token_path.resolve()}"
    )
    settings = msgspec.structs.replace(settings, admin_token=_admin_token(settings))
    server.raise_open_files_limit(settings.max_connections)
    if settings.metrics_port is not None:
        server.check_port_free(settings.host, settings.metrics_port)
    with server.listen(settings.host, settings.port) as sock, _metrics_dir(settings.workers):
        if settings.redis_url is not None:
            storage = f"external Redis at {_without_password(settings.redis_url)}"
            _announce(settings, storage, token_source)
            return server.run(settings, sock, embedded_redis=False)
        with EmbeddedRedis(settings.data_path) as redis:
            settings = msgspec.structs.replace(settings, redis_url=redis.url)
            storage = f"embedded Redis, data in {settings.data_path.resolve()}"
            _announce(settings, storage, token_source)
            return server.run(settings, sock, embedded_redis=True)


@contextlib.contextmanager
def _metrics_dir(workers: int) -> Iterator[None]:
    """With --workers N, prometheus-client's multiprocess mode sums the workers' metrics: a
    fresh directory for its files, named in the environment the workers inherit."""
    if workers == 1:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="ocpi-hub-metrics-") as path:
        os.environ[PROMETHEUS_MULTIPROC_DIR] = path
        yield


def _check_data_dir(path: Path) -> None:
    """The data dir exists (made if need be) and a file can be written in it."""
    try:
        # Private from the start: it will hold the admin token and the Redis data.
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise StartupError(f"cannot create the data dir {path}: {e.strerror or e}") from e
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise StartupError(f"cannot write in the data dir {path}: {e.strerror or e}") from e


def _admin_token(settings: Settings) -> str:
    """The admin token: given, else read from {data-dir}/admin-token, else made and written
    there once with mode 0600."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.admin_token_path
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = None
    except (OSError, UnicodeDecodeError) as e:
        raise StartupError(f"cannot read the admin token in {path}: {e}") from e
    if token == "":
        raise StartupError(f"the admin token file {path} is empty")
    if token is not None:
        return token
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
