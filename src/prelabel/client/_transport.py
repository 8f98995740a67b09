"""Running an async httpx transport (such as ``httpx.ASGITransport(app)``) under the synchronous client.

`Client(url, token, transport=httpx.ASGITransport(app))` then talks to an ASGI app in-process — handy in tests.
The async transport runs on a private event loop in a daemon thread; request bodies given as iterators are
buffered first, responses are read completely. Standard library only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import httpx


class _Replay(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class SyncOverAsyncTransport(httpx.BaseTransport):
    """A synchronous transport that drives an `httpx.AsyncBaseTransport` on its own event loop thread."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="prelabel-client-loop", daemon=True)
        self._thread.start()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            request.stream = _Replay(list(request.stream))

        async def call() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._inner.aclose(), self._loop).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
