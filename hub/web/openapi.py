"""The OpenAPI 3 document of the admin API, served at ``/admin/openapi.json``."""

from __future__ import annotations

from typing import Any, Final


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS: Final = {
    "400": _json(_ref("Error"), "the body is not JSON or a field is invalid"),
    "401": _json(_ref("Error"), "missing or wrong admin token"),
    "404": _json(_ref("Error"), "no such platform"),
}
_ID: Final = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _action(summary: str, *, body: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": _ID,
        "responses": {
            "200": _json(_ref("Platform"), "the platform after the action"),
            "409": _json(_ref("Error"), "the platform is not in a state that allows it"),
            "502": _json(_ref("Error"), "the platform's OCPI API refused or failed"),
            **_ERRORS,
        },
    }
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return {"post": operation}


_ROLE: Final = {
    "type": "object",
    "required": ["country_code", "party_id", "role"],
    "properties": {
        "country_code": {"type": "string", "pattern": "^[A-Za-z0-9]{2}$"},
        "party_id": {"type": "string", "pattern": "^[A-Za-z0-9]{3}$"},
        "role": {"type": "string", "enum": ["CPO", "EMSP", "NAP", "NSP", "OTHER", "SCSP"]},
    },
}
_ENCODING: Final = {"type": "string", "enum": ["auto", "base64", "raw"]}
_STATUS: Final = {"type": "string", "enum": ["PLANNED", "CONNECTED", "OFFLINE", "SUSPENDED"]}

ADMIN_OPENAPI: Final[dict[str, Any]] = {
    "openapi": "3.0.3",
    "info": {
        "title": "ocpi-hub admin API",
        "version": "1",
        "description": "Manage the platforms connected to the hub. "
        "Authenticate with 'Authorization: Bearer <admin token>'.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Role": _ROLE,
            "NewPlatform": {
                "type": "object",
                "required": ["name", "roles"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "roles": {"type": "array", "minItems": 1, "items": _ref("Role")},
                    "token_encoding": _ENCODING,
                },
            },
            "PlatformChange": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "token_encoding": _ENCODING},
            },
            "Connect": {
                "type": "object",
                "required": ["versions_url", "token"],
                "properties": {
                    "versions_url": {"type": "string", "maxLength": 255},
                    "token": {"type": "string", "maxLength": 64},
                },
            },
            "Platform": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "status": _STATUS,
                    "roles": {"type": "array", "items": _ref("Role")},
                    "version": {"type": "string", "nullable": True},
                    "platform_versions_url": {"type": "string", "nullable": True},
                    "endpoints": {"type": "array", "items": {"type": "object"}},
                    "registered_roles": {"type": "array", "items": {"type": "object"}},
                    "registered_by": {"type": "string", "nullable": True},
                    "token_encoding": _ENCODING,
                    "sends_base64": {"type": "boolean"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "last_seen": {"type": "string", "format": "date-time", "nullable": True},
                    "deleted": {"type": "boolean"},
                },
            },
            "NewPlatformAnswer": {
                "allOf": [
                    _ref("Platform"),
                    {
                        "type": "object",
                        "properties": {
                            "token_a": {"type": "string"},
                            "versions_url": {"type": "string"},
                        },
                    },
                ]
            },
            "TokenA": {
                "type": "object",
                "properties": {"token_a": {"type": "string"}, "versions_url": {"type": "string"}},
            },
            "QueueStats": {
                "type": "object",
                "properties": {
                    "platform": {"type": "string"},
                    "name": {"type": "string"},
                    "status": _STATUS,
                    "depth": {"type": "integer"},
                    "oldest_age": {"type": "number", "nullable": True},
                    "dead_letters": {"type": "integer"},
                    "delivered_by": {"type": "string", "nullable": True},
                },
            },
            "DeadLetter": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "platform": {"type": "string"},
                    "reason": {"type": "string"},
                    "attempts": {"type": "integer"},
                    "parked_at": {"type": "number"},
                    "message": {"type": "object"},
                    "raw": {
                        "type": "string",
                        "description": "instead of message: the queue entry that could not be "
                        "decoded, as text; such a letter can never be delivered",
                    },
                },
            },
            "Redrive": {
                "type": "object",
                "properties": {
                    "platform": {"type": "string"},
                    "ids": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Error": {
                "type": "object",
                "properties": {
                    "error": {"type": "string"},
                    "status": {"type": "integer"},
                    "ocpi_status": {"type": "integer"},
                },
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/admin/platforms": {
            "get": {
                "summary": "List platforms",
                "responses": {
                    "200": _json({"type": "array", "items": _ref("Platform")}, "platforms"),
                    "401": _ERRORS["401"],
                },
            },
            "post": {
                "summary": "Create a platform with its granted roles; answers its token A",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewPlatform")}},
                },
                "responses": {
                    "201": _json(_ref("NewPlatformAnswer"), "created, status PLANNED"),
                    "409": _json(_ref("Error"), "a role is granted to another platform"),
                    **_ERRORS,
                },
            },
        },
        "/admin/platforms/{id}": {
            "get": {
                "summary": "One platform (never a token)",
                "parameters": _ID,
                "responses": {"200": _json(_ref("Platform"), "the platform"), **_ERRORS},
            },
            "patch": {
                "summary": "Rename, or set how the hub encodes its token towards the platform",
                "parameters": _ID,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PlatformChange")}},
                },
                "responses": {"200": _json(_ref("Platform"), "the platform"), **_ERRORS},
            },
            "delete": {
                "summary": "Remove: revoke tokens, free roles, status SUSPENDED",
                "parameters": _ID,
                "responses": {"204": {"description": "removed"}, **_ERRORS},
            },
        },
        "/admin/platforms/{id}/connect": _action(
            "Run the credentials handshake towards the platform (hub as sender)", body="Connect"
        ),
        "/admin/platforms/{id}/rotate": _action("Send a credentials PUT: both tokens change"),
        "/admin/platforms/{id}/suspend": _action("Suspend: its calls are refused"),
        "/admin/platforms/{id}/resume": _action("Resume a suspended platform"),
        "/admin/platforms/{id}/token-a": {
            "post": {
                "summary": "Issue a new token A (the old one dies); only when not registered",
                "parameters": _ID,
                "responses": {
                    "200": _json(_ref("TokenA"), "the new token A"),
                    "409": _json(_ref("Error"), "the platform is registered"),
                    **_ERRORS,
                },
            }
        },
        "/admin/queues": {
            "get": {
                "summary": "Per receiving platform: queue depth, oldest message age, dead letters",
                "responses": {
                    "200": _json({"type": "array", "items": _ref("QueueStats")}, "queues"),
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
                    "200": _json({"type": "array", "items": _ref("DeadLetter")}, "dead letters"),
                    **_ERRORS,
                },
            }
        },
        "/admin/dead-letters/redrive": {
            "post": {
                "summary": "Queue parked messages again (all, a platform's, or some ids)",
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("Redrive")}},
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "redriven": {"type": "integer"},
                                "skipped": {
                                    "type": "integer",
                                    "description": "letters with raw instead of message, left "
                                    "parked (present when not 0)",
                                },
                            },
                        },
                        "how many were queued again",
                    ),
                    "409": _json(_ref("Error"), "an id names a letter that holds no message"),
                    **_ERRORS,
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
