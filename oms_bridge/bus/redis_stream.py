"""Redis Streams ingest through a consumer group (contract section 7).

The head end ``XADD``s one event per entry, its JSON text in the field
``event``. The consumer reads with ``XREADGROUP`` and acknowledges entries only
after the handler returned, i.e. after their events are in the durable log.

On start it first takes over every pending entry of the group (``XAUTOCLAIM``,
so a dead consumer's unacknowledged entries are not stranded), then works
through its own pending list in id order, then reads new entries. Entries whose
id is at or below the newest one already in the log (recorded in the same
transaction as the events) are acknowledged without being stored again: a
crash between commit and ``XACK`` never counts an event twice. The service is
the single writer of its database, so at start every other consumer of the
group is taken to be dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

__all__ = ["StreamConsumer", "entry_key"]

log = logging.getLogger(__name__)

#: ``(entry id, event JSON or None when the field is missing)``
Entry = tuple[str, bytes | None]
Handler = Callable[[list[Entry], str], Awaitable[None]]


def entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StreamConsumer:
    def __init__(
        self, client: Redis, *, stream: str, group: str, consumer: str, handler: Handler,
        stored_upto: Callable[[], Awaitable[str | None]], batch_size: int = 1000,
        block_ms: int = 1000, claim_min_idle_ms: int = 0,
        field: str = "event",
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.handler = handler
        self.stored_upto = stored_upto
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_min_idle_ms = claim_min_idle_ms
        self.field = field.encode()
        self._current: asyncio.Task[None] | None = None
        self.connected = False

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Consume forever; reconnects with a back-off when Redis goes away."""
        delay = 0.5
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.connected = False
                await self.close()
                self._current = None
                log.warning("redis consumer: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                delay = 0.5

    async def close(self) -> None:
        if self._current is not None:
            self._current.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._current

    async def _run_once(self) -> None:
        await self.ensure_group()
        self.connected = True
        await self._reclaim()
        stored = await self.stored_upto()
        high = entry_key(stored) if stored else (-1, -1)
        # Own pending entries, oldest first (now including the reclaimed ones).
        start = "0"
        while True:
            resp = await self.client.xreadgroup(
                self.group, self.consumer, {self.stream: start}, count=self.batch_size)
            entries = self._entries(resp)
            if not entries:
                break
            await self._dispatch(entries, high, wait=True)
            start = entries[-1][0]
        # New entries.
        while True:
            resp = await self.client.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=self.batch_size,
                block=self.block_ms)
            entries = self._entries(resp)
            if entries:
                await self._dispatch(entries, high, wait=False)

    async def _reclaim(self) -> None:
        start = "0-0"
        while True:
            resp = await self.client.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_time=self.claim_min_idle_ms,
                start_id=start, count=self.batch_size)
            start = _text(resp[0])
            if resp[1]:
                log.info("redis consumer: reclaimed %d pending entries", len(resp[1]))
            if start in ("0-0", "0"):
                return

    def _entries(self, resp: Any) -> list[Entry]:
        out: list[Entry] = []
        for _stream, items in resp or ():
            for entry_id, fields in items:
                out.append((_text(entry_id), (fields or {}).get(self.field)))
        return out

    async def _dispatch(self, entries: list[Entry], high: tuple[int, int], *, wait: bool) -> None:
        """Hand a batch on; batches are written strictly in order, one at a time,
        while the next one is already being read."""
        fresh = [e for e in entries if entry_key(e[0]) > high]
        stale = [e[0] for e in entries if entry_key(e[0]) <= high]
        if stale:
            await self.client.xack(self.stream, self.group, *stale)
        if self._current is not None:
            await self._current
            self._current = None
        if not fresh:
            return
        self._current = asyncio.create_task(self._handle(fresh))
        if wait:
            await self._current
            self._current = None

    async def _handle(self, entries: Sequence[Entry]) -> None:
        """Store a batch, retrying until the store takes it (order is kept), then ack."""
        delay = 0.2
        while True:
            try:
                await self.handler(list(entries), entries[-1][0])
                break
            except Exception as exc:
                log.warning("redis consumer: batch of %d not stored (%s); retrying in %.1f s",
                            len(entries), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self.client.xack(self.stream, self.group, *(e[0] for e in entries))
