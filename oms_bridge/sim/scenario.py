"""The scenario generator: a topology and a seeded generator in, events and truth out.

Pure: no files, no clocks, no global random state. The same topology, params and
seed give the same scenario, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from oms_bridge.core.topology import Topology
from oms_bridge.sim.params import StormParams
from oms_bridge.sim.placement import place_outages
from oms_bridge.sim.stream import EventTable, build_events
from oms_bridge.sim.truth import TrueOutage, Truth

__all__ = ["Scenario", "area_delivery", "generate"]


@dataclass
class Scenario:
    """What :func:`generate` returns: the delivered stream and the truth behind it."""

    topology: Topology
    events: EventTable
    truth: Truth

    def lines(self) -> Iterator[str]:
        """The events file, one JSON text per line, in arrival order."""
        return self.events.lines(self.topology)


def area_delivery(params: StormParams, ami_meters: int) -> float:
    """Last-gasp delivery for an outage of ``ami_meters``: lower when a whole area is
    dark (collectors and their backhaul lose power too)."""
    lo, hi = params.small_area_meters, max(params.large_area_meters, params.small_area_meters + 1)
    frac = min(max((ami_meters - lo) / (hi - lo), 0.0), 1.0)
    return params.delivery * (1.0 - frac * (1.0 - params.large_area_factor))


def _apply_delivery(outages: list[TrueOutage], params: StormParams) -> None:
    for o in outages:
        o.delivery = area_delivery(params, o.ami_meters)


def generate(topology: Topology, rng: np.random.Generator,
             params: StormParams | None = None, *, seed: int | None = None) -> Scenario:
    """A realistic storm over ``topology``.

    ``seed`` is only recorded in the truth; randomness comes from ``rng``.
    """
    params = params or StormParams()
    outages = place_outages(topology, rng, params)
    _apply_delivery(outages, params)
    table, counts = build_events(topology, outages, rng, params)
    start_ms = round(params.start.timestamp() * 1000)
    end_ms = max([start_ms + round(params.duration_h * 3_600_000)]
                 + [o.restored_ms for o in outages])
    truth = Truth(
        seed=seed, start_ms=start_ms, end_ms=end_ms, params=params.to_dict(),
        outages=outages, events=counts, feeders=topology.feeder_ids,
    )
    return Scenario(topology=topology, events=table, truth=truth)
