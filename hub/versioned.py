"""Calls of platforms that speak another OCPI version than the core's 2.2.1 (README: "OCPI
2.1.1 platforms", "OCPI 2.3.0 platforms").

Each call is read into the 2.2.1 call the core routes (``hub.bridge``), routed as a 2.2.1 call
would be, and its answer written back in the caller's version; receivers of the caller's own
version get what it sent, as it sent it.

A 2.1.1 platform is one party (a CPO or an eMSP) and its calls carry no routing headers. Where a
2.2.1 call would name its receiver, the receiver follows from the module (OCPI 2.2.1 "Open
routing request" applied to every call):

- locations and tariffs of a CPO, tokens of an eMSP: broadcast to its partners, and kept for
  GET-all; GETs of the other side are served from what the hub keeps;
- sessions and CDRs: to the eMSP of the token (``auth_id``); one the hub cannot place is kept
  for the operator (``GET /admin/unrouted``) and answered as taken;
- an authorization: to the token's eMSP; a command: to the CPO of the location, STOP_SESSION to
  the CPO of the session.

OCPI-to headers, when a 2.1.1 platform sends them, are honoured. A 2.3.0 platform's calls carry
routing headers as 2.2.1 ones do (the hub is named by the two halves of its ``hub_party_id``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

import msgspec
import orjson

from hub.bridge import CORE, Bridge, Withheld
from hub.broadcast import BROADCAST_MODULES
from hub.errors import InvalidParametersError, NotFoundError, from_validation
from hub.ocpi import headers as h
from hub.ocpi.envelope import envelope
from hub.ocpi.validation import InvalidInputError
from hub.ocpi.versions import RECEIVER, V2_1_1
from hub.records import PartyKey, label, party_211
from hub.relay import Answer, Call, Relay
from hub.routing import header_party

__all__ = ["VersionedRelay"]

log = logging.getLogger("hub.relay")

# Headers the hub's answers carry for 2.2.1 that 2.1.1 does not define.
_ROUTING = frozenset({h.FROM_COUNTRY_CODE, h.FROM_PARTY_ID, h.TO_COUNTRY_CODE, h.TO_PARTY_ID})


# Keeps a session or CDR whose eMSP the hub cannot find, for the operator (README: "Kept
# sessions and CDRs"): (module, CPO, object id, body, reason).
class Park(Protocol):
    async def __call__(
        self,
        module: str,
        cpo: PartyKey,
        object_id: str,
        body: bytes,
        reason: str,
        *,
        version: str = ...,
    ) -> object: ...


class VersionedRelay:
    def __init__(self, relay: Relay, bridge: Bridge, base_url: str, park: Park) -> None:
        self._relay = relay
        self._bridge = bridge
        self._base_url = base_url
        self._park = park

    async def relay(self, caller_id: str, call: Call) -> Answer:
        """``call`` as the platform sent it in ``call.version`` (for 2.1.1, with the interface
        its role gives the module); the answer in that version."""
        _, table = await self._relay.table()
        caller = table.platforms[caller_id]
        version = call.version
        segments = list(call.segments)
        headers = dict(call.headers)
        if version == V2_1_1:
            party = party_211(caller.record)
            if party is None:
                raise NotFoundError("OCPI 2.1.1 is for platforms of one party, a CPO or an eMSP")
            owner = party.key
            named = header_party(headers, h.TO_COUNTRY_CODE, h.TO_PARTY_ID)
            if named is None and _to_hub(call):
                # Implicit routing (see the module's docstring): the hub takes it.
                headers[h.TO_COUNTRY_CODE], headers[h.TO_PARTY_ID] = self._relay.hub
        else:
            # Only a 2.1.1 body lacks its owner; the routing core checks the sender's parties.
            owner = min(caller.parties).key if caller.parties else self._relay.hub
        try:
            up = await self._bridge.to_core(
                version,
                call.module,
                call.interface,
                call.method,
                segments,
                call.query,
                call.body,
                owner,
                time_zone=caller.record.time_zone,
            )
        except InvalidInputError as e:
            raise from_validation(e) from e
        except msgspec.ValidationError as e:
            raise InvalidParametersError(
                f"the body is not a {version} {call.module[:-1]}: {e}"
            ) from e
        if isinstance(up, Withheld) and version == V2_1_1 and _parked(call):
            # OCPI forbids the sender to queue and retry (2.1.1 transport_and_format.md,
            # "Offline behaviour"): refused, the session or CDR would be lost.
            object_id = segments[-1] if call.module == "sessions" else _id_in(call.body)
            await self._park(call.module, owner, object_id, call.body, up.why, version=version)
            log.warning(
                "%s %s of %s kept for the operator: %s",
                call.module[:-1],
                object_id,
                label(owner),
                up.why,
            )
            return Answer(200, {"content-type": "application/json"}, envelope(), 1000, label(owner))
        if isinstance(up, Withheld) and _broadcast(call, headers, self._relay.hub):
            # Its own version's receivers may still take it (a 2.3.0 tariff with tax included
            # and no vat never reaches 2.2.1 or 2.1.1 as if net).
            as_sent = dataclasses.replace(call, headers=headers)
            return await self._relay.broadcast_as_sent(caller_id, as_sent, up.why)
        named = header_party(headers, h.TO_COUNTRY_CODE, h.TO_PARTY_ID)
        if isinstance(up, Withheld) and named is not None and named != self._relay.hub:
            # A receiver of the sender's own version may still take it as sent.
            as_sent = dataclasses.replace(call, headers=headers)
            return await self._relay.forward_as_sent(caller_id, as_sent, up.why)
        if isinstance(up, Withheld):
            raise InvalidParametersError(
                f"this {call.module[:-1]} cannot be carried to OCPI {CORE}: {up.why}"
            )
        method, query, body = up
        translated = dataclasses.replace(
            call,
            method=method,
            query=query,
            body=body,
            headers=headers,
            original=(call.method, call.query, call.body),
        )
        answer = await self._relay.relay(caller_id, translated)
        if answer.version == version:
            status, content = answer.status, answer.body
        else:
            status, content = await self._bridge.answer_from_core(
                version,
                call.module,
                call.interface,
                call.method,
                answer.status,
                answer.body,
                command_location=call.module == "commands" and segments != ["STOP_SESSION"],
            )
        shown = dict(answer.headers)
        if version == V2_1_1:
            shown = {k: v for k, v in shown.items() if k not in _ROUTING}
        if "link" in shown:
            shown["link"] = self._link(shown["link"], call.module, version)
        return dataclasses.replace(
            answer, status=status, body=content, headers=shown, version=version
        )

    def _link(self, link: str, module: str, version: str) -> str:
        """The next page of a list the hub serves, on the caller's version's URL of it."""
        served = f"{self._base_url}/ocpi/{CORE}/sender/{module}"
        if version == V2_1_1:
            return link.replace(served, f"{self._base_url}/ocpi/{V2_1_1}/{module}")
        return link.replace(served, f"{self._base_url}/ocpi/{version}/sender/{module}")


def _broadcast(call: Call, headers: dict[str, str], hub: PartyKey) -> bool:
    """A push addressed to the hub (OCPI-to names it): a broadcast."""
    if call.interface != RECEIVER or call.method not in ("PUT", "PATCH"):
        return False
    if call.module not in BROADCAST_MODULES:
        return False
    return header_party(headers, h.TO_COUNTRY_CODE, h.TO_PARTY_ID) == hub


def _parked(call: Call) -> bool:
    """A session or CDR push (PUT of a session, POST of a CDR)."""
    if call.interface != RECEIVER:
        return False
    return (call.module, call.method) in (("sessions", "PUT"), ("cdrs", "POST"))


def _id_in(body: bytes) -> str:
    try:
        found = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    value = found.get("id") if isinstance(found, dict) else None
    return value if isinstance(value, str) else ""


def _to_hub(call: Call) -> bool:
    """The calls a 2.1.1 platform addresses to the hub itself: pushes of broadcast data and
    GETs of lists the hub keeps."""
    if call.interface == RECEIVER:
        return call.module in BROADCAST_MODULES and call.method in ("PUT", "PATCH", "DELETE")
    return call.method == "GET" and call.module in (*BROADCAST_MODULES, "sessions", "cdrs")
