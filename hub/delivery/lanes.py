"""Sending one batch of a platform's queue: up to ``LANES`` calls at once, one top-level object
per lane, so that a PATCH never overtakes the PUT before it (README: "Delivery"). Each message
is delivered, parked as a dead letter (it can never be delivered, or it outlived its TTL), found
moot (a newer full state of its object is queued), or left for a retry.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Literal

from hub import metrics
from hub.delivery.messages import Message, later
from hub.delivery.queue import Queue
from hub.delivery.sending import Sender
from hub.errors import HubError, PermanentRefusalError
from hub.partners import Partners
from hub.records import Platform, endpoint_url
from hub.settings import Settings

LANES = 4  # calls to one platform at the same time (each for other objects)
ATTEMPTS_KEPT = 100_000  # messages whose attempts are counted here (for their dead letter)
# The reason of a dead letter queued for a partner whose agreement ended before it was sent.
AGREEMENT_ENDED = "agreement ended"

Outcome = Literal["done", "parked", "retry"]


class Lanes:
    def __init__(
        self, settings: Settings, queue: Queue, sender: Sender, partners: Partners | None
    ) -> None:
        """``partners``: the roaming policy, checked again before each send of a broadcast
        (None: agreements are off)."""
        self._settings = settings
        self._queue = queue
        self._sender = sender
        self._partners = partners
        self._attempts: dict[str, int] = {}  # entry id -> attempts made here
        self.last_error: dict[str, str] = {}  # platform -> why its last attempt failed

    async def send(
        self,
        platform: Platform,
        entries: list[tuple[str, Message]],
        newest: dict[str, str],
        lost: asyncio.Event,
        done: list[tuple[str, Message]],
    ) -> bool:
        """Send a batch, one lane per top-level object, ``LANES`` lanes at a time, noting in
        ``done`` what to acknowledge; False when a send failed for a reason that may pass (the
        rest of its lane waits, and nothing new is started). ``newest``: the newest full state
        queued of (some of) the batch's objects; ``lost``: set when the hold is lost."""
        for entry_id, message in entries:
            if message.full_state and later(entry_id, newest.get(message.object, "0-0")):
                newest[message.object] = entry_id
        lanes: dict[str, list[tuple[str, Message]]] = {}
        for entry in entries:
            lanes.setdefault(lane_of(entry[1]), []).append(entry)
        waiting = deque(lanes.values())
        failed = asyncio.Event()

        async def lane(items: list[tuple[str, Message]]) -> None:
            # What this lane settled and has not acknowledged yet: acknowledged before its next
            # call, so that a process that dies replays at most the call under way (twice in
            # a row), never older calls after newer ones; the last ones go with the let-go.
            settled: list[tuple[str, Message]] = []
            try:
                for entry_id, message in items:
                    if lost.is_set() or failed.is_set():
                        return
                    if moot(newest, entry_id, message):
                        settled.append((entry_id, message))
                        metrics.DELIVERIES.labels(platform.id, "superseded").inc()
                        continue
                    if settled:
                        await self._queue.done_many(platform.id, settled)
                        settled = []
                    outcome = await self._attempt(platform, entry_id, message)
                    if outcome == "done":
                        settled.append((entry_id, message))
                    elif outcome != "parked":
                        failed.set()
                        return
            finally:
                done.extend(settled)

        errors: list[Exception] = []

        async def sending() -> None:
            # One of at most LANES: takes the next lane when its last is done (a task per
            # sender, not per lane: a batch of a hundred objects makes four tasks, not 100).
            try:
                while waiting and not (lost.is_set() or failed.is_set()):
                    await lane(waiting.popleft())
            except Exception as e:  # Redis away, say: the others stop before their next call
                errors.append(e)
                failed.set()

        senders = min(LANES, len(waiting))
        if senders == 1:
            await sending()
        else:
            # Every sender has ended when this returns: none sends on after the platform is
            # let go (gather cancels them all if this task is cancelled).
            await asyncio.gather(*(sending() for _ in range(senders)))
        if errors:
            raise errors[0]
        return not failed.is_set()

    async def expire(self, platform_id: str, entries: list[tuple[str, Message]]) -> None:
        """Park the messages of a batch that outlived their TTL; the others stay pending."""
        for entry_id, message in entries:
            if self._expired(message):
                await self._park(platform_id, entry_id, message, self._expiry(platform_id), 0)

    def _expired(self, message: Message) -> bool:
        return time.time() - message.enqueued_at >= self._settings.message_ttl

    def _expiry(self, platform_id: str) -> str:
        last = self.last_error.get(platform_id, "never tried")
        return f"expired after {self._settings.message_ttl:g} s; last error: {last}"

    async def _attempt(self, platform: Platform, entry_id: str, message: Message) -> Outcome:
        """One attempt at one message: delivered, parked (never deliverable, expired), or
        to be retried."""
        platform_id = platform.id
        attempts = self._attempts.get(entry_id, 0)
        if self._expired(message):
            return await self._park(
                platform_id, entry_id, message, self._expiry(platform_id), attempts
            )
        url = endpoint_url(platform, message.module, message.interface)
        if url is None:
            reason = f"the platform has no {message.module} {message.interface} endpoint"
            return await self._park(platform_id, entry_id, message, reason, attempts)
        if not await self._still_partners(message):
            # Queued while an agreement covered it: never sent once it has ended.
            return await self._park(platform_id, entry_id, message, AGREEMENT_ENDED, attempts)
        if len(self._attempts) > ATTEMPTS_KEPT:  # entries another process took over
            self._attempts.clear()
        self._attempts[entry_id] = attempts + 1
        try:
            await self._sender.send(platform, message, url)
        except PermanentRefusalError as e:
            return await self._park(platform_id, entry_id, message, str(e), attempts + 1)
        except HubError as e:
            self.last_error[platform_id] = e.message
            metrics.DELIVERIES.labels(platform_id, "retried").inc()
            return "retry"
        self._attempts.pop(entry_id, None)
        metrics.DELIVERIES.labels(platform_id, "delivered").inc()
        return "done"

    async def _park(
        self, platform_id: str, entry_id: str, message: Message, reason: str, attempts: int
    ) -> Outcome:
        await self._queue.park(platform_id, entry_id, message, reason, attempts)
        self._attempts.pop(entry_id, None)
        metrics.DELIVERIES.labels(platform_id, "parked").inc()
        return "parked"

    async def _still_partners(self, message: Message) -> bool:
        """The owner of a broadcast object and its receiver may still exchange its module."""
        if self._partners is None or message.owner is None or message.receiver is None:
            return True
        policy = await self._partners.policy()
        return policy.reaches(message.owner, message.receiver, module=message.module)


def moot(newest: dict[str, str], entry_id: str, message: Message) -> bool:
    """A newer full state of the message's object is queued, or of its top-level object (a
    location's PUT carries its EVSEs: an older EVSE PATCH must not reach a receiver that may
    not have the location yet, and is stale anyway)."""
    return later(newest.get(message.object), entry_id) or later(
        newest.get(lane_of(message)), entry_id
    )


def lane_of(message: Message) -> str:
    """The lane of a message: its top-level object. An EVSE or connector PATCH
    (``locations:NL/CPO/LOC1/EVSE1``) goes in its location's lane, behind the location's PUT."""
    module, _, path = message.object.partition(":")
    return f"{module}:{'/'.join(path.split('/')[:3])}"
