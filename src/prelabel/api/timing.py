"""``Server-Timing: app;dur=<ms>`` on every HTTP response: milliseconds from the request reaching the app to the
start of its response (for a streamed export, its first bytes), so that a client can tell the server's share of
a request's latency from the network's and its own (`prelabel bench labelers` reads it; so does a browser's
network panel). A plain ASGI middleware, like `SecurityHeaders`: no per-request task, no body buffering."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prelabel.api.security import ASGIApp, Message, Scope

HEADER = b"server-timing"


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                duration = f"app;dur={(time.perf_counter() - start) * 1000:.1f}".encode()
                message["headers"] = [*message.get("headers", []), (HEADER, duration)]
            await send(message)

        await self.app(scope, receive, send_with_timing)
