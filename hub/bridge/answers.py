"""Answers across the version boundary: a 2.1.1 receiver's answer read up for the 2.2.1 caller,
and a 2.2.1 answer (a receiver's or the hub's own) written down for a 2.1.1 caller, status codes
included (``hub.translate.status``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
import orjson

from hub import metrics
from hub.bridge.keeps import Keeps, type_of
from hub.bridge.requests import DOWN, UP
from hub.ocpi.common import PartyKey
from hub.ocpi.v211 import commands as v211_commands
from hub.ocpi.v211 import tokens as v211_tokens
from hub.ocpi.v211.reading import answer_kind
from hub.ocpi.versions import RECEIVER, SENDER, V2_1_1
from hub.translate import cdrs, commands, locations, sessions, tariffs, tokens
from hub.translate.fields import JSON
from hub.translate.losses import Withheld
from hub.translate.status import Status, status_down, status_up

log = logging.getLogger("hub.bridge")

# How long a 2.2.1 eMSP is told to wait for the result of a command a 2.1.1 CPO took: 2.1.1
# gives no timeout (2.1.1 mod_commands.md §4.2), 2.2.1 requires one ("Commands module",
# CommandResponse).
COMMAND_TIMEOUT: Final = 60

_json = msgspec.json.Decoder(Any)


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


class Answers(Keeps):
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
            token = await self.held_json("tokens", owner, [uid, type_of(query)])

            async def one(item: JSON) -> JSON | Withheld:
                msgspec.convert(item, v211_tokens.AuthorizationInfo)
                return tokens.authorization_info_up(item, token=token)

        elif (module, interface, method) == ("commands", RECEIVER, "POST"):

            async def one(item: JSON) -> JSON | Withheld:
                msgspec.convert(item, v211_commands.CommandResponse)
                return commands.response_up(item, timeout=COMMAND_TIMEOUT)

        else:
            return data
        return await each(data, one, module, V2_1_1, UP)

    async def _object_up(
        self, module: str, item: JSON, owner: PartyKey, depth: int
    ) -> JSON | Withheld:
        """One object of a 2.1.1 sender's GET answer (list item or single object) as 2.2.1;
        one that is not a valid 2.1.1 object raises ``msgspec.ValidationError``."""
        kind = answer_kind(module, depth)  # depth: the ids in the GET's URL
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
        return await each(data, one, module, V2_1_1, DOWN)

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
            location = await self.location_211(owner, item.get("location_id"))
            return sessions.session_down(item, location=location)
        if module == "cdrs":
            cdr_location = item.get("cdr_location")
            location_id = cdr_location.get("id") if isinstance(cdr_location, dict) else None
            location = await self.location_211(owner, location_id)
            return cdrs.cdr_down(item, location=location, tariff_down=tariffs.tariff_down)
        return item


async def each(
    data: Any,
    one: Callable[[JSON], Awaitable[JSON | Withheld]],
    module: str,
    version: str,
    direction: str,
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
            metrics.TRANSLATED.labels(module, version, direction, "withheld").inc()
            log.warning("%s %s: an object was withheld: %s", module, direction, translated.why)
            continue
        metrics.TRANSLATED.labels(module, version, direction, "ok").inc()
        out.append(translated)
    if isinstance(data, list):
        return out
    return out[0] if out else None
