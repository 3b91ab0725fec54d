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
when the study gives them, else the target's own controls.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import EstimationError
from ..methods.displacement import wdd, wdq
from ..results import Effect
from .base import DesignData
from .controlled import ControlledComparison
from .donor import DonorComparison


def _sums(frame, start) -> tuple[float, float]:
    post = frame.index >= start
    return float(frame.loc[~post, "value"].sum()), float(frame.loc[post, "value"].sum())


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
        target, control, buffer = data.target.loc[window], control.loc[window], buffer.loc[window]
        buffer_control = buffer_control.loc[window]
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
        d_pre, d_post = _sums(buffer_control, data.start)
        test = wdd(
            (t_pre, t_post),
            (c_pre, c_post),
            (b_pre, b_post),
            (d_pre, d_post),
            time_weights=(n_pre, n_post),
        )
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
                f"month at target and buffer net of their control, time weights {n_pre}/{n_post} months"
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
