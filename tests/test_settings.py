"""Settings: the example file, precedence, and refusals."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from hub import settings
from hub.errors import StartupError
from hub.settings import Settings

EXAMPLE = Path(__file__).parent.parent / "config" / "hub.example.toml"


def test_the_example_file_decodes_to_the_defaults() -> None:
    assert settings.load(config_file=EXAMPLE) == Settings()


def test_the_example_file_names_every_setting() -> None:
    named = set(re.findall(r"^#? ?([a-z_]+) = ", EXAMPLE.read_text(), re.MULTILINE))
    assert named == set(settings.FIELDS)


def test_every_commented_out_example_value_is_valid(tmp_path: Path) -> None:
    uncommented = re.sub(r"^# ([a-z_]+ = )", r"\1", EXAMPLE.read_text(), flags=re.MULTILINE)
    path = tmp_path / "all.toml"
    path.write_text(uncommented)
    loaded = settings.load(config_file=path)
    assert loaded.public_url == "https://hub.example.com"
    assert loaded.redis_url == "redis://redis.internal:6379/0"
    assert loaded.metrics_port == 9100


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('port = 1\nhost = "0.0.0.0"\nlog_format = "json"\n')
    loaded = settings.load(
        config_file=config,
        environ={"HUB_PORT": "2", "HUB_FORWARD_TIMEOUT": "2.5", "OTHER": "x", "HUB_NOPE": "1"},
        flags={"port": 3, "host": None},
    )
    assert (loaded.port, loaded.host, loaded.log_format) == (3, "0.0.0.0", "json")
    assert loaded.forward_timeout == 2.5


def test_cdr_retention_from_each_source(tmp_path: Path) -> None:
    """Days, as every setting: TOML cdr_retention, HUB_CDR_RETENTION, --cdr-retention."""
    assert Settings().cdr_retention == 90
    assert Settings().cdr_retention_seconds == 90 * 24 * 3600
    config = tmp_path / "hub.toml"
    config.write_text("cdr_retention = 30\n")
    assert settings.load(config_file=config).cdr_retention == 30
    loaded = settings.load(config_file=config, environ={"HUB_CDR_RETENTION": "7"})
    assert loaded.cdr_retention == 7
    loaded = settings.load(
        config_file=config, environ={"HUB_CDR_RETENTION": "7"}, flags={"cdr_retention": 365}
    )
    assert loaded.cdr_retention == 365


def test_environment_booleans(tmp_path: Path) -> None:
    assert settings.load(environ={"HUB_REDIS_CLUSTER": "true"}).redis_cluster is True
    assert settings.load(environ={"HUB_REDIS_CLUSTER": "0"}).redis_cluster is False


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("port = 'eighty'", "port"),
        ("prot = 8080", "prot"),
        ("log_format = 'xml'", "log_format"),
        ("party_id = 'TOOLONG'", "party_id"),
        ("workers = 0", "workers"),
        ("port = ", "cannot read"),
    ],
)
def test_bad_settings_are_refused_with_their_name(tmp_path: Path, text: str, mentions: str) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(text + "\n")
    with pytest.raises(StartupError, match=mentions):
        settings.load(config_file=config)


def test_base_url() -> None:
    assert Settings(port=9000).base_url == "http://127.0.0.1:9000"
    assert Settings(host="::1").base_url == "http://[::1]:8080"
    assert Settings(public_url="https://hub.example.com/").base_url == "https://hub.example.com"


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]
    assert msgspec.structs.replace(Settings(), port=1).port == 1
