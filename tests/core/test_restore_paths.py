"""Restores of stragglers (meters a closed outage left unverified) through the
bulk path equal one-by-one ingestion.

The inline loop (``Engine._block``) applies a straggler's restore itself when
an outage already restoring owns the meter and this restore does not complete
it: known on there, verified (and maybe confirmed) in the closed one. These
storms leave stragglers behind, take their meters dark again under an outage
higher up and bring them back in every order: before and after the owner's
first restore, the last straggler of an outage (which confirms it) and not,
a restore that completes the owner, repeated restores, with the changes
drained in between.
"""

from __future__ import annotations

import random

import orjson
import pytest

from oms_bridge.core.engine import Engine, result_of
from oms_bridge.core.events import parse_event
from oms_bridge.core.topology import Topology

from .test_block_caches import CODES, SETTINGS, lines_of, three_feeders

FUSE = [f"M-00{x}{m}" for x in range(2) for m in range(4)]   # FUSE-00's meters
FEEDER = FUSE + [f"M-01{x}{m}" for x in range(2) for m in range(4)]


def storm(seed: int) -> list[tuple[float, str, str]]:
    """Rows (time, meter, kind) in arrival order; a few restores arrive late
    (behind the watermark: applied by the handlers, out of time order)."""
    rng = random.Random(seed)
    rows: list[tuple[float, str, str]] = []
    # FUSE-00 out, back but for a few meters: they stay unverified stragglers
    rows += [(0.5 * i, m, "last_gasp") for i, m in enumerate(FUSE)]
    lost = rng.sample(FUSE, rng.choice([1, 2, 3]))
    rows += [(600.0 + i, m, "power_restored") for i, m in enumerate(FUSE) if m not in lost]
    # the whole feeder out (the stragglers silent: still dark to the engine)
    start = 3000.0
    rows += [(start + 0.3 * i, m, "last_gasp") for i, m in enumerate(FEEDER)
             if m not in lost and rng.random() < 0.9]
    # back in a random order, the stragglers among the others, some twice; the
    # rest of the feeder later (or never). Restores more than lateness_s apart
    # are released one at a time (each the first change after a drain)
    back = start + 900.0
    step = rng.choice([0.5, 40.0])
    order = [m for m in FEEDER if m not in lost or rng.random() < 0.8]
    rng.shuffle(order)
    keep = rng.choice([len(order), len(order) - 1, len(order) - 3])
    for i, m in enumerate(order):
        t = back + step * i if i < keep else back + 2000.0 + step * i
        if rng.random() < 0.9:
            rows.append((t, m, "power_restored"))
        if rng.random() < 0.2:
            rows.append((t + 0.2, m, "power_restored"))
    rows += [(back + 5000.0, "M-1000", "last_gasp")]   # time passes
    arrival = [(t + (45.0 if rng.random() < 0.05 else 0.0), t, m, kind) for t, m, kind in rows]
    arrival.sort()
    return [(t, m, kind) for _, t, m, kind in arrival]


def outcome(topo: Topology, lines: list[str], *, bulk: bool) -> bytes:
    """The result, the changes drained after every line and each outage's
    detail (its restore timeline, which the result does not show)."""
    engine = Engine(topo, SETTINGS)
    drained = []
    for a in range(len(lines)):
        if bulk:
            engine.ingest_lines(lines[a:a + 1])
        else:
            for line in lines[a:a + 1]:
                engine.ingest(parse_event(orjson.loads(line), CODES))
        drained.append(engine.drain_changes())
    engine.flush()
    drained.append(engine.drain_changes())
    details = [engine.outage_detail(o["outage_id"]) for o in engine.outages()]
    return orjson.dumps([result_of(engine), drained, details])


def check(topo: Topology, lines: list[str]) -> None:
    assert outcome(topo, lines, bulk=True) == outcome(topo, lines, bulk=False)


@pytest.mark.parametrize("seed", range(40))
def test_straggler_restores_under_a_restoring_owner(seed: int) -> None:
    check(three_feeders(), lines_of(storm(seed)))
