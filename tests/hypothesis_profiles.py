"""Hypothesis settings shared by the property tests.

``ci`` (the default) is derandomized, so every CI run tries the same examples and a failure
reproduces; ``long`` explores freely. ``NMAPX_HYPOTHESIS=long NMAPX_HYPOTHESIS_SCALE=100``
runs a hundred times more examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile(os.environ.get("NMAPX_HYPOTHESIS", "ci"))
SCALE = int(os.environ.get("NMAPX_HYPOTHESIS_SCALE", "1"))
