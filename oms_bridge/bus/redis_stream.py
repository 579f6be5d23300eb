"""Redis Streams ingest through a consumer group (contract section 7).

The head end ``XADD``s one event per entry, its JSON text in the field
``event``. The consumer reads with ``XREADGROUP`` and acknowledges entries only
after the handler's durability awaitable resolved, i.e. after their events are
in the durable log.

On start it first takes over every pending entry of the group (``XAUTOCLAIM``,
so a dead consumer's unacknowledged entries are not stranded), then works
through its own pending list in id order, then reads new entries. Entries whose
id is at or below the newest one already in the log (recorded in the same
transaction as the events) are acknowledged without being stored again: a
crash between commit and ``XACK`` never counts an event twice. The service is
the single writer of its database, so at start every other consumer of the
group is taken to be dead.

Pipelining: the handler is called once per batch, in stream order, and returns
as soon as the batch is *queued* for the store, with an awaitable that resolves
once it is durable. Up to ``in_flight`` batches wait for the store at a time
while the next ones are read and parsed; each is acknowledged once durable.
Every batch names the last entry id of the batch before it (``after``), so the
store can refuse a batch whose predecessor was not stored: batches are stored
in order or not at all. When a batch is not stored (database away), the
consumer lets the others settle, backs off and starts over from its pending
entries, skipping those the log already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from oms_bridge.errors import StoreError

__all__ = ["Entry", "Handler", "StreamConsumer", "entry_key"]

log = logging.getLogger(__name__)

#: ``(entry id, event JSON or None when the field is missing)``
Entry = tuple[str, bytes | None]
#: ``handler(entries, last_id, after)``: queue a batch (in order), return an
#: awaitable that resolves once it is durable (``None``: already durable).
Handler = Callable[[list[Entry], str, str | None], Awaitable[Awaitable[object] | None]]


def entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _raw(response: Any, **_options: Any) -> Any:
    """XREADGROUP reply as the server sent it: no per-entry dicts built."""
    return response


class StreamConsumer:
    """Consumes one stream in one group; owns the reply parsing of ``client``.

    ``client`` gets a raw ``XREADGROUP`` reply callback (the default one builds
    a dict per entry, which cost more than storing the event): give the
    consumer a client of its own.
    """

    def __init__(
        self, client: Redis, *, stream: str, group: str, consumer: str, handler: Handler,
        stored_upto: Callable[[], Awaitable[str | None]], batch_size: int = 1000,
        block_ms: int = 1000, claim_min_idle_ms: int = 0,
        field: str = "event", in_flight: int = 16, retry_max_s: float = 5.0,
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
        self.in_flight = max(1, in_flight)
        self.retry_max_s = retry_max_s
        self.connected = False
        #: Batches queued and not yet acknowledged: ``(durable, entry ids)``.
        self._window: deque[tuple[asyncio.Future[object], list[str]]] = deque()
        client.set_response_callback("XREADGROUP", _raw)

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Consume forever; starts over with a back-off when Redis or the store fails."""
        delay = 0.2
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                await self._settle()
                log.warning("redis consumer: %s: %s; starting over in %.1f s",
                            type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
            else:
                delay = 0.2

    async def close(self) -> None:
        """Forget the batches in flight (their entries stay pending)."""
        for durable, _ in self._window:
            durable.cancel()
        self._window.clear()

    # ------------------------------------------------------------- reading
    async def _run_once(self) -> None:
        await self.ensure_group()
        self.connected = True
        await self._reclaim()
        stored = await self.stored_upto()
        high = entry_key(stored) if stored else None
        after: str | None = None
        # Own pending entries, oldest first (now including the reclaimed ones),
        # then new ones.
        start = "0"
        while True:
            await self._ack_done()
            block = None if start != ">" or self._window else self.block_ms
            entries = self._entries(await self.client.xreadgroup(
                self.group, self.consumer, {self.stream: start}, count=self.batch_size,
                block=block))
            _raise_if_cancelling()
            if not entries:
                if start != ">":
                    start = ">"
                elif self._window:
                    await self._ack_oldest()
                continue
            if start != ">":
                start = entries[-1][0]
            if high is not None:
                entries = await self._drop_stored(entries, high)
                if not entries:
                    continue
            while len(self._window) >= self.in_flight:
                await self._ack_oldest()
            last_id = entries[-1][0]
            durable = await self.handler(entries, last_id, after)
            after = last_id
            self._window.append((_as_future(durable), [e[0] for e in entries]))

    async def _drop_stored(self, entries: list[Entry], high: tuple[int, int]) -> list[Entry]:
        """Acknowledge entries the log already holds; return the others."""
        if entry_key(entries[0][0]) > high:
            return entries
        stale = [e[0] for e in entries if entry_key(e[0]) <= high]
        await self.client.xack(self.stream, self.group, *stale)
        return entries[len(stale):]

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
        """Entries of a raw XREADGROUP reply (RESP2 list or RESP3 map)."""
        if not resp:
            return []
        streams = resp.values() if isinstance(resp, dict) else (s[1] for s in resp)
        field = self.field
        out: list[Entry] = []
        for items in streams:
            # one comprehension: the usual entry has the event field first
            out += [(eid.decode() if type(eid) is bytes else str(eid),
                     fields[1] if fields and fields[0] == field else _value(fields, field))
                    for eid, fields in items]
        return out

    # ---------------------------------------------------------- acknowledging
    async def _ack_done(self) -> None:
        while self._window and self._window[0][0].done():
            await self._ack_oldest()

    async def _ack_oldest(self) -> None:
        durable, ids = self._window[0]
        try:
            await durable
        except Exception as exc:
            raise StoreError(f"batch of {len(ids)} entries not stored ({exc})") from exc
        self._window.popleft()
        await self.client.xack(self.stream, self.group, *ids)

    async def _settle(self) -> None:
        """After a failure: wait for the batches in flight, acknowledge the stored ones."""
        window, self._window = self._window, deque()
        for durable, ids in window:
            try:
                await durable
            except Exception:
                continue  # not stored: stays pending and is read again
            with contextlib.suppress(Exception):
                await self.client.xack(self.stream, self.group, *ids)


def _value(fields: Any, field: bytes) -> bytes | None:
    """The event field of an entry (``None`` for an entry deleted while pending)."""
    if not fields:
        return None
    pairs = dict(zip(fields[::2], fields[1::2], strict=False))
    value: bytes | None = pairs.get(field)
    return value


def _raise_if_cancelling() -> None:
    """Re-raise a cancellation a blocking read swallowed.

    On Python 3.11 a cancel that lands while redis-py waits out a ``BLOCK``
    read can come back as an ordinary empty reply; the task then reads on,
    and its owner waits forever for it to stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _as_future(durable: Awaitable[object] | None) -> asyncio.Future[object]:
    if durable is None:
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done
    return asyncio.ensure_future(durable)
