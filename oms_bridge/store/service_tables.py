"""The service's tables, defined in :mod:`oms_bridge.store.schema` (migration 0002).

Re-exported here for the repositories of the running service.
"""

from __future__ import annotations

from oms_bridge.store.schema import (
    bus_offsets,
    engine_epochs,
    events,
    outage_changes,
    outages,
    restorations,
)

__all__ = [
    "bus_offsets",
    "engine_epochs",
    "events",
    "outage_changes",
    "outages",
    "restorations",
]
