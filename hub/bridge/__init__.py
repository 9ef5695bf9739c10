"""The version layer between 2.1.1 platforms and the hub's 2.2.1 core (README: "OCPI 2.1.1
platforms").

The routing core decides on 2.2.1 terms; what a 2.1.1 platform sends is read "up" into 2.2.1
here, and what goes to a 2.1.1 platform is written "down" into 2.1.1, requests and answers
alike. The field maps are ``hub.translate`` (pure); this module picks the map for a call's
shape (module, interface, method, depth) and fills in what one version needs and the other
lacks from what the hub keeps: the locations, tariffs and tokens it holds, and the CdrToken of
a contract id (2.1.1 mod_sessions.md §3.1 ``auth_id``). Nothing is invented: when neither the
call nor the hub has it, the result is ``Withheld``.

Between two platforms of the same version nothing passes through here.
"""

from __future__ import annotations

import msgspec
import orjson

from hub import metrics
from hub.bridge import v230
from hub.bridge.answers import COMMAND_TIMEOUT, Answers, each, envelope_of
from hub.bridge.requests import Requests
from hub.ocpi.common import PartyKey
from hub.ocpi.versions import V2_1_1, V2_2_1, V2_3_0
from hub.translate.fields import JSON
from hub.translate.losses import Withheld

__all__ = ["COMMAND_TIMEOUT", "CORE", "Bridge", "Withheld", "envelope_of"]

# The version the routing core decides in: calls of other versions are read into it, and what
# goes to a platform of another version is written from it.
CORE = V2_2_1


class Bridge(Requests, Answers):
    """Both directions of the version layer over one set of lookups (``hub.bridge.keeps``).

    ``to_core``/``from_core`` and their answer counterparts take the other side's version and
    pass a call of the core's own version (or of one the layer does not translate) as it is."""

    def between(
        self,
        version: str,
        module: str,
        interface: str,
        method: str,
        segments: list[str],
        body: bytes,
        *,
        answer: bool = False,
        keep: bool = False,
    ) -> bytes:
        """A request (or, with ``answer``, an answer) passed between two platforms of
        ``version`` as it was sent, except what that version says a platform may send but
        must not be passed on (2.3.0: unknown and extension fields), unless ``keep``: the
        operator allowed the pair to keep them (README: "Roaming agreements")."""
        if version == V2_3_0 and not keep:
            return v230.known_only(module, interface, method, segments, body, answer=answer)
        return body

    async def to_core(
        self,
        version: str,
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
        """A request of a ``version`` platform as the core's: (method, query, body)."""
        if version == V2_1_1:
            return await self.request_up(
                module, interface, method, segments, query, body, caller, time_zone=time_zone
            )
        if version == V2_3_0:
            mapped = v230.request_map(module, interface, method, segments, to_core=True)
            written = _written(mapped, body, module, v230.DOWN)
            return written if isinstance(written, Withheld) else (method, query, written)
        return method, query, body

    async def from_core(
        self,
        version: str,
        module: str,
        interface: str,
        method: str,
        segments: list[str],
        query: str,
        body: bytes,
        *,
        receiver: PartyKey | None = None,
    ) -> tuple[str, bytes] | Withheld:
        """A core request as a ``version`` receiver takes it: (query, body)."""
        if version == V2_1_1:
            return await self.request_down(
                module, interface, method, segments, query, body, receiver=receiver
            )
        if version == V2_3_0:
            mapped = v230.request_map(module, interface, method, segments, to_core=False)
            written = _written(mapped, body, module, v230.UP)
            return written if isinstance(written, Withheld) else (query, written)
        return query, body

    async def answer_to_core(
        self,
        version: str,
        module: str,
        interface: str,
        method: str,
        segments: list[str],
        query: str,
        status: int,
        body: bytes,
        receiver: PartyKey,
    ) -> tuple[int, bytes]:
        """A ``version`` receiver's answer as the core reads it."""
        if version == V2_1_1:
            return await self.answer_up(
                module, interface, method, segments, query, status, body, receiver
            )
        if version == V2_3_0:
            mapped = v230.answer_map(module, interface, method, segments, to_core=True)
            return status, await _answer_written(mapped, body, module, v230.DOWN)
        return status, body

    async def answer_from_core(
        self,
        version: str,
        module: str,
        interface: str,
        method: str,
        status: int,
        body: bytes,
        *,
        command_location: bool = False,
    ) -> tuple[int, bytes]:
        """A core answer as a ``version`` caller reads it."""
        if version == V2_1_1:
            return await self.answer_down(
                module, interface, method, status, body, command_location=command_location
            )
        if version == V2_3_0:
            mapped = v230.answer_map(module, interface, method, [], to_core=False)
            return status, await _answer_written(mapped, body, module, v230.UP)
        return status, body


def _written(mapped: v230.Map | None, body: bytes, module: str, direction: str) -> bytes | Withheld:
    """``body`` through ``mapped`` (None: the same in both versions); raises
    ``msgspec.ValidationError`` for a body that is not the object it must be."""
    if mapped is None or not body:
        return body
    found = orjson.loads(body)
    if not isinstance(found, dict):
        raise msgspec.ValidationError("the body must be a JSON object")
    written = mapped(found)
    if isinstance(written, Withheld):
        metrics.TRANSLATED.labels(module, V2_3_0, direction, "withheld").inc()
        return written
    metrics.TRANSLATED.labels(module, V2_3_0, direction, "ok").inc()
    return orjson.dumps(written)


async def _answer_written(
    mapped: v230.Map | None, body: bytes, module: str, direction: str
) -> bytes:
    """The answer ``body`` with each object of its ``data`` through ``mapped``; one that
    cannot be carried is left out (``hub.bridge.answers.each``)."""
    found = envelope_of(body)
    if mapped is None or found is None or found.get("data") is None:
        return body
    if found["status_code"] != 1000:
        return body

    async def one(item: JSON) -> JSON | Withheld:
        return mapped(item)

    found["data"] = await each(found["data"], one, module, V2_3_0, direction)
    return orjson.dumps(found)
