"""The ASGI application: ``create_app(settings)``; its lifespan opens and closes everything."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from hub.agreements import AgreementDesk
from hub.bridge import Bridge
from hub.broadcast import Broadcast
from hub.delivery.queue import Queue
from hub.delivery.worker import Deliverer
from hub.errors import HubError, StartupError
from hub.fanout import FanOut
from hub.forward import PlatformClient, Resolve
from hub.hubclientinfo import Announcer
from hub.kept import Kept
from hub.lifecycle import Lifecycle
from hub.metrics import SharedState
from hub.partners import Partners
from hub.policy import Policy
from hub.reachable import RolesUpdater
from hub.registration import Registration
from hub.relay import Relay
from hub.routing import RoutingTable
from hub.settings import Settings
from hub.store.agreements import AgreementCache, AgreementStore
from hub.store.announcements import Announcements
from hub.store.cache import PlatformCache
from hub.store.connection import RedisClient, open_redis, ready
from hub.store.contracts import Contracts, ReservationNumbers
from hub.store.directory import Directory
from hub.store.fanouts import Fanouts
from hub.store.held import HeldObjects
from hub.store.kept import KeptRecords
from hub.store.limits import RateLimits
from hub.store.platforms import PlatformStore
from hub.store.proxies import ProxyStore
from hub.supervisor import Backoff, Supervisor, TaskFactory, exponential_backoff
from hub.versioned import VersionedRelay
from hub.web import admin, ocpi
from hub.web.context import Services
from hub.web.front import Front
from hub.web.middleware import RequestContext
from hub.web.ops import exposition, healthz, metrics_endpoint, metrics_server, readyz
from hub.web.responses import render_error


def create_app(
    settings: Settings,
    *,
    embedded_redis: bool = False,
    background: Mapping[str, TaskFactory] | None = None,
    restart_backoff: Backoff = exponential_backoff,
    resolve: Resolve | None = None,
    redis: RedisClient | None = None,
    client: PlatformClient | None = None,
) -> Starlette:
    """The hub as an ASGI app. ``background``: more tasks to supervise besides the hub's own
    (named, started with them); ``restart_backoff``: the wait before a failed task is restarted;
    ``resolve``: name resolution for the calls to platforms (tests). ``redis`` and ``client``:
    a Redis client and a started HTTP client to use instead of opening them from ``settings``;
    whoever passes them owns them (the lifespan neither starts nor closes them)."""
    if redis is None and settings.redis_url is None:
        raise StartupError("create_app needs settings.redis_url (the CLI fills it in)")
    redis_url = settings.redis_url
    given_redis, given_client = redis, client

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything opened here is closed by the stack, last opened first, also when a later
        # step fails.
        async with contextlib.AsyncExitStack() as stack:
            redis = given_redis
            if redis is None:
                assert redis_url is not None
                redis = open_redis(redis_url, cluster=settings.redis_cluster)
                stack.push_async_callback(redis.aclose)
            await ready(redis)
            client = given_client
            if client is None:
                client = PlatformClient.of(settings, resolve=resolve)
                stack.push_async_callback(client.close)
                await client.start()
            store = PlatformStore(redis)
            cache = PlatformCache(redis, store)
            agreements = AgreementStore(redis)
            agreement_copy = AgreementCache(redis, agreements)
            partners = Partners(settings.agreements, agreement_copy)
            queue = Queue(redis)
            deliverer = Deliverer(settings, cache, store, queue, client, partners)
            held = HeldObjects(redis)
            kept = KeptRecords(redis, retention=settings.cdr_retention_seconds)
            directory = Directory(redis)
            bridge = Bridge(held, Contracts(redis), ReservationNumbers(redis), kept, directory)
            fanouts = Fanouts(redis)
            broadcast = Broadcast(settings, held, kept, fanouts, bridge)
            announcer = Announcer(
                cache, store, queue, deliverer.wake, Announcements(redis), partners
            )
            store.on_status_change(announcer.status_changed)
            registration = Registration(settings, store, client, cache=cache, partners=partners)
            # 2.3.0 platforms hear whom they can reach on the same events as HubClientInfo.
            roles = RolesUpdater(settings, registration)
            store.on_status_change(roles.status_changed)
            supervisor = Supervisor(backoff=restart_backoff)

            keeper = Kept(kept)
            relay = Relay(
                settings,
                cache,
                directory,
                ProxyStore(redis),
                client,
                broadcast,
                partners,
                RateLimits(redis),
                bridge,
                keeper,
            )
            app.state.services = Services(
                settings=settings,
                platforms=store,
                cache=cache,
                queue=queue,
                kept=kept,
                registration=registration,
                lifecycle=Lifecycle(settings, store, client, queue),
                relay=relay,
                bridge=bridge,
                versioned=VersionedRelay(relay, bridge, settings.base_url, keeper.unroutable),
                agreements=AgreementDesk(
                    settings,
                    agreements,
                    cache,
                    held,
                    queue,
                    deliverer.wake,
                    announcer,
                    partners,
                    bridge,
                    on_change=roles.poke,
                ),
                partners=partners,
                wake_delivery=deliverer.wake,
                metrics_state=SharedState(),
                embedded_redis=embedded_redis,
                tasks_down=supervisor.down,
                delivering=lambda: deliverer.delivering,
            )
            hub = app.state.services
            stack.push_async_callback(supervisor.stop, settings.shutdown_timeout)
            supervisor.start("platform-changes", cache.watch)
            if partners.required:
                supervisor.start("agreement-changes", agreement_copy.watch)
            supervisor.start("delivery", deliverer.run)
            supervisor.start("roles-updates", roles.run)

            async def tables() -> tuple[RoutingTable, Policy]:
                _, table = await relay.table()
                return table, await partners.policy()

            fanout = FanOut(fanouts, queue, tables, deliverer.wake, relay.hub)
            supervisor.start("broadcast-fanout", fanout.run)
            supervisor.start("announcements", announcer.run)
            for name, factory in (background or {}).items():
                supervisor.start(name, factory)
            if settings.metrics_port is not None:
                await stack.enter_async_context(
                    metrics_server(settings.host, settings.metrics_port, lambda: exposition(hub))
                )
            yield

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *ocpi.routes(),
        *admin.routes(),
    ]
    return Front(
        shortcut=ocpi.shortcut,
        max_body_size=settings.max_body_size,
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestContext, max_body_size=settings.max_body_size)],
        exception_handlers={HubError: render_error, HTTPException: render_error},
    )
