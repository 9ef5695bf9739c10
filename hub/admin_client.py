"""The admin commands of ``ocpi-hub`` (``platforms ...``, ``agreements ...``, ``queues``,
``dead-letters``, ``unrouted``): thin calls to a running hub's admin API (README: "Admin API"),
so that operators need neither curl nor the OpenAPI document.

The HTTP client is the standard library's, so the CLI works wherever the hub is installed, and
requests never go through an environment proxy: the admin token must not reach a proxy by
accident.
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

from hub import agreement_file
from hub.policy import ANY_MODULE, parse_limits
from hub.records import party_of

DEFAULT_HUB_URL = "http://127.0.0.1:8080"
ENCODINGS = ("auto", "base64", "raw")
# What ``platforms set --version`` takes: a version to pin, or auto (the highest both speak).
AUTO_VERSION = "auto"
VERSIONS = ("2.3.0", "2.2.1", "2.1.1", AUTO_VERSION)
# The columns (API field names) of the tables that answers which are lists are printed as.
# What ``platforms set --time-zone`` takes to clear the default.
NO_TIME_ZONE = "none"
PLATFORM_COLUMNS = ("id", "name", "status", "roles", "version", "last_seen")
QUEUE_COLUMNS = (
    "platform",
    "name",
    "status",
    "depth",
    "oldest_age",
    "dead_letters",
    "delivered_by",
)
LETTER_COLUMNS = ("id", "platform", "module", "method", "path", "attempts", "parked_at", "reason")
AGREEMENT_COLUMNS = ("id", "cpo", "partner", "modules", "extensions", "created_at")
UNROUTED_COLUMNS = ("id", "module", "cpo", "object_id", "kept_at", "reason")
# What ``platforms set --rate-limit`` takes to give a platform the hub's --rate-limit again.
NO_LIMITS = "none"
TOKEN_A_NOTE = "note: token A is shown only this once; hand it to the platform with versions_url"
_ROLE = re.compile(r"([A-Za-z]{2}):([A-Za-z0-9]{3}):([A-Za-z]+)")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Body = Callable[[argparse.Namespace], Any]
Query = Callable[[argparse.Namespace], dict[str, str]]
Text = Callable[[argparse.Namespace, Any], str]


class CliError(Exception):
    """A failure reported as one line on stderr; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class AdminCommand:
    """One admin subcommand, the admin API request it makes (``{id}`` in ``path`` is the id
    argument) and how its answer is printed without --json: a table of ``columns`` for a list,
    ``text`` when given, else ``key: value`` lines."""

    help: str
    method: str
    path: str
    body: Body | None = None
    query: Query | None = None
    columns: tuple[str, ...] = ()
    text: Text | None = None
    # Printed on stderr after the answer, also with --json.
    note: str | None = None


def role(text: str) -> dict[str, str]:
    """The argparse type of ``--role``: ``CC:PID:ROLE`` becomes the API's role object, so a typo
    is an argparse error (exit 2) before anything is sent."""
    match = _ROLE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not COUNTRY:PARTY:ROLE, e.g. NL:CPA:CPO")
    country_code, party_id, name = (part.upper() for part in match.groups())
    return {"country_code": country_code, "party_id": party_id, "role": name}


def party(text: str) -> dict[str, str]:
    """The argparse type of a party (``NL:CPA``): the API's party object."""
    try:
        country_code, party_id = party_of(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return {"country_code": country_code, "party_id": party_id}


def rate_limit(text: str) -> tuple[str, str] | None:
    """The argparse type of ``--rate-limit``: ``MODULE=RATE`` (``*`` for every module; a bare
    rate is ``*``) as a pair, checked as the hub checks it; ``none`` as None."""
    if text.strip().lower() == NO_LIMITS:
        return None
    try:
        ((module, rate),) = parse_limits([text]).items()
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return module, str(rate)


def _new_platform(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"name": args.name, "roles": args.roles}
    if args.token_encoding is not None:
        body["token_encoding"] = args.token_encoding
    return body


def _change(args: argparse.Namespace) -> dict[str, Any]:
    change = {"name": args.name, "token_encoding": args.token_encoding}
    change = {key: value for key, value in change.items() if value is not None}
    if args.rate_limits is not None:
        change["rate_limits"] = _rate_limits(args.rate_limits)
    if args.version_pin is not None:
        change["version"] = None if args.version_pin == AUTO_VERSION else args.version_pin
    if args.time_zone is not None:
        change["time_zone"] = None if args.time_zone == NO_TIME_ZONE else args.time_zone
    if not change:
        raise CliError(
            "nothing to change: give --name, --token-encoding, --rate-limit, --version "
            "and/or --time-zone",
            code=2,
        )
    return change


def _rate_limits(given: list[tuple[str, str] | None]) -> dict[str, str] | None:
    """The ``rate_limits`` of a platform change: module -> rate, or None (``none``) for the
    hub's --rate-limit again."""
    pairs = [item for item in given if item is not None]
    if len(pairs) < len(given):
        if pairs or len(given) > 1:
            raise CliError(f"--rate-limit {NO_LIMITS} goes alone: it clears the others", code=2)
        return None
    limits: dict[str, str] = {}
    for module, rate in pairs:
        if module in limits:
            shown = "every module (*)" if module == ANY_MODULE else module
            raise CliError(f"--rate-limit: two limits for {shown}", code=2)
        limits[module] = rate
    return limits


def _new_agreement(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"cpo": args.cpo, "partner": args.partner}
    if args.modules is not None:
        body["modules"] = args.modules
    if args.extensions:
        body["extensions"] = True
    return body


def _imported(args: argparse.Namespace) -> list[Any]:
    """The body of ``agreements import``: the file's agreements, checked before anything is
    sent (hub.agreement_file)."""
    try:
        return agreement_file.read(Path(args.file))
    except agreement_file.FileError as e:
        raise CliError(str(e), code=2) from None


def _label(party: dict[str, str]) -> str:
    return f"{party['country_code']}:{party['party_id']}"


def _removed(args: argparse.Namespace, _answer: Any) -> str:
    return f"removed {args.id}"


def _import_text(_args: argparse.Namespace, answer: dict[str, Any]) -> str:
    """How many agreements were new and how many there already, then all of them."""
    counts = f"created: {answer['created']}\nexisting: {answer['existing']}"
    return f"{counts}\n{_table(answer['agreements'], AGREEMENT_COLUMNS)}"


def _listed(args: argparse.Namespace) -> dict[str, str]:
    """The query of ``dead-letters``: all of them, or --platform's."""
    if args.ids:
        raise CliError("--id needs --redrive", code=2)
    return {} if args.platform is None else {"platform": args.platform}


def _redriven(args: argparse.Namespace) -> dict[str, Any]:
    """The body of ``dead-letters --redrive``; the API refuses ids without a platform."""
    body = {"platform": args.platform, "ids": args.ids}
    return {key: value for key, value in body.items() if value is not None}


def _unrouted_page(args: argparse.Namespace) -> dict[str, str]:
    """The query of ``unrouted``: a page of the list (the API's default: the first 100)."""
    if args.emsp is not None:
        raise CliError("--emsp needs --assign", code=2)
    given = {"offset": args.offset, "limit": args.limit}
    return {key: str(value) for key, value in given.items() if value is not None}


def _assignment(args: argparse.Namespace) -> dict[str, Any]:
    """The body of ``unrouted --assign ID --emsp CC:PID``."""
    if args.emsp is None:
        raise CliError("--assign needs --emsp CC:PID, the eMSP the record is for", code=2)
    return {"emsp": args.emsp}


class _Assign(argparse.Action):
    """``--assign ID`` switches ``unrouted`` from listing to assigning the record ``ID``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        namespace.id = values
        namespace.admin_command = "assign"


COMMANDS: dict[str, AdminCommand] = {
    "add": AdminCommand(
        "create a platform and print its token A",
        "POST",
        "/platforms",
        _new_platform,
        note=TOKEN_A_NOTE,
    ),
    "list": AdminCommand("list the platforms", "GET", "/platforms", columns=PLATFORM_COLUMNS),
    "show": AdminCommand("show one platform", "GET", "/platforms/{id}"),
    "set": AdminCommand(
        "change a platform's name, token encoding, rate limits or pinned OCPI version",
        "PATCH",
        "/platforms/{id}",
        _change,
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
    "remove": AdminCommand(
        "revoke a platform's tokens and retire it", "DELETE", "/platforms/{id}", text=_removed
    ),
    "token-a": AdminCommand(
        "issue a new token A, replacing the old",
        "POST",
        "/platforms/{id}/token-a",
        note=TOKEN_A_NOTE,
    ),
}
AGREEMENT_COMMANDS: dict[str, AdminCommand] = {
    "add": AdminCommand(
        "join a CPO and a party of the other side (eMSP, NSP, ...) in a roaming agreement",
        "POST",
        "/agreements",
        _new_agreement,
    ),
    "list": AdminCommand(
        "list the roaming agreements (all, or --party's)",
        "GET",
        "/agreements",
        query=lambda args: {} if args.party is None else {"party": _label(args.party)},
        columns=AGREEMENT_COLUMNS,
    ),
    "remove": AdminCommand("end a roaming agreement", "DELETE", "/agreements/{id}", text=_removed),
    "import": AdminCommand(
        "add the agreements of a JSON or CSV file; those that exist already stay as they are",
        "POST",
        "/agreements/import",
        _imported,
        text=_import_text,
    ),
}
QUEUE_COMMANDS: dict[str, AdminCommand] = {
    "queues": AdminCommand(
        "show each platform's delivery queue: depth, oldest message, dead letters",
        "GET",
        "/queues",
        columns=QUEUE_COLUMNS,
    ),
    "dead-letters": AdminCommand(
        "list the messages parked after failed delivery, or queue them again (--redrive)",
        "GET",
        "/dead-letters",
        query=_listed,
        columns=LETTER_COLUMNS,
    ),
    # dead-letters --redrive
    "redrive": AdminCommand("", "POST", "/dead-letters/redrive", _redriven),
    "unrouted": AdminCommand(
        "list the sessions and CDRs whose eMSP the hub could not find, or give one to its "
        "eMSP (--assign)",
        "GET",
        "/unrouted",
        query=_unrouted_page,
        columns=UNROUTED_COLUMNS,
    ),
    # unrouted --assign ID --emsp CC:PID
    "assign": AdminCommand("", "POST", "/unrouted/{id}/assign", _assignment),
}
# The commands of ``ocpi-hub GROUP ACTION`` by group; the top-level ones under "".
GROUPS: dict[str, dict[str, AdminCommand]] = {
    "platforms": COMMANDS,
    "agreements": AGREEMENT_COMMANDS,
    "": QUEUE_COMMANDS,
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
    """Add ``platforms ACTION``, ``agreements ACTION``, ``queues``, ``dead-letters`` and
    ``unrouted`` to the ``ocpi-hub`` subcommands (``commands``)."""
    common = _common_options()
    _add_platform_options(
        _group(commands, "platforms", "manage platforms through the admin API", common)
    )
    _add_agreement_options(
        _group(commands, "agreements", "manage roaming agreements through the admin API", common)
    )
    top: dict[str, argparse.ArgumentParser] = {}
    for name in ("queues", "dead-letters", "unrouted"):
        top[name] = commands.add_parser(name, help=QUEUE_COMMANDS[name].help, parents=[common])
        top[name].set_defaults(admin_group="", admin_command=name)
    letters = top["dead-letters"]
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
    unrouted = top["unrouted"]
    unrouted.add_argument("--offset", type=int, metavar="N", help="skip the first N (oldest)")
    unrouted.add_argument("--limit", type=int, metavar="N", help="list at most N (default: 100)")
    unrouted.add_argument(
        "--assign",
        metavar="ID",
        action=_Assign,
        help="give the record ID to the eMSP named by --emsp: it is kept for that eMSP to pull, "
        "and leaves this list",
    )
    unrouted.add_argument(
        "--emsp", metavar="CC:PID", type=party, help="with --assign: the eMSP, like NL:EMA"
    )


def _group(
    commands: Any, group: str, help_text: str, common: argparse.ArgumentParser
) -> dict[str, argparse.ArgumentParser]:
    """``ocpi-hub GROUP ACTION`` for each command of the group; the parsers by action."""
    parser = commands.add_parser(group, help=help_text)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    subs: dict[str, argparse.ArgumentParser] = {}
    for name, command in GROUPS[group].items():
        subs[name] = sub = actions.add_parser(name, help=command.help, parents=[common])
        if "{id}" in command.path:
            sub.add_argument("id", help=f"the {group.removesuffix('s')}'s id")
        sub.set_defaults(admin_group=group, admin_command=name)
    return subs


def _add_platform_options(subs: dict[str, argparse.ArgumentParser]) -> None:
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
    subs["set"].add_argument(
        "--rate-limit",
        dest="rate_limits",
        metavar="MODULE=RATE",
        type=rate_limit,
        action="append",
        help="at most RATE calls of MODULE (* for every module), like tokens=100/min or "
        f"'*=3000/min' (repeatable); {NO_LIMITS}: the hub's --rate-limit again",
    )
    subs["set"].add_argument(
        "--version",
        dest="version_pin",
        choices=VERSIONS,
        help="the OCPI version the hub registers in when it connects to the platform; "
        f"{AUTO_VERSION}: the highest both speak (2.1.1 only for a platform of one CPO or "
        "eMSP role)",
    )
    subs["set"].add_argument(
        "--time-zone",
        help="the time zone of a 2.1.1 CPO's Locations that name none, like Europe/Brussels "
        f"(2.2.1 requires one); {NO_TIME_ZONE}: none",
    )
    subs["connect"].add_argument("--versions-url", required=True, help="the platform's versions")
    subs["connect"].add_argument("--token", required=True, help="the token A the platform issued")


def _add_agreement_options(subs: dict[str, argparse.ArgumentParser]) -> None:
    add = subs["add"]
    add.add_argument("cpo", metavar="CPO", type=party, help="the CPO party, like NL:CPA")
    add.add_argument(
        "partner", metavar="PARTNER", type=party, help="the party of the other side, like DE:EMB"
    )
    add.add_argument(
        "--module",
        dest="modules",
        metavar="MODULE",
        action="append",
        help="a module the agreement covers (repeatable; default: every module)",
    )
    add.add_argument(
        "--extensions",
        action="store_true",
        help="the two may pass each other the fields OCPI 2.3.0 does not define (extensions; "
        "default: the hub takes them out)",
    )
    subs["list"].add_argument(
        "--party", metavar="CC:PID", type=party, help="only the agreements of this party"
    )
    subs["import"].add_argument(
        "file",
        metavar="FILE",
        help="a JSON list of agreements like POST /admin/agreements takes, or CSV with the "
        "header cpo,partner,modules and rows like NL:CPA,DE:EMB,locations;tariffs (modules "
        "empty: every module), and optionally an extensions column (true, false or empty); "
        ".json or .csv, else told by the content",
    )


def run(args: argparse.Namespace) -> int:
    """Run one admin command; 0 on success, 1 when the hub failed or refused, 2 for usage and
    for input refused before anything is sent (a bad import file)."""
    try:
        command = GROUPS[args.admin_group][args.admin_command]
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
    elif command.text is not None:
        print(command.text(args, answer))
    elif command.columns:
        print(_table(answer, command.columns))
    else:
        print(_lines(answer))
    if command.note is not None:
        print(command.note, file=sys.stderr)
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
    """One value as a table cell or after ``key:``: roles as ``CC:PID:ROLE,...``, parties as
    ``CC:PID``, modules and rate limits as ``--module`` and ``--rate-limit`` take them, an age in
    whole seconds, a Unix time as UTC ISO 8601, nothing as ``-``."""
    if key in ("roles", "registered_roles") and isinstance(value, list):
        return ",".join(f"{r['country_code']}:{r['party_id']}:{r['role']}" for r in value) or "-"
    if key in ("cpo", "partner") and isinstance(value, dict):
        return _label(value)
    if key == "modules":  # an agreement's: null is every module
        return "all" if value is None else ",".join(value)
    if key == "rate_limits" and isinstance(value, dict) and value:
        return ",".join(f"{module}={rate}" for module, rate in value.items())
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
    """Platforms, agreements, queues or dead letters as aligned columns; a removed platform's
    status says so, a dead letter's module, method and path are those of its message."""
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
