"""``GET /api/v1/stream``: server-sent events of outage changes.

The first event is a ``snapshot`` of the active outages, then one ``outage``
event per change as the writer persists it, and a comment line every
:data:`HEARTBEAT_S` so proxies keep the connection open. Browsers sign in with
a single-use ticket (``POST /api/v1/stream/tickets``, see :mod:`..auth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import orjson
from aiohttp import web

from oms_bridge.api import keys
from oms_bridge.api.auth import READERS, ROLE, TICKET_TTL_S, requires
from oms_bridge.bus.broadcast import Hub

__all__ = ["routes"]

routes = web.RouteTableDef()
HEARTBEAT_S = 15.0


@routes.post("/api/v1/stream/tickets")
@requires(*READERS)
async def issue_ticket(request: web.Request) -> web.Response:
    ticket = request.app[keys.TICKETS].issue(request[ROLE])
    return web.json_response({"ticket": ticket, "expires_in_s": TICKET_TTL_S}, status=201)


def _frame(event: str, data: object, event_id: int) -> bytes:
    return b"".join((f"id: {event_id}\nevent: {event}\ndata: ".encode(), orjson.dumps(data),
                     b"\n\n"))


def _encoded_frame(event: bytes, data: bytes, event_id: int) -> bytes:
    """A frame around JSON already encoded (once for all streams, by the hub)."""
    return b"".join((b"id: %d\nevent: %s\ndata: " % (event_id, event), data, b"\n\n"))


@routes.get("/api/v1/stream")
@requires(*READERS, ticket=True)
async def stream(request: web.Request) -> web.StreamResponse:
    app = request.app
    hub = app[keys.HUB]
    runtime = app[keys.RUNTIME]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    queue = hub.subscribe()
    metrics = app[keys.METRICS]
    metrics.stream_clients.set(len(hub))
    counter = itertools.count(1)
    try:
        active = runtime.engine.outages("active") if runtime.engine is not None else []
        await response.write(_frame("snapshot", {"items": active}, next(counter)))
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            # everything queued meanwhile goes out in the same write: in a storm
            # thousands of changes a second reach each client, and one write (and
            # one wait for the socket) per change is what made clients fall behind
            frames: list[bytes] = []
            while message is not None:   # None: the hub closed the stream
                frames.append(_encoded_frame(b"outage", message, next(counter)))
                if queue.empty():
                    break
                message = queue.get_nowait()
            if frames:
                await response.write(b"".join(frames))
            if Hub.is_closed(message):
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
        metrics.stream_clients.set(len(hub))
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
