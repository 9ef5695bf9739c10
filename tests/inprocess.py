"""The hub in this process: ``create_app`` served by uvicorn (with the hub's own HTTP protocol) in a
thread of its own, on a free loopback port, against an embedded Redis of the test's own. The Redis
client and the HTTP client are made here and injected through ``create_app``'s parameters.

It is called exactly as a ``HubProcess`` is (``tests.hubproc.HubCalls``), over real HTTP; because
it runs in the test's process, coverage sees every line of the hub that a test reaches.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from pathlib import Path
from typing import Any, Self

import uvicorn

from hub import logs
from hub.app import create_app
from hub.forward import PlatformClient
from hub.server.protocol import HubHttpProtocol
from hub.settings import Settings
from hub.store.connection import RedisClient, open_redis
from hub.store.embedded import EmbeddedRedis
from tests.hubproc import ADMIN_TOKEN, HubCalls, wait_ready
from tests.parties import free_port

# What a hub logs is kept for ``log()`` (and ``conftest.assert_no_crash``): the hub's loggers and
# uvicorn's, whose "Exception in ASGI application" carries any traceback.
_LOGGERS = ("hub", "uvicorn.error")


class _OwnThread(logging.Filter):
    """Only the lines of the hub's own thread: other hubs and harnesses of the test session log
    on the same loggers meanwhile (a failure they provoke on purpose is not this hub's)."""

    def __init__(self) -> None:
        super().__init__()
        self.ident: int | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.ident


class InProcessHub(HubCalls):
    def __init__(
        self,
        data_dir: Path,
        *,
        admin_token: str | None = ADMIN_TOKEN,
        allow_private_urls: bool = True,
        **settings: Any,
    ) -> None:
        """``settings``: more fields of ``hub.settings.Settings`` (``retry_base=0.1``, ...)."""
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.versions_url = f"{self.url}/ocpi/versions"
        self.admin_token = admin_token
        self.allow_private_urls = allow_private_urls
        self._settings = settings
        self._redis = EmbeddedRedis(data_dir)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._log = io.StringIO()
        self._handler = logging.StreamHandler(self._log)
        # As ``ocpi-hub serve`` writes its lines (hub.logs.configure), without touching the root
        # logger that pytest owns.
        self._handler.setFormatter(logs.TextFormatter())
        self._handler.addFilter(logs.RequestIds())
        self._own_thread = _OwnThread()
        self._handler.addFilter(self._own_thread)

    @property
    def redis_url(self) -> str:
        """The hub's own Redis, for tests that look at what the hub asked of it."""
        return self._redis.url

    def settings(self) -> Settings:
        return Settings(
            port=self.port,
            redis_url=self._redis.url,
            admin_token=self.admin_token,
            handshake_timeout=3,
            allow_private_urls=self.allow_private_urls,
            **self._settings,
        )

    def start(self, timeout: float = 20.0) -> Self:
        self._redis.start()
        for name in _LOGGERS:
            logging.getLogger(name).addHandler(self._handler)
        logging.getLogger("hub").setLevel(logging.INFO)
        settings = self.settings()
        assert settings.redis_url is not None
        redis = open_redis(settings.redis_url, cluster=False)
        platforms = PlatformClient.of(settings)
        config = uvicorn.Config(
            create_app(settings, redis=redis, client=platforms),
            host="127.0.0.1",
            port=self.port,
            http=HubHttpProtocol.configured(settings),
            ws="none",
            lifespan="on",
            log_config=None,
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, args=(redis, platforms), daemon=True)
        self._thread.start()
        thread = self._thread

        def failed() -> str | None:
            if self._failure is None and thread.is_alive():
                return None
            self.stop()
            return f"the hub did not start: {self._failure!r}"

        if not wait_ready(self.url, failed, timeout, self.log):
            self.stop()
            raise RuntimeError(f"the hub did not become ready:\n{self.log()}")
        return self

    def _run(self, redis: RedisClient, platforms: PlatformClient) -> None:
        self._own_thread.ident = threading.get_ident()
        try:
            asyncio.run(self._serve(redis, platforms))
        except BaseException as e:
            self._failure = e

    async def _serve(self, redis: RedisClient, platforms: PlatformClient) -> None:
        assert self._server is not None
        await platforms.start()
        try:
            await self._server.serve()
        finally:
            await platforms.close()
            await redis.aclose()

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the in-process hub did not stop"
            self._thread = None
        self._redis.stop()
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(self._handler)
        if self._failure is not None:
            raise RuntimeError("the in-process hub failed") from self._failure

    def log(self) -> str:
        return self._log.getvalue()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
