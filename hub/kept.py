"""What the hub keeps of the sessions and CDRs it delivers (README: "Kept sessions and CDRs"):
after an eMSP took a Session PUT or PATCH or a CDR POST, the hub keeps the object in its 2.2.1
form for that eMSP, which may pull it again from the hub later (a 2.1.1 eMSP pulls sessions
and CDRs from "its CPO", and that is the hub). And a session or CDR whose eMSP the hub cannot
find is parked for the operator, not lost (README: "Unrouted sessions and CDRs").

``Kept.delivered`` is the one hook every path that delivers a session or CDR calls, whatever
the versions on either side; ``Kept.unroutable`` the one that parks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import msgspec

from hub import metrics
from hub.errors import HubError
from hub.ocpi.lanes import Lane
from hub.ocpi.versions import RECEIVER
from hub.records import PartyKey, label
from hub.store.kept import KeptRecords, Parked

log = logging.getLogger("hub.kept")

# The calls on a module's Receiver interface that deliver a session or a CDR to the eMSP
# (2.2.1, "Sessions module" and "CDRs module", Receiver interface).
KEPT_CALLS: Final = frozenset({("sessions", "PUT"), ("sessions", "PATCH"), ("cdrs", "POST")})
KEPT_MODULES: Final = frozenset(module for module, _ in KEPT_CALLS)


class _Identified(msgspec.Struct):
    id: str


_id_of = msgspec.json.Decoder(_Identified)


class Kept:
    def __init__(self, records: KeptRecords) -> None:
        self.records = records

    async def delivered(
        self,
        lane: Lane,
        method: str,
        segments: Sequence[str],
        body: bytes,
        sender: PartyKey,
        receiver: PartyKey,
    ) -> None:
        """Keep for ``receiver`` (the eMSP) what it took from ``sender`` (the CPO): ``body`` is
        the 2.2.1 object of a Session PUT or PATCH at ``segments`` (``{cc}/{pid}/{id}``) or of a
        CDR POST. Any other call returns at once, its body unread.

        The receiver has the object already, so a failure here is logged and counted, not
        answered: failing the call would make the CPO send again what the eMSP holds."""
        if lane.interface != RECEIVER or (lane.module, method) not in KEPT_CALLS:
            return
        module = lane.module
        try:
            if module == "cdrs":
                await self.records.keep(module, receiver, sender, _id_of.decode(body).id, body)
            elif len(segments) == 3:
                object_id = segments[2]
                if method == "PUT":
                    await self.records.keep(module, receiver, sender, object_id, body)
                elif not await self.records.patch(module, receiver, sender, object_id, body):
                    # Delivered before the hub kept sessions, or gone with the retention.
                    metrics.KEPT.labels(module, "missing").inc()
                    return
            else:
                return
        except (HubError, msgspec.ValidationError, msgspec.DecodeError) as e:
            metrics.KEPT.labels(module, "failed").inc()
            log.warning(
                "%s %s from %s to %s was delivered but not kept: %s",
                module[:-1],
                method,
                label(sender),
                label(receiver),
                getattr(e, "message", e),
            )
            return
        metrics.KEPT.labels(module, "kept").inc()

    async def unroutable(
        self,
        module: str,
        cpo: PartyKey,
        object_id: str,
        body: bytes,
        reason: str,
        *,
        version: str = "2.2.1",
    ) -> Parked:
        """Park a session or CDR (its 2.2.1 form) whose eMSP the hub cannot find; the operator
        sees it in ``GET /admin/unrouted`` and may assign it to an eMSP (README: "Unrouted
        sessions and CDRs"). The caller answers the CPO with success: a CPO does not send a
        refused CDR again (OCPI 2.1.1 "Transport and format", Offline behaviour), so a refusal
        would lose it."""
        parked = await self.records.park(module, cpo, object_id, body, reason, version=version)
        metrics.UNROUTED.labels(module).inc()
        log.warning(
            "%s %s of %s parked as unrouted (%s): %s",
            module[:-1],
            object_id,
            label(cpo),
            parked.id,
            reason,
        )
        return parked
