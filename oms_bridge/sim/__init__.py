"""Scenario generator, scorer and reference topologies for demos, tests and benchmarks."""

from oms_bridge.sim.params import StormParams
from oms_bridge.sim.scenario import Scenario, generate
from oms_bridge.sim.truth import EventCounts, TrueOutage, Truth

__all__ = ["EventCounts", "Scenario", "StormParams", "TrueOutage", "Truth", "generate"]
