"""Interrupted time series (ITS) for count indicators.

Segmented regression on the log scale (Lopez Bernal, Cummins & Gasparrini
2017)::

    log E[y_t] = log(exposure_t) + a + b*time + seasonal harmonics
                 + shock dummies + d*post_t

``exp(d)`` is the rate ratio after versus before the intervention, holding
trend and season fixed: the average level change over the post period.

What it can show: a change in level at the intervention date that the
pre-period trend and season do not predict. What it cannot: separate the
intervention from anything else that changed at the same time in the same
place (SMS level 2). Declared shocks (COVID-19) get their own step, which
helps only as far as the shock's shape is a step.

The fit, its placebo fits at fake starts and the design's variants (the rank
test, the slope change) stay in one module (over 500 lines): the variants share
the design matrix, the fit and the placebo fits.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ..errors import EstimationError
from ..inputs.study import Shock
from ..methods.drift import (
    MIN_EFFECTIVE_PLACEBOS,
    PlaceboFit,
    effective_placebos,
    excess_variance,
    mean_squared_z,
    placebo_note,
    random_walk_load,
    rank_interval,
    rank_p_value,
    step_correlation,
)
from ..methods.glm import poisson_step
from ..results import Effect
from .base import DesignData, harmonics, shock_dummies

Inference = Literal["poisson", "quasipoisson", "hac"]
DriftMethod = Literal["random_walk", "inflation", "variance"]
MIN_PRE = 12
MIN_POST = 3
PLACEBO_BEFORE = 12
PLACEBO_AFTER = 6
#: Innovation variance per month of a random walk in the log level beyond trend and
#: season: the step estimates' excess variance at fake starts in Brå's series over
#: their random-walk loads (method of moments, ``benchmarks/calibrate_inference.py``),
#: rounded up.
RANDOM_WALK_VARIANCE = 0.0015


@dataclass(frozen=True)
class ItsFit:
    """An ITS fit on one series: the step's rate ratio and the model behind it."""

    rate_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    std_error_log: float
    dispersion: float
    inference: str
    params: pd.Series
    fitted: pd.DataFrame
    placebo_p_value: float = float("nan")
    placebo_p_min: float = float("nan")
    n_placebos: int = 0
    effective_placebos: float = float("nan")
    drift_measured: bool = False


def placebo_fits(
    counts: np.ndarray,
    periods: pd.PeriodIndex,
    start: pd.Period,
    *,
    exposure: np.ndarray | None = None,
    harmonic_pairs: int = 2,
    shocks: tuple[Shock, ...] = (),
    before: int = PLACEBO_BEFORE,
    after: int = PLACEBO_AFTER,
    effective: bool = True,
) -> tuple[list[PlaceboFit], float]:
    """The step refitted at every fake start in the pre-period, and what they are worth.

    The series is cut at the real start; a fake start needs ``before``
    months before it and ``after`` from it.

    effective
        Compute their effective number (NaN when False).

    Returns
    -------
    tuple
        The placebo fits in time order, and their effective number (see
        :mod:`pipeline.methods.drift`; 0 without placebos).
    """
    pre = periods < start
    counts, periods = np.asarray(counts, dtype=float)[pre], periods[pre]
    exposure = None if exposure is None else np.asarray(exposure, dtype=float)[pre]
    shocks = tuple(s for s in shocks if pd.Period(s.start, freq="M") < start)
    offset = None if exposure is None else np.log(exposure)
    fits = []
    positions = range(before, len(periods) - after + 1)
    if not len(positions):
        return fits, 0.0
    # One design matrix; only the step column moves with the fake start.
    exog = its_design_matrix(
        periods, periods[positions[0]], harmonic_pairs=harmonic_pairs, shocks=shocks
    )
    column = list(exog.columns).index("post")
    index = np.arange(len(periods))
    for position in positions:
        earlier = index < position
        if counts[earlier].sum() == 0 or counts[~earlier].sum() == 0:
            continue
        matrix = exog.to_numpy().copy()
        matrix[:, column] = (~earlier).astype(float)
        if np.linalg.matrix_rank(matrix) < matrix.shape[1]:
            continue
        coef, se = poisson_step(counts, matrix, offset, column)
        if np.isfinite(se) and se > 0:
            fits.append(PlaceboFit(coef, se, matrix, column))
    if not fits:
        return fits, 0.0
    if not effective:
        return fits, float("nan")
    # Working weights from the pre-period model without a step.
    base = fits[0].exog[:, [j for j in range(fits[0].exog.shape[1]) if j != fits[0].column]]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a flat series fits perfectly; only its weights count
        null = sm.GLM(counts, base, family=sm.families.Poisson(), offset=offset).fit()
    weights = np.maximum(np.asarray(null.fittedvalues, dtype=float), 1e-3)
    return fits, effective_placebos(step_correlation(fits, weights))


def placebo_steps(
    counts: np.ndarray, periods: pd.PeriodIndex, start: pd.Period, **options
) -> list[tuple[float, float]]:
    """``(log step, quasi-Poisson standard error)`` at every fake start.

    Takes the keyword arguments of :func:`placebo_fits` (but ``effective``).
    """
    fits, _ = placebo_fits(counts, periods, start, effective=False, **options)
    return [(f.coef, f.std_error) for f in fits]


def drift_variance(steps: list[tuple[float, float]]) -> float:
    """Additive drift variance: the placebo steps' mean square beyond their sampling variances."""
    if not steps:
        return 0.0
    b, s = np.asarray(steps, dtype=float).T
    return max(0.0, float(np.mean(b**2) - np.mean(s**2)))


def drift_inflation(steps: list[tuple[float, float]]) -> float:
    """Variance inflation: the placebo steps' mean squared z-statistic, at least 1."""
    if not steps:
        return 1.0
    b, s = np.asarray(steps, dtype=float).T
    # Less spread than the model says is sampling noise, not a reason to narrow the interval.
    return max(1.0, float(np.mean((b / s) ** 2)))


def own_drift_unmeasurable(n_placebos: int, n_effective: float) -> str:
    """Why the series' own placebo steps could not measure its drift, in the method line's words."""
    if n_placebos == 0:
        return (
            "no placebo step could be fitted in the pre-period (too short, or no events on one "
            "side of every fake start), so the drift comes from the random-walk model"
        )
    return (
        f"the pre-period's {n_placebos} placebo steps overlap and are worth {n_effective:.1f} "
        f"independent ones (at least {MIN_EFFECTIVE_PLACEBOS:g} needed), so the drift comes "
        "from the random-walk model"
    )


def newey_west_lags(n: int) -> int:
    """Newey & West (1994) rule of thumb for the HAC lag length."""
    return max(1, int(np.floor(4 * (n / 100) ** (2 / 9))))


def its_design_matrix(
    periods: pd.PeriodIndex,
    start: pd.Period,
    *,
    harmonic_pairs: int = 2,
    shocks: tuple[Shock, ...] = (),
    slope_change: bool = False,
) -> pd.DataFrame:
    """Columns: const, time (years since the first period), harmonics, shocks, post[, post_time]."""
    time = np.asarray([(p - periods[0]).n for p in periods], dtype=float) / 12
    post = (periods >= start).astype(float)
    parts = [pd.DataFrame({"const": 1.0, "time": time}, index=periods)]
    if harmonic_pairs:
        parts.append(harmonics(periods, harmonic_pairs))
    parts.append(shock_dummies(periods, shocks))
    parts.append(pd.DataFrame({"post": post}, index=periods))
    if slope_change:
        since = np.asarray([(p - start).n for p in periods], dtype=float) / 12
        parts.append(pd.DataFrame({"post_time": np.where(post > 0, since, 0.0)}, index=periods))
    return pd.concat(parts, axis=1)


def fit_its(
    counts: np.ndarray,
    periods: pd.PeriodIndex,
    start: pd.Period,
    *,
    exposure: np.ndarray | None = None,
    harmonic_pairs: int = 2,
    shocks: tuple[Shock, ...] = (),
    inference: Inference = "quasipoisson",
    maxlags: int | None = None,
    level: float = 0.95,
    reference: Literal["t", "normal"] = "t",
    drift: bool = False,
    drift_method: DriftMethod = "random_walk",
    placebo_before: int = PLACEBO_BEFORE,
    min_post: int = MIN_POST,
    placebo: bool = True,
) -> ItsFit:
    """Fit the segmented Poisson regression and test the level change.

    Parameters
    ----------
    counts
        Monthly counts.
    periods
        Their monthly periods, consecutive.
    start
        First period of the intervention.
    exposure
        Offset on the log scale (population, days ...); None for none.
    harmonic_pairs
        Sine/cosine pairs for seasonality (0 for none).
    shocks
        Common disturbances modelled as steps.
    inference
        ``"quasipoisson"`` (default): errors scaled by the Pearson dispersion,
        t reference on the residual degrees of freedom for the pipeline (normal
        reference when ``reference="normal"``); ``"hac"``: Newey-West
        heteroskedasticity and autocorrelation consistent errors with small
        sample correction, t reference; ``"poisson"``: model-based Poisson
        errors (no overdispersion; only for checking published Poisson fits).
        The default is the one that measured best on both simulated and real
        series (``benchmarks/calibrate_inference.py``): with 84 or fewer months
        Newey-West errors are too small (88-90 % coverage on independent
        overdispersed counts, 20 % false positives on real Brå series against
        16 % for quasi-Poisson).
    reference
        ``"t"`` or ``"normal"``; published analyses (Lopez Bernal et al.) use
        the normal reference.
    drift
        Widen the interval by the series' own level drift, which no trend
        and season capture (the pipeline's default through the design). How:
        ``drift_method``.
    drift_method
        ``"random_walk"`` (default): the log level is taken to wander as a
        random walk with innovation variance :data:`RANDOM_WALK_VARIANCE` a
        month, measured across real crime series; the variance it adds to
        this step follows from the step's own design (longer pre- and
        post-periods, more drift), see
        :func:`pipeline.methods.drift.random_walk_load`. t reference on the
        residual degrees of freedom. ``"inflation"`` and ``"variance"``
        measure the drift from the series' own placebo steps instead (the
        step refitted at every fake start in the pre-period, at least
        ``placebo_before`` months before and 6 after it): the variance is
        multiplied by their mean squared z (at least 1), or their mean square
        beyond their sampling variances is added; t reference on their
        effective number (:mod:`pipeline.methods.drift`). Neighbouring
        placebo steps overlap so much that a pre-period of a few years holds
        fewer than :data:`~pipeline.methods.drift.MIN_EFFECTIVE_PLACEBOS`
        effective ones; then the random-walk model is used and the label
        says why.
    placebo_before
        Months a fake start needs before it.
    placebo
        Compute the placebo steps (and the placebo-in-time p-value) even
        when the drift model does not need them.
    maxlags
        HAC lag length; default the Newey-West rule for the series length.
    level
        Confidence level.
    """
    counts = np.asarray(counts, dtype=float)
    n = len(counts)
    if n != len(periods):
        raise ValueError("counts and periods differ in length")
    n_pre = int((periods < start).sum())
    n_post = n - n_pre
    if n_pre < MIN_PRE or n_post < min_post:
        raise EstimationError(
            f"ITS needs at least {MIN_PRE} periods before and {min_post} after the start; "
            f"got {n_pre} and {n_post}"
        )
    if counts[periods < start].sum() == 0 or counts[periods >= start].sum() == 0:
        raise EstimationError("ITS needs at least one event before and one after the start")
    exog = its_design_matrix(periods, start, harmonic_pairs=harmonic_pairs, shocks=shocks)
    if np.linalg.matrix_rank(exog.to_numpy()) < exog.shape[1]:
        raise EstimationError(
            "the intervention step cannot be told apart from a declared shock or the season in this window"
        )
    offset = np.log(np.asarray(exposure, dtype=float)) if exposure is not None else None
    model = sm.GLM(counts, exog, family=sm.families.Poisson(), offset=offset)
    alpha = 1 - level

    if inference == "hac":
        lags = maxlags if maxlags is not None else newey_west_lags(n)
        result = model.fit(
            cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True
        )
        dispersion = float(result.pearson_chi2 / result.df_resid)
        label = f"HAC (Newey-West, {lags} lags)"
    elif inference == "quasipoisson":
        result = model.fit(scale="X2")
        # Less spread than Poisson is sampling noise, not information: never go below 1.
        if result.scale < 1:
            result = model.fit(scale=1.0)
        dispersion = float(result.scale)
        label = f"quasi-Poisson (Pearson dispersion {dispersion:.2f})"
    elif inference == "poisson":
        result = model.fit()
        dispersion = 1.0
        label = "Poisson, normal reference"
    else:
        raise ValueError(f"unknown inference '{inference}'")

    coef = float(result.params["post"])
    se = float(result.bse["post"])
    placebo_p = placebo_p_min = n_effective = float("nan")
    fits: list[PlaceboFit] = []
    if drift and drift_method not in ("random_walk", "inflation", "variance"):
        raise ValueError(f"unknown drift_method '{drift_method}'")
    if drift and (placebo or drift_method != "random_walk"):
        fits, n_effective = placebo_fits(
            counts,
            periods,
            start,
            exposure=exposure,
            harmonic_pairs=harmonic_pairs,
            shocks=shocks,
            before=placebo_before,
            effective=drift_method != "random_walk",
        )
        placebo_p, placebo_p_min = rank_p_value(coef / se, [f.coef / f.std_error for f in fits])
    measured = (
        drift_method != "random_walk" and bool(fits) and n_effective >= MIN_EFFECTIVE_PLACEBOS
    )
    if measured:
        worth = f"{len(fits)} placebo steps in the pre-period, worth {n_effective:.1f} independent"
        if drift_method == "inflation":
            factor = mean_squared_z(fits)
            se = float(se * np.sqrt(factor))
            label += f"; variance x {factor:.2f} for drift (mean squared z of {worth})"
        else:
            tau2 = excess_variance(fits)
            se = float(np.sqrt(se**2 + tau2))
            label += f"; drift variance {tau2:.4f} from {worth}"
        crit = stats.t.ppf(1 - alpha / 2, n_effective)
        p_value = float(2 * stats.t.sf(abs(coef / se), n_effective))
        label += f", t({n_effective:.1f})"
    else:
        if drift:
            if drift_method != "random_walk":
                label += "; " + own_drift_unmeasurable(len(fits), n_effective)
            load = random_walk_load(
                exog.to_numpy(), np.asarray(result.mu), list(exog.columns).index("post")
            )
            tau2 = RANDOM_WALK_VARIANCE * load
            se = float(np.sqrt(se**2 + tau2))
            label += (
                f"; drift variance {tau2:.4f} (a random walk of the log level, variance "
                f"{RANDOM_WALK_VARIANCE:g} a month as measured across real crime series)"
            )
        if inference == "hac" or reference == "t":
            crit = stats.t.ppf(1 - alpha / 2, result.df_resid)
            p_value = float(2 * stats.t.sf(abs(coef / se), result.df_resid))
            label += f", t({int(result.df_resid)})"
        else:
            crit = stats.norm.ppf(1 - alpha / 2)
            p_value = float(2 * stats.norm.sf(abs(coef / se)))
            label += ", normal reference"

    fitted_values = result.predict(exog, offset=offset)
    counterfactual_exog = exog.assign(post=0.0)
    counterfactual = result.predict(counterfactual_exog, offset=offset)
    fitted = pd.DataFrame(
        {
            "period": periods,
            "observed": counts,
            "fitted": np.asarray(fitted_values),
            "counterfactual": np.asarray(counterfactual),
        }
    )
    with np.errstate(over="ignore"):  # a degenerate fit gives an infinite bound, caught upstream
        bounds = np.exp([coef, coef - crit * se, coef + crit * se])
    return ItsFit(
        rate_ratio=float(bounds[0]),
        ci_low=float(bounds[1]),
        ci_high=float(bounds[2]),
        p_value=p_value,
        std_error_log=se,
        dispersion=dispersion,
        inference=label,
        placebo_p_value=placebo_p,
        placebo_p_min=placebo_p_min,
        n_placebos=len(fits),
        effective_placebos=n_effective,
        drift_measured=measured,
        params=result.params,
        fitted=fitted,
    )


class InterruptedTimeSeries:
    """ITS on the target's own series: no comparison area (SMS level 2)."""

    name = "its"
    sms_level = 2
    families = ("count",)

    def applies(self, data: DesignData) -> bool:
        return data.indicator.family in self.families

    def estimate(self, data: DesignData) -> Effect:
        settings = data.analysis.its
        fit = fit_its(
            data.target["value"].to_numpy(),
            data.periods,
            data.start,
            exposure=data.target["exposure"].to_numpy(),
            shocks=data.shocks,
            harmonic_pairs=settings.harmonic_pairs,
            inference=settings.inference,
            reference=settings.reference,
            drift=settings.drift,
            drift_method=settings.drift_method,
        )
        shock_note = (
            "adjusted for " + ", ".join(s.label_en for s in data.shocks) + " as a step"
            if data.shocks
            else "no common shock adjusted for"
        )
        return data.effect(
            self,
            estimand="rate_ratio",
            estimate=fit.rate_ratio,
            ci_low=fit.ci_low,
            ci_high=fit.ci_high,
            p_value=fit.p_value,
            method=(
                f"Segmented Poisson regression: trend, {settings.harmonic_pairs} harmonic pairs, exposure offset, "
                f"{shock_note}; {fit.inference}"
            ),
            fitted=fit.fitted,
            placebo_p_value=fit.placebo_p_value,
            placebo_p_min=fit.placebo_p_min,
            notes=data.notes + _placebo_notes(fit),
        )


def _placebo_notes(fit: ItsFit) -> tuple[str, ...]:
    if not fit.n_placebos:
        return ()
    note = placebo_note("in-time", fit.placebo_p_value, fit.placebo_p_min, fit.n_placebos)
    # Measured on held-out real series: the real step looks more unusual than the fake ones.
    return (note + "; context, not a calibrated test",)


class InterruptedTimeSeriesRank:
    """The time series' step tested against its own placebo steps (SMS level 2, distribution-free).

    The same segmented regression as :class:`InterruptedTimeSeries`; the
    p-value is the rank of the step's z-statistic among the z-statistics of
    the step refitted at every fake start in the pre-period (at least 12
    months before and 6 after it), and the interval holds the effects that
    rank test keeps (:func:`pipeline.methods.drift.rank_interval`). It needs
    no model of the drift: a place whose level wanders shows it in its own
    placebo steps. It cannot go below ``1 / (J + 1)`` with ``J`` placebo
    steps, so it is estimated only when that is below 0.05 (at least 20
    placebo steps: 38 months before the start); with fewer it is refused
    with that reason. The real step runs over the whole post-period while a
    placebo step sees at most the pre-period's tail, so under drift the real
    step's z tends to be larger than theirs: on the held-out real series this
    test called far more placebo interventions significant than its level
    (``make validate``). It is therefore not in ``DESIGNS``; it is kept for
    that measurement.

    What it can show: a level change at the start larger than the changes
    the place showed at the fake starts before it. What it cannot: the same
    as the time series (anything else that changed at the place at that
    date).
    """

    name = "its_rank"
    sms_level = 2
    families = ("count",)
    alpha = 0.05

    def applies(self, data: DesignData) -> bool:
        return data.indicator.family in self.families

    def estimate(self, data: DesignData) -> Effect:
        settings = data.analysis.its
        needed = int(np.ceil(1 / self.alpha))
        possible = data.n_pre - PLACEBO_BEFORE - PLACEBO_AFTER + 1
        if possible < needed:
            raise EstimationError(self._too_few(needed, max(possible, 0)))
        counts = data.target["value"].to_numpy()
        # The placebo steps are refitted with the model of the real step.
        model = {
            "exposure": data.target["exposure"].to_numpy(),
            "shocks": data.shocks,
            "harmonic_pairs": settings.harmonic_pairs,
        }
        fit = fit_its(counts, data.periods, data.start, **model)
        fits, _ = placebo_fits(counts, data.periods, data.start, effective=False, **model)
        coef = float(np.log(fit.rate_ratio))
        z = [f.coef / f.std_error for f in fits]
        p_value, p_min = rank_p_value(coef / fit.std_error_log, z)
        interval = rank_interval(coef, fit.std_error_log, z, self.alpha)
        if interval is None:
            raise EstimationError(self._too_few(needed, len(fits)))
        return data.effect(
            self,
            estimand="rate_ratio",
            estimate=fit.rate_ratio,
            ci_low=float(np.exp(interval[0])),
            ci_high=float(np.exp(interval[1])),
            p_value=p_value,
            method=(
                f"Segmented Poisson regression ({settings.harmonic_pairs} harmonic pairs, "
                f"exposure offset); p-value and interval from the rank of the step's z among "
                f"{len(fits)} placebo steps at fake starts in the pre-period (no drift model)"
            ),
            fitted=fit.fitted,
            placebo_p_value=p_value,
            placebo_p_min=p_min,
        )

    def _too_few(self, needed: int, held: int) -> str:
        return (
            f"the placebo rank test needs at least {needed} placebo steps to reach "
            f"p < {self.alpha:g}; the pre-period holds {held}"
        )


class InterruptedTimeSeriesSlope:
    """The same segmented regression with a change in slope after the start (secondary, SMS 2).

    Reports the change in the yearly trend as a ratio per year (1.05: the rate
    grows 5 % a year faster than before). Useful to see whether an effect builds
    up or fades; a slope change is extrapolated from few post-period years, so it
    is never the primary estimate, and no drift term is added (its interval is
    therefore optimistic on real series).
    """

    name = "its_slope"
    sms_level = 2
    families = ("count",)

    def applies(self, data: DesignData) -> bool:
        return data.indicator.family in self.families and data.n_post >= 12

    def estimate(self, data: DesignData) -> Effect:
        counts = data.target["value"].to_numpy(dtype=float)
        exposure = data.target["exposure"].to_numpy(dtype=float)
        exog = its_design_matrix(
            data.periods,
            data.start,
            harmonic_pairs=data.analysis.its.harmonic_pairs,
            shocks=data.shocks,
            slope_change=True,
        )
        if np.linalg.matrix_rank(exog.to_numpy()) < exog.shape[1]:
            raise EstimationError("the slope change cannot be told apart from a declared shock")
        model = sm.GLM(counts, exog, family=sm.families.Poisson(), offset=np.log(exposure))
        result = model.fit(scale="X2")
        if result.scale < 1:
            result = model.fit(scale=1.0)
        coef, se, df = (
            float(result.params["post_time"]),
            float(result.bse["post_time"]),
            result.df_resid,
        )
        crit = stats.t.ppf(0.975, df)
        with np.errstate(over="ignore"):
            bounds = np.exp([coef, coef - crit * se, coef + crit * se])
        return data.effect(
            self,
            estimand="rate_ratio_per_year",
            estimate=float(bounds[0]),
            ci_low=float(bounds[1]),
            ci_high=float(bounds[2]),
            p_value=float(2 * stats.t.sf(abs(coef / se), df)),
            method=(
                "Segmented Poisson regression with level and slope change: ratio of the yearly trend "
                f"after / before the start; quasi-Poisson (dispersion {float(result.scale):.2f}), t({int(df)}); "
                "no drift term"
            ),
        )
