"""Placebo tests in time: the same design at fake start dates before the real one.

The series is cut at the real start, so no placebo sees the intervention. At
each fake start (every ``step`` months, leaving ``min_before`` months before it
and ``min_after`` after it) the design is estimated again; its statistic is
the log estimate over the half-width of its log interval (a t statistic up to
a constant). The placebo p-value is the rank of the real statistic among them,
``(1 + #{placebos at least as extreme}) / (n + 1)``: it asks how unusual the
real change is among the changes the same place showed when nothing was
started, whatever the model's distributional assumptions. It cannot go below
``1 / (n + 1)`` and it shares any drift the pre-period had, so it complements
the model p-value rather than replacing it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..designs.base import DesignData
from ..errors import EstimationError
from ..results import Effect

MIN_BEFORE = 12
MIN_AFTER = 6
STEP = 3


def _statistic(effect: Effect) -> float:
    bounds = np.array([effect.estimate, effect.ci_low, effect.ci_high], dtype=float)
    if not (np.isfinite(bounds).all() and (bounds > 0).all()):
        return np.nan  # a degenerate fit at a fake start says nothing
    half_width = (np.log(effect.ci_high) - np.log(effect.ci_low)) / 2
    return abs(np.log(effect.estimate)) / half_width if half_width > 0 else np.nan


def placebo_in_time(
    design,
    data: DesignData,
    real: Effect,
    *,
    min_before: int = MIN_BEFORE,
    min_after: int = MIN_AFTER,
    step: int = STEP,
) -> tuple[float, int]:
    """Placebo p-value of ``real`` among fake starts in the pre-period, and how many placebos ran.

    Returns ``(nan, 0)`` when the pre-period is too short for any placebo.
    """
    pre = data.target.index < data.start
    periods = data.target.index[pre]
    if len(periods) < min_before + min_after:
        return float("nan"), 0

    def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if frame is None else frame[frame.index < data.start]

    before = replace(
        data,
        target=cut(data.target),
        controls={k: cut(v) for k, v in data.controls.items()},
        buffer=cut(data.buffer),
        donors={k: cut(v) for k, v in data.donors.items()},
        # A declared shock that starts after the cut would be constant: leave it out.
        shocks=tuple(s for s in data.shocks if pd.Period(s.start, freq="M") < data.start),
    )
    statistics = []
    for position in range(min_before, len(periods) - min_after + 1, step):
        fake = replace(before, start=pd.Period(periods[position], freq="M"))
        try:
            effect = design.estimate(fake)
        except EstimationError:
            continue
        effect = effect[0] if isinstance(effect, tuple) else effect
        value = _statistic(effect)
        if np.isfinite(value):
            statistics.append(value)
    if not statistics:
        return float("nan"), 0
    observed = _statistic(real)
    extreme = sum(value >= observed for value in statistics)
    return (1 + extreme) / (len(statistics) + 1), len(statistics)
