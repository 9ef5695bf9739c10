"""The admin commands of ``ocpi-hub`` (``platforms ...``, ``queues``, ``dead-letters``): thin
calls to a running hub's admin API (README: "Admin API"), so that operators need neither curl
nor the OpenAPI document.

Only the standard library is used, so the CLI works wherever the hub is installed, and requests
never go through an environment proxy: the admin token must not reach a proxy by accident.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_HUB_URL = "http://127.0.0.1:8080"
ENCODINGS = ("auto", "base64", "raw")
# The commands whose answer is a list, printed as a table of these columns (API field names).
TABLES: dict[str, tuple[str, ...]] = {
    "list": ("id", "name", "status", "roles", "version", "last_seen"),
    "queues": ("platform", "name", "status", "depth", "oldest_age", "dead_letters", "delivered_by"),
    "dead-letters": (
        "id",
        "platform",
        "module",
        "method",
        "path",
        "attempts",
        "parked_at",
        "reason",
    ),
}
TOKEN_A_NOTE = "note: token A is shown only this once; hand it to the platform with versions_url"
_ROLE = re.compile(r"([A-Za-z]{2}):([A-Za-z0-9]{3}):([A-Za-z]+)")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Body = Callable[[argparse.Namespace], Any]
Query = Callable[[argparse.Namespace], dict[str, str]]


class CliError(Exception):
    """A failure reported as one line on stderr; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class AdminCommand:
    """One admin subcommand and the admin API request it makes (``{id}`` in ``path`` is the
    platform id argument)."""

    help: str
    method: str
    path: str
    body: Body | None = None
    query: Query | None = None


def role(text: str) -> dict[str, str]:
    """The argparse type of ``--role``: ``CC:PID:ROLE`` becomes the API's role object, so a typo
    is an argparse error (exit 2) before anything is sent."""
    match = _ROLE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not COUNTRY:PARTY:ROLE, e.g. NL:CPA:CPO")
    country_code, party_id, name = (part.upper() for part in match.groups())
    return {"country_code": country_code, "party_id": party_id, "role": name}


def _new_platform(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"name": args.name, "roles": args.roles}
    if args.token_encoding is not None:
        body["token_encoding"] = args.token_encoding
    return body


def _change(args: argparse.Namespace) -> dict[str, Any]:
    change = {"name": args.name, "token_encoding": args.token_encoding}
    change = {key: value for key, value in change.items() if value is not None}
    if not change:
        raise CliError("nothing to change: give --name and/or --token-encoding", code=2)
    return change


def _listed(args: argparse.Namespace) -> dict[str, str]:
    """The query of ``dead-letters``: all of them, or --platform's."""
    if args.ids:
        raise CliError("--id needs --redrive", code=2)
    return {} if args.platform is None else {"platform": args.platform}


def _redriven(args: argparse.Namespace) -> dict[str, Any]:
    """The body of ``dead-letters --redrive``; the API refuses ids without a platform."""
    body = {"platform": args.platform, "ids": args.ids}
    return {key: value for key, value in body.items() if value is not None}


COMMANDS: dict[str, AdminCommand] = {
    "add": AdminCommand(
        "create a platform and print its token A", "POST", "/platforms", _new_platform
    ),
    "list": AdminCommand("list the platforms", "GET", "/platforms"),
    "show": AdminCommand("show one platform", "GET", "/platforms/{id}"),
    "set": AdminCommand(
        "change a platform's name or token encoding", "PATCH", "/platforms/{id}", _change
    ),
    "connect": AdminCommand(
        "register the hub at a platform with the token A it issued",
        "POST",
        "/platforms/{id}/connect",
        lambda args: {"versions_url": args.versions_url, "token": args.token},
    ),
    "rotate": AdminCommand(
        "renew the credentials tokens of both sides", "POST", "/platforms/{id}/rotate"
    ),
    "suspend": AdminCommand(
        "stop routing to and from a platform", "POST", "/platforms/{id}/suspend"
    ),
    "resume": AdminCommand("undo suspend", "POST", "/platforms/{id}/resume"),
    "remove": AdminCommand("revoke a platform's tokens and retire it", "DELETE", "/platforms/{id}"),
    "token-a": AdminCommand(
        "issue a new token A, replacing the old", "POST", "/platforms/{id}/token-a"
    ),
}
QUEUE_COMMANDS: dict[str, AdminCommand] = {
    "queues": AdminCommand(
        "show each platform's delivery queue: depth, oldest message, dead letters",
        "GET",
        "/queues",
    ),
    "dead-letters": AdminCommand(
        "list the messages parked after failed delivery, or queue them again (--redrive)",
        "GET",
        "/dead-letters",
        query=_listed,
    ),
    # dead-letters --redrive
    "redrive": AdminCommand("", "POST", "/dead-letters/redrive", _redriven),
}


def _default_hub_url() -> str:
    """Where ``ocpi-hub serve`` listens when started with the same environment."""
    if os.environ.get("HUB_URL"):
        return os.environ["HUB_URL"]
    if os.environ.get("HUB_HOST") or os.environ.get("HUB_PORT"):
        host = os.environ.get("HUB_HOST") or "127.0.0.1"
        return f"http://{host}:{os.environ.get('HUB_PORT') or 8080}"
    return DEFAULT_HUB_URL


def _common_options() -> argparse.ArgumentParser:
    """Options shared by every admin command; a parent of each subcommand so that they can be
    given after it (``ocpi-hub platforms list --json``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--hub-url",
        default=_default_hub_url(),
        help="the hub (default: $HUB_URL, else built from $HUB_HOST and $HUB_PORT like serve "
        "does, else %(default)s)",
    )
    common.add_argument(
        "--admin-token", help="admin token (default: $HUB_ADMIN_TOKEN, else {data-dir}/admin-token)"
    )
    common.add_argument(
        "--data-dir",
        default=os.environ.get("HUB_DATA_DIR", "./var"),
        help="the hub's data directory, where it wrote the admin token (default: %(default)s)",
    )
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")
    common.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the hub (default: 30)"
    )
    return common


def add_commands(commands: Any) -> None:
    """Add ``platforms ACTION``, ``queues`` and ``dead-letters`` to the ``ocpi-hub`` subcommands
    (``commands``)."""
    common = _common_options()
    platforms = commands.add_parser("platforms", help="manage platforms through the admin API")
    actions = platforms.add_subparsers(dest="action", required=True, metavar="ACTION")
    subs: dict[str, argparse.ArgumentParser] = {}
    for name, command in COMMANDS.items():
        subs[name] = sub = actions.add_parser(name, help=command.help, parents=[common])
        if "{id}" in command.path:
            sub.add_argument("id", help="the platform's id")
        sub.set_defaults(admin_command=name)
    subs["add"].add_argument("--name", required=True, help="the platform's display name")
    subs["add"].add_argument(
        "--role",
        dest="roles",
        metavar="CC:PID:ROLE",
        type=role,
        action="append",
        required=True,
        help="a party the platform may act as (repeatable)",
    )
    subs["set"].add_argument("--name", help="the new display name")
    for name in ("add", "set"):
        subs[name].add_argument(
            "--token-encoding", choices=ENCODINGS, help="how the hub encodes tokens it sends"
        )
    subs["connect"].add_argument("--versions-url", required=True, help="the platform's versions")
    subs["connect"].add_argument("--token", required=True, help="the token A the platform issued")
    for name in ("queues", "dead-letters"):
        subs[name] = commands.add_parser(name, help=QUEUE_COMMANDS[name].help, parents=[common])
        subs[name].set_defaults(admin_command=name)
    letters = subs["dead-letters"]
    letters.add_argument("--platform", metavar="ID", help="only this platform's dead letters")
    # --redrive switches the request the command makes, from listing to redriving.
    letters.add_argument(
        "--redrive",
        dest="admin_command",
        action="store_const",
        const="redrive",
        help="queue the dead letters again (all, --platform's, or its --id ones) and print "
        "how many",
    )
    letters.add_argument(
        "--id",
        dest="ids",
        metavar="ID",
        action="append",
        help="with --redrive and --platform: only this dead letter (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    """Run one admin command; 0 on success, 1 when the hub failed or refused, 2 for usage."""
    try:
        command = COMMANDS.get(args.admin_command) or QUEUE_COMMANDS[args.admin_command]
        body = command.body(args) if command.body is not None else None
        path = command.path.replace("{id}", urllib.parse.quote(getattr(args, "id", ""), safe=""))
        query = command.query(args) if command.query is not None else {}
        if query:
            path += "?" + urllib.parse.urlencode(query)
        answer = _request(args, command.method, path, body)
    except CliError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return e.code
    if args.json:
        if answer is not None:
            print(json.dumps(answer, indent=2))
    elif args.admin_command == "remove":
        print(f"removed {args.id}")
    elif args.admin_command in TABLES:
        print(_table(answer, TABLES[args.admin_command]))
    else:
        print(_lines(answer))
    if args.admin_command in ("add", "token-a"):
        print(TOKEN_A_NOTE, file=sys.stderr)
    return 0


def _admin_token(args: argparse.Namespace) -> str:
    """--admin-token, else $HUB_ADMIN_TOKEN, else the file the hub wrote into its data dir."""
    if args.admin_token:
        return str(args.admin_token)
    if os.environ.get("HUB_ADMIN_TOKEN"):
        return os.environ["HUB_ADMIN_TOKEN"].strip()
    path = Path(args.data_dir, "admin-token").resolve()
    try:
        token = path.read_text().strip()
    except OSError as e:
        token, why = "", e.strerror or str(e)
    else:
        why = "it is empty"
    if token:
        return token
    raise CliError(
        "no admin token: no --admin-token, HUB_ADMIN_TOKEN is not set, "
        f"and {path} cannot be used ({why}); give --admin-token or --data-dir",
        code=2,
    )


def _request(args: argparse.Namespace, method: str, path: str, body: Any) -> Any:
    """One admin API call; its parsed JSON answer (None for 204), else a CliError."""
    hub_url = str(args.hub_url).rstrip("/")
    headers = {"Authorization": f"Bearer {_admin_token(args)}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        request = urllib.request.Request(
            f"{hub_url}/admin{path}", data=data, method=method, headers=headers
        )
        with _OPENER.open(request, timeout=args.timeout) as response:
            content = response.read()
    except urllib.error.HTTPError as e:
        raise CliError(_api_error(e.code, e.read())) from e
    except (OSError, ValueError) as e:  # URLError, refused, timeout; ValueError: a bad URL
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError):
            raise CliError(f"the hub at {hub_url} did not answer within {args.timeout:g}s") from e
        raise CliError(f"cannot reach the hub at {hub_url}: {reason}") from e
    try:
        return json.loads(content) if content else None
    except ValueError as e:
        raise CliError(f"{hub_url} answered with something that is not JSON") from e


def _api_error(status: int, content: bytes) -> str:
    """The API's error message, or the start of whatever a non-hub server answered."""
    try:
        message = json.loads(content)["error"]
    except (ValueError, TypeError, KeyError):
        message = content.decode(errors="replace").strip()[:200] or "no message"
    return f"{message} (HTTP {status})"


def _text(key: str, value: Any) -> str:
    """One value as a table cell or after ``key:``: roles as ``CC:PID:ROLE,...``, an age in
    whole seconds, a Unix time as UTC ISO 8601, nothing as ``-``."""
    if key in ("roles", "registered_roles") and isinstance(value, list):
        return ",".join(f"{r['country_code']}:{r['party_id']}:{r['role']}" for r in value) or "-"
    if key == "oldest_age" and isinstance(value, int | float):
        return f"{round(value)}s"
    if key == "parked_at" and isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if value is None or value == [] or value == "":
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def _lines(answer: dict[str, Any]) -> str:
    """A platform (or token A answer) as ``key: value`` lines, endpoints one per line."""
    lines = []
    for key, value in answer.items():
        if key == "endpoints" and isinstance(value, list) and value:
            lines.append("endpoints:")
            lines += [f"  {e['identifier']} {e.get('role') or '-'} {e['url']}" for e in value]
        else:
            lines.append(f"{key}: {_text(key, value)}")
    return "\n".join(lines)


def _table(items: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """Platforms, queues or dead letters as aligned columns; a removed platform's status says so,
    a dead letter's module, method and path are those of its message."""
    rows = [list(columns)]
    for item in items:
        fields = {**item.get("message", {}), **item}
        row = [_text(column, fields.get(column)) for column in columns]
        if item.get("deleted"):
            row[columns.index("status")] += " (removed)"
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
