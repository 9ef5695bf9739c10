"""The version layer between 2.1.1 platforms and the hub's 2.2.1 core (README: "OCPI 2.1.1
platforms").

The routing core decides on 2.2.1 terms; what a 2.1.1 platform sends is read "up" into 2.2.1
here, and what goes to a 2.1.1 platform is written "down" into 2.1.1, requests and answers
alike. The field maps are ``hub.translate`` (pure); this module picks the map for a call's
shape (module, interface, method, depth) and fills in what one version needs and the other
lacks from what the hub keeps: the locations, tariffs and tokens it holds, and the CdrToken of
a contract id (2.1.1 mod_sessions.md §3.1 ``auth_id``). Nothing is invented: when neither the
call nor the hub has it, the result is ``Withheld``.

Between two platforms of the same version nothing passes through here.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final, cast

import msgspec
import orjson

from hub import metrics
from hub.ocpi.common import PartyKey
from hub.ocpi.v211 import cdrs as v211_cdrs
from hub.ocpi.v211 import commands as v211_commands
from hub.ocpi.v211 import locations as v211_locations
from hub.ocpi.v211 import sessions as v211_sessions
from hub.ocpi.v211 import tariffs as v211_tariffs
from hub.ocpi.v211 import tokens as v211_tokens
from hub.ocpi.validation import InvalidInputError, decode
from hub.ocpi.versions import RECEIVER, SENDER
from hub.openrouting import SESSION
from hub.store.contracts import Contracts, ReservationNumbers
from hub.store.directory import Directory
from hub.store.held import HeldObjects
from hub.store.kept import KeptRecords
from hub.translate import cdrs, commands, locations, sessions, tariffs, tokens
from hub.translate.fields import JSON, clean
from hub.translate.losses import Withheld
from hub.translate.status import Status, status_down, status_up

__all__ = ["COMMAND_TIMEOUT", "Bridge", "Withheld", "envelope_of", "now"]

log = logging.getLogger("hub.bridge")

# How long a 2.2.1 eMSP is told to wait for the result of a command a 2.1.1 CPO took: 2.1.1
# gives no timeout (2.1.1 mod_commands.md §4.2), 2.2.1 requires one ("Commands module",
# CommandResponse).
COMMAND_TIMEOUT: Final = 60

UP: Final = "up"
DOWN: Final = "down"

_json = msgspec.json.Decoder(Any)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope_of(body: bytes) -> dict[str, Any] | None:
    """An answer's OCPI envelope, or None when the body is not one (passed on as it is)."""
    try:
        found = _json.decode(body) if body else None
    except (msgspec.DecodeError, RecursionError):
        return None
    if not isinstance(found, dict):
        return None
    code = found.get("status_code")
    return found if isinstance(code, int) and not isinstance(code, bool) else None


def _depth(segments: list[str]) -> int:
    """0 for a Location (or any whole object) below /{cc}/{pid}/{id}, 1 an EVSE, 2 a Connector."""
    return max(0, len(segments) - 3)


def _without_type(query: str) -> str:
    """2.1.1 token URLs have no ``type`` parameter (2.1.1 mod_tokens.md §3.1)."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return urllib.parse.urlencode([(k, v) for k, v in pairs if k != "type"])


def _type_of(query: str) -> str:
    return urllib.parse.parse_qs(query).get("type", ["RFID"])[0]


class Bridge:
    def __init__(
        self,
        held: HeldObjects,
        contracts: Contracts,
        reservations: ReservationNumbers,
        kept: KeptRecords,
        directory: Directory,
    ) -> None:
        self._held = held
        self._contracts = contracts
        self._reservations = reservations
        self._kept = kept
        self._directory = directory

    # --- lookups in what the hub keeps ---------------------------------------------------

    async def _held_json(self, module: str, owner: PartyKey, path: list[str]) -> JSON | None:
        raw = await self._held.get(module, owner, path)
        if raw is None:
            return None
        found = _json.decode(raw)
        return found if isinstance(found, dict) else None

    async def _location_211(self, owner: PartyKey, location_id: object) -> JSON | None:
        """The hub's copy of a CPO's Location in 2.1.1 form (Sessions and CDRs of 2.1.1 carry
        the whole Location, 2.1.1 mod_sessions.md §3.1)."""
        if not isinstance(location_id, str):
            return None
        held = await self._held_json("locations", owner, [location_id])
        if held is None:
            return None
        down = locations.location_down(held)
        return None if isinstance(down, Withheld) else down

    async def _kept_session(
        self, cpo: PartyKey, session_id: str, emsp: PartyKey | None = None
    ) -> JSON | None:
        """The 2.2.1 session as the hub last delivered it to its eMSP (``hub.kept``): the eMSP
        from the hub's memory of the session when not given."""
        if emsp is None:
            found = {e for c, e in await self._directory.recall(SESSION, session_id) if c == cpo}
            if len(found) != 1:
                return None
            (emsp,) = found
        raw = await self._kept.get("sessions", emsp, cpo, session_id)
        if raw is None:
            return None
        found_session = _json.decode(raw)
        return found_session if isinstance(found_session, dict) else None

    async def cdr_token(self, contract_id: object) -> JSON | None:
        if not isinstance(contract_id, str) or not contract_id:
            return None
        return await self._contracts.find(contract_id)

    async def learn(self, module: str, owner: PartyKey, body: JSON) -> None:
        """Remember the CdrToken behind a 2.2.1 Token or a Session's or CDR's ``cdr_token``."""
        if module == "tokens":
            await self._contracts.remember({"country_code": owner[0], "party_id": owner[1], **body})
        elif module in ("sessions", "cdrs") and isinstance(body.get("cdr_token"), dict):
            await self._contracts.remember(body["cdr_token"])

    # --- requests ------------------------------------------------------------------------

    async def request_up(
        self,
        module: str,
        interface: str,
        method: str,
        segments: list[str],
        query: str,
        body: bytes,
        caller: PartyKey,
        *,
        time_zone: str | None = None,
    ) -> tuple[str, str, bytes] | Withheld:
        """A 2.1.1 platform's request as the 2.2.1 request the core routes: (method, query,
        body). A Tariff PATCH becomes the PUT of the merged tariff (2.1.1 has PATCH semantics
        2.2.1 lacks). ``time_zone``: the operator's default for the caller's Locations."""
        if (module, interface, method) == ("commands", SENDER, "POST") and body:
            # The 2.1.1 tag's result was a bare CommandResponseType (2.1.1 mod_commands.md §4.1).
            bare = _json.decode(body)
            if isinstance(bare, str):
                body = orjson.dumps({"result": bare})
        kind = _kind_211(module, interface, method, segments)
        if kind is None or not body:
            return method, query, body
        # Read as the 2.1.1 object it must be, strict on types and required fields, as the core
        # reads 2.2.1 bodies (InvalidInputError: 2001 naming the field).
        obj = _read_211(body, kind, whole=method in ("PUT", "POST"))
        owner = (segments[0].upper(), segments[1].upper()) if len(segments) >= 2 else caller
        up: JSON | Withheld
        where = (module, interface, method)
        received = now()
        if where == ("locations", RECEIVER, "PUT"):
            up = [
                lambda: locations.location_up(obj, owner, time_zone=time_zone),
                lambda: locations.evse_up(obj),
                lambda: locations.connector_up(obj),
            ][min(_depth(segments), 2)]()
        elif where == ("locations", RECEIVER, "PATCH"):
            up = [
                locations.location_patch_up,
                locations.evse_patch_up,
                locations.connector_patch_up,
            ][min(_depth(segments), 2)](obj, received_at=received)
        elif where == ("tariffs", RECEIVER, "PUT"):
            up = tariffs.tariff_up(obj, owner)
        elif where == ("tariffs", RECEIVER, "PATCH"):
            stored = await self._held_json("tariffs", owner, segments[2:3])
            if stored is None:
                return Withheld("a Tariff PATCH needs the whole tariff, and the hub holds none")
            up = tariffs.tariff_patch_up(stored, obj, received_at=received)
            method = "PUT"
        elif where == ("tokens", RECEIVER, "PUT"):
            up = tokens.token_up(obj, country_code=owner[0], party_id=owner[1])
            query = urllib.parse.urlencode({"type": up.get("type", "RFID")})
        elif where == ("tokens", RECEIVER, "PATCH"):
            up = tokens.token_patch_up(obj, received=received)
        elif where == ("tokens", SENDER, "POST"):
            up = tokens.location_references_up(obj)
        elif where == ("sessions", RECEIVER, "PUT"):
            token = await self.cdr_token(obj.get("auth_id"))
            up = sessions.session_up(obj, country_code=owner[0], party_id=owner[1], token=token)
        elif where == ("sessions", RECEIVER, "PATCH") and len(segments) == 3:
            token = await self.cdr_token(obj.get("auth_id")) if "auth_id" in obj else None
            kept = await self._kept_session(owner, segments[2])
            up = sessions.session_patch_up(obj, received=received, kept=kept, token=token)
            if isinstance(up, Withheld) and kept is not None and "charging_periods" in obj:
                # The periods replace relayed ones, which a 2.2.1 PATCH cannot say: the
                # merged session is PUT instead (2.2.1 "Sessions module", PUT).
                rest = {k: v for k, v in obj.items() if k != "charging_periods"}
                changed = sessions.session_patch_up(rest, received=received, kept=kept, token=token)
                if not isinstance(changed, Withheld):
                    periods = sessions.periods_up(obj["charging_periods"] or [])
                    up = {**kept, **changed, "charging_periods": periods}
                    method = "PUT"
        elif where == ("cdrs", RECEIVER, "POST"):
            token = await self.cdr_token(obj.get("auth_id"))
            up = cdrs.cdr_up(
                obj,
                country_code=caller[0],
                party_id=caller[1],
                token=token,
                tariff_up=lambda t: tariffs.tariff_up(t, caller),
            )
        elif where == ("commands", RECEIVER, "POST") and segments:
            up = commands.request_up(segments[0], obj, country_code=caller[0], party_id=caller[1])
        elif where == ("commands", SENDER, "POST"):
            up = commands.result_up(obj)
        else:
            return method, query, body
        if isinstance(up, Withheld):
            metrics.TRANSLATED.labels(module, UP, "withheld").inc()
            return up
        metrics.TRANSLATED.labels(module, UP, "ok").inc()
        return method, query, orjson.dumps(up)

    async def request_down(
        self,
        module: str,
        interface: str,
        method: str,
        segments: list[str],
        query: str,
        body: bytes,
        *,
        receiver: PartyKey | None = None,
    ) -> tuple[str, bytes] | Withheld:
        """A 2.2.1 request as the one a 2.1.1 receiver takes: (query, body). ``receiver``: the
        party it goes to (a session PATCH needs the session the hub kept for it)."""
        if module == "tokens":
            query = _without_type(query)
        obj = _json.decode(body) if body else None
        if not isinstance(obj, dict):
            return query, body
        down: JSON | Withheld
        owner = (segments[0].upper(), segments[1].upper()) if len(segments) >= 2 else None
        where = (module, interface, method)
        if where == ("locations", RECEIVER, "PUT"):
            down = [locations.location_down, locations.evse_down, locations.connector_down][
                min(_depth(segments), 2)
            ](obj)
        elif where == ("locations", RECEIVER, "PATCH"):
            down = [
                locations.location_patch_down,
                locations.evse_patch_down,
                locations.connector_patch_down,
            ][min(_depth(segments), 2)](obj)
        elif where == ("tariffs", RECEIVER, "PUT"):
            down = tariffs.tariff_down(obj)
        elif where == ("tokens", RECEIVER, "PUT"):
            down = tokens.token_down(obj)
        elif where == ("tokens", RECEIVER, "PATCH"):
            down = tokens.token_patch_down(obj)
        elif where == ("tokens", SENDER, "POST"):
            down = tokens.location_references_down(obj)
        elif where == ("sessions", RECEIVER, "PUT") and owner is not None:
            location = await self._location_211(owner, obj.get("location_id"))
            down = sessions.session_down(obj, location=location)
        elif where == ("sessions", RECEIVER, "PATCH") and owner is not None:
            kept = None
            if len(segments) == 3:
                kept = await self._kept_session(owner, segments[2], receiver)
            wanted = obj.get("location_id", (kept or {}).get("location_id"))
            location = await self._location_211(owner, wanted)
            down = sessions.session_patch_down(obj, kept=kept, location=location)
        elif where == ("cdrs", RECEIVER, "POST"):
            cpo = (str(obj.get("country_code", "")).upper(), str(obj.get("party_id", "")).upper())
            cdr_location = obj.get("cdr_location")
            location_id = cdr_location.get("id") if isinstance(cdr_location, dict) else None
            location = await self._location_211(cpo, location_id)
            down = cdrs.cdr_down(obj, location=location, tariff_down=tariffs.tariff_down)
        elif where == ("commands", RECEIVER, "POST") and segments:
            number = None
            if segments[0] == "RESERVE_NOW" and isinstance(obj.get("reservation_id"), str):
                number = await self._reservations.number(obj["reservation_id"])
            down = commands.request_down(segments[0], obj, reservation_number=number)
        elif where == ("commands", SENDER, "POST"):
            down = commands.result_down(obj)
        else:
            return query, body
        if isinstance(down, Withheld):
            metrics.TRANSLATED.labels(module, DOWN, "withheld").inc()
            return down
        metrics.TRANSLATED.labels(module, DOWN, "ok").inc()
        return query, orjson.dumps(down)

    # --- answers -------------------------------------------------------------------------

    async def answer_up(
        self,
        module: str,
        interface: str,
        method: str,
        segments: list[str],
        query: str,
        status: int,
        body: bytes,
        receiver: PartyKey,
    ) -> tuple[int, bytes]:
        """A 2.1.1 receiver's answer as the 2.2.1 caller reads it: status and data."""
        found = envelope_of(body)
        if found is None:
            return status, body
        authorize = (module, interface, method) == ("tokens", SENDER, "POST")
        mapped = status_up(
            Status(status, int(found["status_code"]), found.get("status_message")),
            authorization=authorize,
        )
        found["status_code"] = mapped.code
        if mapped.message is not None:
            found["status_message"] = mapped.message
        data = found.get("data")
        if data is not None and mapped.code == 1000:
            found["data"] = await self._data_up(
                module, interface, method, segments, query, data, receiver
            )
        return mapped.http_status, orjson.dumps(found)

    async def _data_up(
        self,
        module: str,
        interface: str,
        method: str,
        segments: list[str],
        query: str,
        data: Any,
        owner: PartyKey,
    ) -> Any:
        one: Callable[[JSON], Awaitable[JSON | Withheld]]
        if interface == SENDER and method == "GET":

            async def one(item: JSON) -> JSON | Withheld:
                return await self._object_up(module, item, owner, len(segments))

        elif (module, interface, method) == ("tokens", SENDER, "POST"):
            uid = segments[0] if segments else ""
            token = await self._held_json("tokens", owner, [uid, _type_of(query)])

            async def one(item: JSON) -> JSON | Withheld:
                msgspec.convert(item, v211_tokens.AuthorizationInfo)
                return tokens.authorization_info_up(item, token=token)

        elif (module, interface, method) == ("commands", RECEIVER, "POST"):

            async def one(item: JSON) -> JSON | Withheld:
                msgspec.convert(item, v211_commands.CommandResponse)
                return commands.response_up(item, timeout=COMMAND_TIMEOUT)

        else:
            return data
        return await _each(data, one, module, UP)

    async def _object_up(
        self, module: str, item: JSON, owner: PartyKey, depth: int
    ) -> JSON | Withheld:
        """One object of a 2.1.1 sender's GET answer (list item or single object) as 2.2.1;
        one that is not a valid 2.1.1 object raises ``msgspec.ValidationError``."""
        # ``depth``: the ids in the GET's URL (a location, its EVSE, its connector).
        kind = _ANSWERED.get(module)
        if module == "locations":
            kind = _LOCATION_AT.get(depth, v211_locations.Location)
        if kind is not None:
            msgspec.convert(item, kind)
        if module == "locations":
            if depth == 2:
                return locations.evse_up(item)
            if depth >= 3:
                return locations.connector_up(item)
            return locations.location_up(item, owner)
        if module == "tariffs":
            return tariffs.tariff_up(item, owner)
        if module == "tokens":
            return tokens.token_up(item, country_code=owner[0], party_id=owner[1])
        if module == "sessions":
            token = await self.cdr_token(item.get("auth_id"))
            return sessions.session_up(item, country_code=owner[0], party_id=owner[1], token=token)
        if module == "cdrs":
            token = await self.cdr_token(item.get("auth_id"))
            return cdrs.cdr_up(
                item,
                country_code=owner[0],
                party_id=owner[1],
                token=token,
                tariff_up=lambda t: tariffs.tariff_up(t, owner),
            )
        return item

    async def answer_down(
        self,
        module: str,
        interface: str,
        method: str,
        status: int,
        body: bytes,
        *,
        command_location: bool = False,
    ) -> tuple[int, bytes]:
        """A 2.2.1 answer (a receiver's, or the hub's own) as a 2.1.1 caller reads it."""
        found = envelope_of(body)
        if found is None:
            return status, body
        mapped = status_down(
            Status(status, int(found["status_code"]), found.get("status_message")),
            command_location=command_location,
        )
        found["status_code"] = mapped.code
        if mapped.message is not None:
            found["status_message"] = mapped.message
        data = found.get("data")
        if data is not None and mapped.code == 1000:
            found["data"] = await self.data_down(module, interface, method, data)
        return mapped.http_status, orjson.dumps(found)

    async def data_down(self, module: str, interface: str, method: str, data: Any) -> Any:
        """The ``data`` of a 2.2.1 answer (one object or a list) as 2.1.1."""
        one: Callable[[JSON], Awaitable[JSON | Withheld]]
        if interface == SENDER and method == "GET":

            async def one(item: JSON) -> JSON | Withheld:
                return await self.object_down(module, item)

        elif (module, interface, method) == ("tokens", SENDER, "POST"):

            async def one(item: JSON) -> JSON | Withheld:
                return tokens.authorization_info_down(item)

        elif (module, interface, method) == ("commands", RECEIVER, "POST"):

            async def one(item: JSON) -> JSON | Withheld:
                return commands.response_down(item)

        else:
            return data
        return await _each(data, one, module, DOWN)

    async def object_down(self, module: str, item: JSON) -> JSON | Withheld:
        """One whole 2.2.1 object (as the hub keeps or a sender answers it) as 2.1.1."""
        if module == "locations":
            if "evses" in item or "coordinates" in item:
                return locations.location_down(item)
            if "connectors" in item:
                return locations.evse_down(item)
            return locations.connector_down(item)
        if module == "tariffs":
            return tariffs.tariff_down(item)
        if module == "tokens":
            return tokens.token_down(item)
        owner = (str(item.get("country_code", "")).upper(), str(item.get("party_id", "")).upper())
        if module == "sessions":
            location = await self._location_211(owner, item.get("location_id"))
            return sessions.session_down(item, location=location)
        if module == "cdrs":
            cdr_location = item.get("cdr_location")
            location_id = cdr_location.get("id") if isinstance(cdr_location, dict) else None
            location = await self._location_211(owner, location_id)
            return cdrs.cdr_down(item, location=location, tariff_down=tariffs.tariff_down)
        return item


# The 2.1.1 objects a 2.1.1 sender answers a GET with; a location GET's by its ids in the URL.
_ANSWERED: Final[dict[str, type[msgspec.Struct]]] = {
    "tariffs": v211_tariffs.Tariff,
    "tokens": v211_tokens.Token,
    "sessions": v211_sessions.Session,
    "cdrs": v211_cdrs.CDR,
}
_LOCATION_AT: Final[dict[int, type[msgspec.Struct]]] = {
    2: v211_locations.EVSE,
    3: v211_locations.Connector,
}


def _kind_211(
    module: str, interface: str, method: str, segments: list[str]
) -> type[msgspec.Struct] | None:
    """The 2.1.1 object a 2.1.1 platform's request body holds, by the call's shape; None for a
    call without one (a GET, a DELETE) or one the routing core refuses anyway."""
    if method in ("GET", "DELETE"):
        return None
    if interface == RECEIVER and module == "locations":
        depths: list[type[msgspec.Struct]] = [
            v211_locations.Location,
            v211_locations.EVSE,
            v211_locations.Connector,
        ]
        return depths[min(_depth(segments), 2)]
    if interface == RECEIVER:
        found: dict[str, type[msgspec.Struct]] = {
            "tariffs": v211_tariffs.Tariff,
            "tokens": v211_tokens.Token,
            "sessions": v211_sessions.Session,
            "cdrs": v211_cdrs.CDR,
        }
        if module == "commands" and segments:
            return v211_commands.COMMAND_REQUESTS.get(segments[0])
        return found.get(module)
    if module == "tokens":
        return v211_tokens.LocationReferences
    if module == "commands":
        return v211_commands.CommandResponse
    return None


def _read_211(body: bytes, kind: type[msgspec.Struct], *, whole: bool) -> JSON:
    """``body`` checked as a 2.1.1 ``kind``: a whole one (PUT, POST), or a PATCH fragment whose
    fields have their types. Raises ``InvalidInputError``."""
    if whole:
        checked = decode(body, kind)
        return cast(JSON, msgspec.to_builtins(checked))
    fragment = decode(body, dict[str, Any])
    try:
        clean(kind, fragment)
    except msgspec.ValidationError as e:
        raise InvalidInputError("$", str(e)) from e
    return fragment


async def _each(
    data: Any, one: Callable[[JSON], Awaitable[JSON | Withheld]], module: str, direction: str
) -> Any:
    """``one`` applied to an answer's object or to each object of its list; objects that cannot
    be carried are left out of a list (counted and logged), and a single one becomes null."""
    items = data if isinstance(data, list) else [data]
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        try:
            translated = await one(item)
        except (msgspec.ValidationError, TypeError, ValueError) as e:
            translated = Withheld(f"not a valid object: {e}")
        if isinstance(translated, Withheld):
            metrics.TRANSLATED.labels(module, direction, "withheld").inc()
            log.warning("%s %s: an object was withheld: %s", module, direction, translated.why)
            continue
        metrics.TRANSLATED.labels(module, direction, "ok").inc()
        out.append(translated)
    if isinstance(data, list):
        return out
    return out[0] if out else None
