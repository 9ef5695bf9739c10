"""Every setting's values: what is refused (with the setting's name, on one line) and from where.

The real command's answer to these (``ocpi-hub: ...``, exit code 2) is in tests/test_cli.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub import settings
from hub.errors import StartupError
from hub.settings import Settings

REFUSED: list[tuple[str, object]] = [
    ("host", ""),
    ("host", "local host"),
    ("port", 0),
    ("port", -1),
    ("port", 65536),
    ("public_url", "hub.example.com"),
    ("public_url", "ftp://hub.example.com"),
    ("public_url", "https://"),
    ("public_url", "https://hub example.com"),
    ("public_url", "https://[::1"),
    ("redis_url", "http://redis:6379"),
    ("redis_url", "localhost:6379"),
    ("redis_url", "redis://[::1"),
    ("data_dir", ""),
    ("admin_token", " padded "),
    ("admin_token", "naïve"),
    ("admin_token", "line\nbreak"),
    ("workers", 0),
    ("workers", -2),
    ("metrics_port", 0),
    ("metrics_port", 70000),
    ("metrics_port", 8080),  # the port of the hub itself
    ("shutdown_timeout", 0),
    ("shutdown_timeout", -1),
    ("shutdown_timeout", float("nan")),
    ("shutdown_timeout", float("inf")),
    ("max_body_size", 0),
    ("max_body_size", -1),
    ("client_timeout", 0),
    ("client_timeout", 1e300),
    ("max_connections", 0),
    ("country_code", "N"),
    ("country_code", "N1"),
    ("party_id", "TOOLONG"),
    ("party_id", "A-B"),
    ("business_name", ""),
    ("business_name", "x" * 101),
    ("business_website", "www.example.com"),
    ("business_website", "https://example.com/" + "x" * 240),
    ("forward_timeout", 0),
    ("handshake_timeout", -5),
    ("max_response_size", 0),
    ("message_ttl", 0),
    ("retry_base", 0),
    ("retry_max", 0.1),  # below retry_base
    ("offline_after", 0),
    ("keepalive_interval", float("-inf")),
    ("rate_limit", "6000"),
    ("rate_limit", "0/min"),
    ("rate_limit", "5/week"),
    ("agreements", "sometimes"),
    ("cdr_retention", 0),
    ("cdr_retention", -1),
    ("cdr_retention", 36501),
    ("cdr_retention", 1.5),
]


@pytest.mark.parametrize(("name", "value"), REFUSED, ids=lambda v: repr(v)[:30])
def test_a_value_that_makes_no_sense_is_refused_naming_the_setting(
    name: str, value: object
) -> None:
    with pytest.raises(StartupError) as refused:
        settings.load(flags={name: value})
    assert name in refused.value.message
    assert "\n" not in refused.value.message


ACCEPTED: list[tuple[str, object]] = [
    ("host", "::"),
    ("port", 1),
    ("port", 65535),
    ("public_url", "https://hub.example.com/ocpi-hub/"),
    ("public_url", "http://[::1]:8080"),
    ("redis_url", "rediss://user:secret@redis.internal:6380/2"),
    ("redis_url", "unix:///run/redis.sock"),
    ("admin_token", "s3cr3t-token_with.symbols~"),
    ("admin_token", "a long random string"),
    ("metrics_port", 9100),
    ("shutdown_timeout", 0.5),
    ("client_timeout", 0.25),
    ("max_connections", 1),
    ("country_code", "de"),
    ("party_id", "x1z"),
    ("business_website", "https://example.com"),
    ("retry_max", 0.5),  # equal to retry_base
    ("rate_limit", "6000/min"),
    ("rate_limit", "100/10s"),
    ("agreements", "required"),
    ("cdr_retention", 1),
    ("cdr_retention", 36500),
]


@pytest.mark.parametrize(("name", "value"), ACCEPTED, ids=lambda v: repr(v)[:30])
def test_sensible_values_are_accepted(name: str, value: object) -> None:
    assert getattr(settings.load(flags={name: value}), name) == value


def refusal(**sources: object) -> str:
    with pytest.raises(StartupError) as refused:
        settings.load(**sources)  # type: ignore[arg-type]
    assert "\n" not in refused.value.message
    return refused.value.message


def test_the_source_of_a_mistyped_value_is_named(tmp_path: Path) -> None:
    assert "invalid setting port (from HUB_PORT)" in refusal(environ={"HUB_PORT": "abc"})
    assert "redis_cluster (from HUB_REDIS_CLUSTER)" in refusal(
        environ={"HUB_REDIS_CLUSTER": "perhaps"}
    )
    assert "log_level (from HUB_LOG_LEVEL)" in refusal(environ={"HUB_LOG_LEVEL": "verbose"})
    config = tmp_path / "hub.toml"
    config.write_text("workers = 'two'\n")
    assert f"workers (from config file {config})" in refusal(config_file=config)
    assert "workers (from --workers)" in refusal(flags={"workers": "two"})


def test_out_of_range_values_from_the_environment_are_refused() -> None:
    for variable, value in [
        ("HUB_PORT", "70000"),
        ("HUB_CLIENT_TIMEOUT", "nan"),
        ("HUB_CDR_RETENTION", "0"),
    ]:
        with pytest.raises(StartupError, match=variable[4:].lower()):
            settings.load(environ={variable: value})


def test_an_empty_environment_variable_counts_as_not_set() -> None:
    loaded = settings.load(
        environ={
            "HUB_METRICS_PORT": "",
            "HUB_PUBLIC_URL": "",
            "HUB_ADMIN_TOKEN": "",
            "HUB_PORT": "",
        }
    )
    assert loaded == Settings()


@pytest.mark.parametrize(
    "content",
    [b"port = ", b"[server]\nport = 1\n", b"port = 1\nport = 2\n", b"\xff\xfe bad utf-8 = 1\n"],
    ids=["unfinished", "table", "twice", "not-utf-8"],
)
def test_a_broken_config_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    config = tmp_path / "hub.toml"
    config.write_bytes(content)
    with pytest.raises(StartupError) as refused:
        settings.load(config_file=config)
    assert str(config) in refused.value.message or "server" in refused.value.message
    assert "\n" not in refused.value.message


def test_a_config_file_that_cannot_be_read(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.toml", tmp_path):
        with pytest.raises(StartupError, match="cannot read config file"):
            settings.load(config_file=path)
