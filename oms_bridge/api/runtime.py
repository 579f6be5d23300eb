"""The single writer: durable event log first, then the engine, then its output.

Every input (HTTP batches, Redis stream entries, idle ticks) goes through one
:class:`~oms_bridge.bus.queue.IngestQueue` to one task, which

1. assigns the next log ``seq`` numbers and writes the rows in one transaction
   (with the Redis offset of the batch, when it came from the stream),
2. feeds them to the engine in that order and collects each verdict,
3. persists the outage changes and restoration feed items the engine drained
   (idempotent: upserts and insert-or-ignore), then
4. answers the producers and broadcasts the changes to stream clients.

Because the engine is deterministic in arrival order, a restart replays the
stored log of the current epoch through a fresh engine and arrives at the same
outages, ids and feed seqs; re-persisting them changes nothing.

Idle ticks advance the engine's event-time watermark when nothing arrives, so
hold windows and momentary timers expire on a quiet night. A tick is an item of
the log like any event, so a restart replays it at the same position and the
service stays deterministic across crashes. An offline ``oms-bridge replay`` of
the head end's events alone does not see the ticks: where the stream went idle
for longer than ``idle_tick_s`` (wall time) the live answer may differ from it
in timing fields; pass ``--idle-tick-s 0`` to switch ticks off where exact
equality with a replay matters more than timeliness.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from oms_bridge.api.engine_port import EngineLike, EnginePort, LogItem
from oms_bridge.api.metrics import ServiceMetrics
from oms_bridge.api.read_cache import ReadCaches
from oms_bridge.bus.broadcast import Hub
from oms_bridge.bus.queue import Batch, IngestQueue
from oms_bridge.core.topology import Topology
from oms_bridge.errors import StoreError
from oms_bridge.store import events_repo, outages_repo
from oms_bridge.store.events_repo import Epoch

__all__ = ["INVALID", "TICK", "Runtime", "RuntimeOptions"]

log = logging.getLogger(__name__)

INVALID = "!invalid"
TICK = "!tick"
_INVALID_ITEM: LogItem = (None, None, INVALID, None)


#: Seconds without input before frozen cyclic garbage is swept (see ``_sweeper``).
SWEEP_IDLE_S = 2.0
#: Items applied since the last sweep before another one is worth its pause.
SWEEP_AFTER = 20_000


class _Unset:
    """Marks an argument not given (``None`` is a meaningful value)."""


_UNSET = _Unset()


@dataclass(frozen=True)
class RuntimeOptions:
    #: Wall seconds without input before the watermark is advanced (0: never).
    idle_tick_s: float = 5.0
    #: Event seconds an idle tick advances per wall second (1.0: real time).
    tick_rate: float = 1.0
    #: Stop ticking once event time ran this far past the last real event.
    tick_horizon_s: float = 3600.0
    #: Most log rows in one durable write (group commit).
    max_batch_rows: int = 20_000
    #: Producers wait while this many items are queued. Queued items are parsed
    #: events (about 1 KB each), so this bounds the service's memory under a
    #: backlog; beyond it the backlog waits where it is cheap (in Redis, or in
    #: the head end's open requests), and the lag is the same either way.
    max_pending: int = 40_000
    #: Rows per chunk when replaying the log at start.
    replay_chunk: int = 50_000
    #: After a failed log write, refuse batches at once for this long (seconds).
    retry_after_failure_s: float = 1.0
    #: Logged groups that may wait for the engine while the next one is written.
    pipeline_depth: int = 1
    #: ``gc.freeze`` what survives each applied group (see :meth:`Runtime._freeze`).
    freeze_heap: bool = True
    #: Items after which the frozen heap is swept even under load (0: only when
    #: idle). A sweep walks the whole heap: at 1M items, a pause of seconds.
    sweep_max_items: int = 0
    #: Items applied between two freezes. Each freeze first collects what is
    #: not frozen yet (a few milliseconds); once per group, that was paid a
    #: thousand times a minute when the writer keeps up and groups are small.
    freeze_every_items: int = 10_000


@dataclass
class _Pending:
    outages: dict[str, outages_repo.OutageRow]
    changes: list[outages_repo.ChangeRow]
    feed: list[tuple[int, str, dict[str, Any]]]

    def __bool__(self) -> bool:
        return bool(self.outages or self.changes or self.feed)


def _fail(batch: Batch[Any, list[str | None]], exc: Exception) -> None:
    if not batch.future.done():
        batch.future.set_exception(exc)


def _parse_time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    from datetime import datetime  # noqa: PLC0415

    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Runtime:
    """Owns the engine; the only code that writes events, outages and the feed."""

    def __init__(
        self, db: AsyncEngine, port: EnginePort, *, metrics: ServiceMetrics, hub: Hub,
        options: RuntimeOptions | None = None, write_db: AsyncEngine | None = None,
        caches: ReadCaches | None = None,
    ) -> None:
        self.db = db
        #: The writer's own engine (no pre-ping), for the log and outage writes.
        self.write_db = write_db if write_db is not None else db
        self.port = port
        self.metrics = metrics
        self.hub = hub
        self.options = options or RuntimeOptions()
        self.queue: IngestQueue[LogItem | tuple[Any, LogItem], list[str | None]] = IngestQueue(
            self.options.max_pending)
        self.engine: EngineLike | None = None
        self.topology: Topology | None = None
        self.version_id: int | None = None
        self.epoch: Epoch | None = None
        self._seq = 0
        self._next_ord = 0
        self._ords: dict[str, int] = {}
        self._revs: dict[str, int] = {}
        #: Outages whose latest drained change says ``active`` (the gauge).
        self._active: set[str] = set()
        self._pending = _Pending({}, [], [])
        self._offsets: dict[str, str] = {}  # newest stored entry id per stream
        #: A log write failed: it may have committed all the same (reply lost).
        self._uncertain = False
        #: Until then (loop time) batches are refused at once: the database is away.
        self._down_until = 0.0
        self._event_clock: float | None = None  # newest event time (or tick) fed
        self._last_real_event: float | None = None
        self._clock_moved = False
        self._anchor = (0.0, 0.0)  # (event time, loop time) for the idle ticker
        self._last_input = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        #: Groups whose log write committed, in log order, for the applier.
        self._logged: asyncio.Queue[list[Batch[Any, list[str | None]]]] = asyncio.Queue(
            max(1, self.options.pipeline_depth))
        self.ready = False
        self.replayed = 0
        #: Items applied (and frozen) since the last sweep.
        self._frozen_since_sweep = 0
        #: Items applied since the last freeze.
        self._unfrozen_items = 0
        #: ``(version_id, rows)`` of the last coverage computed by the API.
        self.coverage_cache: tuple[int | None, list[dict[str, Any]]] | None = None
        #: The read API's caches, told of every outage and feed commit.
        self.caches = caches

    # ------------------------------------------------------------ lifecycle
    async def start(self, topology: Topology | None, version_id: int | None) -> None:
        """Open the current epoch, replay its log, start the writer and ticker."""
        async with self.db.begin() as conn:
            self._seq = await events_repo.last_seq(conn)
            self._next_ord = await outages_repo.max_ord(conn)
            epochs = await events_repo.list_epochs(conn)
            feed_base = await outages_repo.last_feed_seq(conn)
            if topology is not None and version_id is not None:
                current = epochs[-1] if epochs else None
                if current is None or current.version_id != version_id:
                    current = Epoch(len(epochs) + 1, self._seq + 1, version_id, feed_base)
                    await events_repo.add_epoch(conn, current)
                self.epoch = current
        if self.caches is not None:
            self.caches.committed(feed_base, (), self._next_ord)
        if topology is not None and self.epoch is not None:
            self.topology, self.version_id = topology, version_id
            self.engine = self.port.make_engine(topology)
            await self._replay(self.epoch.start_seq)
        # What exists now (topology, replayed engine state) lives as long as the
        # process: keep it out of every later collection's walk.
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        self._last_input = loop.time()
        self._tasks.append(asyncio.create_task(self._writer(), name="omsb-writer"))
        self._tasks.append(asyncio.create_task(self._applier(), name="omsb-applier"))
        if self.options.idle_tick_s > 0:
            self._tasks.append(asyncio.create_task(self._ticker(), name="omsb-ticker"))
        if self.options.freeze_heap:
            self._tasks.append(asyncio.create_task(self._sweeper(), name="omsb-gc-sweeper"))
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for batch in self.queue.drain():
            _fail(batch, StoreError("service stopping"))
        while not self._logged.empty():  # logged, not applied: a restart replays them
            for batch in self._logged.get_nowait():
                _fail(batch, StoreError("service stopping"))
            self._logged.task_done()
        if self._pending:
            with contextlib.suppress(Exception):
                await self._persist()

    @property
    def log_seq(self) -> int:
        """Seq of the newest durable log row."""
        return self._seq

    def writer_alive(self) -> bool:
        return len(self._tasks) >= 2 and not (self._tasks[0].done() or self._tasks[1].done())

    async def _replay(self, start_seq: int) -> None:
        started = time.perf_counter()
        async for rows in events_repo.read_log(self.db, start_seq,
                                               chunk=self.options.replay_chunk):
            self._apply_batch([self._restore(row[1:]) for row in rows])
            self.replayed += len(rows)
            self._anchor_clock()
            self._collect()
            await self._persist()
            await asyncio.sleep(0)
        if self.replayed:
            log.info("replayed %d logged items in %.2f s", self.replayed,
                     time.perf_counter() - started)

    @staticmethod
    def _restore(item: LogItem) -> tuple[Any, LogItem]:
        # The engine is fed from the log items themselves (no event objects).
        return (None, item)

    # ------------------------------------------------------------ producers
    def make_items(self, objs: Sequence[Any]) -> tuple[list[tuple[Any, LogItem]], list[Exception]]:
        """Validate raw event objects; invalid ones become ``!invalid`` items (counted).

        The items carry no event objects: the engine is fed from the log items.
        """
        from oms_bridge.errors import EventError  # noqa: PLC0415

        items: list[tuple[Any, LogItem]] = []
        errors: list[Exception] = []
        for parsed in self.port.parse_items(objs):
            if isinstance(parsed, EventError):
                errors.append(parsed)
                items.append((None, _INVALID_ITEM))
            else:
                items.append((None, parsed))
        return items, errors

    async def submit(
        self, items: Sequence[tuple[Any, LogItem]], offset: tuple[str, str] | None = None,
        *, source: str = "http",
    ) -> list[str | None]:
        """Queue items for the writer; returns each item's verdict once durable."""
        return await (await self.enqueue(items, offset, source=source))

    async def enqueue(
        self, items: Sequence[tuple[Any, LogItem]], offset: tuple[str, str] | None = None,
        *, source: str = "http", after: str | _Unset | None = _UNSET,
    ) -> asyncio.Future[list[str | None]]:
        """Queue items for the writer (in call order); the future resolves once durable.

        A stream batch may name the last entry id of the batch before it
        (``after``, ``None`` for the first one): it is then stored only right
        after that batch, never past one that was not stored.
        """
        if self.engine is None and items:
            raise StoreError("no topology is active: load one before sending events")
        if not self.ready or not self.writer_alive():
            raise StoreError("the ingest writer is not running")
        loop = asyncio.get_running_loop()
        self._last_input = loop.time()
        meta: dict[str, object] = {"source": source}
        if not isinstance(after, _Unset):
            meta["after"] = after
        batch: Batch[Any, list[str | None]] = Batch(
            items if isinstance(items, list) else list(items), loop.create_future(), offset,
            loop.time(), meta)
        await self.queue.put(batch)
        self.metrics.queue_depth.set(self.queue.pending)
        return batch.future

    # --------------------------------------------------------------- writer
    #
    # Two stages, so the database and the engine work at the same time: the
    # writer makes group N+1 durable in the log while the applier feeds group N
    # to the engine and writes its outages. Groups pass from one to the other
    # through a FIFO, so the engine sees exactly the log order; producers are
    # answered by the applier, after the log write, the engine and the outage
    # write. Whatever touches the engine outside the applier (a resync after a
    # failed write, a topology switch) first waits until the applier is idle.
    async def _writer(self) -> None:
        while True:
            batches = await self.queue.take(self.options.max_batch_rows)
            try:
                group: list[Batch[Any, list[str | None]]] = []
                for batch in batches:
                    switch = batch.meta.get("switch")
                    if switch is None:
                        group.append(batch)
                        continue
                    if group:
                        await self._log_group(group)
                        group = []
                    await self._logged.join()
                    await self._run_switch(batch)
                if group:
                    await self._log_group(group)
            except asyncio.CancelledError:
                for b in batches:
                    if not b.meta.get("logged"):
                        _fail(b, StoreError("service stopping"))
                raise
            except Exception as exc:
                log.exception("writer failed on a batch")
                for b in batches:
                    if not b.meta.get("logged"):
                        _fail(b, StoreError(f"ingest failed: {exc}"))

    async def _applier(self) -> None:
        while True:
            batches = await self._logged.get()
            try:
                await self._apply_logged(batches)
            except asyncio.CancelledError:
                for b in batches:
                    _fail(b, StoreError("service stopping"))
                raise
            except Exception as exc:
                log.exception("applier failed on a batch")
                for b in batches:
                    _fail(b, StoreError(f"ingest failed: {exc}"))
            finally:
                self._logged.task_done()

    async def _resync(self) -> None:
        """After a failed write: take in any rows it committed all the same.

        A write whose reply was lost may have committed. Its rows are then in
        the log, so the engine must see them too (at their place, before
        anything newer), exactly as a replay of the log would.
        """
        async with self.write_db.connect() as conn:
            stored = await events_repo.last_seq(conn)
        if stored > self._seq:
            log.warning("a failed log write had committed %d rows: applying them",
                        stored - self._seq)
            async for rows in events_repo.read_log(self.write_db, self._seq + 1):
                self._apply_batch([self._restore(row[1:]) for row in rows])
                self._seq = rows[-1][0]
            self._anchor_clock()
            self._collect()
            self._offsets.clear()  # the stream consumer starts over from the log's mark
        self._uncertain = False

    def _fenced(
        self, batches: list[Batch[Any, list[str | None]]],
    ) -> tuple[list[Batch[Any, list[str | None]]], dict[str, str]]:
        """Drop stream batches whose predecessor is not stored; the offsets to record."""
        offsets: dict[str, str] = {}
        kept: list[Batch[Any, list[str | None]]] = []
        for batch in batches:
            if batch.offset is not None:
                stream, last_id = batch.offset
                after = batch.meta.get("after", _UNSET)
                if after is not None and not isinstance(after, _Unset) and (
                        offsets.get(stream, self._offsets.get(stream)) != after):
                    _fail(batch, StoreError(
                        f"stream batch after {after} refused: that batch was not stored"))
                    continue
                offsets[stream] = last_id
            kept.append(batch)
        return kept, offsets

    async def _log_group(self, batches: list[Batch[Any, list[str | None]]]) -> None:
        """Make a group durable in the log, then hand it to the applier (in order)."""
        batches, offsets = self._fenced(batches)
        if not batches:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            for b in batches:
                _fail(b, StoreError("the database is unavailable"))
            return
        try:
            if self._uncertain:
                await self._logged.join()  # the engine must have every older group first
                await self._resync()
        except Exception as exc:
            self._down_until = loop.time() + self.options.retry_after_failure_s
            log.warning("event log unreachable: %s", exc)
            for b in batches:
                _fail(b, StoreError(f"the database is unavailable: {type(exc).__name__}"))
            return
        rows: list[events_repo.MarkedRow] = []
        seq = self._seq
        for batch in batches:
            rows += [(s, *item, None, None)
                     for s, (_, item) in enumerate(batch.items, start=seq + 1)]
            seq += len(batch.items)
            if batch.offset is not None and batch.items:  # the position rides on the last row
                rows[-1] = (*rows[-1][:5], *batch.offset)
        t0 = time.perf_counter()
        try:
            await events_repo.write(self.write_db, rows)
        except Exception as exc:
            self.metrics.store_errors.inc(op="events")
            self._uncertain = True
            self._down_until = loop.time() + self.options.retry_after_failure_s
            log.warning("event log write failed: %s", exc)
            for b in batches:
                _fail(b, StoreError(f"event log write failed: {type(exc).__name__}"))
            return
        del rows
        self._seq = seq
        self._offsets.update(offsets)
        self.metrics.write_time.observe(time.perf_counter() - t0)
        self.metrics.batches.inc()
        for b in batches:
            b.meta["logged"] = True
        await self._logged.put(batches)

    async def _apply_logged(self, batches: list[Batch[Any, list[str | None]]]) -> None:
        """Feed a logged group to the engine, write its outages, answer its producers."""
        t1 = time.perf_counter()
        results = [self._apply_batch(batch.items) for batch in batches]
        self.metrics.inference.observe(time.perf_counter() - t1)
        for batch, verdicts in zip(batches, results, strict=True):
            source = str(batch.meta.get("source", "http"))
            for verdict, n in Counter(verdicts).items():
                if verdict is not None:
                    self.metrics.events_in.inc(n, source=source, verdict=verdict)
            batch.items = []  # applied: the event objects are not needed any more
        self._anchor_clock()
        changes = self._collect()
        await self._persist()  # so a 202 is followed by reads that reflect it
        now = asyncio.get_running_loop().time()
        for batch, verdicts in zip(batches, results, strict=True):
            self.metrics.ingest_lag.observe(now - batch.received)
            if not batch.future.done():
                batch.future.set_result(verdicts)
        self.metrics.queue_depth.set(self.queue.pending)
        if changes and len(self.hub):
            for change in changes:
                self.hub.publish(orjson.dumps(change))
        self._freeze(sum(len(v) for v in results))

    def _freeze(self, applied: int) -> None:
        """Keep the engine's growing state out of the cyclic collector's walks.

        The engine keeps a few hundred bytes of Python objects per event; each
        full collection walked all of it on the event loop (in a 20 s storm at
        20,000/s: 20 full collections, ~3.4 s of the service's ~11 s of CPU,
        pauses of 0.1-0.3 s growing with the heap). What survives the applied
        groups is moved to the permanent generation (``gc.freeze``, O(1)) every
        ``freeze_every_items`` items, after a collection that walks only the
        objects not frozen yet (those of the latest groups: a few milliseconds);
        objects freed by reference counting are freed as before. Cyclic garbage
        of objects still in use at a freeze (requests in flight) is reclaimed by
        :meth:`_sweeper` when idle.
        """
        if self.options.freeze_heap:
            self._frozen_since_sweep += applied
            self._unfrozen_items += applied
            if self._unfrozen_items < self.options.freeze_every_items:
                return
            self._unfrozen_items = 0
            gc.collect()  # walks only what is not frozen yet: the latest groups' objects
            gc.freeze()

    async def _sweeper(self) -> None:
        """When the input has been idle a while: one full collection of the heap.

        Unfreezes, collects and freezes again, so cyclic garbage frozen during
        a busy period is reclaimed (a pause of a fraction of a second, taken
        when nothing arrives after :data:`SWEEP_AFTER` items, or under load
        after ``sweep_max_items`` when set).
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_IDLE_S / 2)
            most = self.options.sweep_max_items
            due = (most > 0 and self._frozen_since_sweep >= most) or (
                self._frozen_since_sweep >= SWEEP_AFTER and not self.queue.pending
                and loop.time() - self._last_input >= SWEEP_IDLE_S)
            if not due:
                continue
            self._frozen_since_sweep = 0
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    def _apply_batch(self, entries: list[tuple[Any, LogItem]]) -> list[str | None]:
        """Feed one batch to the engine in order; the verdict name of each entry.

        Runs of real events go to the engine in bulk; invalid lines and ticks
        in between are applied one by one, at their place.
        """
        assert self.engine is not None
        verdicts: list[str | None] = []
        run: list[LogItem] = []
        for entry in entries:
            item = entry[1]
            if item[2] not in (INVALID, TICK):
                run.append(item)
                continue
            if run:
                verdicts += self._ingest_run(run)
                run = []
            verdicts.append(self._apply(entry))
        if run:
            verdicts += self._ingest_run(run)
        return verdicts

    def _ingest_run(self, run: list[LogItem]) -> list[str | None]:
        assert self.engine is not None
        names: list[str | None] = list(self.port.ingest_items(self.engine, run))
        newest = max((item[3] for item in run if item[3] is not None), default=None)
        self._flush_clock(newest)
        return names

    def _flush_clock(self, newest: float | None) -> None:
        if newest is not None:
            self._advance_clock(newest, real=True)

    def _apply(self, entry: tuple[Any, LogItem]) -> str | None:
        assert self.engine is not None
        event, item = entry
        kind = item[2]
        if kind == INVALID:
            self.engine.count_invalid(1)
            return "invalid"
        if kind == TICK:
            assert item[3] is not None
            self.engine.tick(item[3])
            self._advance_clock(item[3], real=False)
            return None
        verdict = self.port.verdict_name(self.engine.ingest(event))
        if item[3] is not None:
            self._advance_clock(item[3], real=True)
        return verdict

    def _advance_clock(self, event_time: float, *, real: bool) -> None:
        if self._event_clock is None or event_time > self._event_clock:
            self._event_clock = event_time
            self._clock_moved = True
        if real and (self._last_real_event is None or event_time > self._last_real_event):
            self._last_real_event = event_time

    def _anchor_clock(self) -> None:
        """Pin the idle ticker's anchor once per batch (not per event)."""
        if self._clock_moved and self._event_clock is not None:
            self._clock_moved = False
            with contextlib.suppress(RuntimeError):
                self._anchor = (self._event_clock, asyncio.get_running_loop().time())

    # --------------------------------------------------------------- output
    def _collect(self) -> list[dict[str, Any]]:
        """Drain the engine into the pending writes; returns the changes."""
        assert self.engine is not None and self.epoch is not None
        changes = self.engine.drain_changes()
        for change in changes:
            doc = {k: v for k, v in change.items() if k != "change"}
            oid = str(doc["outage_id"])
            rev = self._revs.get(oid, 0) + 1
            self._revs[oid] = rev
            if oid not in self._ords:
                self._next_ord += 1
                self._ords[oid] = self._next_ord
            self._pending.outages[oid] = self._outage_row(oid, doc)
            status = str(doc.get("status"))
            self._pending.changes.append(outages_repo.ChangeRow(
                oid, rev, str(change.get("change", "update")), status, doc))
            if status == "active":
                self._active.add(oid)
            else:
                self._active.discard(oid)
        for item in self.engine.drain_restorations():
            seq = self.epoch.feed_base + int(item["seq"])
            self._pending.feed.append((seq, str(item["outage_id"]), {**item, "seq": seq}))
        if changes:
            # from the changes themselves: listing the engine's active outages
            # walked every outage it ever had, per group, on the event loop
            self.metrics.outages_active.set(len(self._active))
        return changes

    async def _persist(self) -> None:
        if not self._pending:
            return
        pending = self._pending
        try:
            async with self.write_db.begin() as conn:
                await outages_repo.save(conn, list(pending.outages.values()), pending.changes,
                                        pending.feed)
        except Exception as exc:
            self.metrics.store_errors.inc(op="outages")
            log.warning("outage write failed, will retry: %s", exc)
            return
        if self.caches is not None:
            self.caches.committed(max((s for s, _, _ in pending.feed), default=0),
                                  [r.ord for r in pending.outages.values()],
                                  max((r.ord for r in pending.outages.values()), default=0))
        self.metrics.restorations.inc(len(pending.feed))
        self._pending = _Pending({}, [], [])

    # --------------------------------------------------------------- ticker
    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        idle_s = self.options.idle_tick_s
        while True:
            await asyncio.sleep(max(idle_s / 2, 0.05))
            if self._pending:
                await self._persist_soon()
            now = loop.time()
            if self._event_clock is None or self._last_real_event is None:
                continue
            if now - self._last_input < idle_s or self.queue.pending:
                continue
            if self._event_clock - self._last_real_event >= self.options.tick_horizon_s:
                continue
            target = self._anchor[0] + (now - self._anchor[1]) * self.options.tick_rate
            if target <= self._event_clock:
                continue
            try:
                await self.submit([(None, (None, None, TICK, target))], source="tick")
            except StoreError as exc:
                log.debug("idle tick not written: %s", exc)

    async def _persist_soon(self) -> None:
        # Retry outage writes that failed while the database was away, through
        # the writer so they never race with it.
        with contextlib.suppress(StoreError):
            await self.submit([], source="retry")

    # ------------------------------------------------------------ switching
    async def switch_topology(self, topology: Topology, version_id: int) -> None:
        """Start a new epoch on a freshly activated topology (ordered with events)."""
        loop = asyncio.get_running_loop()
        batch: Batch[Any, list[str | None]] = Batch(
            [], loop.create_future(), None, loop.time(),
            {"source": "switch", "switch": (topology, version_id)})
        await self.queue.put(batch)
        await batch.future

    async def _run_switch(self, batch: Batch[Any, list[str | None]]) -> None:
        switch = batch.meta["switch"]
        assert isinstance(switch, tuple)
        topology: Topology = switch[0]
        version_id = int(switch[1])
        try:
            self._mark_stale(version_id)
            await self._persist()
            if self._pending:
                raise StoreError("the outages of the old topology could not be written")
            async with self.db.begin() as conn:
                feed_base = await outages_repo.last_feed_seq(conn)
                epochs = await events_repo.list_epochs(conn)
                epoch = Epoch(len(epochs) + 1, self._seq + 1, int(version_id),
                              max(feed_base, self._feed_high()))
                await events_repo.add_epoch(conn, epoch)
        except Exception as exc:
            batch.future.set_exception(StoreError(f"cannot start a new epoch: {exc}"))
            return
        self.epoch = epoch
        self.topology, self.version_id = topology, int(version_id)
        self.engine = self.port.make_engine(topology)
        self._revs.clear()
        self._active.clear()
        self.metrics.outages_active.set(0)
        self._event_clock = self._last_real_event = None
        batch.future.set_result([])

    def _mark_stale(self, new_version_id: int) -> None:
        """Flag the old engine's active outages before it is dropped.

        They stay ``active``: no restoration was observed, so none is claimed
        and the OMS keeps its incidents open until crews close them. Each gets
        ``stale: true`` and the topology versions involved; the new engine
        never updates them (it starts empty on the new topology).
        """
        if self.engine is None:
            return
        self._collect()  # whatever the old engine still had to say
        for doc in self.engine.outages("active"):
            oid = str(doc["outage_id"])
            stale = {**doc, "stale": True, "topology_version_id": self.version_id,
                     "superseded_by_version_id": new_version_id}
            rev = self._revs.get(oid, 0) + 1
            self._revs[oid] = rev
            if oid not in self._ords:
                self._next_ord += 1
                self._ords[oid] = self._next_ord
            self._pending.outages[oid] = self._outage_row(oid, stale)
            self._pending.changes.append(
                outages_repo.ChangeRow(oid, rev, "stale", str(doc.get("status")), stale))

    def _outage_row(self, oid: str, doc: dict[str, Any]) -> outages_repo.OutageRow:
        return outages_repo.OutageRow(
            outage_id=oid, ord=self._ords[oid], status=str(doc.get("status")),
            feeder_id=doc.get("feeder_id"), device_id=doc.get("device_id"),
            started_at_s=_parse_time(doc.get("started_at")),
            parent_outage_id=doc.get("parent_outage_id"), doc=doc,
        )

    def _feed_high(self) -> int:
        return max((s for s, _, _ in self._pending.feed), default=0)
