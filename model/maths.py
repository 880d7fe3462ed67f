"""Small numerical helpers the rules share."""

from __future__ import annotations

import math


def logistic(z: float) -> float:
    """1 / (1 + e^-z), also for very negative z (a tiny base rate plus negative weights and a
    long wait), where e^-z would overflow a float; e^z is the same value there."""
    if z < -700.0:
        return math.exp(z)
    return 1.0 / (1.0 + math.exp(-z))
