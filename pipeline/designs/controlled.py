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

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ..errors import EstimationError
from ..results import Effect
from .base import DesignData
from .glm import binomial_step

MIN_PRE = 6
MIN_POST = 3
PLACEBO_BEFORE = 12
PLACEBO_AFTER = 6
MIN_PLACEBOS = 1


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
) -> ConditionalFit:
    """Ratio of rate ratios from the conditional binomial model.

    Parameters
    ----------
    trend
        Add a differential linear trend (target against control), extrapolated
        into the post period: a comparative interrupted time series.
    drift
        Add the target-control ratio's own drift to the variance, measured from
        the same model at every fake start in the pre-period (at least 12
        months before, 6 after; t reference on as many df as placebos). On
        Brå's real series, with a trend and this drift term, 5.4 % of placebo
        interventions were called significant at the 5 % level against 23.6 %
        for the plain model, with 94 % coverage and 24-36 % power against a
        20 % drop (``make validate``).
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
    steps = _placebo_steps(target, control, post, offset, trend) if drift else []
    placebo_p = float("nan")
    if len(steps) >= MIN_PLACEBOS:
        z = abs(coef) / se
        placebo_p = (1 + sum(abs(b) / s >= z for b, s in steps)) / (len(steps) + 1)
        b = np.array([v for v, _ in steps])
        s = np.array([v for _, v in steps])
        tau2 = max(0.0, float(np.mean(b**2) - np.mean(s**2)))
        se = float(np.sqrt(se**2 + tau2))
        df = len(steps)
        label += f"; drift variance {tau2:.4f} from {df} placebo steps in the pre-period"
    elif drift and (post == 0).sum() < PLACEBO_BEFORE + PLACEBO_AFTER:
        label += "; pre-period too short to measure drift (p-values likely too small)"
    elif drift:
        label += (
            f"; no drift term (p-values likely too small): too few events for a placebo step, "
            f"{target[post == 0].sum():g} at the target in the {int((post == 0).sum())}-month "
            "pre-period (a step needs events on both sides of its fake start)"
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
        inference=f"{label}, t({int(df)})",
        placebo_p_value=placebo_p,
    )


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


def _placebo_steps(target, control, post, offset, trend: bool) -> list[tuple[float, float]]:
    pre = post == 0
    t, c, o = target[pre], control[pre], offset[pre]
    keep = (t + c) > 0
    steps = []
    for position in range(PLACEBO_BEFORE, len(t) - PLACEBO_AFTER + 1):
        fake = (np.arange(len(t)) >= position).astype(float)
        if t[fake == 0].sum() == 0 or t[fake == 1].sum() == 0:
            continue
        columns = [np.ones(len(t)), fake] + ([_time(len(t))] if trend else [])
        exog = np.column_stack(columns)[keep]
        coef, se = binomial_step(t[keep], (t + c)[keep], exog, o[keep], 1)
        if np.isfinite(se) and se > 0:
            steps.append((coef, se))
    return steps


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
        )
