"""The OpenAPI 3.1 document of the admin API, served at ``/admin/openapi.json``.

The paths, with their statuses, are written here; the schemas of the bodies and answers are
generated from the Structs the admin API decodes and encodes (``hub.web.admin_types``).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from hub.web import admin_types
from hub.web.admin_types import (
    AdminError,
    AgreementView,
    Assign,
    Connect,
    DeadLetterView,
    Imported,
    NewAgreement,
    NewPlatform,
    NewPlatformView,
    PlatformChange,
    PlatformView,
    QueueView,
    Redrive,
    Redriven,
    TokenA,
    UnroutedView,
)

_REF = "#/components/schemas/{name}"


def _ref(kind: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": _REF.format(name=kind.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(kind: type[msgspec.Struct], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(kind)}}}


def _array(kind: type[msgspec.Struct]) -> dict[str, Any]:
    return {"type": "array", "items": _ref(kind)}


def _schemas() -> dict[str, Any]:
    """The component schemas of every documented Struct and of the Structs they hold."""
    _, components = msgspec.json.schema_components(admin_types.DOCUMENTED, ref_template=_REF)
    for schema in components.values():
        if "description" in schema:
            # A docstring's line breaks are the source's, not the reader's.
            schema["description"] = " ".join(schema["description"].split())
    _ecma_patterns(components)
    return components


def _ecma_patterns(schema: Any) -> None:
    """Patterns as JSON Schema reads them (ECMA-262): the hub's patterns end in ``\\Z`` for
    Python's ``re`` (where ``$`` also matches before a final line break), which ECMA-262 would
    read as a letter Z; its ``$`` is the end there."""
    if isinstance(schema, dict):
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("\\Z"):
            schema["pattern"] = pattern[: -len("\\Z")] + "$"
        for value in schema.values():
            _ecma_patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            _ecma_patterns(value)


_ERRORS: Final = {
    "400": _json(_ref(AdminError), "the body is not JSON or a field is invalid"),
    "401": _json(_ref(AdminError), "missing or wrong admin token"),
    "404": _json(_ref(AdminError), "no such platform"),
}
_ID: Final = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _action(summary: str, *, body: type[msgspec.Struct] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": _ID,
        "responses": {
            "200": _json(_ref(PlatformView), "the platform after the action"),
            "409": _json(_ref(AdminError), "the platform is not in a state that allows it"),
            "502": _json(_ref(AdminError), "the platform's OCPI API refused or failed"),
            **_ERRORS,
        },
    }
    if body is not None:
        operation["requestBody"] = _body(body)
    return {"post": operation}


ADMIN_OPENAPI: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "ocpi-hub admin API",
        "version": "1",
        "description": "Manage the platforms connected to the hub. "
        "Authenticate with 'Authorization: Bearer <admin token>'.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": _schemas(),
    },
    "security": [{"bearer": []}],
    "paths": {
        "/admin/platforms": {
            "get": {
                "summary": "List platforms",
                "responses": {
                    "200": _json(_array(PlatformView), "platforms"),
                    "401": _ERRORS["401"],
                },
            },
            "post": {
                "summary": "Create a platform with its granted roles; answers its token A",
                "requestBody": _body(NewPlatform),
                "responses": {
                    "201": _json(_ref(NewPlatformView), "created, status PLANNED"),
                    "409": _json(_ref(AdminError), "a role is granted to another platform"),
                    **_ERRORS,
                },
            },
        },
        "/admin/platforms/{id}": {
            "get": {
                "summary": "One platform (never a token)",
                "parameters": _ID,
                "responses": {"200": _json(_ref(PlatformView), "the platform"), **_ERRORS},
            },
            "patch": {
                "summary": "Rename, set how the hub encodes its token towards the platform, "
                "set its rate limits, or pin the OCPI version the hub registers in",
                "parameters": _ID,
                "requestBody": _body(PlatformChange),
                "responses": {"200": _json(_ref(PlatformView), "the platform"), **_ERRORS},
            },
            "delete": {
                "summary": "Remove: revoke tokens, free roles, status SUSPENDED",
                "parameters": _ID,
                "responses": {"204": {"description": "removed"}, **_ERRORS},
            },
        },
        "/admin/platforms/{id}/connect": _action(
            "Run the credentials handshake towards the platform (hub as sender)", body=Connect
        ),
        "/admin/platforms/{id}/rotate": _action("Send a credentials PUT: both tokens change"),
        "/admin/platforms/{id}/suspend": _action("Suspend: its calls are refused"),
        "/admin/platforms/{id}/resume": _action("Resume a suspended platform"),
        "/admin/platforms/{id}/token-a": {
            "post": {
                "summary": "Issue a new token A (the old one dies); only when not registered",
                "parameters": _ID,
                "responses": {
                    "200": _json(_ref(TokenA), "the new token A"),
                    "409": _json(_ref(AdminError), "the platform is registered"),
                    **_ERRORS,
                },
            }
        },
        "/admin/agreements": {
            "get": {
                "summary": "Roaming agreements (all, or ?party=NL:CPA for one party's)",
                "parameters": [
                    {
                        "name": "party",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "examples": ["NL:CPA"]},
                    }
                ],
                "responses": {
                    "200": _json(_array(AgreementView), "agreements"),
                    "400": _ERRORS["400"],
                    "401": _ERRORS["401"],
                },
            },
            "post": {
                "summary": "Add a roaming agreement between a CPO party and a partner",
                "requestBody": _body(NewAgreement),
                "responses": {
                    "201": _json(_ref(AgreementView), "the agreement"),
                    "409": _json(_ref(AdminError), "the pair has this agreement already"),
                    "400": _json(_ref(AdminError), "a party is unknown or of the wrong side"),
                    "401": _ERRORS["401"],
                },
            },
        },
        "/admin/agreements/import": {
            "post": {
                "summary": "Add many agreements at once; those that exist are left as they are",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _array(NewAgreement)}},
                },
                "responses": {
                    "200": _json(_ref(Imported), "what was created and what existed"),
                    "400": _json(_ref(AdminError), "an item is invalid ([3].partner); none added"),
                    "401": _ERRORS["401"],
                },
            }
        },
        "/admin/agreements/{id}": {
            "get": {
                "summary": "One roaming agreement",
                "parameters": _ID,
                "responses": {"200": _json(_ref(AgreementView), "the agreement"), **_ERRORS},
            },
            "delete": {
                "summary": "End a roaming agreement; what is queued between the two is parked",
                "parameters": _ID,
                "responses": {"200": _json(_ref(AgreementView), "the ended agreement"), **_ERRORS},
            },
        },
        "/admin/queues": {
            "get": {
                "summary": "Per receiving platform: queue depth, oldest message age, dead letters",
                "responses": {
                    "200": _json(_array(QueueView), "queues"),
                    "401": _ERRORS["401"],
                },
            }
        },
        "/admin/dead-letters": {
            "get": {
                "summary": "Parked messages, with the reason (all, or ?platform=ID)",
                "parameters": [
                    {
                        "name": "platform",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json(_array(DeadLetterView), "dead letters"),
                    **_ERRORS,
                },
            }
        },
        "/admin/dead-letters/redrive": {
            "post": {
                "summary": "Queue parked messages again (all, a platform's, or some ids)",
                "requestBody": _body(Redrive, required=False),
                "responses": {
                    "200": _json(_ref(Redriven), "how many were queued again"),
                    "409": _json(_ref(AdminError), "an id names a letter that holds no message"),
                    **_ERRORS,
                },
            }
        },
        "/admin/unrouted": {
            "get": {
                "summary": "Sessions and CDRs whose eMSP the hub could not find (kept, not "
                "lost), oldest first; X-Total-Count: how many in all",
                "parameters": [
                    {
                        "name": "offset",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 1000,
                            "default": 100,
                        },
                    },
                ],
                "responses": {
                    "200": {
                        **_json(_array(UnroutedView), "unrouted sessions and CDRs"),
                        "headers": {
                            "X-Total-Count": {
                                "description": "how many there are in all",
                                "schema": {"type": "integer"},
                            }
                        },
                    },
                    "400": _ERRORS["400"],
                    "401": _ERRORS["401"],
                },
            }
        },
        "/admin/unrouted/{id}/assign": {
            "post": {
                "summary": "Give an unrouted session or CDR to its eMSP: it is kept for the eMSP "
                "to pull, and leaves the unrouted list",
                "parameters": _ID,
                "requestBody": _body(Assign),
                "responses": {
                    "200": _json(_ref(UnroutedView), "what was assigned"),
                    "400": _json(
                        _ref(AdminError), "the eMSP is not a party that receives the module"
                    ),
                    "401": _ERRORS["401"],
                    "404": _json(_ref(AdminError), "no such unrouted session or CDR"),
                },
            }
        },
        "/admin/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3 document"}},
            }
        },
    },
}
