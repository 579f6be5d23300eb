"""Named hand-made reference feeders, built through the public TopologyBuilder."""

from __future__ import annotations

from oms_bridge.core.topology import Topology, TopologyBuilder

__all__ = ["dense_lateral", "fuse_over_one_transformer", "radial", "two_laterals"]


def _transformer(b: TopologyBuilder, name: str, parent: int, meters: int,
                 non_ami: int = 0) -> int:
    xf = b.device(name, "transformer", parent)
    for i in range(meters):
        b.service_point(f"SP-{name}-{i}", xf, meter=f"M-{name}-{i}")
    for i in range(non_ami):
        b.service_point(f"SPN-{name}-{i}", xf, meter_type="manual")
    return xf


def radial() -> Topology:
    """One breaker, four transformers of five AMI meters each, one non-AMI pocket."""
    b = TopologyBuilder()
    src = b.feeder("FDR-1")
    brk = b.device("BRK-1", "breaker", src)
    for i in range(4):
        _transformer(b, f"XF-{i}", brk, 5)
    _transformer(b, "XF-N", brk, 0, non_ami=3)
    return b.build()


def two_laterals() -> Topology:
    """Breaker, recloser with two fused laterals (three transformers of six meters
    each), a main-line transformer under the recloser, a transformer with one metered
    customer and two non-AMI ones, and a fuse over a single transformer."""
    b = TopologyBuilder()
    src = b.feeder("FDR-2")
    brk = b.device("BRK-2", "breaker", src)
    _transformer(b, "XF-HEAD", brk, 6)
    rcl = b.device("RCL-1", "recloser", brk)
    _transformer(b, "XF-MAIN", rcl, 6)
    for lat in ("A", "B"):
        fuse = b.device(f"FUSE-{lat}", "fuse", rcl)
        for j in range(3):
            _transformer(b, f"XF-{lat}{j}", fuse, 6, non_ami=1)
    sw = b.device("SW-1", "switch", brk)
    fuse_c = b.device("FUSE-C", "fuse", sw)
    _transformer(b, "XF-C", fuse_c, 4)
    _transformer(b, "XF-ONE", brk, 1, non_ami=2)
    return b.build()


def fuse_over_one_transformer() -> Topology:
    b = TopologyBuilder()
    src = b.feeder("FDR-3")
    brk = b.device("BRK-3", "breaker", src)
    _transformer(b, "XF-OTHER", brk, 8)
    fuse = b.device("FUSE-1", "fuse", brk)
    _transformer(b, "XF-1", fuse, 5, non_ami=2)
    return b.build()


def dense_lateral() -> Topology:
    """Breaker, recloser, fuse over a lateral of small transformers as real feeders
    have them (five or six customers each, so service points outnumber transformers
    about five to one): XF-HEAD (six meters) on the main line; below the recloser
    FUSE-D over XF-2 (two meters), XF-3 (three) and XF-6 (six), and FUSE-E0..E4
    over two of XF-D0..XF-D9 (six meters each)."""
    b = TopologyBuilder()
    src = b.feeder("FDR-4")
    brk = b.device("BRK-4", "breaker", src)
    _transformer(b, "XF-HEAD", brk, 6)
    rcl = b.device("RCL-4", "recloser", brk)
    fuse = b.device("FUSE-D", "fuse", rcl)
    _transformer(b, "XF-2", fuse, 2)
    _transformer(b, "XF-3", fuse, 3)
    _transformer(b, "XF-6", fuse, 6)
    for i in range(5):
        fuse_e = b.device(f"FUSE-E{i}", "fuse", rcl)
        _transformer(b, f"XF-D{2 * i}", fuse_e, 6)
        _transformer(b, f"XF-D{2 * i + 1}", fuse_e, 6)
    return b.build()
