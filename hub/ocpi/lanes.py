"""Who may use each interface of each functional module, and who receives it (2.2.1, the
"Typical OCPI implementations per role" tables of each module).

A *lane* is a (module, interface) of the hub: a call to the hub's RECEIVER interface of a module
comes from that module's data owner and goes to a receiver's RECEIVER endpoint; a call to the
hub's SENDER interface comes from the other side and goes to the data owner's SENDER endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hub.ocpi.versions import RECEIVER, SENDER

CPO: Final = "CPO"
EMSP: Final = "EMSP"
# Roles on the eMSP's side of the table. OTHER counts as eMSP-like (2.2.1 message routing,
# "Broadcast Push"); NSP, NAP and SCSP take data from CPOs and send commands or profiles to them.
MSP_SIDE: Final = frozenset({"EMSP", "NSP", "NAP", "OTHER", "SCSP"})
CPO_SIDE: Final = frozenset({CPO})


@dataclass(frozen=True)
class Lane:
    module: str
    interface: str
    senders: frozenset[str]
    receivers: frozenset[str]
    # The HTTP methods the module defines for this interface; others are answered 405.
    methods: frozenset[str]
    # Receiver URLs of Client Owned Objects start with the owner: /{country_code}/{party_id}/...
    owner_in_url: bool = False


def _pair(
    module: str,
    owner: frozenset[str],
    other: frozenset[str],
    owned: bool,
    receiver: str,
    sender: str,
) -> list[Lane]:
    """The owner pushes to the other side's RECEIVER; the other side pulls from the owner's
    SENDER. ``receiver`` and ``sender`` are the methods of each interface (2.2.1, each module's
    "Interfaces and endpoints")."""
    return [
        Lane(module, RECEIVER, owner, other, frozenset(receiver.split()), owner_in_url=owned),
        Lane(module, SENDER, other, owner, frozenset(sender.split())),
    ]


LANES: Final[dict[tuple[str, str], Lane]] = {
    (lane.module, lane.interface): lane
    for lane in [
        # Locations are never deleted (an EVSE is set REMOVED), nor tokens (valid=false).
        *_pair("locations", CPO_SIDE, MSP_SIDE, True, "GET PUT PATCH", "GET"),
        # Sender PUT: the eMSP's charging preferences for a session.
        *_pair("sessions", CPO_SIDE, MSP_SIDE, True, "GET PUT PATCH", "GET PUT"),
        # A CDR is POSTed once; its Location is then read with GET.
        *_pair("cdrs", CPO_SIDE, MSP_SIDE, False, "GET POST", "GET"),
        *_pair("tariffs", CPO_SIDE, MSP_SIDE, True, "GET PUT DELETE", "GET"),
        # Sender POST: real-time authorization.
        *_pair("tokens", frozenset({EMSP, "OTHER"}), CPO_SIDE, True, "GET PUT PATCH", "GET POST"),
        # Commands and charging profiles go from the eMSP's side to the CPO's RECEIVER; the
        # CPO answers on the SENDER interface (results, ActiveChargingProfile updates).
        *_pair("commands", MSP_SIDE, CPO_SIDE, False, "POST", "POST"),
        *_pair("chargingprofiles", MSP_SIDE, CPO_SIDE, False, "GET PUT DELETE", "POST PUT"),
    ]
}
