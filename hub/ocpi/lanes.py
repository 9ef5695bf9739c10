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
    # Receiver URLs of Client Owned Objects start with the owner: /{country_code}/{party_id}/...
    owner_in_url: bool = False


def _pair(module: str, owner: frozenset[str], other: frozenset[str], owned: bool) -> list[Lane]:
    """The owner pushes to the other side's RECEIVER; the other side pulls from the owner's
    SENDER."""
    return [
        Lane(module, RECEIVER, senders=owner, receivers=other, owner_in_url=owned),
        Lane(module, SENDER, senders=other, receivers=owner),
    ]


LANES: Final[dict[tuple[str, str], Lane]] = {
    (lane.module, lane.interface): lane
    for lane in [
        *_pair("locations", CPO_SIDE, MSP_SIDE, owned=True),
        *_pair("sessions", CPO_SIDE, MSP_SIDE, owned=True),
        *_pair("cdrs", CPO_SIDE, MSP_SIDE, owned=False),
        *_pair("tariffs", CPO_SIDE, MSP_SIDE, owned=True),
        *_pair("tokens", frozenset({EMSP, "OTHER"}), CPO_SIDE, owned=True),
        # Commands and charging profiles go from the eMSP's side to the CPO's RECEIVER; the
        # CPO answers on the SENDER interface (results, ActiveChargingProfile updates).
        *_pair("commands", MSP_SIDE, CPO_SIDE, owned=False),
        *_pair("chargingprofiles", MSP_SIDE, CPO_SIDE, owned=False),
    ]
}
