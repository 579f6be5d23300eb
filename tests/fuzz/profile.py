"""How many examples the fuzzers run: a short form for every test run, a long form on demand.

The short form is what the default suite runs (a few hundred examples per
property, seconds in all). The long form is the same properties, marked
``slow``, with the example counts of the profile named by
``HYPOTHESIS_PROFILE`` (``long``: more than 100,000 examples across them)::

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/fuzz tests/security -m slow \
        --hypothesis-show-statistics

Without ``HYPOTHESIS_PROFILE=long``, ``-m slow`` runs the long-form tests at a
tenth of their counts (a quick check that they still work).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["LONG", "fuzz_settings", "long_settings"]

#: True when the long form was asked for.
LONG = os.environ.get("HYPOTHESIS_PROFILE", "").strip().lower() == "long"

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
             HealthCheck.large_base_example]


def fuzz_settings(examples: int) -> settings:
    """Settings of a short-form property (default suite): fixed, small counts."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=_SUPPRESS)


def long_settings(examples: int) -> settings:
    """Settings of a long-form property (``-m slow``): ``examples`` under the long
    profile, a tenth of them otherwise."""
    n = examples if LONG else max(10, examples // 10)
    return settings(max_examples=n, deadline=None, suppress_health_check=_SUPPRESS)
