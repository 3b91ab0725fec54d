"""Relative effect size (RES) of Welsh & Farrington for before/after counts.

With crimes in the experimental (target) area E and a control area C, before and
after an intervention, laid out as in Farrington et al. (2007, Appendix)::

                 before  after
    experimental    a      b
    control         c      d

the relative effect size is the odds ratio ``RES = (a*d) / (b*c)``: how much the
control changed relative to the target. RES > 1 is a desirable effect (crime fell
in the target relative to the control); RES = 2 means d/c is twice b/a. Its
reciprocal ``b*c / (a*d) = (b/a) / (d/c)`` is the ratio of the two before/after rate
ratios, which reads the other way round: < 1 means relatively fewer crimes in the
target, and ``100 * (1/RES - 1)`` is the percentage change in the target relative
to the control.

Under a Poisson model ``Var(log RES) = 1/a + 1/b + 1/c + 1/d``. Crime counts are
usually overdispersed (Marchant 2004; Farrington et al. 2007), so the variance can
be multiplied by a dispersion factor; :func:`dispersion_from_monthly` estimates one
from the monthly counts behind each cell.

References
----------
Welsh, B. C. & Farrington, D. P. (2002). *Crime prevention effects of closed circuit
television: a systematic review*. Home Office Research Study 252.
Farrington, D. P., Gill, M., Waples, S. J. & Argomaniz, J. (2007). The effects of
closed-circuit television on crime: meta-analysis of an English national
quasi-experimental multi-site evaluation. *Journal of Experimental Criminology*, 3,
21-38. doi:10.1007/s11292-007-9024-2
Welsh, B. C. & Farrington, D. P. (2008). Effects of improved street lighting on crime.
*Campbell Systematic Reviews* 2008:13; Effects of closed circuit television
surveillance on crime. *Campbell Systematic Reviews* 2008:17.
Marchant, P. R. (2004). A demonstration that the claim that brighter lighting reduces
crime is unfounded. *British Journal of Criminology*, 44(3), 441-447.
McCullagh, P. & Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed. (quasi-Poisson
dispersion estimated by the Pearson statistic over its degrees of freedom).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..format import summary_html
from ..methods.arguments import check_at_least, check_pair, check_probability

__all__ = ["RelativeEffectResult", "dispersion_from_monthly", "relative_effect_size"]


def _nonzero_pair(value: Sequence[float], name: str) -> tuple[float, float]:
    """A ``(before, after)`` pair of counts, every one > 0."""
    pair = check_pair(value, name, labels=("before", "after"))
    for label, x in zip(("before", "after"), pair, strict=True):
        if x == 0:
            # log RES and its variance need every cell > 0; no silent continuity correction.
            raise ValueError(
                f"{name} {label} count is 0: the relative effect size is undefined; "
                "use longer periods or a larger area"
            )
    return pair


@dataclass(frozen=True)
class RelativeEffectResult:
    """Relative effect size with its confidence interval and test.

    Attributes
    ----------
    target, control : tuple of float
        ``(before, after)`` counts: (a, b) and (c, d).
    res : float
        ``a*d / (b*c)``; > 1 desirable (crime fell in the target relative to control).
    log_res, std_error_log_res : float
        Natural log of RES and its standard error (dispersion included).
    var_log_res_poisson : float
        ``1/a + 1/b + 1/c + 1/d`` before any inflation.
    dispersion : float
        Factor the Poisson variance was multiplied by (1 = none).
    alpha : float
    z, p_value : float
        ``log_res / std_error_log_res`` and its two-sided p-value (null: RES = 1).
    ci_low, ci_high : float
        Confidence interval of RES.
    """

    target: tuple[float, float]
    control: tuple[float, float]
    res: float
    log_res: float
    std_error_log_res: float
    var_log_res_poisson: float
    dispersion: float
    alpha: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float

    @property
    def var_log_res(self) -> float:
        """Variance of log RES, dispersion included."""
        return self.std_error_log_res**2

    @property
    def rate_ratio(self) -> float:
        """``1 / RES = (b/a) / (d/c)``; < 1 means relatively fewer crimes in the target."""
        return 1.0 / self.res

    @property
    def rate_ratio_ci(self) -> tuple[float, float]:
        return (1.0 / self.ci_high, 1.0 / self.ci_low)

    @property
    def percent_change(self) -> float:
        """Change in the target relative to the control, in % (negative = fewer crimes)."""
        return 100.0 * (self.rate_ratio - 1.0)

    def to_frame(self) -> pd.DataFrame:
        """Two rows: ``res`` and its reciprocal ``rate_ratio``, each with CI, z, p."""
        common = {
            "std_error_log": self.std_error_log_res,
            "z": self.z,
            "p_value": self.p_value,
            "dispersion": self.dispersion,
            "conf_level": 1 - self.alpha,
        }
        rr_low, rr_high = self.rate_ratio_ci
        rows = [
            {
                "measure": "res",
                "estimate": self.res,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "reading": "> 1: crime fell in target relative to control",
                **common,
            },
            {
                "measure": "rate_ratio",
                "estimate": self.rate_ratio,
                "ci_low": rr_low,
                "ci_high": rr_high,
                "reading": "< 1: relatively fewer crimes in target",
                **common,
                "z": -self.z,
            },
        ]
        return pd.DataFrame(rows)

    def summary(self) -> str:
        level = round(100 * (1 - self.alpha))
        rr_low, rr_high = self.rate_ratio_ci
        disp = (
            "Poisson variance"
            if self.dispersion == 1
            else f"variance inflated by dispersion {self.dispersion:.2f}"
        )
        return "\n".join(
            [
                "Relative effect size (Welsh & Farrington)",
                f"  target {self.target[0]:g} -> {self.target[1]:g}, "
                f"control {self.control[0]:g} -> {self.control[1]:g}",
                f"  RES {self.res:.3f} ({level}% CI {self.ci_low:.3f} to {self.ci_high:.3f}), "
                f"z = {self.z:.2f}, p = {self.p_value:.3g}; {disp}",
                f"  rate ratio of ratios {self.rate_ratio:.3f} ({rr_low:.3f} to {rr_high:.3f}): "
                f"{self.percent_change:+.1f}% in the target relative to the control",
                "  RES > 1 means crime fell in the target relative to the control.",
            ]
        )

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.to_frame(), float_format="%.4g")


def relative_effect_size(
    target: Sequence[float],
    control: Sequence[float],
    *,
    dispersion: float = 1.0,
    alpha: float = 0.05,
) -> RelativeEffectResult:
    """Relative effect size ``RES = a*d / (b*c)`` with a normal CI on the log scale.

    Parameters
    ----------
    target : (before, after) pair of counts
        Experimental area, ``(a, b)``.
    control : (before, after) pair of counts
        Control area, ``(c, d)``. Periods must be the same for both areas; their
        lengths cancel, so before and after may differ in length.
    dispersion : float, default 1
        Multiplier (>= 1) of ``Var(log RES)`` for overdispersed counts, e.g. from
        :func:`dispersion_from_monthly`. Standard errors scale with its square root.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    RelativeEffectResult

    Raises
    ------
    ValueError
        A count is zero, negative or not a number; dispersion < 1; alpha not in (0, 1).

    Examples
    --------
    Crimes halve in the target and stay constant in the control: RES = 2.

    >>> r = relative_effect_size(target=(100, 50), control=(100, 100))
    >>> r.res, round(r.percent_change, 1)
    (2.0, -50.0)
    """
    a, b = _nonzero_pair(target, "target")
    c, d = _nonzero_pair(control, "control")
    dispersion = check_at_least(
        dispersion,
        "dispersion",
        1,
        "values below 1 would claim more precision than a Poisson count has",
    )
    alpha = check_probability(alpha)

    log_res = math.log(a) + math.log(d) - math.log(b) - math.log(c)
    var_poisson = 1 / a + 1 / b + 1 / c + 1 / d
    se = math.sqrt(dispersion * var_poisson)
    z = log_res / se
    level = stats.norm.ppf(1 - alpha / 2)
    return RelativeEffectResult(
        target=(a, b),
        control=(c, d),
        res=math.exp(log_res),
        log_res=log_res,
        std_error_log_res=se,
        var_log_res_poisson=var_poisson,
        dispersion=dispersion,
        alpha=alpha,
        z=z,
        p_value=float(2 * stats.norm.sf(abs(z))),
        ci_low=math.exp(log_res - level * se),
        ci_high=math.exp(log_res + level * se),
    )


def dispersion_from_monthly(*series: Sequence[float], floor: float = 1.0) -> float:
    """Quasi-Poisson dispersion of monthly counts, pooled over series.

    Each series holds the monthly counts behind one cell of the RES table (one area
    in one period). If months in a series have a common mean ``m`` and variance
    ``phi * m``, the period total has variance ``phi`` times its mean, so ``phi`` is
    exactly the factor by which ``1/a + 1/b + 1/c + 1/d`` must be inflated. It is
    estimated by the pooled Pearson statistic over its degrees of freedom::

        phi = sum_s sum_t (x_st - mean_s)**2 / mean_s  /  sum_s (n_s - 1)

    (McCullagh & Nelder 1989). This follows the practice of estimating
    overdispersion from monthly crime counts (Farrington et al. 2007; Marchant 2004).

    Parameters
    ----------
    *series : sequences of counts
        One or more series of monthly counts (>= 2 months each). All-zero series
        carry no information and are skipped.
    floor : float, default 1
        Lower bound of the result; the default keeps the Poisson variance when the
        months are less variable than Poisson. Pass 0 to see the raw estimate.

    Returns
    -------
    float
        The dispersion factor, to pass as ``dispersion`` to
        :func:`relative_effect_size` or :func:`pipeline.checks.power.minimum_detectable_effect`.

    Raises
    ------
    ValueError
        No series, a series shorter than 2 months, negative or non-finite counts, or
        only all-zero series.

    Notes
    -----
    A trend or seasonal pattern inside a period counts as dispersion here, which
    makes the inflation conservative. Months are assumed independent; positive
    autocorrelation between months would make even this estimate too small.
    """
    if not series:
        raise ValueError("dispersion_from_monthly needs at least one series of monthly counts")
    floor = check_at_least(floor, "floor", 0)
    pearson = 0.0
    df = 0
    for i, s in enumerate(series, start=1):
        try:
            x = np.asarray(s, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"series {i} must hold numbers") from None
        if x.ndim != 1 or x.size < 2:
            raise ValueError(f"series {i} must be a 1-d sequence of at least 2 monthly counts")
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            raise ValueError(f"series {i} must hold finite counts >= 0")
        mean = x.mean()
        if mean == 0:
            continue
        pearson += float(np.sum((x - mean) ** 2) / mean)
        df += x.size - 1
    if df == 0:
        raise ValueError("every series is all zeros: dispersion cannot be estimated")
    return max(floor, pearson / df)


class RelativeEffect:
    """The Welsh & Farrington relative effect size for a target with controls (SMS level 3).

    Reported beside the primary estimate so results compare with the systematic
    reviews of street lighting and CCTV; RES > 1 means crime fell in the target
    relative to the control. Its variance is inflated by the monthly counts'
    dispersion, as Farrington et al. recommend.
    """

    name = "relative_effect"
    sms_level = 3
    families = ("count",)

    def applies(self, data) -> bool:
        return data.indicator.family in self.families and bool(data.controls)

    def estimate(self, data):
        from ..errors import EstimationError

        control = data.pooled_controls()
        window = data.target.index.intersection(control.index)
        target, control = data.target.loc[window, "value"], control.loc[window, "value"]
        post = window >= data.start
        counts = (
            (float(target[~post].sum()), float(target[post].sum())),
            (float(control[~post].sum()), float(control[post].sum())),
        )
        if min(*counts[0], *counts[1]) <= 0:
            raise EstimationError("the relative effect size needs events in every cell")
        dispersion = dispersion_from_monthly(
            target[~post].to_numpy(),
            target[post].to_numpy(),
            control[~post].to_numpy(),
            control[post].to_numpy(),
        )
        result = relative_effect_size(counts[0], counts[1], dispersion=dispersion)
        return data.effect(
            self,
            estimand="relative_effect_size",
            estimate=float(result.res),
            ci_low=float(result.ci_low),
            ci_high=float(result.ci_high),
            p_value=float(result.p_value),
            n_pre=int((~post).sum()),
            n_post=int(post.sum()),
            method=(
                "Relative effect size (Welsh & Farrington): odds ratio of before/after counts, "
                f"control over target (> 1 = crime fell in the target); variance x {dispersion:.2f} "
                "for overdispersion"
            ),
        )
