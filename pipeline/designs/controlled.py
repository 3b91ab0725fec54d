"""Controlled before/after comparison (difference-in-differences for counts).

Target counts ``y_t`` and pooled control counts ``c_t``. If both are Poisson
with rates that share every period's common shock (season, COVID-19, a
municipal crime wave), then given the period's total ``n_t = y_t + c_t`` the
target's count is binomial and the shock cancels::

    logit P(event in target | n_t) = log(E^y_t / E^c_t) + a + d*post_t

``exp(d)`` is the ratio of rate ratios: the target's post/pre rate ratio
divided by the control's. Fitting the conditional model needs no period
effects, so it stays honest with one control area; overdispersion and serial
dispersion is estimated from the Pearson residuals over periods (quasi-binomial),
with a t reference, instead of cluster-robust errors that would need many
clusters. (Newey-West errors were tried and measured worse: too narrow with
fewer than 100 periods.)

What it can show: a change at the target beyond the change at the comparison
(SMS level 3). What it cannot: rule out that target and control would have
drifted apart anyway (parallel trends is an assumption, checked only by the
pre-period fit and placebo tests).
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
from ..methods.drift import (
    MIN_EFFECTIVE_PLACEBOS,
    OwnRandomWalk,
    PlaceboFit,
    RandomWalkPrior,
    effective_placebos,
    excess_variance,
    own_random_walk,
    placebo_note,
    random_walk_load,
    rank_p_value,
    step_correlation,
)
from ..methods.glm import binomial_step
from ..results import Effect
from .base import DesignData

MIN_PRE = 6
MIN_POST = 3
PLACEBO_BEFORE = 12
PLACEBO_AFTER = 6
#: Innovation variance per month of a random walk in the log ratio of target to control
#: rates, with and without a differential trend: the step estimates' excess variance at
#: fake starts in Brå's series (two pooled municipalities of similar size as the control)
#: over their random-walk loads (method of moments, ``benchmarks/calibrate_inference.py``).
RANDOM_WALK_VARIANCE = {True: 0.0022, False: 0.0008}
#: How many degrees of freedom of a place's own random-walk estimate the pooled variance is
#: worth, with and without a trend: the spread of Brå's municipalities' own estimates beyond
#: their sampling variances (method of moments, ``benchmarks/calibrate_inference.py``).
RANDOM_WALK_PRIOR_DF = {True: 4.5, False: 4.3}

DriftVariance = Literal["pooled", "learnt"]


@dataclass(frozen=True)
class ConditionalFit:
    """The ratio of rate ratios and what the model expects for the target without an effect."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    counterfactual: np.ndarray
    inference: str
    placebo_p_value: float = float("nan")
    placebo_p_min: float = float("nan")
    n_placebos: int = 0
    effective_placebos: float = float("nan")
    drift_measured: bool = False


def fit_conditional_binomial(
    target: np.ndarray,
    control: np.ndarray,
    post: np.ndarray,
    *,
    target_exposure: np.ndarray | None = None,
    control_exposure: np.ndarray | None = None,
    level: float = 0.95,
    trend: bool = False,
    drift: bool = False,
    drift_variance: DriftVariance = "pooled",
    placebo: bool = True,
) -> ConditionalFit:
    """Ratio of rate ratios from the conditional binomial model.

    Parameters
    ----------
    trend
        Add a differential linear trend (target against control), extrapolated
        into the post period: a comparative interrupted time series.
    drift
        Add the variance the target-control ratio's own drift adds: its log
        wanders as a random walk with innovation variance
        :data:`RANDOM_WALK_VARIANCE` a month, measured across real crime
        series; the variance it adds follows from the step's own design
        (:func:`pipeline.methods.drift.random_walk_load`). Where the same
        model's placebo steps at every fake start in the pre-period (at least
        12 months before, 6 after) are worth at least
        :data:`~pipeline.methods.drift.MIN_EFFECTIVE_PLACEBOS` independent
        ones, their excess variance is used instead, with a t reference on
        their effective number.
    drift_variance
        ``"pooled"``: the random walk's variance is
        :data:`RANDOM_WALK_VARIANCE` for every series (or the placebo steps'
        excess variance where they are worth enough). ``"learnt"``: the
        series' own estimate from its pre-period
        (:func:`pipeline.methods.drift.own_random_walk`) combined with that
        pooled variance as a scaled inverse chi-square prior on
        :data:`RANDOM_WALK_PRIOR_DF` degrees of freedom; the drift term's
        reference then has the posterior's degrees of freedom (Satterthwaite
        with the dispersion's).
    placebo
        Fit the placebo steps: they give the placebo-in-time p-value and, when
        they are worth enough, the drift term. Without them the random-walk
        model is used.
    """
    target = np.asarray(target, dtype=float)
    control = np.asarray(control, dtype=float)
    post = np.asarray(post, dtype=float)
    n_pre, n_post = int((post == 0).sum()), int((post == 1).sum())
    if n_pre < MIN_PRE or n_post < MIN_POST:
        raise EstimationError(
            f"the controlled comparison needs {MIN_PRE} periods before and {MIN_POST} after; "
            f"got {n_pre} and {n_post}"
        )
    for label, counts in (("target", target), ("control", control)):
        if counts[post == 0].sum() == 0 or counts[post == 1].sum() == 0:
            raise EstimationError(f"the {label} has no events before or after the start")
    offset = np.zeros(len(target))
    if target_exposure is not None and control_exposure is not None:
        offset = np.log(np.asarray(target_exposure, float)) - np.log(
            np.asarray(control_exposure, float)
        )
    result, dispersion = _fit_step(target, control, post, offset, trend)
    coef, se = float(result.params[1]), float(result.bse[1])
    df = result.df_resid
    label = f"quasi-binomial (Pearson dispersion {dispersion:.2f})"
    if trend:
        label = "differential trend; " + label
    fits, n_effective = [], 0.0
    if drift and placebo:
        fits, n_effective = _placebo_fits(target, control, post, offset, trend)
    placebo_p, placebo_p_min = rank_p_value(coef / se, [f.coef / f.std_error for f in fits])
    if drift_variance not in ("pooled", "learnt"):
        raise ValueError(f"unknown drift_variance '{drift_variance}'")
    measured = drift_variance == "pooled" and bool(fits) and n_effective >= MIN_EFFECTIVE_PLACEBOS
    if drift and drift_variance == "learnt":
        prior = RandomWalkPrior(RANDOM_WALK_VARIANCE[trend], RANDOM_WALK_PRIOR_DF[trend])
        linear = result.params[0] + offset
        if trend:
            linear = linear + result.params[2] * _time(len(target))
        try:
            own = own_random_walk_of(target, control, post == 0, linear, offset, trend, prior.scale)
        except (ValueError, np.linalg.LinAlgError):
            own = None  # too few months with events before the start: the prior alone
        variance, variance_df = prior.posterior(own)
        tau2 = variance * _random_walk_load(result, target, control, offset, post, trend)
        # Satterthwaite: the dispersion's degrees of freedom and the drift variance's.
        df = (se**2 + tau2) ** 2 / (se**4 / df + tau2**2 / variance_df)
        se = float(np.sqrt(se**2 + tau2))
        label += (
            f"; drift variance {tau2:.4f} (a random walk of the log ratio, variance "
            f"{variance:.4f} a month: "
            + (
                f"the pre-period's own {max(own.variance, 0.0):.4f} worth "
                f"{variance_df - prior.df:.1f} degrees of freedom, combined with "
                if own is not None
                else "the pre-period too short for its own, so "
            )
            + f"{prior.scale:g} as measured across real crime series, worth {prior.df:g})"
        )
    elif measured:
        tau2 = excess_variance(fits)
        se = float(np.sqrt(se**2 + tau2))
        df = n_effective
        label += (
            f"; drift variance {tau2:.4f} from {len(fits)} placebo steps in the pre-period, "
            f"worth {n_effective:.1f} independent"
        )
    elif drift:
        variance = RANDOM_WALK_VARIANCE[trend]
        tau2 = variance * _random_walk_load(result, target, control, offset, post, trend)
        se = float(np.sqrt(se**2 + tau2))
        label += (
            f"; drift variance {tau2:.4f} (a random walk of the log ratio, variance {variance:g} "
            "a month as measured across real crime series"
            + (f"; {_own_drift_unmeasurable(len(fits), n_effective)})" if fits else ")")
        )
    crit = stats.t.ppf(1 - (1 - level) / 2, df)
    p_value = float(2 * stats.t.sf(abs(coef / se), df))
    # Without the effect the target's odds against the control follow the pre-period line.
    linear = result.params[0] + offset
    if trend:
        linear = linear + result.params[2] * _time(len(target))
    counterfactual = control * np.exp(linear)
    with np.errstate(over="ignore"):
        bounds = np.exp([coef, coef - crit * se, coef + crit * se])
    return ConditionalFit(
        ratio=float(bounds[0]),
        ci_low=float(bounds[1]),
        ci_high=float(bounds[2]),
        p_value=p_value,
        counterfactual=np.asarray(counterfactual),
        inference=f"{label}, t({int(df)})" if float(df).is_integer() else f"{label}, t({df:.1f})",
        placebo_p_value=placebo_p,
        placebo_p_min=placebo_p_min,
        n_placebos=len(fits),
        effective_placebos=n_effective,
        drift_measured=measured,
    )


def _own_drift_unmeasurable(n_placebos: int, n_effective: float) -> str:
    return (
        f"the pre-period's {n_placebos} placebo steps overlap and are worth {n_effective:.1f} "
        f"independent ones, fewer than the {MIN_EFFECTIVE_PLACEBOS:g} needed to measure it"
    )


def _random_walk_load(result, target, control, offset, post, trend: bool) -> float:
    """The step's random-walk load over all periods (those without events weigh nothing)."""
    columns = [np.ones(len(target)), post] + ([_time(len(target))] if trend else [])
    exog = np.column_stack(columns)
    totals = target + control
    linear = exog @ np.asarray(result.params) + offset
    p = 1 / (1 + np.exp(-linear))
    return random_walk_load(exog, totals * p * (1 - p), 1)


def own_random_walk_of(
    target: np.ndarray,
    control: np.ndarray,
    rows: np.ndarray,
    linear: np.ndarray,
    offset: np.ndarray,
    trend: bool,
    prior_scale: float,
) -> OwnRandomWalk:
    """The own random walk of the target/control log ratio over ``rows`` (the pre-period).

    ``linear`` is the model's log odds of an event at the target in every
    period without the step (offset included): it gives the sampling variance
    of each month's empirical logit.
    """
    rows = rows & ((target + control) > 0)
    months = np.flatnonzero(rows).astype(float)
    y, n = target[rows], (target + control)[rows]
    # Empirical logit with the half-count correction, so that a month without events at the
    # target still counts; its sampling variance from the model's expected split.
    log_ratio = np.log((y + 0.5) / (n - y + 0.5)) - offset[rows]
    mean_design = np.column_stack(
        [np.ones(len(months))] + ([_time(len(target))[rows]] if trend else [])
    )
    p = 1 / (1 + np.exp(-linear[rows]))
    return own_random_walk(log_ratio, 1 / (n * p * (1 - p)), months, mean_design, prior_scale)


def _time(n: int) -> np.ndarray:
    return np.arange(n, dtype=float) / 12


def _fit_step(target, control, post, offset, trend: bool):
    columns = [np.ones(len(target)), post] + ([_time(len(target))] if trend else [])
    exog = np.column_stack(columns)
    # A period with no events anywhere carries no information in the conditional model.
    informative = (target + control) > 0
    totals = (target + control)[informative]
    # Proportions with var_weights: with a (successes, failures) endog statsmodels'
    # Pearson scale comes out on the proportion scale and the errors far too small.
    model = sm.GLM(
        target[informative] / totals,
        exog[informative],
        family=sm.families.Binomial(),
        var_weights=totals,
        offset=offset[informative],
    )
    result = model.fit(scale="X2")
    # Less spread than binomial is sampling noise, not information: never go below 1.
    if result.scale < 1:
        result = model.fit(scale=1.0)
    return result, float(result.scale)


def _placebo_fits(target, control, post, offset, trend: bool) -> tuple[list[PlaceboFit], float]:
    """The step at every fake start in the pre-period, and their effective number."""
    pre = post == 0
    t, c, o = target[pre], control[pre], offset[pre]
    keep = (t + c) > 0
    fits = []
    for position in range(PLACEBO_BEFORE, len(t) - PLACEBO_AFTER + 1):
        fake = (np.arange(len(t)) >= position).astype(float)
        if t[fake == 0].sum() == 0 or t[fake == 1].sum() == 0:
            continue
        columns = [np.ones(len(t)), fake] + ([_time(len(t))] if trend else [])
        exog = np.column_stack(columns)[keep]
        coef, se = binomial_step(t[keep], (t + c)[keep], exog, o[keep], 1)
        if np.isfinite(se) and se > 0:
            fits.append(PlaceboFit(coef, se, exog, 1))
    if not fits:
        return fits, 0.0
    # Working weights n p (1 - p) from the pre-period model without a step.
    n = (t + c)[keep]
    base = np.delete(fits[0].exog, 1, axis=1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a flat series fits perfectly; only its weights count
        null = sm.GLM(
            t[keep] / n, base, family=sm.families.Binomial(), var_weights=n, offset=o[keep]
        ).fit()
    p = np.clip(np.asarray(null.fittedvalues, dtype=float), 1e-6, 1 - 1e-6)
    return fits, effective_placebos(step_correlation(fits, n * p * (1 - p)))


class ControlledComparison:
    """Target against its (pooled) control areas: ratio of rate ratios (SMS level 3)."""

    name = "controlled"
    sms_level = 3
    families = ("count",)

    def applies(self, data: DesignData) -> bool:
        return data.indicator.family in self.families and bool(data.controls)

    def estimate(self, data: DesignData) -> Effect:
        control = data.pooled_controls()
        joined = (
            data.target[["value", "exposure"]]
            .add_suffix("_target")
            .join(control.add_suffix("_control"), how="inner")
        )
        post = (pd.PeriodIndex(joined.index) >= data.start).astype(float)
        fit = fit_conditional_binomial(
            joined["value_target"].to_numpy(),
            joined["value_control"].to_numpy(),
            post,
            target_exposure=joined["exposure_target"].to_numpy(),
            control_exposure=joined["exposure_control"].to_numpy(),
            trend=data.analysis.controlled.trend,
            drift=data.analysis.controlled.drift,
            drift_variance=data.analysis.controlled.drift_variance,
        )
        fitted = pd.DataFrame(
            {
                "period": pd.PeriodIndex(joined.index),
                "observed": joined["value_target"].to_numpy(),
                "fitted": np.where(post > 0, fit.counterfactual * fit.ratio, fit.counterfactual),
                "counterfactual": fit.counterfactual,
            }
        )
        names = ", ".join(data.controls)
        return data.effect(
            self,
            estimand="rate_ratio",
            estimate=fit.ratio,
            ci_low=fit.ci_low,
            ci_high=fit.ci_high,
            p_value=fit.p_value,
            n_pre=int((post == 0).sum()),
            n_post=int((post == 1).sum()),
            method=(
                f"Conditional binomial difference-in-differences against {names}; {fit.inference}"
            ),
            fitted=fitted,
            placebo_p_value=fit.placebo_p_value,
            placebo_p_min=fit.placebo_p_min,
            notes=data.notes
            + (
                (placebo_note("in-time", fit.placebo_p_value, fit.placebo_p_min, fit.n_placebos),)
                if fit.n_placebos
                else ()
            ),
        )
