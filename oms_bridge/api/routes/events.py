"""``POST /api/v1/events``: head-end batches, answered once durably stored."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from oms_bridge.api import keys
from oms_bridge.api.auth import READERS, requires
from oms_bridge.api.bodies import decode_events, read_limited
from oms_bridge.api.engine_port import LogItem
from oms_bridge.api.problems import ApiError
from oms_bridge.api.runtime import INVALID
from oms_bridge.errors import EventError

__all__ = ["routes"]

routes = web.RouteTableDef()

#: At most this many invalid lines are explained one by one in an answer.
MAX_REASONS = 100
#: A batch that cannot even be queued within this long (back-pressure) is a 503.
QUEUE_WAIT_S = 10.0


@routes.post("/api/v1/events")
@requires("head-end")
async def post_events(request: web.Request) -> web.Response:
    app = request.app
    settings = app[keys.SETTINGS]
    runtime = app[keys.RUNTIME]
    body = await read_limited(request, settings.service.max_body_bytes)
    items: list[tuple[Any, LogItem]] = []
    reasons: list[dict[str, Any]] = []
    invalid_item: LogItem = (None, None, INVALID, None)
    decoded = list(decode_events(body, request.content_type))
    # the JSON lines validated at once (same verdicts and reasons as one by one)
    parsed = iter(runtime.port.parse_items([obj for _, obj, error in decoded if error is None]))
    for line, _, error in decoded:
        if error is not None:
            items.append((None, invalid_item))
            if len(reasons) < MAX_REASONS:
                reasons.append({"line": line, "field": None, "reason": error})
            continue
        item = next(parsed)
        if isinstance(item, EventError):
            items.append((None, invalid_item))
            if len(reasons) < MAX_REASONS:
                reasons.append({"line": line, "field": item.field, "reason": item.reason})
            continue
        items.append((None, item))
    received = len(items)
    try:
        async with asyncio.timeout(QUEUE_WAIT_S):
            durable = await runtime.enqueue(items, source="http")
    except TimeoutError:
        raise ApiError(503, "Ingest queue full",
                       f"the writer is {QUEUE_WAIT_S:.0f} s behind; retry later",
                       headers={"Retry-After": "5"}) from None
    # The body and its decoded objects are not needed while the batch waits for
    # the log, the engine and the outage write; the batch lets go of its items
    # once applied, this frame would keep them until the answer.
    del body, decoded, parsed, items
    verdicts = await durable
    counts = {"accepted": 0, "duplicate": 0, "unknown_meter": 0, "invalid": 0}
    for verdict in verdicts:
        if verdict is not None:
            counts[verdict] = counts.get(verdict, 0) + 1
    return web.json_response(
        {"received": received, **counts, "errors": reasons,
         "errors_truncated": counts["invalid"] > len(reasons)},
        status=202,
    )


@routes.get("/api/v1/events/stats")
@requires(*READERS)
async def event_stats(request: web.Request) -> web.Response:
    runtime = request.app[keys.RUNTIME]
    stats = runtime.engine.event_stats() if runtime.engine is not None else {}
    return web.json_response({**stats, "log_seq": runtime.log_seq})
