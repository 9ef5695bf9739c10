"""Open routing (2.2.1 "Open routing request"): a call without OCPI-to goes to the party the
hub can tell from what the call carries and what it learned of earlier calls; when it cannot
tell, or more than one party fits, the answer is 4001, never a guess.

Both sides are here, what the hub learns and what it recalls, so that each kind of object and
the form of its id are written once. Only ids and parties are kept, never the objects:

    kind         id                              parties        learned from
    location     location_id                     CPO            the PUT of a whole Location
    token        {type}:{uid}                    eMSP           a Token PUT
    session      session_id                      (CPO, eMSP)    a Session PUT of the CPO
    profile      {cc}:{party_id}:{session_id}    who set it     a SetChargingProfile PUT
                 (of the session's CPO)
    reservation  reservation_id                  (CPO, eMSP)    a RESERVE_NOW command

Locations and tokens are learned from every PUT the hub takes, broadcast or not; the others
from calls the receiver took with success.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from hub.errors import UnknownReceiverError
from hub.ocpi.calls import Facts
from hub.ocpi.lanes import CPO_SIDE, Lane
from hub.ocpi.versions import RECEIVER, SENDER
from hub.records import Party, PartyKey
from hub.routing import only as one_of
from hub.store.directory import Directory

# The kinds of objects, as the directory stores them.
LOCATION: Final = "location"
TOKEN: Final = "token"
SESSION: Final = "session"
PROFILE: Final = "profile"
RESERVATION: Final = "reservation"

# How long the hub remembers who takes part in a session: longer than any session lasts,
# so that late PATCHes, stop commands and charging profiles still find their way.
SESSION_SECONDS: Final = 14 * 24 * 3600
# A reservation can be cancelled until it expires: it is remembered until then, with some
# slack for slow clocks, and for a month at most whatever expiry the eMSP named.
RESERVATION_SLACK: Final = 60.0
LONGEST_RESERVATION: Final = 31 * 24 * 3600.0


def token_id(uid: str, kind: str) -> str:
    """A token's id: its uid is unique only together with its type (2.2.1 "Tokens module")."""
    return f"{kind}:{uid}"


def profile_id(cpo: PartyKey, session_id: str) -> str:
    """A charging profile's id: the session it applies to, which is unique only at its CPO."""
    return f"{cpo[0]}:{cpo[1]}:{session_id}"


def reservation_seconds(expiry_date: str | None) -> float:
    """How long a reservation can still be cancelled: until its ``expiry_date``, plus slack,
    at most ``LONGEST_RESERVATION``; just the slack when the date is absent or unreadable."""
    return min(_seconds_until(expiry_date) + RESERVATION_SLACK, LONGEST_RESERVATION)


def _anyone(party: PartyKey) -> bool:
    return True


class OpenRouting:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def learn_owner(
        self, lane: Lane, method: str, segments: Sequence[str], facts: Facts, owner: PartyKey
    ) -> None:
        """Who owns a location or a token, from its PUT, whether sent to one receiver or
        broadcast: commands and authorizations find their way by it."""
        if lane.interface != RECEIVER or method != "PUT":
            return
        # An EVSE's or a Connector's PUT names its location too, but the whole Location's is
        # the one that says who owns it.
        if lane.module == "locations" and facts.location_id and len(segments) == 3:
            await self._directory.remember(LOCATION, facts.location_id, owner)
        elif lane.module == "tokens" and facts.token is not None:
            uid, kind = facts.token
            await self._directory.remember(TOKEN, token_id(uid, kind), owner)

    async def learn(
        self,
        lane: Lane,
        method: str,
        segments: Sequence[str],
        facts: Facts,
        sender: PartyKey,
        receiver: PartyKey,
    ) -> None:
        """What a call the receiver took with success tells later open routing."""
        await self.learn_owner(lane, method, segments, facts, sender)
        remember = self._directory.remember
        if lane.interface == RECEIVER and method == "PUT":
            if lane.module == "sessions" and facts.session_id and facts.counterpart:
                await remember(
                    SESSION, facts.session_id, sender, facts.counterpart, ttl=SESSION_SECONDS
                )
            elif lane.module == "chargingprofiles" and facts.session_id:
                profile = profile_id(receiver, facts.session_id)
                await remember(PROFILE, profile, sender, ttl=SESSION_SECONDS)
        if facts.command == "RESERVE_NOW" and facts.reservation_id:
            ttl = int(reservation_seconds(facts.expiry_date))
            await remember(RESERVATION, facts.reservation_id, receiver, sender, ttl=ttl)

    async def receiver(
        self,
        lane: Lane,
        party: Party,
        facts: Facts,
        partner: Callable[[PartyKey], bool] = _anyone,
    ) -> PartyKey:
        """No OCPI-to: find the receiver from what the call carries (2.2.1 "Open routing
        request"); 4001 when the hub cannot tell, never a guess. Only parties for which
        ``partner`` is true are candidates (under ``--agreements required``, the caller's
        partners for the module)."""
        me = party.key

        def only(owners: Iterable[PartyKey], what: str) -> PartyKey:
            return one_of(filter(partner, owners), what)

        if facts.counterpart is not None:  # the cdr_token of a session or CDR: the eMSP
            return facts.counterpart
        recall = self._directory.recall
        where = (lane.module, lane.interface)
        if where == ("tokens", SENDER) and facts.token is not None:
            uid, kind = facts.token
            owners = await recall(TOKEN, token_id(uid, kind))
            return only((o[0] for o in owners), f"the eMSP of token {uid}")
        if where == ("commands", RECEIVER) and facts.reservation_id is not None:
            found = await recall(RESERVATION, facts.reservation_id)
            return only((c for c, e in found if e == me), f"reservation {facts.reservation_id}")
        if where == ("sessions", RECEIVER) and facts.session_id is not None:
            # The CPO's own session (a PATCH, a GET): its eMSP.
            found = await recall(SESSION, facts.session_id)
            return only((e for c, e in found if c == me), f"session {facts.session_id}")
        if where == ("chargingprofiles", SENDER) and facts.session_id is not None:
            # The CPO's ActiveChargingProfile: to whoever set the profile of that session.
            setters = await recall(PROFILE, profile_id(me, facts.session_id))
            return only((s[0] for s in setters), f"who set the profile of {facts.session_id}")
        if facts.session_id is not None and lane.receivers == CPO_SIDE:
            # Stop commands, charging profiles, charging preferences: the session's CPO.
            found = await recall(SESSION, facts.session_id)
            return only((c for c, e in found), f"the CPO of session {facts.session_id}")
        if facts.location_id is not None and lane.receivers == CPO_SIDE:
            # Start, reserve and unlock commands, GETs of one location: the location's CPO.
            owners = await recall(LOCATION, facts.location_id)
            return only((o[0] for o in owners), f"the CPO of location {facts.location_id}")
        raise UnknownReceiverError(
            "no OCPI-to headers, and the hub cannot tell the receiver of this call"
        )


def _seconds_until(moment: str | None) -> float:
    if not moment:
        return 0.0
    try:
        when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if when.tzinfo is None:  # no designator means UTC (2.2.1 "DateTime")
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
