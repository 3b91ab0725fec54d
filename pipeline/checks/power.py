"""Minimum detectable effect for before/after crime counts.

Small places have few crimes, so a report must say which size of effect the data
could have detected. For a before/after rate ratio (target only) or a controlled
ratio of rate ratios (target and control), the log of the ratio is approximately
normal with::

    SE = sqrt(phi * (1/T_pre + 1/T_post [+ 1/C_pre + 1/C_post]))

where ``phi`` >= 1 is the quasi-Poisson dispersion. The minimum detectable effect
(MDE) on the log scale for a two-sided test at level ``alpha`` with power ``1 - beta``
is ``delta = (z_{1-alpha/2} + z_{1-beta}) * SE``.

An effect changes the post-period count it is detected in, so by default the SE
is evaluated at the counts expected *under* the effect (``T_post * exp(-delta)``
for a decrease, ``T_post * exp(+delta)`` for an increase) and ``delta`` is solved
for. That is why a detectable decrease and a detectable increase differ, and it
keeps the achieved power at the nominal value; ``variance_at="null"`` gives the
closed form with the SE at the no-effect counts, which overstates the power of
detecting a decrease.

The normal approximation is poor below about 20 crimes per cell; with so few
crimes no decrease may reach the requested power at all (reported as NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..format import summary_html
from ..methods.arguments import check_at_least, check_positive, check_probability

__all__ = [
    "MDEResult",
    "detectable_decrease_from_interval",
    "minimum_detectable_effect",
    "power_for_effect",
]

VarianceAt = Literal["alternative", "null"]


def _check_common(
    dispersion: float, alpha: float, power: float | None, variance_at: str
) -> tuple[float, float, float | None]:
    dispersion = check_at_least(dispersion, "dispersion", 1, "the quasi-Poisson scale")
    alpha = check_probability(alpha)
    if power is not None:
        try:
            power = float(power)
        except (TypeError, ValueError):
            raise ValueError(f"power must be a number in (0, 1), got {power!r}") from None
        if not alpha / 2 < power < 1:
            raise ValueError(f"power must be in (alpha/2, 1), got {power!r}")
    if variance_at not in ("alternative", "null"):
        raise ValueError(f"variance_at must be 'alternative' or 'null', got {variance_at!r}")
    return dispersion, alpha, power


def _counts(
    target_pre: float,
    target_post: float | None,
    control_pre: float | None,
    control_post: float | None,
) -> tuple[float, float, float | None, float | None]:
    tp = check_positive(target_pre, "target_pre")
    tq = tp if target_post is None else check_positive(target_post, "target_post")
    if (control_pre is None) != (control_post is None):
        raise ValueError("give both control_pre and control_post, or neither")
    if control_pre is None:
        return tp, tq, None, None
    return (
        tp,
        tq,
        check_positive(control_pre, "control_pre"),
        check_positive(control_post, "control_post"),
    )


def _std_error_log(
    log_effect: float, tp: float, tq: float, cp: float | None, cq: float | None, phi: float
) -> float:
    """SE of the log ratio when the target's post count is ``tq * exp(log_effect)``."""
    var = 1 / tp + 1 / (tq * math.exp(log_effect))
    if cp is not None:
        var += 1 / cp + 1 / cq
    return math.sqrt(phi * var)


def _solve_increase(
    k: float, tp: float, tq: float, cp: float | None, cq: float | None, phi: float
) -> float:
    """Root of ``d = k * SE(+d)``: unique, as the SE falls while d grows."""

    def f(d: float) -> float:
        return d - k * _std_error_log(d, tp, tq, cp, cq, phi)

    hi = k * _std_error_log(0.0, tp, tq, cp, cq, phi) + 1.0  # f(hi) > 0 since SE(+d) < SE(0)
    return optimize.brentq(f, 0.0, hi, xtol=1e-12)


def _decrease_root(k: float, se0: float, post_share: float) -> float:
    """Smallest log decrease ``d`` with ``d = k * SE(-d)``, or NaN when there is none.

    A decrease leaves fewer events after the start, so the share ``post_share``
    of the no-effect variance ``se0**2`` that comes from the target's post-period
    counts grows by ``exp(d)``: ``SE(-d) = se0 * sqrt(1 + post_share * expm1(d))``.
    ``f(d) = d - k * SE(-d)`` is then concave, so it has no root or two; the
    smaller one is the minimum detectable decrease. With very few crimes no
    decrease, however large, reaches the requested power.
    """
    if post_share <= 0:
        return k * se0

    def se(d: float) -> float:
        return se0 * math.sqrt(1 + post_share * math.expm1(d))

    def f(d: float) -> float:
        return d - k * se(d)

    def slope(d: float) -> float:
        return 1 - k * se0**2 * post_share * math.exp(d) / (2 * se(d))

    if slope(0.0) <= 0:
        return float("nan")
    top = 1.0
    while slope(top) > 0:
        top *= 2
    peak = optimize.brentq(slope, 0.0, top, xtol=1e-10)
    if f(peak) < 0:
        return float("nan")
    return optimize.brentq(f, 0.0, peak, xtol=1e-12)


@dataclass(frozen=True)
class MDEResult:
    """Smallest decrease and increase a before/after comparison could detect.

    Attributes
    ----------
    design : str
        ``"before_after"`` (target only) or ``"controlled"`` (ratio of ratios).
    target_pre, target_post : float
        Expected counts; ``target_post`` is the count expected without an effect.
    control_pre, control_post : float or None
    dispersion, alpha, power : float
    variance_at : str
        ``"alternative"`` or ``"null"`` (see the module docstring).
    std_error_log_null : float
        SE of the log ratio at the no-effect counts.
    log_mde_decrease, log_mde_increase : float
        Detectable effects on the log scale (both positive magnitudes);
        ``log_mde_decrease`` is NaN when no decrease reaches the power.
    """

    design: str
    target_pre: float
    target_post: float
    control_pre: float | None
    control_post: float | None
    dispersion: float
    alpha: float
    power: float
    variance_at: str
    std_error_log_null: float
    log_mde_decrease: float
    log_mde_increase: float

    @property
    def decrease_detectable(self) -> bool:
        """False when the counts are so small that no decrease reaches the power."""
        return not math.isnan(self.log_mde_decrease)

    @property
    def rate_ratio_decrease(self) -> float:
        return math.exp(-self.log_mde_decrease)

    @property
    def rate_ratio_increase(self) -> float:
        return math.exp(self.log_mde_increase)

    @property
    def decrease_pct(self) -> float:
        """Smallest detectable decrease, in % (positive number)."""
        return 100 * (1 - self.rate_ratio_decrease)

    @property
    def increase_pct(self) -> float:
        """Smallest detectable increase, in %."""
        return 100 * (self.rate_ratio_increase - 1)

    def to_frame(self) -> pd.DataFrame:
        """One row per direction: ``decrease`` and ``increase``."""
        rows = []
        for direction, log_mde, rr, pct in (
            ("decrease", -self.log_mde_decrease, self.rate_ratio_decrease, -self.decrease_pct),
            ("increase", self.log_mde_increase, self.rate_ratio_increase, self.increase_pct),
        ):
            rows.append(
                {
                    "direction": direction,
                    "rate_ratio": rr,
                    "change_pct": pct,
                    "log_effect": log_mde,
                    "std_error_log": _std_error_log(
                        log_mde,
                        self.target_pre,
                        self.target_post,
                        self.control_pre,
                        self.control_post,
                        self.dispersion,
                    )
                    if self.variance_at == "alternative"
                    else self.std_error_log_null,
                    "design": self.design,
                    "dispersion": self.dispersion,
                    "alpha": self.alpha,
                    "power": self.power,
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        counts = f"target {self.target_pre:g} before, {self.target_post:g} expected after"
        if self.design == "controlled":
            counts += f"; control {self.control_pre:g} before, {self.control_post:g} after"
        return "\n".join(
            [
                "Minimum detectable effect "
                + (
                    "(ratio of rate ratios, with control)"
                    if self.design == "controlled"
                    else "(before/after rate ratio, no control)"
                ),
                f"  {counts}; dispersion {self.dispersion:g}",
                f"  two-sided alpha {self.alpha:g}, power {self.power:g}: smallest detectable "
                + (
                    f"decrease {self.decrease_pct:.1f}%"
                    if self.decrease_detectable
                    else "decrease: none (too few crimes for any decrease to reach this power)"
                )
                + f", increase {self.increase_pct:.1f}%",
                "  Smaller true changes are likely to go undetected; a non-significant result "
                "does not show that there was no effect.",
            ]
        )

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.to_frame(), float_format="%.4g")


def minimum_detectable_effect(
    target_pre: float,
    target_post: float | None = None,
    control_pre: float | None = None,
    control_post: float | None = None,
    *,
    dispersion: float = 1.0,
    alpha: float = 0.05,
    power: float = 0.8,
    variance_at: VarianceAt = "alternative",
) -> MDEResult:
    """Smallest decrease and increase in % detectable with the given counts.

    Parameters
    ----------
    target_pre : float
        Expected (or observed) crimes in the target before the intervention.
    target_post : float, optional
        Crimes expected in the target after, if the intervention had no effect.
        Defaults to ``target_pre`` (equal periods, no trend); scale it for periods
        of different length. The effect is measured against this counterfactual, so
        the analysis must test against the same ratio (e.g. an offset for period
        length).
    control_pre, control_post : float, optional
        Expected crimes in a control area; give both for the controlled design.
        Under parallel trends the target's counterfactual is then
        ``target_pre * control_post / control_pre``.
    dispersion : float, default 1
        Quasi-Poisson scale (>= 1) of the counts, e.g. from
        :func:`pipeline.designs.relative_effect.dispersion_from_monthly`.
    alpha : float, default 0.05
        Two-sided significance level.
    power : float, default 0.8
        Desired power.
    variance_at : {"alternative", "null"}, default "alternative"
        Evaluate the SE at the counts expected under the effect (solved exactly) or
        at the no-effect counts (closed form ``(z_{1-alpha/2} + z_power) * SE``).

    Returns
    -------
    MDEResult

    Raises
    ------
    ValueError
        Non-positive counts, only one control count, dispersion < 1, alpha or power
        out of range, unknown ``variance_at``.

    Examples
    --------
    >>> r = minimum_detectable_effect(100, 100)
    >>> round(r.decrease_pct, 1), round(r.increase_pct, 1)
    (36.2, 44.0)
    """
    tp, tq, cp, cq = _counts(target_pre, target_post, control_pre, control_post)
    phi, alpha, power = _check_common(dispersion, alpha, power, variance_at)
    k = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    se0 = _std_error_log(0.0, tp, tq, cp, cq, phi)
    if variance_at == "null":
        dec = inc = k * se0
    else:
        dec = _decrease_root(k, se0, phi / tq / se0**2)
        inc = _solve_increase(k, tp, tq, cp, cq, phi)
    return MDEResult(
        design="before_after" if cp is None else "controlled",
        target_pre=tp,
        target_post=tq,
        control_pre=cp,
        control_post=cq,
        dispersion=phi,
        alpha=alpha,
        power=power,
        variance_at=variance_at,
        std_error_log_null=se0,
        log_mde_decrease=dec,
        log_mde_increase=inc,
    )


def power_for_effect(
    rate_ratio: float,
    target_pre: float,
    target_post: float | None = None,
    control_pre: float | None = None,
    control_post: float | None = None,
    *,
    dispersion: float = 1.0,
    alpha: float = 0.05,
    variance_at: VarianceAt = "alternative",
) -> float:
    """Approximate power to detect a given rate ratio (the inverse of the MDE).

    Parameters
    ----------
    rate_ratio : float
        True effect as a ratio (0.7 = a 30 % decrease in the target, relative to the
        control when control counts are given).
    target_pre, target_post, control_pre, control_post, dispersion, alpha, variance_at
        As in :func:`minimum_detectable_effect`.

    Returns
    -------
    float
        Probability that the two-sided Wald test rejects, counting both tails.
    """
    try:
        rate_ratio = float(rate_ratio)
    except (TypeError, ValueError):
        raise ValueError(f"rate_ratio must be a number > 0, got {rate_ratio!r}") from None
    if not math.isfinite(rate_ratio) or rate_ratio <= 0:
        raise ValueError(f"rate_ratio must be a finite number > 0, got {rate_ratio!r}")
    tp, tq, cp, cq = _counts(target_pre, target_post, control_pre, control_post)
    phi, alpha, _ = _check_common(dispersion, alpha, None, variance_at)
    delta = math.log(rate_ratio)
    se = _std_error_log(delta if variance_at == "alternative" else 0.0, tp, tq, cp, cq, phi)
    z = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.sf(z - delta / se) + stats.norm.cdf(-z - delta / se))


def detectable_decrease_from_interval(
    ci_low: float,
    ci_high: float,
    *,
    level: float = 0.95,
    power: float = 0.8,
    post_share: float = 0.0,
) -> float:
    """Smallest decrease in % a design detects with ``power``, from its own interval.

    A design's interval on the log scale is ``log(estimate) -/+ c * SE``; the
    half-width is ``c * SE`` whatever the reference (model, drift term, t or
    normal; ``c`` is taken as the normal quantile). An estimator centred on a
    true log effect ``-delta`` rejects with probability ``power`` when
    ``delta = (c + z_power) * SE(delta)``. A decrease leaves fewer events
    after the start, so the part of the variance that comes from the
    target's post-period counts (``post_share`` of it) grows by
    ``exp(delta)``; ``delta`` is solved with that, as in
    :func:`minimum_detectable_effect`.

    Parameters
    ----------
    ci_low, ci_high : float
        The design's interval on the ratio scale, both > 0.
    level : float, default 0.95
        Its confidence level (the test's level is ``1 - level``).
    power : float, default 0.8
        Desired power.
    post_share : float, default 0
        Share of the log estimate's variance that comes from the target's
        post-period counts, in [0, 1] (Poisson part: ``1 / T_post / SE^2``).

    Returns
    -------
    float
        Decrease in % (positive); NaN for an unusable interval or when no
        decrease reaches the power.
    """
    if not (np.isfinite([ci_low, ci_high]).all() and 0 < ci_low < ci_high):
        return float("nan")
    crit = stats.norm.ppf(0.5 + level / 2)
    se = (math.log(ci_high) - math.log(ci_low)) / (2 * crit)
    k = crit + stats.norm.ppf(power)
    delta = _decrease_root(k, se, min(max(float(post_share), 0.0), 1.0))
    return float(100 * (1 - math.exp(-delta))) if np.isfinite(delta) else float("nan")
