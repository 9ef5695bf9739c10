"""The hub's settings: one frozen object, read once by the CLI and passed down explicitly.

Precedence, lowest first: defaults, the TOML file (``--config``), ``HUB_*`` environment
variables, command-line flags. Every setting has the same name in all three (``public_url``,
``HUB_PUBLIC_URL``, ``--public-url``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from hub.errors import StartupError
from hub.rates import Rate

ENV_PREFIX = "HUB_"
# Longer than anything sensible, short enough for every timer (asyncio's and threading's).
_MAX_SECONDS = 10 * 365 * 24 * 3600.0
_PORTS = range(1, 65536)
_MAX_RETENTION_DAYS = 36500
_REDIS_SCHEMES = ("redis", "rediss", "unix")


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # where the hub listens and how parties reach it
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    # storage: an external Redis, else an embedded redis-server with its data in data_dir
    redis_url: str | None = None
    redis_cluster: bool = False
    data_dir: str = "./var"
    # operations
    admin_token: str | None = None
    workers: int = 1
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics_port: int | None = None
    shutdown_timeout: float = 10.0
    # what clients may send, and how long they may take (README: "Limits")
    max_body_size: int = 4 * 1024 * 1024
    client_timeout: float = 30.0
    max_connections: int = 2048
    # the hub's own party (OCPI credentials: one role, HUB)
    country_code: str = "NL"
    party_id: str = "HUB"
    business_name: str = "ocpi-hub"
    business_website: str | None = None
    # calls to platforms
    forward_timeout: float = 30.0
    handshake_timeout: float = 10.0
    max_response_size: int = 32 * 1024 * 1024
    # let platforms' URLs point at loopback and private addresses (tests, private networks)
    allow_private_urls: bool = False
    # queued delivery (broadcast, HubClientInfo)
    message_ttl: float = 3600.0
    retry_base: float = 0.5
    retry_max: float = 60.0
    offline_after: int = 5
    keepalive_interval: float = 300.0
    # seconds without a change before 2.3.0 platforms are sent the parties they can reach now
    # (README: "OCPI 2.3.0 platforms")
    roles_debounce: float = 1.0
    # who exchanges data with whom (README: "Roaming agreements"), and how often (README:
    # "Rate limits"): a rate like 6000/min for each platform and module, none by default
    agreements: Literal["off", "required"] = "off"
    rate_limit: str | None = None
    # days the hub keeps the sessions and CDRs it delivered, for their eMSP to pull again
    # (README: "Kept sessions and CDRs")
    cdr_retention: int = 90

    def __post_init__(self) -> None:
        """Refuse values that make no sense, naming the setting (README: "Configuration")."""
        if self.rate_limit is not None:
            _check(_is_rate(self.rate_limit), "rate_limit", "a rate like 6000/min, 100/10s or 5/s")
        _check(bool(self.host) and _printable(self.host), "host", "an address or host name")
        _check(self.port in _PORTS, "port", "a port number, 1 to 65535")
        if self.public_url is not None:
            _check(_is_http_url(self.public_url), "public_url", "an http:// or https:// URL")
        if self.redis_url is not None:
            _check(
                _scheme(self.redis_url) in _REDIS_SCHEMES and _printable(self.redis_url),
                "redis_url",
                "a redis://, rediss:// or unix:// URL",
            )
        _check(bool(self.data_dir), "data_dir", "a directory")
        if self.admin_token is not None:
            # It travels in an Authorization header: printable ASCII, nothing to trim.
            token = self.admin_token
            _check(
                token.isascii() and token.isprintable() and token == token.strip(),
                "admin_token",
                "printable ASCII without leading or trailing spaces",
            )
        _check(self.workers >= 1, "workers", "at least 1")
        if self.metrics_port is not None:
            _check(self.metrics_port in _PORTS, "metrics_port", "a port number, 1 to 65535")
            _check(self.metrics_port != self.port, "metrics_port", "another port than port")
        for name in (
            "shutdown_timeout",
            "client_timeout",
            "forward_timeout",
            "handshake_timeout",
            "message_ttl",
            "retry_base",
            "retry_max",
            "keepalive_interval",
            "roles_debounce",
        ):
            value = getattr(self, name)
            _check(0 < value <= _MAX_SECONDS, name, "a number of seconds above 0")
        _check(self.retry_max >= self.retry_base, "retry_max", "at least retry_base")
        for name in ("max_body_size", "max_response_size", "max_connections", "offline_after"):
            _check(getattr(self, name) >= 1, name, "at least 1")
        # A century at most: Redis refuses an expiry time it cannot represent.
        _check(
            1 <= self.cdr_retention <= _MAX_RETENTION_DAYS,
            "cdr_retention",
            f"a number of days, 1 to {_MAX_RETENTION_DAYS}",
        )
        # OCPI 2.2.1 CredentialsRole: country_code CiString(2) (ISO 3166-1 alpha-2), party_id
        # CiString(3); BusinessDetails: name string(100), website URL (string(255)).
        _check(
            len(self.country_code) == 2
            and self.country_code.isascii()
            and self.country_code.isalpha(),
            "country_code",
            "2 letters (ISO 3166-1 alpha-2)",
        )
        _check(
            len(self.party_id) == 3 and self.party_id.isascii() and self.party_id.isalnum(),
            "party_id",
            "3 letters or digits",
        )
        _check(0 < len(self.business_name) <= 100, "business_name", "1 to 100 characters")
        if self.business_website is not None:
            _check(
                _is_http_url(self.business_website) and len(self.business_website) <= 255,
                "business_website",
                "an http:// or https:// URL of at most 255 characters",
            )

    @property
    def base_url(self) -> str:
        """The public URL without a trailing slash: the root of every URL the hub hands out."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def cdr_retention_seconds(self) -> float:
        return self.cdr_retention * 24 * 3600.0

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def admin_token_path(self) -> Path:
        return self.data_path / "admin-token"


FIELDS = frozenset(Settings.__struct_fields__)


def _check(ok: bool, name: str, expected: str) -> None:
    if not ok:
        raise StartupError(f"invalid setting {name}: must be {expected}")


def _is_rate(text: str) -> bool:
    try:
        Rate.parse(text)
    except ValueError:
        return False
    return True


def _printable(text: str) -> bool:
    """Printable ASCII without spaces: what fits in a header or a URL as it is."""
    return text.isascii() and text.isprintable() and " " not in text


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return ""


def _is_http_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return _scheme(url) in ("http", "https") and bool(host) and _printable(url)


def load(
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge file, environment and flags (``None`` flags are "not given") into Settings.

    An empty ``HUB_*`` variable counts as not set (containers often set them empty). Errors are
    ``StartupError`` with one line naming the setting and where its value came from.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file is not None:
        try:
            with open(config_file, "rb") as f:
                from_file = tomllib.load(f)
        except (OSError, ValueError) as e:  # ValueError: not TOML, or not UTF-8
            raise StartupError(f"cannot read config file {config_file}: {e}") from e
        values.update(from_file)
        sources.update(dict.fromkeys(from_file, f"config file {config_file}"))
    for key, value in (environ or {}).items():
        name = key[len(ENV_PREFIX) :].lower()
        if key.startswith(ENV_PREFIX) and name in FIELDS and value != "":
            values[name] = value
            sources[name] = key
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value
            sources[name] = "--" + name.replace("_", "-")
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as e:
        # msgspec says "Expected `int`, got `str` - at `$.port`": name the setting and its source.
        problem, _, where = str(e).rpartition(" - at `$.")
        name = where.rstrip("`")
        if problem and name in sources:
            raise StartupError(f"invalid setting {name} (from {sources[name]}): {problem}") from e
        origin = f" in config file {config_file}" if config_file is not None else ""
        raise StartupError(f"invalid setting{origin}: {e}") from e
