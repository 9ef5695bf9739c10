"""What the version layer reads of what the hub keeps, to fill in what one version needs and
the other lacks: the held locations, tariffs and tokens, the CdrToken of a contract id, the
sessions kept for their eMSP, the reservation numbers. Never invented: None when not kept."""

from __future__ import annotations

import urllib.parse
from typing import Any

import msgspec

from hub.ocpi.common import PartyKey
from hub.openrouting import SESSION
from hub.store.contracts import Contracts, ReservationNumbers
from hub.store.directory import Directory
from hub.store.held import HeldObjects
from hub.store.kept import KeptRecords
from hub.translate import locations
from hub.translate.fields import JSON
from hub.translate.losses import Withheld

_json = msgspec.json.Decoder(Any)


def without_type(query: str) -> str:
    """2.1.1 token URLs have no ``type`` parameter (2.1.1 mod_tokens.md §3.1)."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return urllib.parse.urlencode([(k, v) for k, v in pairs if k != "type"])


def type_of(query: str) -> str:
    return urllib.parse.parse_qs(query).get("type", ["RFID"])[0]


def decoded(raw: bytes) -> JSON | None:
    found = _json.decode(raw)
    return found if isinstance(found, dict) else None


class Keeps:
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

    async def held_json(self, module: str, owner: PartyKey, path: list[str]) -> JSON | None:
        raw = await self._held.get(module, owner, path)
        return None if raw is None else decoded(raw)

    async def location_211(self, owner: PartyKey, location_id: object) -> JSON | None:
        """The hub's copy of a CPO's Location in 2.1.1 form (Sessions and CDRs of 2.1.1 carry
        the whole Location, 2.1.1 mod_sessions.md §3.1)."""
        if not isinstance(location_id, str):
            return None
        held = await self.held_json("locations", owner, [location_id])
        if held is None:
            return None
        down = locations.location_down(held)
        return None if isinstance(down, Withheld) else down

    async def kept_session(
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
        return None if raw is None else decoded(raw)

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

    async def reservation_number(self, reservation_id: str) -> int:
        return await self._reservations.number(reservation_id)
