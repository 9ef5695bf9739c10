"""Telling 2.3.0 platforms whom they can reach (README: "OCPI 2.3.0 platforms").

In 2.3.0 a hub lists the parties reachable through it in the ``roles`` of its credentials
(2.3.0 §7.3.1), so when that set changes (a platform registers, goes away or is suspended, an
agreement is added or ends), every 2.3.0 platform concerned gets a credentials PUT with the new
list (2.3.0 §7.1.4: credentials "or parts thereof" are updated by a PUT).

The events only say "look again": after a quiet ``roles_debounce`` (so that importing a hundred
agreements sends each platform one PUT, not a hundred), every 2.3.0 platform's list is compared
with the one it was last sent (``Registration.update_roles``), and a PUT goes out where they
differ. What was sent is kept in Redis, so the comparison is the same in every hub process: of
several processes that see one change, one sends the PUT. A PUT that fails, a change seen by a
process that stopped before it sent it, a change made by another process: all are caught by the
next comparison, made at start and every ``keepalive_interval`` besides the events (at least
once).
"""

from __future__ import annotations

import asyncio
import logging
import time

from hub.errors import HubError
from hub.ocpi.versions import V2_3_0
from hub.records import Platform
from hub.registration import Registration
from hub.settings import Settings

log = logging.getLogger("hub.reachable")


class RolesUpdater:
    def __init__(self, settings: Settings, registration: Registration) -> None:
        self._settings = settings
        self._registration = registration
        self._poked = asyncio.Event()
        self._failed = False

    # --- the events (the hooks HubClientInfo's Announcer hears too) -----------------------

    def poke(self) -> None:
        """Something that may change whom a platform can reach happened: compare soon."""
        self._poked.set()

    async def status_changed(self, platform: Platform, old_status: str | None) -> None:
        del platform, old_status
        self.poke()

    # --- the supervised task -------------------------------------------------------------

    async def run(self) -> None:
        """Compare now, then after each burst of events has been quiet for ``roles_debounce``,
        and every ``keepalive_interval`` in any case."""
        await self.sweep()
        while True:
            # After a failed PUT sooner: retry_max, the longest wait between delivery retries.
            wait = self._settings.retry_max if self._failed else self._settings.keepalive_interval
            try:
                await asyncio.wait_for(self._poked.wait(), timeout=wait)
            except TimeoutError:
                await self.sweep()
                continue
            # Debounce: wait until no event came for roles_debounce (bounded, so that a steady
            # stream of events still gets a comparison every keepalive_interval).
            deadline = time.monotonic() + self._settings.keepalive_interval
            while self._poked.is_set() and time.monotonic() < deadline:
                self._poked.clear()
                await asyncio.sleep(self._settings.roles_debounce)
            self._poked.clear()
            await self.sweep()

    async def sweep(self) -> int:
        """Send every 2.3.0 platform whose reachable parties changed its credentials PUT;
        returns how many were sent."""
        sent = 0
        self._failed = False
        try:
            platforms = await self._registration.platforms()
        except HubError as e:  # Redis away a moment: the next comparison tries again
            self._failed = True
            log.warning("the reachable parties cannot be compared now: %s", e.message)
            return 0
        for platform in platforms:
            if platform.version != V2_3_0:
                continue
            try:
                if await self._registration.update_roles(platform.id):
                    sent += 1
            except HubError as e:
                # Kept as it was: the next comparison tries again.
                self._failed = True
                log.warning(
                    "the credentials PUT with the reachable parties to platform %s failed: %s",
                    platform.id,
                    e.message,
                )
        return sent
