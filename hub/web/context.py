"""What the web layer needs from the rest of the hub, opened once in the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from hub.agreements import AgreementDesk
from hub.bridge import Bridge
from hub.delivery.queue import Queue
from hub.lifecycle import Lifecycle
from hub.metrics import SharedState
from hub.partners import Partners
from hub.registration import Registration
from hub.relay import Relay
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.kept import KeptRecords
from hub.store.platforms import PlatformStore
from hub.versioned import VersionedRelay


@dataclass(frozen=True)
class Services:
    settings: Settings
    platforms: PlatformStore
    cache: PlatformCache
    queue: Queue
    # the sessions and CDRs kept for their eMSP, and the unrouted ones
    kept: KeptRecords
    registration: Registration
    lifecycle: Lifecycle
    relay: Relay
    versioned: VersionedRelay
    bridge: Bridge
    agreements: AgreementDesk
    partners: Partners
    wake_delivery: Callable[[], None]
    metrics_state: SharedState
    embedded_redis: bool
    # the background tasks that failed and wait to be restarted (the hub is not ready then)
    tasks_down: Callable[[], list[str]]
    # The delivery loops run and have read the schedule: queued messages are being sent.
    delivering: Callable[[], bool]


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
