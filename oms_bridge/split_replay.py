"""A replay over several processes: a front that reads and orders, engines that apply.

Everything a replay does before the release order (decoding the lines,
validating them, finding meters, the duplicate filter, the watermark and the
order itself) depends on the events alone, never on what applying them does
(:meth:`Engine.hand_off`). It is about a third of a replay's work. Here it
runs in a forked child, beside the engine rather than before it, so a replay
on two cores takes about two thirds of the wall time of :func:`replay`, for a
little more CPU in all (the releases are pickled across a pipe). The result is
the same, byte for byte (tests/test_split_replay.py): the engine applies
exactly the releases it would have made itself.

The child inherits the engine, just built, and the open events file (fork);
its copy of the engine only keeps the front (statistics, duplicates,
watermark) and sends each stretch of releases as it is made; the pipe's
buffer bounds how far it runs ahead, so memory stays bounded. At the end of
input it sends its statistics and the events it still holds; the engine here
takes them over and flushes. An error in the child is raised here, with its
traceback as a note; a child that dies is a :class:`ReplayError`.

:func:`parts_replay` (what ``oms-bridge replay`` runs where two CPUs are
free) goes further: the engine's state is per feeder, so its work is shared
by groups of feeders between parts, one of them in the front's own process
(its share set so both processes finish together, :func:`front_share`).
Each part applies every release with the other parts' events passed over,
so its timers fire where one engine's would, and its sequencer keys every
action by its place in the releases (:meth:`Sequencer.keyed`); this process
merges the parts' outages by start and their restoration feeds by those
keys: the result of one engine, byte for byte (tests/core/test_parts_replay.py).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import pickle
import resource
import sys
import time
import traceback
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core.engine import Engine, FrontState, result_of
from oms_bridge.core.events import EventCodes
from oms_bridge.core.inference import InferenceTuning
from oms_bridge.core.kinds import MeterType
from oms_bridge.core.reorder import Release
from oms_bridge.core.replay import CHUNK, collector_paused, feed, replay
from oms_bridge.core.topology import Topology
from oms_bridge.errors import OmsBridgeError
from oms_bridge.settings import CoverageSettings, EngineSettings

__all__ = ["ReplayError", "can_split", "default_workers", "front_share", "merge_parts",
           "part_held", "part_view", "parts_of", "parts_replay", "replay_with", "split_replay",
           "usable_cpus"]

# message tags, child to parent (_GONE: a part found its front gone)
_RELEASE, _END, _FAILED, _GONE = 0, 1, 2, 3
#: the kind code of a restore (a passed-over event's kind in a part)
_RESTORE = 1
#: the pipe's buffer: a few chunks of releases in flight, so neither side
#: waits on the other's every step (Linux allows 1 MiB unprivileged)
_PIPE_BYTES = 1 << 20
#: releases of the front's own part that may wait (each ~4,096 events, ~140 kB):
#: on the bench storm 128 took the replay 4.07 -> 3.75 s (median of 5,
#: alternated with none), 512 a little further; peak RSS +17 MB
_BACKLOG = 256


class ReplayError(OmsBridgeError):
    """The replay's front process ended without delivering all the events."""


def can_split() -> bool:
    """Whether a split replay can run here: fork, and two CPUs to run on."""
    return usable_cpus() >= 2 and "fork" in mp.get_all_start_methods()


def usable_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> float:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota
    (a container started with ``--cpus 1`` sees every CPU of the host but
    runs on one: two processes there would only take turns)."""
    try:
        cpus: float = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota != "max" and float(period) > 0:
        cpus = min(cpus, float(quota) / float(period))
    return cpus


def default_workers() -> int:
    """The processes a replay takes here by default: as many as CPUs are
    free, one where fork is missing."""
    return min(MAX_WORKERS, max(1, int(usable_cpus()))) if can_split() else 1


def replay_with(topology: Topology, events: Iterable[object],
                settings: EngineSettings | None = None,
                coverage: CoverageSettings | None = None, *,
                workers: int | None = None, chunk_size: int = CHUNK,
                usage: list[dict[str, float]] | None = None) -> dict[str, Any]:
    """The replay over ``workers`` processes: 1 is :func:`replay`, 2 is
    :func:`split_replay`, more is :func:`parts_replay` with ``workers - 1``
    parts; ``None``: :func:`default_workers`. The result is the same either
    way. ``usage``, if given, receives each child's CPU and peak memory."""
    if workers is None:
        workers = default_workers()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers == 1:
        return replay(topology, events, settings, coverage, chunk_size=chunk_size)
    return parts_replay(topology, events, settings, coverage, processes=workers,
                        chunk_size=chunk_size, usage=usage)


def split_replay(topology: Topology, events: Iterable[object],
                 settings: EngineSettings | None = None,
                 coverage: CoverageSettings | None = None,
                 tuning: InferenceTuning | None = None, *,
                 chunk_size: int = CHUNK,
                 front_usage: dict[str, float] | None = None) -> dict[str, Any]:
    """:func:`~oms_bridge.core.replay.replay`, with the front in a forked child.

    ``front_usage``, if given, receives the child's ``cpu_s`` and ``max_rss_bytes``
    (for benchmarks: its memory is not this process's)."""
    settings = settings or EngineSettings()
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    _widen(send)
    # built before the fork: the child takes its copy as the front at once
    # (it applies nothing, so a fresh engine is what it needs)
    engine = Engine(topology, settings, coverage, tuning)
    stdin = _stdin_copy(events)
    front = ctx.Process(target=_front, name="oms-bridge-replay-front",
                        args=(send, engine, events if stdin is None else stdin,
                              EventCodes.from_settings(settings), max(1, int(chunk_size))),
                        daemon=True)
    with collector_paused():
        try:
            try:
                front.start()
            finally:
                if stdin is not None:
                    stdin.close()   # the child holds its own copy
            send.close()   # the child's end: EOF here once the child is gone
            usage = _apply_all(engine, receive, front)
            if front_usage is not None:
                front_usage.update(usage)
            engine.flush()
            return result_of(engine)
        finally:
            _end(front, receive)


def _end(front: Any, receive: Connection | None) -> None:
    """The child joined (ended if it lingers) and its handle closed, while the
    collector is still paused: closed later by a finaliser, it would allocate,
    and the first allocation once the collector is back on starts a collection
    of everything the replay made, ~0.5 s on the bench storm, that a
    one-process replay leaves to its caller's next allocation."""
    if receive is not None:
        receive.close()
    if front.pid is None:   # never started
        return
    front.join(timeout=5)
    if front.is_alive():
        front.terminate()
        front.join()
    front.close()


def _widen(send: Connection) -> None:
    """A wider pipe where the system allows it (Linux: up to 1 MiB unprivileged)."""
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl  # noqa: PLC0415 - POSIX only

        fcntl.fcntl(send.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _stdin_copy(events: object) -> BinaryIO | None:
    """A file object on a duplicate of standard input's descriptor where the
    events are standard input: a forked child of multiprocessing finds
    ``sys.stdin`` closed (it closes it before the target runs)."""
    stdin = sys.stdin
    if stdin is None or not (events is stdin or events is getattr(stdin, "buffer", None)):
        return None
    return os.fdopen(os.dup(stdin.fileno()), "rb")


def _apply_all(engine: Engine, receive: Connection, front: Any) -> dict[str, float]:
    recv = receive.recv
    apply_release = engine.apply_release
    while True:
        try:
            tag, payload = recv()
        except EOFError:
            raise _front_gone(front) from None
        if tag == _RELEASE:
            apply_release(_unpacked(payload))
        elif tag == _END:
            state, usage = payload
            engine.take_front(state)
            return usage  # type: ignore[no-any-return]
        else:
            raise _failure(payload, "front process")


# ===================================================================== parts
#: (a service point's part is an int8)
_MAX_PARTS = 127


def parts_of(topology: Topology, n: int, shares: Sequence[float] | None = None
             ) -> tuple[NDArray[np.int8], int]:
    """Each service point's part (``0 .. parts - 1``) and the number of parts
    (``n``, or fewer where there are fewer groups of feeders).

    The engine's state is per feeder and per tree of devices, so a part takes
    whole groups: feeders whose devices share a tree go together (never split
    in a clean export, where each feeder is one tree). Groups are dealt by
    their AMI meters, largest first, each to the part with the fewest yet
    for its share (``shares[i]``, of the meters; equal by default; a part
    whose share is 0 takes none)."""
    n_feeders = len(topology.feeder_ids)
    node_feeder = topology.node_feeder.astype(np.int64)
    # (-1, a node without a feeder, is a group of its own: index n_feeders)
    node_feeder = np.where(node_feeder < 0, n_feeders, node_feeder)
    n_nodes = int(node_feeder.shape[0])
    group = list(range(n_feeders + 1))

    def find(x: int) -> int:
        while group[x] != x:
            group[x] = group[group[x]]
            x = group[x]
        return x

    if n_nodes:
        roots = np.flatnonzero(topology.node_parent < 0)
        if roots.shape[0]:
            # pre-order: a node lies in the tree of the last root at or before it
            at = np.searchsorted(roots, np.arange(n_nodes), side="right") - 1
            root_feeder = node_feeder[roots[np.maximum(at, 0)]]
            apart = np.flatnonzero(node_feeder != root_feeder)   # (none in a clean export)
            pairs = set(zip(node_feeder[apart].tolist(), root_feeder[apart].tolist(),
                            strict=True))
            for a, b in sorted(pairs):
                ra, rb = find(a), find(b)
                if ra != rb:
                    group[max(ra, rb)] = min(ra, rb)
    # each service point as the engine files it: the feeder of its node
    sp_feeder = node_feeder[topology.sp_node.astype(np.int64)] if n_nodes else np.zeros(
        topology.n_service_points, dtype=np.int64)
    feeder_group = np.array([find(f) for f in range(n_feeders + 1)], dtype=np.int64)
    sp_group = feeder_group[sp_feeder]
    ami = topology.sp_meter_type == MeterType.AMI.code
    weight = np.bincount(sp_group, weights=ami, minlength=n_feeders + 1)
    groups = np.flatnonzero(np.bincount(sp_group, minlength=n_feeders + 1))
    if not 1 <= n <= _MAX_PARTS:
        raise ValueError(f"parts_of: 1 to {_MAX_PARTS} parts, not {n}")
    share = [1.0] * int(n) if shares is None else [max(0.0, float(x)) for x in shares]
    if len(share) != n or not any(share):
        raise ValueError(f"parts_of: {n} parts need as many shares, not all 0, not {shares}")
    load = [0.0] * n
    part_of_group = np.zeros(n_feeders + 1, dtype=np.int8)
    for g in sorted(groups.tolist(), key=lambda g: (-weight[g], g)):
        i = min((i for i in range(n) if share[i]), key=lambda i: (load[i] / share[i], i))
        part_of_group[g] = i
        load[i] += float(weight[g]) + 1.0
    used = sum(1 for x in load if x)
    if used < n:   # fewer groups than parts: the parts that took some, renumbered
        order = np.cumsum([bool(x) for x in load]) - 1
        part_of_group = order[part_of_group].astype(np.int8)
        n = max(1, used)
    return part_of_group[sp_group], n


#: a front's CPU for the engine's, as its process sees it beside a part
#: (packing a view of each release for every part): on the bench storm a
#: share of 0.2 for the front's part (this at 0.6) left the two processes
#: at 3.3-3.7 and 3.2-3.5 s of CPU, where 0.25 (0.5) left 3.4-3.8 and 2.9-3.1
FRONT_LOAD = 0.6
#: at most this many processes (each part passes over every other part's
#: events: past a few, that costs more than it shares)
MAX_WORKERS = 4


def front_share(processes: int, front_load: float = FRONT_LOAD) -> float:
    """The share of the meters whose part the front's process applies too,
    so that ``processes`` busy processes finish together: ``(1 - (processes
    - 1) * front_load) / processes`` (at :data:`FRONT_LOAD`, a fifth for two,
    none for three or more)."""
    return max(0.0, (1.0 - (processes - 1) * front_load) / processes)


def parts_replay(topology: Topology, events: Iterable[object],
                 settings: EngineSettings | None = None,
                 coverage: CoverageSettings | None = None,
                 tuning: InferenceTuning | None = None, *,
                 processes: int = 2, chunk_size: int = CHUNK,
                 usage: list[dict[str, float]] | None = None) -> dict[str, Any]:
    """:func:`~oms_bridge.core.replay.replay` over ``processes`` forked
    children that share the engine's work by feeder (:func:`parts_of`): the
    front's process applies one part too, its share of the meters set by
    :func:`front_share`, and each other child one part of the rest. Each
    part applies every release, passing over the events of other feeders
    (:meth:`Engine.as_part`); this process merges their outages and
    restoration feeds in the order one engine would have made them. Where
    the topology has one group of feeders, :func:`split_replay`.

    ``usage``, if given, receives each child's ``cpu_s`` and
    ``max_rss_bytes``, the front's first."""
    settings = settings or EngineSettings()
    processes = max(2, int(processes))
    share = front_share(processes)
    shares = [share] * bool(share) + [(1.0 - share) / (processes - 1)] * (processes - 1)
    part_of_sp, n = parts_of(topology, len(shares), shares)
    local = bool(share) and bool((part_of_sp == 0).any())
    if n < 2:
        single: dict[str, float] = {}
        out = split_replay(topology, events, settings, coverage, tuning,
                           chunk_size=chunk_size, front_usage=single)
        if usage is not None:
            usage.append(single)
        return out
    ctx = mp.get_context("fork")
    # front -> part i (but the front's own), part i -> here
    feeds = [ctx.Pipe(duplex=False) for _ in range(n - local)]
    replies = [ctx.Pipe(duplex=False) for _ in range(n)]
    for _, send in feeds:
        _widen(send)
    engine = Engine(topology, settings, coverage, tuning)
    every = [c for pair in (*feeds, *replies) for c in pair]
    sends = [send for _, send in feeds]
    stdin = _stdin_copy(events)
    front_keeps = [*sends, replies[0][1]] if local else sends
    front = ctx.Process(
        target=_parts_front, name="oms-bridge-replay-front",
        args=(sends, replies[0][1] if local else None, engine,
              events if stdin is None else stdin, EventCodes.from_settings(settings),
              max(1, int(chunk_size)), part_of_sp,
              [c for c in every if not any(c is k for k in front_keeps)]),
        daemon=True)
    workers = [ctx.Process(target=_part, name=f"oms-bridge-replay-part-{i + local}",
                           args=(feeds[i][0], replies[i + local][1], engine,
                                 [c for c in every if c is not feeds[i][0]
                                  and c is not replies[i + local][1]]),
                           daemon=True)
               for i in range(n - local)]
    holders = [front, *workers] if local else workers
    with collector_paused():
        try:
            try:
                for child in (front, *workers):
                    child.start()
            finally:
                if stdin is not None:
                    stdin.close()
                for c in every:   # (the replies' ends here stay open)
                    if not any(c is r for r, _ in replies):
                        c.close()
            got = _gather([r for r, _ in replies], holders, front)
            return _merged(engine, got, usage, local)
        finally:
            for (receive, _), child in zip(replies, holders, strict=True):
                _end(child, receive)
            if not local:
                _end(front, None)


def _gather(replies: list[Connection], workers: list[Any], front: Any) -> list[Any]:
    """Every part's answer, or the first failure raised."""
    got: list[Any] = [None] * len(replies)
    waiting: dict[Any, int] = dict(zip(replies, range(len(replies)), strict=True))
    while waiting:
        for ready in wait(list(waiting)):
            i = waiting.pop(ready)
            try:
                tag, payload = replies[i].recv()
            except EOFError:
                workers[i].join()
                raise ReplayError(f"the replay's process {workers[i].name} ended before the "
                                  f"end of the events (exit code {workers[i].exitcode}); "
                                  "nothing was written") from None
            if tag == _END:
                got[i] = payload
            elif tag == _GONE:
                raise _front_gone(front)
            else:
                raise _failure(payload, f"process {workers[i].name}")
    return got


def _merged(engine: Engine, got: list[Any], usage: list[dict[str, float]] | None,
            local: bool) -> dict[str, Any]:
    """The parts' outages and feeds as one engine lists them (result_of)."""
    outages, restorations = merge_parts([(outs, items) for outs, items, _, _ in got])
    stats, front_usage = got[0][2]
    if usage is not None:
        if not local:
            usage.append(front_usage)
        usage.extend(u for _, _, _, u in got)
    return {
        "outages": outages,
        "restorations": restorations,
        "coverage": engine.coverage(),
        "events": dict(stats),
    }


def _parts_front(sends: list[Connection], reply: Connection | None,  # noqa: PLR0917
                 engine: Engine, events: Iterable[object], codes: EventCodes,
                 chunk_size: int, part_of_sp: NDArray[np.int8],
                 closing: list[Connection]) -> None:
    """The front of :func:`parts_replay`: each release to every part, the
    events of other parts passed over (:meth:`Engine.as_part`). With a
    ``reply``, it applies part 0 itself (after sending the others theirs)
    and answers for it as :func:`_part` does."""
    gc.disable()
    for c in closing:
        c.close()
    puts = [send.send for send in sends]
    local = reply is not None
    over = engine.passed_over_sp
    own: list[Engine] = []

    def own_part() -> Engine:
        # built once the other parts have their first release (not before: they wait)
        if not own:
            own.append(Engine(engine.topology, engine.settings, engine.coverage_settings,
                              engine.tuning))
            own[0].as_part()
        return own[0]

    # the front's own part's releases wait, and are applied while the other
    # parts are busy (their pipes at least half full) or once too many wait:
    # the others are fed first, and the front's own part takes its spare time
    # (the front is the slower early in a storm, the others later)
    backlog: deque[Release] = deque()
    busy = _pipes_busy([send.fileno() for send in sends])
    limit = _BACKLOG

    try:
        def ship(release: Release) -> None:
            part = part_of_sp[release.sp]
            ids = np.fromiter(release.event_id, dtype=object, count=len(release.event_id))
            late = np.array(release.late, dtype=np.bool_)
            for i, put in enumerate(puts, local):
                put((_RELEASE, _packed(part_view(release, ids, part == i, over), late)))
            if local:
                backlog.append(part_view(release, None, part == 0, over))
                while backlog and (len(backlog) > limit or busy()):
                    own_part().apply_release(backlog.popleft())

        engine.hand_off(ship)
        feed(engine, events, codes, chunk_size)
        state: FrontState = engine.front_state()
        part = part_of_sp[state.buffered.sp]
        for i, put in enumerate(puts, local):
            put((_END, (part_held(state, part == i, over), None if local or i else _usage())))
        if reply is not None:
            mine = own_part()
            while backlog:
                mine.apply_release(backlog.popleft())
            mine.take_front(part_held(state, part == 0, over))
            mine.flush()
            outs, items = mine.part_result()
            usage = _usage()
            reply.send((_END, (outs, items, (state.stats, usage), usage)))
    except BaseException as exc:
        failed = (_FAILED, (_portable(exc), traceback.format_exc()))
        with contextlib.suppress(OSError):
            for put in puts:
                put(failed)
            if reply is not None:
                reply.send(failed)
    finally:
        for send in sends:
            send.close()
        if reply is not None:
            reply.close()


def _pipes_busy(fds: list[int]) -> Callable[[], bool]:
    """Whether every pipe of ``fds`` holds at least half its capacity unread
    (always False where that cannot be asked: then nothing waits)."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
        import termios  # noqa: PLC0415

        half = [fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) // 2 for fd in fds]
    except (ImportError, OSError, AttributeError):
        return lambda: False
    ioctl, fionread = fcntl.ioctl, termios.FIONREAD
    unread = array("i", [0])

    def busy() -> bool:
        for fd, h in zip(fds, half, strict=True):
            ioctl(fd, fionread, unread)
            if unread[0] < h:
                return False
        return bool(fds)
    return busy


def part_view(release: Release, ids: NDArray[np.object_] | None, mine: NDArray[np.bool_],
              over: int) -> Release:
    """A part's view of a release: the events not ``mine`` kept in their
    places, passed over (service point ``over``, the restore kind: see
    :meth:`Engine.as_part`). With ``ids`` (the event ids as an array), theirs
    are left out (a release's order is set: nothing reads them), for a part
    across a pipe; without, they stay."""
    if np.isnan(release.t).any():   # (times are validated: never)
        raise ValueError("a release holds an event without a time: it cannot be passed over")
    event_id = release.event_id
    if ids is not None:
        kept = ids.copy()
        kept[~mine] = ""
        event_id = kept.tolist()
    sp, kind = _passed_over(release.sp, release.kind, mine, over)
    return release._replace(event_id=event_id, sp=sp, kind=kind)


def part_held(state: FrontState, mine: NDArray[np.bool_], over: int) -> FrontState:
    """A part's view of what a front still holds at the end (see :func:`part_view`).
    The ids stay: :meth:`Sequencer.flush` orders held events by (time, id), and
    every part must pass over the others' events in the order one engine
    applies them, where its timers fire and its actions are keyed."""
    buf = state.buffered
    sp, kind = _passed_over(buf.sp, buf.kind, mine, over)
    return FrontState(state.stats, buf._replace(sp=sp, kind=kind))


def _passed_over(sp: NDArray[np.int64], kind: NDArray[np.int8], mine: NDArray[np.bool_],
                 over: int) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    """Service points and kinds with the events not ``mine`` passed over."""
    return np.where(mine, sp, over), np.where(mine, kind, _RESTORE).astype(np.int8)


def merge_parts(parts: list[tuple[list[Any], list[Any]]]) -> tuple[list[dict[str, Any]],
                                                                   list[dict[str, Any]]]:
    """The outages and restorations of :func:`result_of` from each part's
    :meth:`Engine.part_result`: outages by (start, id), the feed by the keys of
    the actions that made its items, numbered again."""
    outages = sorted((x for outs, _ in parts for x in outs), key=lambda x: (x[0], x[1]))
    feed_items = sorted((x for _, items in parts for x in items), key=lambda x: x[0])
    restorations = []
    for seq, (_, row) in enumerate(feed_items, 1):
        row["seq"] = seq
        restorations.append(row)
    return [row for _, _, row in outages], restorations


def _part(receive: Connection, reply: Connection, engine: Engine,
          closing: list[Connection]) -> None:
    """A part of :func:`parts_replay`: apply its view of every release, then
    flush and answer with its outages and feed (:meth:`Engine.part_result`)."""
    gc.disable()
    for c in closing:
        c.close()
    try:
        engine.as_part()
        apply_release = engine.apply_release
        recv = receive.recv
        while True:
            try:
                tag, payload = recv()
            except EOFError:
                reply.send((_GONE, None))
                return
            if tag == _RELEASE:
                apply_release(_unpacked(payload))
            elif tag == _END:
                state, front_usage = payload
                engine.take_front(state)
                break
            else:   # the front failed: pass it on
                reply.send((_FAILED, payload))
                return
        engine.flush()
        outs, feed_items = engine.part_result()
        reply.send((_END, (outs, feed_items, (state.stats, front_usage), _usage())))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            reply.send((_FAILED, (_portable(exc), traceback.format_exc())))
    finally:
        reply.close()
        receive.close()


def _usage() -> dict[str, float]:
    return {"cpu_s": time.process_time(),
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _front(send: Connection, engine: Engine, events: Iterable[object], codes: EventCodes,
           chunk_size: int) -> None:
    """The child: read, decode, check and order; send the releases."""
    gc.disable()
    put = send.send
    try:
        def ship(release: Release) -> None:
            put((_RELEASE, _packed(release)))

        engine.hand_off(ship)
        feed(engine, events, codes, chunk_size)
        state: FrontState = engine.front_state()
        put((_END, (state, _usage())))
    except BaseException as exc:
        # (the parent may be gone, its pipe with it: then nobody is left to tell)
        with contextlib.suppress(OSError):
            put((_FAILED, (_portable(exc), traceback.format_exc())))
    finally:
        send.close()


#: between event ids on the pipe: an accepted id never holds it (events.py)
_SEP = "\x00"


def _packed(release: Release, late: NDArray[np.bool_] | None = None) -> tuple[Any, ...]:
    """A release as the pipe carries it: event ids as one string (unpickled a
    third faster than a list of them, in the process that has no time to
    spare), late flags as an array. Ids as a list where one holds the separator."""
    ids = release.event_id
    joined: str | list[str] = _SEP.join(ids)
    if joined.count(_SEP) != len(ids) - 1:
        joined = ids   # (never from the decoder; kept exact all the same)
    return (release.step, release.t, joined, release.sp, release.kind,
            np.array(release.late, dtype=np.bool_) if late is None else late,
            release.clock0, release.after)


def _unpacked(packed: tuple[Any, ...]) -> Release:
    step, t, ids, sp, kind, late, clock0, after = packed
    if isinstance(ids, str):   # (no ids go as a list: "" holds no separator)
        ids = ids.split(_SEP)
    return Release(step, t, ids, sp, kind, late.tolist(), clock0, after)


def _front_gone(front: Any) -> ReplayError:
    front.join()
    return ReplayError("the replay's front process ended before the end of the events "
                       f"(exit code {front.exitcode}); nothing was written")


def _failure(payload: tuple[bytes, str], where: str) -> BaseException:
    """The exception another process sent (see :func:`_portable`), its
    traceback there as a note."""
    exc, trace = payload
    error: BaseException = pickle.loads(exc)
    error.add_note(f"in the replay's {where}:\n{trace}")
    return error


def _portable(exc: BaseException) -> bytes:
    """The exception pickled, or a RuntimeError naming it where it does not
    survive a round trip (an exception whose constructor takes other arguments)."""
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)
    except Exception:
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return data
