"""The roaming policy as this process knows it now: ``hub.policy.Policy`` over the process's copy
of the agreements (``hub.store.agreements.AgreementCache``), rebuilt only when that copy changes.

With ``--agreements off`` it never reads an agreement: every party is every other's partner.
"""

from __future__ import annotations

from hub.policy import AgreementMode, Agreements, Policy
from hub.records import Agreement
from hub.store.agreements import AgreementCache


class Partners:
    def __init__(self, mode: AgreementMode, cache: AgreementCache) -> None:
        self._mode = mode
        self._cache = cache
        self._off = Policy("off")
        self._built: tuple[tuple[Agreement, ...], Policy] | None = None

    @property
    def required(self) -> bool:
        return self._mode == "required"

    async def policy(self) -> Policy:
        if not self.required:
            return self._off
        agreements = await self._cache.current()
        if self._built is None or self._built[0] is not agreements:
            self._built = (agreements, Policy(self._mode, Agreements.of(agreements)))
        return self._built[1]
