"""Displacement and diffusion of benefits into a target's buffer zone.

Three views of the same question — did crime move to the streets around the
target, or did the benefit spread there?

* The buffer's own comparison (place = the buffer): its rate ratio against the
  donor pool when the study has one (``donor_comparison``), else against the
  target's control areas (``controlled``); above 1 suggests displacement,
  below 1 diffusion of benefits.
* The weighted displacement difference test (``wdd``, Wheeler & Ratcliffe
  2018): the change in crimes per month at target plus buffer, each net of its
  control, with a standard error and test; unequal period lengths are handled
  by time weights (months before, months after).
* The weighted displacement quotient (``wdq``, Bowers & Johnson 2003): the
  buffer's change relative to the target's success; it has no sampling
  distribution, so it is reported without interval or p-value, with the band
  its authors give.

The buffer's control (the WDD's ``Cd``) is the target's ``buffer_controls``
when the study gives them, else the target's own controls. Areas that serve as
both controls enter both halves of the WDD, so their variance enters four
times, not twice; and the counts' overdispersion, estimated from the areas'
monthly counts within each period, scales every variance (t reference on its
degrees of freedom).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import EstimationError
from ..methods.displacement import WDDResult, wdd
from ..methods.displacement_quotient import wdq
from ..results import Effect
from .base import DesignData, pool
from .controlled import ControlledComparison
from .donor import DonorComparison
from .relative_effect import dispersion_from_monthly


def _sums(frame, start) -> tuple[float, float]:
    post = frame.index >= start
    return float(frame.loc[~post, "value"].sum()), float(frame.loc[post, "value"].sum())


def _window(data: DesignData):
    """Target, pooled control, buffer and pooled buffer control over their common months."""
    control = data.pooled_controls()
    buffer_control = data.pooled_buffer_controls()
    buffer = data.buffer.dropna()
    window = (
        data.target.index.intersection(control.index)
        .intersection(buffer.index)
        .intersection(buffer_control.index)
    )
    if len(window) == 0:
        raise EstimationError("target, buffer and controls share no periods")
    return (
        window,
        data.target.loc[window],
        control.loc[window],
        buffer.loc[window],
        buffer_control.loc[window],
    )


def displacement_difference(data: DesignData) -> WDDResult:
    """The weighted displacement difference test of a target with a buffer and controls.

    Crimes per month (time weights: months before, months after). Areas that
    are both the target's and the buffer's control enter both halves, so their
    covariance is added; the dispersion of the areas' monthly counts within
    each period (floored at 1) scales every variance, with a t reference on its
    degrees of freedom.

    Parameters
    ----------
    data
        A target with a buffer and controls.

    Returns
    -------
    WDDResult
    """
    window, target, control, buffer, buffer_control = _window(data)
    post = window >= data.start
    n_pre, n_post = int((~post).sum()), int(post.sum())
    t_pre, t_post = _sums(target, data.start)
    c_pre, c_post = _sums(control, data.start)
    b_pre, b_post = _sums(buffer, data.start)
    d_pre, d_post = _sums(buffer_control, data.start)
    # Areas that are the target's control and the buffer's control at once.
    both = set(data.buffer_controls or data.controls) & set(data.controls)
    shared = None
    if both:
        shared = _sums(pool({k: data.controls[k] for k in both}).loc[window], data.start)
    # Each area's own dispersion over its months in each period (floored at 1): the
    # shared control's variance counts four times, so an average would understate it.
    areas = {"T": target, "Ct": control, "D": buffer, "Cd": buffer_control}
    dispersion, dfs = {}, []
    for role, frame in areas.items():
        monthly = [frame["value"].to_numpy(float)[part] for part in (~post, post)]
        monthly = [m for m in monthly if len(m) >= 2 and m.sum() > 0]
        dispersion[role] = dispersion_from_monthly(*monthly) if monthly else 1.0
        dfs.append(sum(len(m) - 1 for m in monthly) if monthly else np.inf)
    df = float(min(dfs))
    return wdd(
        (t_pre, t_post),
        (c_pre, c_post),
        (b_pre, b_post),
        (d_pre, d_post),
        time_weights=(n_pre, n_post),
        shared_control=shared,
        dispersion=dispersion,
        df=df,
    )


class BufferDisplacement:
    """Displacement checks for a target with a buffer and controls (SMS level 3)."""

    name = "displacement"
    sms_level = 3
    families = ("count",)

    def applies(self, data: DesignData) -> bool:
        return (
            data.indicator.family in self.families
            and data.buffer is not None
            and data.buffer_place is not None
            and bool(data.controls)
        )

    def estimate(self, data: DesignData) -> tuple[Effect, ...]:
        window, target, control, buffer, _ = _window(data)
        n_pre = int((window < data.start).sum())
        n_post = int((window >= data.start).sum())
        common = dict(
            municipality=data.municipality,
            indicator=data.indicator.id,
            n_pre=n_pre,
            n_post=n_post,
            sms_level=self.sms_level,
            notes=data.notes,
        )

        # The buffer's own comparison, by the strongest design that applies to it:
        # the donor pool when there is one, else the target's controls.
        as_target = replace(
            data,
            place=data.buffer_place,
            target=buffer,
            controls=data.buffer_controls or data.controls,
            buffer=None,
            buffer_place=None,
            buffer_controls={},
        )
        donor = DonorComparison()
        comparison = donor if donor.applies(as_target) else ControlledComparison()
        buffer_effect = comparison.estimate(as_target)
        buffer_effect = replace(
            buffer_effect,
            method=buffer_effect.method
            + f"; buffer of {data.place.id}: above 1 suggests displacement, below 1 diffusion of benefits",
        )

        t_pre, t_post = _sums(target, data.start)
        c_pre, c_post = _sums(control, data.start)
        b_pre, b_post = _sums(buffer, data.start)
        test = displacement_difference(data)
        shared, df = test.shared_control, test.df
        dispersion = ", ".join(f"{role} {value:.2f}" for role, value in test.dispersion.items())
        wdd_effect = Effect(
            place_id=data.place.id,
            design="wdd",
            estimand="crimes_per_month_difference",
            estimate=float(test.estimate),
            ci_low=float(test.ci_low),
            ci_high=float(test.ci_high),
            p_value=float(test.p_value),
            method=(
                "Weighted displacement difference test (Wheeler & Ratcliffe 2018): change in crimes per "
                f"month at target and buffer net of their control, time weights {n_pre}/{n_post} months; "
                f"variances times each area's monthly dispersion ({dispersion}), t({df:.0f})"
                + ("; the control shared by target and buffer counted in both" if shared else "")
            ),
            **common,
        )

        quotient = wdq((t_pre, t_post), (b_pre, b_post), (c_pre, c_post))
        wdq_effect = Effect(
            place_id=data.place.id,
            design="wdq",
            estimand="displacement_quotient",
            estimate=float(quotient.wdq) if quotient.defined else np.nan,
            ci_low=np.nan,
            ci_high=np.nan,
            p_value=np.nan,
            method=(
                "Weighted displacement quotient (Bowers & Johnson 2003), no sampling distribution: "
                f"{quotient.band}"
            ),
            **common,
        )
        return buffer_effect, wdd_effect, wdq_effect
