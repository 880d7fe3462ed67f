"""Functions whose sensitivity indices are known exactly, for sweeps with `target = ...`.

They check the whole sweep pipeline (sweep file -> engine -> store -> SALib -> indices.csv)
against analytic answers, which a stochastic model cannot give. Each takes its inputs as
keyword arguments and returns a dict of outcomes, as every sweep target must.
"""

from __future__ import annotations

import math

#: Exact indices of `ishigami` with a=7, b=0.1 and x1, x2, x3 ~ U(-pi, pi)
#: (V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2; Sobol' & Levitan 1999).
ISHIGAMI_S1 = {"x1": 0.313905, "x2": 0.442411, "x3": 0.0}
ISHIGAMI_ST = {"x1": 0.557589, "x2": 0.442411, "x3": 0.243684}
ISHIGAMI_S2_13 = 0.243684

#: Coefficients of `linear`: its elementary effects are the coefficients themselves, at
#: every point, so Morris gives mu = mu* = the coefficient (in absolute value) and sigma = 0.
LINEAR_COEFFICIENTS = {"x1": 4.0, "x2": -2.0, "x3": 1.0, "x4": 0.0}


def ishigami(x1: float, x2: float, x3: float, a: float = 7.0, b: float = 0.1) -> dict:
    """The Ishigami function: non-linear, non-monotonic, with an x1-x3 interaction."""
    y = math.sin(x1) + a * math.sin(x2) ** 2 + b * x3 ** 4 * math.sin(x1)
    return {"y": y}


def linear(x1: float = 0.0, x2: float = 0.0, x3: float = 0.0, x4: float = 0.0) -> dict:
    """y = 4 x1 - 2 x2 + x3 (+ 0 x4), and its absolute value as a second outcome."""
    values = {"x1": x1, "x2": x2, "x3": x3, "x4": x4}
    y = sum(LINEAR_COEFFICIENTS[k] * v for k, v in values.items())
    return {"y": y, "y_abs": abs(y)}


def cliff(x1: float, x2: float = 0.0) -> dict:
    """A target that is not finite everywhere, for the tests of the analysis's refusal.

    y = 1 / x1, but infinite below x1 = 0.1 (an overflow, as a numerical model may give);
    there y_nan is NaN, y_none is undefined (None) and y_text is no number at all. z = x1 + x2
    is finite everywhere, so its indices are still computed."""
    z = x1 + x2
    if x1 < 0.1:
        return {"y": math.inf, "y_nan": math.nan, "y_none": None, "y_text": "n/a", "z": z}
    y = 1 / x1
    return {"y": y, "y_nan": y, "y_none": y, "y_text": y, "z": z}
