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

import msgspec

from hub.errors import StartupError

ENV_PREFIX = "HUB_"


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

    def __post_init__(self) -> None:
        if len(self.country_code) != 2 or len(self.party_id) != 3:
            raise StartupError(
                "country_code must have 2 characters and party_id 3 "
                f"(got {self.country_code!r}, {self.party_id!r})"
            )
        if self.workers < 1:
            raise StartupError("workers must be at least 1")

    @property
    def base_url(self) -> str:
        """The public URL without a trailing slash: the root of every URL the hub hands out."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def admin_token_path(self) -> Path:
        return self.data_path / "admin-token"


FIELDS = frozenset(Settings.__struct_fields__)


def load(
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge file, environment and flags (``None`` flags are "not given") into Settings."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            with open(config_file, "rb") as f:
                values.update(tomllib.load(f))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise StartupError(f"cannot read config file {config_file}: {e}") from e
    for key, value in (environ or {}).items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in FIELDS:
            values[key[len(ENV_PREFIX) :].lower()] = value
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as e:
        raise StartupError(f"invalid setting: {e}") from e
