"""Requests across the version boundary: a 2.1.1 platform's request read up into the 2.2.1
request the core routes, and a 2.2.1 request written down for a 2.1.1 receiver."""

from __future__ import annotations

import urllib.parse
from typing import Any, Final

import msgspec
import orjson

from hub import metrics
from hub.bridge.keeps import Keeps, without_type
from hub.ocpi.common import PartyKey
from hub.ocpi.envelope import timestamp_now
from hub.ocpi.v211.reading import depth, read, request_kind
from hub.ocpi.versions import RECEIVER, SENDER, V2_1_1
from hub.translate import cdrs, commands, locations, sessions, tariffs, tokens
from hub.translate.fields import JSON
from hub.translate.losses import Withheld

UP: Final = "up"
DOWN: Final = "down"

_json = msgspec.json.Decoder(Any)


class Requests(Keeps):
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
        kind = request_kind(module, interface, method, segments)
        if kind is None or not body:
            return method, query, body
        # Read as the 2.1.1 object it must be, strict on types and required fields, as the core
        # reads 2.2.1 bodies (InvalidInputError: 2001 naming the field).
        obj = read(body, kind, whole=method in ("PUT", "POST"))
        owner = (segments[0].upper(), segments[1].upper()) if len(segments) >= 2 else caller
        up: JSON | Withheld
        where = (module, interface, method)
        received = timestamp_now()
        if where == ("locations", RECEIVER, "PUT"):
            up = [
                lambda: locations.location_up(obj, owner, time_zone=time_zone),
                lambda: locations.evse_up(obj),
                lambda: locations.connector_up(obj),
            ][min(depth(segments), 2)]()
        elif where == ("locations", RECEIVER, "PATCH"):
            up = [
                locations.location_patch_up,
                locations.evse_patch_up,
                locations.connector_patch_up,
            ][min(depth(segments), 2)](obj, received_at=received)
        elif where == ("tariffs", RECEIVER, "PUT"):
            up = tariffs.tariff_up(obj, owner)
        elif where == ("tariffs", RECEIVER, "PATCH"):
            stored = await self.held_json("tariffs", owner, segments[2:3])
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
            kept = await self.kept_session(owner, segments[2])
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
            metrics.TRANSLATED.labels(module, V2_1_1, UP, "withheld").inc()
            return up
        metrics.TRANSLATED.labels(module, V2_1_1, UP, "ok").inc()
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
            query = without_type(query)
        obj = _json.decode(body) if body else None
        if not isinstance(obj, dict):
            return query, body
        down: JSON | Withheld
        owner = (segments[0].upper(), segments[1].upper()) if len(segments) >= 2 else None
        where = (module, interface, method)
        if where == ("locations", RECEIVER, "PUT"):
            down = [locations.location_down, locations.evse_down, locations.connector_down][
                min(depth(segments), 2)
            ](obj)
        elif where == ("locations", RECEIVER, "PATCH"):
            down = [
                locations.location_patch_down,
                locations.evse_patch_down,
                locations.connector_patch_down,
            ][min(depth(segments), 2)](obj)
        elif where == ("tariffs", RECEIVER, "PUT"):
            down = tariffs.tariff_down(obj)
        elif where == ("tokens", RECEIVER, "PUT"):
            down = tokens.token_down(obj)
        elif where == ("tokens", RECEIVER, "PATCH"):
            down = tokens.token_patch_down(obj)
        elif where == ("tokens", SENDER, "POST"):
            down = tokens.location_references_down(obj)
        elif where == ("sessions", RECEIVER, "PUT") and owner is not None:
            location = await self.location_211(owner, obj.get("location_id"))
            down = sessions.session_down(obj, location=location)
        elif where == ("sessions", RECEIVER, "PATCH") and owner is not None:
            kept = None
            if len(segments) == 3:
                kept = await self.kept_session(owner, segments[2], receiver)
            wanted = obj.get("location_id", (kept or {}).get("location_id"))
            location = await self.location_211(owner, wanted)
            down = sessions.session_patch_down(obj, kept=kept, location=location)
        elif where == ("cdrs", RECEIVER, "POST"):
            cpo = (str(obj.get("country_code", "")).upper(), str(obj.get("party_id", "")).upper())
            cdr_location = obj.get("cdr_location")
            location_id = cdr_location.get("id") if isinstance(cdr_location, dict) else None
            location = await self.location_211(cpo, location_id)
            down = cdrs.cdr_down(obj, location=location, tariff_down=tariffs.tariff_down)
        elif where == ("commands", RECEIVER, "POST") and segments:
            number = None
            if segments[0] == "RESERVE_NOW" and isinstance(obj.get("reservation_id"), str):
                number = await self.reservation_number(obj["reservation_id"])
            down = commands.request_down(segments[0], obj, reservation_number=number)
        elif where == ("commands", SENDER, "POST"):
            down = commands.result_down(obj)
        else:
            return query, body
        if isinstance(down, Withheld):
            metrics.TRANSLATED.labels(module, V2_1_1, DOWN, "withheld").inc()
            return down
        metrics.TRANSLATED.labels(module, V2_1_1, DOWN, "ok").inc()
        return query, orjson.dumps(down)
