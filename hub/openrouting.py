"""Open routing (2.2.1 "Open routing request"): a call without OCPI-to goes to the party the
hub can tell from what the call carries and what it learned of earlier calls; when it cannot
tell, or more than one party fits, the answer is 4001, never a guess."""

from __future__ import annotations

from hub.errors import UnknownReceiverError
from hub.ocpi.calls import Facts
from hub.ocpi.lanes import CPO_SIDE, Lane
from hub.ocpi.versions import RECEIVER, SENDER
from hub.records import Party, PartyKey
from hub.routing import only
from hub.store.directory import Directory


async def open_receiver(directory: Directory, lane: Lane, party: Party, facts: Facts) -> PartyKey:
    """No OCPI-to: find the receiver from what the call carries (2.2.1 "Open routing
    request"); 4001 when the hub cannot tell, never a guess."""
    me = party.key
    if facts.counterpart is not None:  # the cdr_token of a session or CDR: the eMSP
        return facts.counterpart
    lookup = directory.recall
    where = (lane.module, lane.interface)
    if where == ("tokens", SENDER) and facts.token is not None:
        uid, kind = facts.token
        owners = await lookup("token", f"{kind}:{uid}")
        return only((o[0] for o in owners), f"the eMSP of token {uid}")
    if where == ("commands", RECEIVER) and facts.reservation_id is not None:
        found = await lookup("reservation", facts.reservation_id)
        return only((c for c, e in found if e == me), f"reservation {facts.reservation_id}")
    if where == ("sessions", RECEIVER) and facts.session_id is not None:
        # The CPO's own session (a PATCH, a GET): its eMSP.
        found = await lookup("session", facts.session_id)
        return only((e for c, e in found if c == me), f"session {facts.session_id}")
    if where == ("chargingprofiles", SENDER) and facts.session_id is not None:
        setters = await lookup("profile", f"{me[0]}:{me[1]}:{facts.session_id}")
        return only((s[0] for s in setters), f"who set the profile of {facts.session_id}")
    if facts.session_id is not None and lane.receivers == CPO_SIDE:
        # Stop commands, charging profiles, charging preferences: the session's CPO.
        found = await lookup("session", facts.session_id)
        return only((c for c, e in found), f"the CPO of session {facts.session_id}")
    if facts.location_id is not None and lane.receivers == CPO_SIDE:
        # Start, reserve and unlock commands, GETs of one location: the location's CPO.
        owners = await lookup("location", facts.location_id)
        return only((o[0] for o in owners), f"the CPO of location {facts.location_id}")
    raise UnknownReceiverError(
        "no OCPI-to headers, and the hub cannot tell the receiver of this call"
    )
