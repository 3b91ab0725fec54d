"""Designs for proportion indicators: a share of a counted whole, per place and period.

A proportion series gives, per period, the share (``value``, 0-1) and the
number it is a share of (``exposure``: visitors counted, premises inventoried).
The successes are ``value x exposure``; each period is weighed by its number.

* :class:`ProportionComparison` (SMS 3): binomial difference-in-differences of
  the target against its pooled comparison areas. A logistic model with one
  effect per period (common to target and comparison, so a town-wide change
  such as the pandemic's cancels), a target effect and a step from the start:
  the step is the odds ratio of the target after the start relative to what
  the comparison areas' change implies.
* :class:`ProportionPrePost` (SMS 2): the odds after the start over the odds
  before, at the target alone; no counterfactual.

Both use quasi-binomial inference: the variance is the binomial one times the
Pearson dispersion over periods (at least 1), because visitors arriving in
groups and places varying from month to month make the counts overdispersed;
the reference is a t distribution on the residual degrees of freedom.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ..methods.glm import binomial_step
from ..results import Effect
from .base import DesignData, pool


def _successes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Successes and trials of a proportion series (``value`` share, ``exposure`` trials)."""
    trials = frame["exposure"].to_numpy(dtype=float)
    return frame["value"].to_numpy(dtype=float) * trials, trials


def _step(
    successes: np.ndarray, trials: np.ndarray, exog: np.ndarray
) -> tuple[float, float, float]:
    """The last column's log odds ratio, its quasi-binomial standard error and df.

    Fitted by the lean IRLS of :mod:`pipeline.methods.glm` (the placebo check refits
    the design at every fake start); its dispersion is floored at 1, since a
    smaller one would claim the counts vary less than binomial ones can.
    """
    df = float(len(successes) - exog.shape[1])
    if df < 1:
        raise EstimationError("too few periods for a variance: no residual degrees of freedom")
    coef, se = binomial_step(successes, trials, exog, np.zeros(len(successes)), exog.shape[1] - 1)
    if not (np.isfinite(coef) and np.isfinite(se) and se > 0):
        raise EstimationError("the binomial model did not converge (a share of 0 or 1 throughout?)")
    return coef, se, df


def _odds_ratio_effect(
    design, data: DesignData, coef: float, se: float, df: float, method: str, fitted
) -> Effect:
    crit = stats.t.ppf(0.975, df)
    return data.effect(
        design,
        estimand="odds_ratio",
        estimate=float(np.exp(coef)),
        ci_low=float(np.exp(coef - crit * se)),
        ci_high=float(np.exp(coef + crit * se)),
        p_value=float(2 * stats.t.sf(abs(coef / se), df)),
        method=method,
        fitted=fitted,
    )


def _check_both_sides(post: np.ndarray, trials: np.ndarray, what: str) -> None:
    if trials[post == 0].sum() <= 0 or trials[post == 1].sum() <= 0:
        raise EstimationError(f"{what} needs counted periods both before and after the start")


class ProportionComparison:
    """Binomial difference-in-differences against the comparison areas (SMS level 3)."""

    name = "proportion_did"
    sms_level = 3
    placebo_in_time = True  # pipeline.checks.placebo reruns it at fake starts
    families = ("proportion",)

    def applies(self, data: DesignData) -> bool:
        return data.indicator.family in self.families and bool(data.controls)

    def estimate(self, data: DesignData) -> Effect:
        control = pool({name: _as_counts(frame) for name, frame in data.controls.items()})
        if control is None or control.empty:
            raise EstimationError("the comparison areas have no periods in the target's window")
        control = _as_share(control)
        periods = data.target.index.intersection(control.index)
        target = data.target.loc[periods]
        control = control.loc[periods]
        post = (pd.PeriodIndex(periods) >= data.start).astype(float)
        k_t, n_t = _successes(target)
        k_c, n_c = _successes(control)
        _check_both_sides(post, n_t, "the comparison")
        _check_both_sides(post, n_c, "the comparison")
        t = len(periods)
        period_effects = np.vstack([np.eye(t), np.eye(t)])
        is_target = np.r_[np.ones(t), np.zeros(t)]
        step = np.r_[post, np.zeros(t)]
        exog = np.column_stack([period_effects, is_target, step])
        coef, se, df = _step(np.r_[k_t, k_c], np.r_[n_t, n_c], exog)
        # Without the measures the target's odds move as the comparison's do.
        base = _logit_mean(k_t[post == 0], n_t[post == 0]) - _logit_mean(
            k_c[post == 0], n_c[post == 0]
        )
        counterfactual = _expit(_logit(k_c / n_c) + base)
        fitted = pd.DataFrame(
            {
                "period": periods,
                "observed": k_t / n_t,
                "fitted": _expit(_logit(counterfactual) + coef * post),
                "counterfactual": counterfactual,
            }
        )
        return _odds_ratio_effect(
            self,
            data,
            coef,
            se,
            df,
            (
                "Logistic difference-in-differences against the pooled comparison areas with an "
                "effect per period; quasi-binomial variance (Pearson dispersion, at least 1), "
                f"t({int(df)})"
            ),
            fitted,
        )


class ProportionPrePost:
    """Odds after the start over odds before, at the target alone (SMS level 2)."""

    name = "proportion_prepost"
    sms_level = 2
    placebo_in_time = True
    families = ("proportion",)

    def applies(self, data: DesignData) -> bool:
        return data.indicator.family in self.families

    def estimate(self, data: DesignData) -> Effect:
        k, n = _successes(data.target)
        post = data.post
        _check_both_sides(post, n, "pre/post")
        exog = np.column_stack([np.ones(len(k)), post])
        coef, se, df = _step(k, n, exog)
        before = _logit_mean(k[post == 0], n[post == 0])
        fitted = pd.DataFrame(
            {
                "period": data.periods,
                "observed": k / n,
                "fitted": _expit(before + coef * post),
                "counterfactual": np.full(len(k), _expit(before)),
            }
        )
        return _odds_ratio_effect(
            self,
            data,
            coef,
            se,
            df,
            (
                "Odds after / odds before; quasi-binomial variance (Pearson dispersion, at least 1), "
                f"t({int(df)}); no counterfactual for trend or shocks"
            ),
            fitted,
        )


def _as_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """A share series as successes (``value``) and trials (``exposure``), which add across areas."""
    return frame.assign(value=frame["value"] * frame["exposure"])


def _as_share(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(value=frame["value"] / frame["exposure"])


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _expit(x: np.ndarray | float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))


def _logit_mean(successes: np.ndarray, trials: np.ndarray) -> float:
    """Log odds of the pooled share (the period's successes over its trials)."""
    return float(_logit(successes.sum() / trials.sum()))
