"""A replay over two processes: a front that reads and orders, an engine that applies.

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
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from oms_bridge.core.engine import Engine, FrontState, result_of
from oms_bridge.core.events import EventCodes
from oms_bridge.core.inference import InferenceTuning
from oms_bridge.core.reorder import Release
from oms_bridge.core.replay import CHUNK, collector_paused, feed, replay
from oms_bridge.core.topology import Topology
from oms_bridge.errors import OmsBridgeError
from oms_bridge.settings import CoverageSettings, EngineSettings

__all__ = ["ReplayError", "can_split", "replay_with", "split_replay", "usable_cpus"]

# message tags, child to parent
_RELEASE, _END, _FAILED = 0, 1, 2
#: the pipe's buffer: a few chunks of releases in flight, so neither side
#: waits on the other's every step (Linux allows 1 MiB unprivileged)
_PIPE_BYTES = 1 << 20


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


def replay_with(topology: Topology, events: Iterable[object],
                settings: EngineSettings | None = None,
                coverage: CoverageSettings | None = None, *,
                workers: int | None = None, chunk_size: int = CHUNK) -> dict[str, Any]:
    """:func:`split_replay` with ``workers=2``, :func:`replay` with 1; ``None``:
    split where :func:`can_split`. The result is the same either way."""
    if workers is None:
        workers = 2 if can_split() else 1
    if workers not in {1, 2}:
        raise ValueError(f"workers must be 1 or 2, not {workers}")
    if workers == 2:
        return split_replay(topology, events, settings, coverage, chunk_size=chunk_size)
    return replay(topology, events, settings, coverage, chunk_size=chunk_size)


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
    with contextlib.suppress(AttributeError, OSError):   # a wider pipe where allowed
        import fcntl  # noqa: PLC0415 - POSIX only

        fcntl.fcntl(send.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
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


def _end(front: Any, receive: Connection) -> None:
    """The child joined (ended if it lingers) and its handle closed, while the
    collector is still paused: closed later by a finaliser, it would allocate,
    and the first allocation once the collector is back on starts a collection
    of everything the replay made, ~0.5 s on the bench storm, that a
    one-process replay leaves to its caller's next allocation."""
    receive.close()
    if front.pid is None:   # never started
        return
    front.join(timeout=5)
    if front.is_alive():
        front.terminate()
        front.join()
    front.close()


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
            front.join()
            raise ReplayError("the replay's front process ended before the end of the events "
                              f"(exit code {front.exitcode}); nothing was written") from None
        if tag == _RELEASE:
            apply_release(_unpacked(payload))
        elif tag == _END:
            state, usage = payload
            engine.take_front(state)
            return usage  # type: ignore[no-any-return]
        else:
            exc, where = payload
            error = pickle.loads(exc)
            error.add_note(f"in the replay's front process:\n{where}")
            raise error


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
        usage = {"cpu_s": time.process_time(),
                 "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
        put((_END, (state, usage)))
    except BaseException as exc:
        # (the parent may be gone, its pipe with it: then nobody is left to tell)
        with contextlib.suppress(OSError):
            put((_FAILED, (_portable(exc), traceback.format_exc())))
    finally:
        send.close()


#: between event ids on the pipe: an accepted id never holds it (events.py)
_SEP = "\x00"


def _packed(release: Release) -> tuple[Any, ...]:
    """A release as the pipe carries it: event ids as one string (unpickled a
    third faster than a list of them, in the process that has no time to
    spare), late flags as an array. Ids as a list where one holds the separator."""
    ids = release.event_id
    joined: str | list[str] = _SEP.join(ids)
    if joined.count(_SEP) != len(ids) - 1:
        joined = ids   # (never from the decoder; kept exact all the same)
    return (release.step, release.t, joined, release.sp, release.kind,
            np.array(release.late, dtype=np.bool_), release.clock0, release.after)


def _unpacked(packed: tuple[Any, ...]) -> Release:
    step, t, ids, sp, kind, late, clock0, after = packed
    if isinstance(ids, str):   # (no ids go as a list: "" holds no separator)
        ids = ids.split(_SEP)
    return Release(step, t, ids, sp, kind, late.tolist(), clock0, after)


def _portable(exc: BaseException) -> bytes:
    """The exception pickled, or a RuntimeError naming it where it does not
    survive a round trip (an exception whose constructor takes other arguments)."""
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)
    except Exception:
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return data
