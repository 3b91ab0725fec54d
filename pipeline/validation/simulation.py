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
from ..designs.pooled_did import fit_pooled_did, randomisation_p_value
from ..errors import EstimationError
from ..inputs.study import Analysis, Indicator, Place, Shock
from .demo import (
    FIRST_PERIOD,
    LAST_PERIOD,
    OVERDISPERSION_SHAPE,
    _municipal_shocks,
    expected_counts,
    place_drift,
)
from .demo_places import CATEGORIES

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


#: Innovation variance a month of each place's own random walk in the log level, when
#: ``drift`` is on: of the size measured across real crime series (``designs.its``).
PLACE_DRIFT_VARIANCE = 0.0015
#: Gamma frailty shape of overdispersed place counts (variance mu + mu^2 / shape).
PLACE_FRAILTY_SHAPE = 4.0


@dataclass(frozen=True)
class PlaceScenario:
    """A place-scale series: level, months before and after, controls, noise and drift."""

    level: float
    n_pre: int
    n_post: int = 12
    n_controls: int = 2
    overdispersed: bool = True
    drift: bool = True

    @property
    def label(self) -> str:
        return (
            f"{self.level:g}/month, {self.n_pre}+{self.n_post} months, {self.n_controls} "
            f"control{'s' if self.n_controls > 1 else ''}, "
            f"{'overdispersed' if self.overdispersed else 'Poisson'}, "
            f"{'drift' if self.drift else 'no drift'}"
        )


def simulate_place(
    rng: np.random.Generator, scenario: PlaceScenario, *, effect: float = 1.0
) -> DesignData:
    """One small place and its controls, as a design receives them.

    Every area shares the season and the municipality's monthly shocks (a
    log-normal month effect, sd 0.1); each has its own level (controls at 0.7
    to 1.5 times the target's), its own random walk in the log level
    (``PLACE_DRIFT_VARIANCE``, when ``scenario.drift``), gamma frailty
    (``PLACE_FRAILTY_SHAPE``, when ``scenario.overdispersed``) and Poisson
    counts, so months without events are common at 2-5 a month. The target's
    rate is multiplied by ``effect`` from the start.
    """
    n = scenario.n_pre + scenario.n_post
    periods = pd.period_range("2019-01", periods=n, freq="M")
    season = 1 + 0.15 * np.cos(2 * np.pi * (periods.month.to_numpy() - 7) / 12)
    common = season * np.exp(rng.normal(0, 0.1, n))

    def area(level: float, multiplier: np.ndarray) -> pd.DataFrame:
        log_level = np.zeros(n)
        if scenario.drift:
            walk = np.cumsum(rng.normal(0, np.sqrt(PLACE_DRIFT_VARIANCE), n))
            log_level = walk - walk[: scenario.n_pre].mean()
        mean = level * common * np.exp(log_level) * multiplier
        if scenario.overdispersed:
            mean = mean * rng.gamma(PLACE_FRAILTY_SHAPE, 1 / PLACE_FRAILTY_SHAPE, n)
        return pd.DataFrame(
            {"value": rng.poisson(mean).astype(float), "exposure": 1.0},
            index=pd.PeriodIndex(periods, name="period"),
        )

    step = np.where(np.arange(n) >= scenario.n_pre, effect, 1.0)
    controls = {
        f"c{i}": area(scenario.level * rng.uniform(0.7, 1.5), np.ones(n))
        for i in range(scenario.n_controls)
    }
    start = periods[scenario.n_pre]
    place = Place(
        id="t",
        name="Target",
        municipality="M",
        role="target",
        intervention_start=start.to_timestamp().date(),
        controls=tuple(controls),
    )
    return DesignData(
        municipality="M",
        place=place,
        indicator=TOTAL,
        start=start,
        target=area(scenario.level, step),
        controls=controls,
    )


def place_coverage(
    design, scenario: PlaceScenario, *, replicates: int = 200, seed: int = 1, effect: float = 1.0
) -> dict:
    """Coverage, rejection rate and interval width of ``design`` on simulated places.

    Returns
    -------
    dict
        ``design``, ``scenario``, ``truth``, ``replicates``, ``failed``
        (refused fits), ``coverage``, ``rejection_rate`` (p < 0.05 on the
        side of the truth when ``effect`` is not 1, else on either side) and
        ``median_ratio`` (the interval's upper/lower ratio).
    """
    rng = np.random.default_rng([seed, int(scenario.level * 10), scenario.n_pre])
    tally = _Tally(effect)
    for _ in range(replicates):
        data = simulate_place(rng, scenario, effect=effect)
        try:
            result = design.estimate(data)
        except EstimationError:
            tally.failed += 1
            continue
        result = result[0] if isinstance(result, tuple) else result
        tally.add(result.estimate, result.ci_low, result.ci_high, result.p_value)
    return {"design": design.name, "scenario": scenario.label, **tally.summary(replicates)}


class _Tally:
    """Coverage, rejections on the truth's side and interval widths over replicates."""

    def __init__(self, truth: float):
        self.truth = truth
        self.covered = self.rejected = self.failed = self.discordant = 0
        self.ratios: list[float] = []

    def add(self, estimate: float, ci_low: float, ci_high: float, p_value: float) -> None:
        self.covered += ci_low <= self.truth <= ci_high
        right_side = self.truth == 1.0 or (estimate < 1) == (self.truth < 1)
        self.rejected += p_value < 0.05 and right_side
        self.discordant += (p_value < 0.05) != (not ci_low <= 1.0 <= ci_high)
        self.ratios.append(ci_high / ci_low)

    def summary(self, replicates: int) -> dict:
        n = len(self.ratios)
        return {
            "truth": self.truth,
            "replicates": replicates,
            "failed": self.failed,
            "coverage": self.covered / n if n else float("nan"),
            "rejection_rate": self.rejected / n if n else float("nan"),
            "median_ratio": float(np.median(self.ratios)) if n else float("nan"),
        }


# --------------------------------------------------------------------------- sparse panels

#: Added to a replicate's seed for its randomisation draws, kept apart from its data's.
_ASSIGNMENT_SEED = 1_000_003

#: The month the simulated sparse panels' targets start.
SPARSE_START = pd.Period("2020-07", freq="M")


@dataclass(frozen=True)
class SparseScenario:
    """A sparse panel: targets and comparison areas of a few crimes a month, one common start.

    ``overdispersion`` is the variance of a gamma frailty per cell (0: Poisson);
    ``drift`` the standard deviation of each unit's own random-walk steps in the
    log level.
    """

    n_targets: int = 5
    n_controls: int = 15
    months: int = 24
    n_pre: int = 12
    mean: float = 2.0
    overdispersion: float = 0.0
    drift: float = 0.0

    @property
    def label(self) -> str:
        noise = "Poisson" if not self.overdispersion else f"overdispersion {self.overdispersion:g}"
        return (
            f"{self.n_targets} targets, {self.n_controls} areas, {self.n_pre}+"
            f"{self.months - self.n_pre} months, {self.mean:g}/month, {noise}"
            + (f", drift {self.drift:g}" if self.drift else "")
        )


def sparse_panel(scenario: SparseScenario, *, rate_ratio: float = 1.0, seed: int = 0):
    """Seeded place series: 0.2-3 times ``scenario.mean`` crimes a month, with a season.

    Every unit draws its own level, so targets and areas are exchangeable (the
    assumption the randomisation rests on). The targets' rates from month
    ``scenario.n_pre`` on are multiplied by ``rate_ratio``.

    Returns
    -------
    tuple
        targets, starts and controls as
        :func:`~pipeline.designs.pooled_did.fit_pooled_did` takes them.
    """
    s = scenario
    rng = np.random.default_rng(seed)
    periods = pd.period_range(SPARSE_START - s.n_pre, periods=s.months, freq="M")
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(s.months) / 12)
    series = {}
    for i in range(s.n_targets + s.n_controls):
        level = s.mean * rng.uniform(0.2, 3.0)
        walk = np.cumsum(rng.normal(0, s.drift, s.months)) if s.drift else 0.0
        rate = level * season * np.exp(walk)
        if i < s.n_targets:
            rate = rate * np.where(np.arange(s.months) >= s.n_pre, rate_ratio, 1.0)
        if s.overdispersion:
            shape = 1 / s.overdispersion
            rate = rate * rng.gamma(shape, 1 / shape, s.months)
        values = rng.poisson(rate).astype(float)
        series[i] = pd.DataFrame({"value": values, "exposure": 1.0}, index=periods)
    targets = {f"t{i}": series[i] for i in range(s.n_targets)}
    controls = {f"c{i}": series[s.n_targets + i] for i in range(s.n_controls)}
    return targets, dict.fromkeys(targets, SPARSE_START), controls


def pooled_did_coverage(
    scenario: SparseScenario,
    *,
    replicates: int = 200,
    effect: float = 1.0,
    draws: int = 199,
    seed: int = 0,
) -> dict:
    """Rejection rate and interval coverage of the pooled difference-in-differences.

    Returns
    -------
    dict
        ``scenario``, ``truth``, ``replicates``, ``failed`` (refused fits),
        ``coverage`` of ``effect`` by the 95 % interval, ``rejection_rate``
        (p < 0.05, on the side of the truth when ``effect`` is not 1),
        ``median_ratio`` (the interval's upper/lower ratio) and ``discordant``
        (fits whose interval excludes 1 while p >= 0.05, or the reverse).
    """
    tally = _Tally(effect)
    for replicate in range(replicates):
        data = sparse_panel(scenario, rate_ratio=effect, seed=seed + replicate)
        try:
            # The assignments' own stream: drawn from the data's seed they would share its
            # first numbers (the first units' levels) and no longer be independent of them.
            fit = fit_pooled_did(
                *data, draws=draws, bootstrap=0, seed=_ASSIGNMENT_SEED + seed + replicate
            )
        except EstimationError:
            tally.failed += 1
            continue
        tally.add(fit.ratio, fit.ci_low, fit.ci_high, fit.p_value)
    return {"scenario": scenario.label, **tally.summary(replicates), "discordant": tally.discordant}


def pooled_did_level(
    scenario: SparseScenario,
    *,
    replicates: int = 1000,
    effect: float = 1.0,
    draws: int = 199,
    seed: int = 0,
) -> dict:
    """How often the pooled difference-in-differences' randomisation test rejects the truth.

    The p-value of the hypothesis that the measures multiplied the targets'
    rate by ``effect``, the true ratio, on each replicate
    (:func:`~pipeline.designs.pooled_did.randomisation_p_value`, without the
    interval): under exchangeable units the test is exact, so ``P(p <= a)`` is
    at most ``a``. Its interval is the set of ratios the test keeps, so one
    minus the rejection rate is the interval's coverage of ``effect``. A
    replicate has the data and assignments of :func:`pooled_did_coverage` with
    the same ``seed``, at a fraction of its cost.

    Returns
    -------
    dict
        ``scenario``, ``truth``, ``replicates``, ``failed`` (refused fits),
        ``rejection_rate`` (p < 0.05, the rule of the reports) and
        ``at_most_01``, ``at_most_05``, ``at_most_10`` (the shares of p-values
        at most 0.01, 0.05 and 0.10).
    """
    p_values, failed = [], 0
    for replicate in range(replicates):
        data = sparse_panel(scenario, rate_ratio=effect, seed=seed + replicate)
        try:
            p_values.append(
                randomisation_p_value(
                    *data, ratio=effect, draws=draws, seed=_ASSIGNMENT_SEED + seed + replicate
                )
            )
        except EstimationError:
            failed += 1
    p = np.array(p_values)

    def share(selected: np.ndarray) -> float:
        return float(selected.mean()) if len(p) else float("nan")

    return {
        "scenario": scenario.label,
        "truth": effect,
        "replicates": replicates,
        "failed": failed,
        "rejection_rate": share(p < 0.05),
        "at_most_01": share(p <= 0.01),
        "at_most_05": share(p <= 0.05),
        "at_most_10": share(p <= 0.10),
    }
