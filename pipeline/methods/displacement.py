"""The weighted displacement difference (WDD) test: displacement and diffusion of benefits.

A count-based test taking crimes before ("pre") and after ("post") an
intervention in a few areas (Wheeler & Ratcliffe 2018): a difference-in-differences
of counts with a Poisson standard error, optionally with a displacement (buffer)
area and its own control, different pre/post period lengths and different area
sizes. :func:`wdd_harm` adds several WDD estimates up with harm weights. The
descriptive quotient (WDQ) is in :mod:`.displacement_quotient`.

Every area is given as a ``(pre, post)`` pair of counts.

References
----------
Wheeler, A. P. & Ratcliffe, J. H. (2018). A simple weighted displacement difference test
to evaluate place based crime interventions. *Crime Science*, 7:11.
doi:10.1186/s40163-018-0085-5
Wheeler, A. P. (2021-01-09). The WDD test with different pre/post time periods.
andrewpwheeler.com. Area weights: Wheeler, A. P. (2021-02-23), The WDD test with different
area sizes. Harm weights: Wheeler, A. P. (2020-11-19), Amending the WDD test to incorporate
harm weights. All three are implemented in the R package ``ptools`` (``wdd``, ``wdd_harm``).

The test and its harm-weighted sum stay in one module (over 500 lines): the sum
takes the test's results and both share the normal inference and result form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..format import summary_html
from .arguments import check_pair, check_positive, check_probability

__all__ = [
    "WDDHarmResult",
    "WDDResult",
    "wdd",
    "wdd_harm",
]

ROLES = ("T", "Ct", "D", "Cd")


# --------------------------------------------------------------------------- helpers


def _normal_inference(
    estimate: float, se: float, alpha: float, df: float = math.inf
) -> dict[str, float]:
    """z, two-sided p-value and (1 - alpha) confidence interval of a normal estimate
    (a t reference on ``df`` degrees of freedom when the variance carries an estimated
    dispersion)."""
    reference = stats.norm if math.isinf(df) else stats.t(df)
    level = reference.ppf(1 - alpha / 2)
    if se > 0:
        z = estimate / se
        p = float(2 * reference.sf(abs(z)))
    else:
        # All counts zero: there is nothing to test.
        z, p = float("nan"), float("nan")
    return {
        "z": z,
        "p_value": p,
        "ci_low": estimate - level * se,
        "ci_high": estimate + level * se,
    }


# --------------------------------------------------------------------------- WDD


@dataclass(frozen=True)
class WDDResult:
    """Weighted displacement difference test.

    Negative estimates are crimes prevented (per unit time and area when weights
    are given). ``z``, ``p_value`` and the interval refer to the total estimate,
    as in Wheeler & Ratcliffe (2018); :meth:`to_frame` gives them per component.

    Attributes
    ----------
    counts : dict
        Role (``T``, ``Ct``, ``D``, ``Cd``) -> ``(pre, post)`` counts; D and Cd absent
        when no displacement area was given.
    time_weights : tuple of float
        Lengths of the pre and post periods.
    area_weights : dict
        Role -> area weight.
    alpha : float
        1 - confidence level of the interval.
    local_estimate, local_std_error : float
        ``dT - dCt`` and its standard error.
    displacement_estimate, displacement_std_error : float or None
        ``dD - dCd`` and its standard error, None without a displacement area.
    estimate, se : float
        Total: local plus displacement.
    z, p_value, ci_low, ci_high : float
        Normal-approximation z score, two-sided p-value and interval of the total.
    dispersion : dict
        Role -> factor multiplying its counts' Poisson variance (1: Poisson).
    df : float
        Degrees of freedom of the reference (``inf``: normal).
    shared_control : tuple of float or None
        The ``(pre, post)`` counts Ct and Cd have in common, None if they share none.
    """

    counts: dict[str, tuple[float, float]]
    time_weights: tuple[float, float]
    area_weights: dict[str, float]
    alpha: float
    local_estimate: float
    local_std_error: float
    displacement_estimate: float | None
    displacement_std_error: float | None
    estimate: float
    std_error: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    dispersion: dict[str, float] | None = None
    df: float = math.inf
    shared_control: tuple[float, float] | None = None

    @property
    def variance(self) -> float:
        """Variance of the total estimate."""
        return self.std_error**2

    @property
    def has_displacement(self) -> bool:
        return self.displacement_estimate is not None

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate (``local``, ``displacement`` if any, ``total``)."""
        parts = [("local", self.local_estimate, self.local_std_error)]
        if self.has_displacement:
            parts.append(("displacement", self.displacement_estimate, self.displacement_std_error))
        parts.append(("total", self.estimate, self.std_error))
        rows = []
        for name, est, se in parts:
            rows.append(
                {
                    "component": name,
                    "estimate": est,
                    "std_error": se,
                    **_normal_inference(est, se, self.alpha, self.df),
                    "conf_level": 1 - self.alpha,
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """A few lines for a report."""
        unit = "crimes"
        if self.time_weights != (1.0, 1.0):
            unit += " per unit time"
        if any(w != 1.0 for w in self.area_weights.values()):
            unit += " per unit area"
        level = round(100 * (1 - self.alpha))
        lines = ["Weighted displacement difference test (Wheeler & Ratcliffe 2018)"]
        for role, (pre, post) in self.counts.items():
            lines.append(f"  {role:>2}: pre {pre:g}, post {post:g}")
        if self.time_weights != (1.0, 1.0):
            lines.append(
                f"  period lengths pre {self.time_weights[0]:g}, post {self.time_weights[1]:g}"
            )
        lines.append(f"  local WDD {self.local_estimate:.1f} (SE {self.local_std_error:.1f})")
        if self.has_displacement:
            lines.append(
                f"  displacement WDD {self.displacement_estimate:.1f} "
                f"(SE {self.displacement_std_error:.1f})"
            )
        lines.append(
            f"  total WDD {self.estimate:.1f} {unit} (SE {self.std_error:.1f}), z = {self.z:.2f}, "
            f"p = {self.p_value:.3g}, {level}% CI {self.ci_low:.1f} to {self.ci_high:.1f}"
        )
        lines.append("  Negative = fewer crimes than the controls' trends predict.")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.to_frame(), float_format="%.4g")


def _area_weights(area_weights: Mapping[str, float] | None) -> dict[str, float]:
    weights = dict.fromkeys(ROLES, 1.0)
    if area_weights is None:
        return weights
    if not isinstance(area_weights, Mapping):
        raise ValueError(
            "area_weights must be a mapping of role ('T', 'Ct', 'D', 'Cd') to weight, "
            f"got {area_weights!r}"
        )
    unknown = set(area_weights) - set(ROLES)
    if unknown:
        raise ValueError(f"area_weights has unknown roles {sorted(unknown)}; use {list(ROLES)}")
    for role, w in area_weights.items():
        weights[role] = check_positive(w, f"area weight of {role}")
    return weights


def _component(
    treated: tuple[float, float],
    control: tuple[float, float],
    w_treated: float,
    w_control: float,
    time_weights: tuple[float, float],
    phi_treated: float = 1.0,
    phi_control: float = 1.0,
) -> tuple[float, float]:
    """Difference in differences of weighted counts and its (quasi-)Poisson variance.

    A count X divided by a weight w has variance phi X / w**2 (Var(X/w) = Var(X)/w**2
    with Var(X) estimated by phi X), which is how Wheeler's time and area weights enter.
    """
    t_pre, t_post = time_weights
    est = (treated[1] / (t_post * w_treated) - treated[0] / (t_pre * w_treated)) - (
        control[1] / (t_post * w_control) - control[0] / (t_pre * w_control)
    )
    var = phi_treated * (
        treated[1] / (t_post * w_treated) ** 2 + treated[0] / (t_pre * w_treated) ** 2
    ) + phi_control * (
        control[1] / (t_post * w_control) ** 2 + control[0] / (t_pre * w_control) ** 2
    )
    return est, var


def wdd(
    treated: Sequence[float],
    control: Sequence[float],
    displacement: Sequence[float] | None = None,
    displacement_control: Sequence[float] | None = None,
    *,
    time_weights: Sequence[float] = (1.0, 1.0),
    area_weights: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    shared_control: Sequence[float] | None = None,
    dispersion: float | Mapping[str, float] = 1.0,
    df: float = math.inf,
) -> WDDResult:
    """Weighted displacement difference test of Wheeler & Ratcliffe (2018).

    With pre/post counts in the treated area T, its control Ct, the displacement
    (buffer) area D and its control Cd, and changes ``dX = X_post - X_pre``::

        WDD = (dT - dCt) + (dD - dCd)
        Var = T_pre + T_post + Ct_pre + Ct_post + D_pre + D_post + Cd_pre + Cd_post

    using the normal approximation to the Poisson (each count is its own variance).
    Without D and Cd it is the plain difference-in-differences of counts.

    Different period lengths (Wheeler 2021): every count is divided by the length of
    its period, so the estimate is a change per unit time, and its variance term is
    divided by the squared length. Area weights work the same way per area, giving
    changes per unit area; both weights multiply.

    Parameters
    ----------
    treated, control : (pre, post) pair of counts
        T and Ct.
    displacement, displacement_control : (pre, post) pair of counts, optional
        D and Cd; give both or neither.
    time_weights : (pre, post) pair, default (1, 1)
        Length of each period in a common unit (e.g. ``(2, 1)`` for two years before
        and one after).
    area_weights : mapping, optional
        Role (``"T"``, ``"Ct"``, ``"D"``, ``"Cd"``) -> size of that area in a common
        unit; missing roles weigh 1.
    alpha : float, default 0.05
        1 - confidence level. (``ptools::wdd`` defaults to 0.1.)
    shared_control : (pre, post) pair of counts, optional
        The counts Ct and Cd have in common: all of Ct when the buffer is compared
        with the target's own control. Its change is subtracted twice, once in each
        component, so its variance enters the total four times, not twice::

            Var += 2 * Cov = 2 * (S_pre + S_post) / (w_Ct * w_Cd)   (with weights)

        The published test assumes independent controls (None).
    dispersion : float or mapping, default 1
        Quasi-Poisson factor (>= 1) multiplying the counts' variance, for
        overdispersed counts: one for every area, or role -> factor (missing
        roles 1), e.g. :func:`pipeline.designs.relative_effect.dispersion_from_monthly`
        on each area's monthly counts. Per area matters: the shared control's
        variance enters four times, so an average would understate it.
    df : float, default inf
        Degrees of freedom of a t reference, for a dispersion estimated from the
        data; the default is the published normal reference.

    Returns
    -------
    WDDResult

    Raises
    ------
    ValueError
        Bad counts, only one of D / Cd, non-positive weights, unknown roles, bad
        alpha, a shared control without a displacement area or larger than Ct or
        Cd, a dispersion below 1 or df not positive.

    Notes
    -----
    The Poisson variance understates the uncertainty when counts are overdispersed,
    and the normal approximation is poor for very small counts (Wheeler & Ratcliffe
    2018). Identification rests on parallel trends between each area and its control.

    Examples
    --------
    The worked example of Wheeler & Ratcliffe (2018):

    >>> r = wdd((207, 110), (308, 318), (178, 157), (150, 140))
    >>> r.estimate, r.variance, round(r.z, 2)
    (-118.0, 1568.0, -2.98)
    """
    t = check_pair(treated, "treated (T)")
    ct = check_pair(control, "control (Ct)")
    if (displacement is None) != (displacement_control is None):
        raise ValueError("give both displacement (D) and displacement_control (Cd), or neither")
    try:
        tw = tuple(time_weights)
    except TypeError:
        raise ValueError(f"time_weights must be a (pre, post) pair, got {time_weights!r}") from None
    if len(tw) != 2:
        raise ValueError(f"time_weights must be a (pre, post) pair, got {time_weights!r}")
    tw = (check_positive(tw[0], "pre time weight"), check_positive(tw[1], "post time weight"))
    weights = _area_weights(area_weights)
    alpha = check_probability(alpha)

    if isinstance(dispersion, Mapping):
        unknown = set(dispersion) - set(ROLES)
        if unknown:
            raise ValueError(f"dispersion has unknown roles {sorted(unknown)}; use {list(ROLES)}")
        phi = {role: dispersion.get(role, 1.0) for role in ROLES}
    else:
        phi = dict.fromkeys(ROLES, dispersion)
    for role, value in phi.items():
        phi[role] = check_positive(value, f"dispersion of {role}")
        if phi[role] < 1:
            raise ValueError(f"dispersion must be at least 1, got {value!r} for {role}")
    try:
        df = float(df)
    except (TypeError, ValueError):
        raise ValueError(f"df must be a positive number, got {df!r}") from None
    if not df > 0:
        raise ValueError(f"df must be a positive number, got {df!r}")
    shared = None if shared_control is None else check_pair(shared_control, "shared control")

    counts = {"T": t, "Ct": ct}
    local_est, local_var = _component(t, ct, weights["T"], weights["Ct"], tw, phi["T"], phi["Ct"])
    disp_est = disp_se = None
    total_est, total_var = local_est, local_var
    if displacement is not None:
        d = check_pair(displacement, "displacement (D)")
        cd = check_pair(displacement_control, "displacement control (Cd)")
        counts.update({"D": d, "Cd": cd})
        disp_est, disp_var = _component(d, cd, weights["D"], weights["Cd"], tw, phi["D"], phi["Cd"])
        disp_se = math.sqrt(disp_var)
        total_est += disp_est
        total_var += disp_var
        if shared is not None:
            if shared[0] > min(ct[0], cd[0]) or shared[1] > min(ct[1], cd[1]):
                raise ValueError("shared_control cannot exceed the counts of Ct or Cd")
            # Both components subtract the shared areas' change: their covariance.
            covariance = (shared[0] / tw[0] ** 2 + shared[1] / tw[1] ** 2) / (
                weights["Ct"] * weights["Cd"]
            )
            total_var += 2 * phi["Ct"] * covariance
    else:
        if shared is not None:
            raise ValueError("shared_control needs a displacement area and its control")
        if area_weights is not None and {"D", "Cd"} & set(area_weights):
            raise ValueError("area_weights for D or Cd given without a displacement area")
        weights = {k: v for k, v in weights.items() if k in ("T", "Ct")}

    se = math.sqrt(total_var)
    inference = _normal_inference(total_est, se, alpha, df)
    return WDDResult(
        counts=counts,
        time_weights=tw,
        area_weights=weights,
        alpha=alpha,
        local_estimate=local_est,
        local_std_error=math.sqrt(local_var),
        displacement_estimate=disp_est,
        displacement_std_error=disp_se,
        estimate=total_est,
        std_error=se,
        **inference,
        dispersion={role: phi[role] for role in counts},
        df=df,
        shared_control=shared,
    )


# --------------------------------------------------------------------------- harm


@dataclass(frozen=True)
class WDDHarmResult:
    """Harm-weighted sum of several WDD estimates.

    Attributes
    ----------
    labels : tuple of str
        One label per component estimate (e.g. crime type).
    estimates, std_errors, weights : tuple of float
        The inputs.
    alpha : float
    estimate, std_error, z, p_value, ci_low, ci_high : float
        The weighted total and its inference.
    """

    labels: tuple[str, ...]
    estimates: tuple[float, ...]
    std_errors: tuple[float, ...]
    weights: tuple[float, ...]
    alpha: float
    estimate: float
    std_error: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_frame(self) -> pd.DataFrame:
        """One row per component (weighted) and a final ``total`` row."""
        rows = []
        for lab, est, se, w in zip(
            self.labels, self.estimates, self.std_errors, self.weights, strict=True
        ):
            rows.append(
                {
                    "component": lab,
                    "weight": w,
                    "estimate": w * est,
                    "std_error": abs(w) * se,
                    **_normal_inference(w * est, abs(w) * se, self.alpha),
                }
            )
        rows.append(
            {
                "component": "total",
                "weight": float("nan"),
                "estimate": self.estimate,
                "std_error": self.std_error,
                "z": self.z,
                "p_value": self.p_value,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            }
        )
        frame = pd.DataFrame(rows)
        frame["conf_level"] = 1 - self.alpha
        return frame

    def summary(self) -> str:
        level = round(100 * (1 - self.alpha))
        return "\n".join(
            [
                "Harm-weighted WDD (Wheeler 2020)",
                f"  {len(self.estimates)} components, weights "
                + ", ".join(
                    f"{lab}={w:g}" for lab, w in zip(self.labels, self.weights, strict=True)
                ),
                f"  total harm {self.estimate:.1f} (SE {self.std_error:.1f}), z = {self.z:.2f}, "
                f"p = {self.p_value:.3g}, {level}% CI {self.ci_low:.1f} to {self.ci_high:.1f}",
                "  Negative = less harm than the controls' trends predict.",
            ]
        )

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.to_frame(), float_format="%.4g")


def wdd_harm(
    estimates: Sequence[float] | Sequence[WDDResult],
    std_errors: Sequence[float] | None = None,
    weights: Sequence[float] | None = None,
    *,
    labels: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> WDDHarmResult:
    """Combine several WDD estimates into one harm-weighted estimate.

    For estimates ``e_i`` with standard errors ``s_i`` (e.g. one WDD per crime type)
    and harm weights ``w_i`` (e.g. a crime-harm index)::

        H = sum(w_i * e_i),   Var(H) = sum(w_i**2 * s_i**2)

    treating the components as independent (Wheeler 2020; ``ptools::wdd_harm``).
    Note this is *harm*-weighted, not a harmonic mean.

    Parameters
    ----------
    estimates : sequence of float, or sequence of WDDResult
        Component estimates. When WDDResult objects are given, their total estimate
        and SE are used and ``std_errors`` must be omitted.
    std_errors : sequence of float, optional
        Standard errors of the estimates (required for plain numbers).
    weights : sequence of float, optional
        Harm weights; default 1 for every component.
    labels : sequence of str, optional
        Names of the components; default ``"1"``, ``"2"``, ...
    alpha : float, default 0.05

    Returns
    -------
    WDDHarmResult

    Raises
    ------
    ValueError
        Lengths differ, no components, negative or non-finite standard errors.
    """
    items = list(estimates)
    if not items:
        raise ValueError("wdd_harm needs at least one estimate")
    if all(isinstance(x, WDDResult) for x in items):
        if std_errors is not None:
            raise ValueError("give std_errors only with plain estimates, not WDDResult objects")
        est = [r.estimate for r in items]
        ses = [r.std_error for r in items]
    elif any(isinstance(x, WDDResult) for x in items):
        raise ValueError("estimates must be all numbers or all WDDResult objects")
    else:
        if std_errors is None:
            raise ValueError("std_errors are required with plain estimates")
        est = [float(x) for x in items]
        ses = [float(x) for x in std_errors]
    n = len(est)
    w = [1.0] * n if weights is None else [float(x) for x in weights]
    lab = [str(i + 1) for i in range(n)] if labels is None else [str(x) for x in labels]
    if not (len(ses) == len(w) == len(lab) == n):
        raise ValueError(
            f"estimates ({n}), std_errors ({len(ses)}), weights ({len(w)}) and "
            f"labels ({len(lab)}) must have the same length"
        )
    if not all(math.isfinite(x) for x in est + w):
        raise ValueError("estimates and weights must be finite numbers")
    if not all(math.isfinite(s) and s >= 0 for s in ses):
        raise ValueError("std_errors must be finite numbers >= 0")
    alpha = check_probability(alpha)
    e, s, ww = np.asarray(est), np.asarray(ses), np.asarray(w)
    total = float(np.sum(ww * e))
    se = float(math.sqrt(np.sum(ww**2 * s**2)))
    return WDDHarmResult(
        labels=tuple(lab),
        estimates=tuple(est),
        std_errors=tuple(ses),
        weights=tuple(w),
        alpha=alpha,
        estimate=total,
        std_error=se,
        **_normal_inference(total, se, alpha),
    )
