"""Who may use each interface of each functional module, and who receives it (2.2.1, the
"Typical OCPI implementations per role" tables of each module).

A *lane* is a (module, interface) of the hub: a call to the hub's RECEIVER interface of a module
comes from that module's data owner and goes to a receiver's RECEIVER endpoint; a call to the
hub's SENDER interface comes from the other side and goes to the data owner's SENDER endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hub.ocpi.versions import PAYMENTS, RECEIVER, SENDER, V2_3_0

CPO: Final = "CPO"
EMSP: Final = "EMSP"
# Payment Terminal Provider, the Payments module's data owner (2.3.0 §16). 2.3.0 names it a role
# (§2 "Terminology": its column in "Typical OCPI implementations per role" links to the Role
# enum) although the Role table (§17.10) does not list it. A PTP party is written "PTP" in
# credentials roles: as OTHER it could not be told from an OTHER party, which may push tokens
# here, and a CPO could not tell who sends it terminals. Only 2.3.0 knows it
# (``ROLE_VERSIONS``).
PTP: Final = "PTP"
# Roles on the eMSP's side of the table. OTHER counts as eMSP-like (2.2.1 message routing,
# "Broadcast Push"); NSP, NAP and SCSP take data from CPOs and send commands or profiles to them.
MSP_SIDE: Final = frozenset({"EMSP", "NSP", "NAP", "OTHER", "SCSP"})
CPO_SIDE: Final = frozenset({CPO})
PTP_SIDE: Final = frozenset({PTP})
# Roles that exist only in some versions: a platform granted one is offered only those
# (``hub.records.versions_for``).
ROLE_VERSIONS: Final = {PTP: frozenset({V2_3_0})}


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
    # The OCPI versions the module exists in; None: every version the hub speaks. A platform
    # of another version neither sends nor receives it.
    versions: frozenset[str] | None = None


def _pair(
    module: str,
    owner: frozenset[str],
    other: frozenset[str],
    owned: bool,
    receiver: str,
    sender: str,
    *versions: str,
) -> list[Lane]:
    """The owner pushes to the other side's RECEIVER; the other side pulls from the owner's
    SENDER. ``receiver`` and ``sender`` are the methods of each interface (2.2.1, each module's
    "Interfaces and endpoints"); ``versions``: the only versions that have the module."""
    only = frozenset(versions) or None
    return [
        Lane(
            module,
            RECEIVER,
            owner,
            other,
            frozenset(receiver.split()),
            owner_in_url=owned,
            versions=only,
        ),
        Lane(module, SENDER, other, owner, frozenset(sender.split()), versions=only),
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
        # 2.3.0 §16 "Interfaces and Endpoints": the PTP creates terminals and financial advice
        # confirmations at the CPO's Receiver (GET one, POST) and the CPO reads, activates,
        # deactivates and updates terminals at the PTP's Sender (GET, POST, PUT, PATCH). Its
        # URLs carry no /{country_code}/{party_id}/ (not client owned in the 2.2.1 sense).
        *_pair(PAYMENTS, PTP_SIDE, CPO_SIDE, False, "GET POST", "GET POST PUT PATCH", V2_3_0),
    ]
}
