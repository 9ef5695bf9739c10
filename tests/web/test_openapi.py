"""The admin API's OpenAPI document (hub/web/openapi.py) and the Structs it is generated from
(hub/web/admin_types.py): what the document says is what the API reads and answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec

from hub.records import Party, Platform
from hub.web.admin_types import DOCUMENTED, platform_view
from hub.web.openapi import ADMIN_OPENAPI

SCHEMAS: dict[str, Any] = ADMIN_OPENAPI["components"]["schemas"]


def nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``value``, ``value`` included."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from nodes(item)


def test_it_is_an_openapi_3_1_document() -> None:
    # 3.1: the generated schemas are JSON Schema 2020-12 ({"type": "null"}, not "nullable").
    assert ADMIN_OPENAPI["openapi"] == "3.1.0"
    for path, operations in ADMIN_OPENAPI["paths"].items():
        for method, operation in operations.items():
            assert method in {"get", "post", "patch", "delete"}, path
            assert operation["summary"] and operation["responses"], (path, method)


def test_every_reference_resolves() -> None:
    prefix = "#/components/schemas/"
    refs = {n["$ref"] for n in nodes(ADMIN_OPENAPI) if "$ref" in n}
    assert refs, "the document refers to its schemas"
    for ref in refs:
        assert ref.startswith(prefix) and ref.removeprefix(prefix) in SCHEMAS, ref


def test_every_struct_of_the_admin_api_is_described_as_generated() -> None:
    _, generated = msgspec.json.schema_components(DOCUMENTED)
    assert set(SCHEMAS) == set(generated)
    for kind in DOCUMENTED:
        assert set(SCHEMAS[kind.__name__]["properties"]) == {
            f.encode_name for f in msgspec.structs.fields(kind)
        }


def test_agreements_document_extensions() -> None:
    wanted = SCHEMAS["NewAgreement"]["properties"]["extensions"]
    assert (wanted["type"], wanted["default"]) == ("boolean", False)
    assert "extensions" not in SCHEMAS["NewAgreement"].get("required", [])
    assert "extensions" in SCHEMAS["AgreementView"]["required"]


def test_patterns_are_read_the_same_by_json_schema() -> None:
    """JSON Schema patterns are ECMA-262, where ``\\Z`` is a letter Z, not the end."""
    patterns = [n["pattern"] for n in nodes(SCHEMAS) if isinstance(n.get("pattern"), str)]
    assert patterns
    for pattern in patterns:
        assert "\\Z" not in pattern, pattern
        assert pattern.endswith("$"), pattern
    role = SCHEMAS["RoleGrant"]["properties"]
    assert re.fullmatch(role["country_code"]["pattern"].strip("^$"), "NL")
    assert role["role"]["enum"] == ["CPO", "EMSP", "NAP", "NSP", "OTHER", "PTP", "SCSP"]


def test_descriptions_are_one_line_each() -> None:
    for name, schema in SCHEMAS.items():
        assert "\n" not in schema.get("description", ""), name


def test_a_platform_view_is_the_record_without_its_bookkeeping() -> None:
    """The admin's view holds the record's fields in the record's order (the CLI prints them
    so), less two, and then how the hub encodes its token."""
    record = Platform(
        id="0123456789ab",
        name="Example",
        status="SUSPENDED",
        roles=[Party("NL", "EXA", "CPO")],
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-02T00:00:00Z",
        version="2.2.1",
        detected_base64=False,
        status_before_suspend="CONNECTED",
        last_seen="stale",
    )
    view = msgspec.json.decode(msgspec.json.encode(platform_view(record, "2026-01-03T00:00:00Z")))
    expected = msgspec.to_builtins(record)
    del expected["detected_base64"], expected["status_before_suspend"]
    expected["last_seen"] = "2026-01-03T00:00:00Z"
    expected["sends_base64"] = False
    assert list(view.items()) == list(expected.items())


def test_the_version_pin_is_documented() -> None:
    change = SCHEMAS["PlatformChange"]["properties"]["version"]
    assert change["anyOf"] == [{"enum": ["2.1.1", "2.2.1", "2.3.0"]}, {"type": "null"}]
    assert "connect" in change["description"]
    assert "version_pin" in SCHEMAS["PlatformView"]["properties"]
    patch = ADMIN_OPENAPI["paths"]["/admin/platforms/{id}"]["patch"]
    assert "pin the OCPI version" in patch["summary"]
