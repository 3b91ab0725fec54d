"""Simulation with a known truth, from the demo study's data-generating model.

``simulate_design_data`` draws one target, its control and its buffer from the
model in :mod:`pipeline.validation.demo` (season, trend, COVID-19 dip, shared municipal
shocks, negative-binomial noise, a step effect), already assembled as the
:class:`~pipeline.designs.base.DesignData` a design receives.
``design_coverage`` repeats that and reports how often each design's interval
covers the true rate ratio, its bias and its rejection rate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..designs.base import DesignData
from ..errors import EstimationError
from ..inputs.study import Analysis, Indicator, Place, Shock
from .demo import (
    CATEGORIES,
    FIRST_PERIOD,
    LAST_PERIOD,
    OVERDISPERSION_SHAPE,
    _municipal_shocks,
    expected_counts,
    place_drift,
)

COVID = Shock(
    id="covid19",
    label_sv="covid-19-pandemin",
    label_en="COVID-19 pandemic",
    start=dt.date(2020, 3, 1),
    end=dt.date(2022, 2, 28),
)
TOTAL = Indicator(
    id="crimes_total",
    label_sv="Anmälda brott, totalt",
    label_en="Reported crimes, total",
    family="count",
    better="lower",
    unit="n",
)


def _draw(rng, place: dict, periods, shocks, with_effect: bool, drift: bool = True) -> np.ndarray:
    local = shocks * place_drift(rng, len(periods)) if drift else shocks
    means = expected_counts(place, periods, local, with_effect=with_effect)
    total = np.zeros(len(periods))
    for category in CATEGORIES:
        frailty = rng.gamma(OVERDISPERSION_SHAPE, 1 / OVERDISPERSION_SHAPE, size=len(periods))
        total += rng.poisson(means[category] * frailty)
    return total


def simulate_design_data(
    rng: np.random.Generator,
    *,
    effect: float = 0.8,
    buffer_effect: float = 1.0,
    target_level: float = 14.0,
    control_level: float = 12.0,
    buffer_level: float = 10.0,
    start: str = "2020-10-01",
    drift: bool = True,
    n_donors: int = 0,
    analysis: Analysis | None = None,
) -> DesignData:
    """One simulated target with a control, a buffer and ``n_donors`` donors, as a design receives it.

    The target, control and buffer share a municipality's shocks; each donor has
    its own municipality's shocks (and the national COVID-19 dip). ``drift``
    switches each area's own random walk on or off.
    """
    periods = pd.period_range(FIRST_PERIOD, LAST_PERIOD, freq="M")
    shocks = _municipal_shocks(rng, len(periods))
    days = periods.days_in_month.to_numpy().astype(float)
    target = {"id": "t", "level": target_level, "effect": effect, "intervention_start": start}
    control = {"id": "c", "level": control_level}
    buffer = {
        "id": "b",
        "level": buffer_level,
        "effect": buffer_effect,
        "intervention_start": start,
    }

    def frame(values):
        return pd.DataFrame(
            {"value": values, "exposure": days}, index=pd.PeriodIndex(periods, name="period")
        )

    place = Place(
        id="t",
        name="Target",
        municipality="M",
        role="target",
        intervention_start=start,
        controls=("c",),
        buffer="b",
    )
    donors = {}
    for i in range(n_donors):
        donor = {"id": f"d{i}", "level": float(rng.choice([6.0, 8.0, 10.0, 12.0, 15.0]))}
        donor_shocks = _municipal_shocks(rng, len(periods))
        donors[f"d{i}"] = frame(_draw(rng, donor, periods, donor_shocks, False, drift))
    return DesignData(
        municipality="M",
        place=place,
        indicator=TOTAL,
        start=pd.Period(start, freq="M"),
        target=frame(_draw(rng, target, periods, shocks, True, drift)),
        controls={"c": frame(_draw(rng, control, periods, shocks, False, drift))},
        buffer=frame(_draw(rng, buffer, periods, shocks, True, drift)),
        donors=donors,
        buffer_place=Place(id="b", name="Buffer", municipality="M", role="buffer"),
        shocks=(COVID,),
        analysis=analysis or Analysis(),
    )


@dataclass(frozen=True)
class Coverage:
    """How a design did over simulated replicates with a known truth."""

    design: str
    truth: float
    replicates: int
    failed: int
    coverage: float
    mean_log_bias: float
    median_estimate: float
    rejection_rate: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def design_coverage(
    design, *, replicates: int = 500, seed: int = 1, effect: float = 0.8, **kwargs
) -> Coverage:
    """Coverage of the 95 % interval, bias on the log scale and rejection rate of ``design``."""
    rng = np.random.default_rng(seed)
    estimates, covered, rejected, failed = [], 0, 0, 0
    for _ in range(replicates):
        data = simulate_design_data(rng, effect=effect, **kwargs)
        try:
            result = design.estimate(data)
        except EstimationError:
            failed += 1
            continue
        result = result[0] if isinstance(result, tuple) else result
        estimates.append(result.estimate)
        covered += result.ci_low <= effect <= result.ci_high
        rejected += result.p_value < 0.05
    n = len(estimates)
    return Coverage(
        design=design.name,
        truth=effect,
        replicates=replicates,
        failed=failed,
        coverage=covered / n,
        mean_log_bias=float(np.mean(np.log(estimates)) - np.log(effect)),
        median_estimate=float(np.median(estimates)),
        rejection_rate=rejected / n,
    )
