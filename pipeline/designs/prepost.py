"""Pre/post comparison without a comparison area.

The rate after the start divided by the rate before, with exposure, from a
Poisson regression on a single step; the variance is inflated by the Pearson
dispersion of the monthly counts (quasi-Poisson), floored at 1.

What it can show: how much the level differs between the two periods. What it
cannot: whether the measures caused it. Trends, season mix and shocks such as
COVID-19 all end up in the ratio, and on real municipal series a test of this
kind calls a large share of placebo interventions significant. It is reported
for transparency and as the figure practitioners compute by hand; it is never
the primary estimate when a design with a counterfactual applies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ..errors import EstimationError
from ..results import Effect
from .base import DesignData


class PrePost:
    """Before/after rate ratio of one area (SMS level 2, weakest)."""

    name = "prepost"
    sms_level = 2
    placebo_in_time = True  # pipeline.checks.placebo reruns it at fake starts
    families = ("count",)

    def applies(self, data: DesignData) -> bool:
        return data.indicator.family in self.families

    def estimate(self, data: DesignData) -> Effect:
        counts = data.target["value"].to_numpy(dtype=float)
        exposure = data.target["exposure"].to_numpy(dtype=float)
        post = data.post
        if counts[post == 0].sum() == 0 or counts[post == 1].sum() == 0:
            raise EstimationError(
                "pre/post needs at least one event before and one after the start"
            )
        exog = np.column_stack([np.ones(len(counts)), post])
        model = sm.GLM(counts, exog, family=sm.families.Poisson(), offset=np.log(exposure))
        pearson = model.fit(scale="X2")
        # Floored at 1: months less variable than Poisson do not make the counts more precise.
        result = model.fit(scale=max(1.0, float(pearson.scale)))
        coef, se, df = float(result.params[1]), float(result.bse[1]), float(result.df_resid)
        crit = stats.t.ppf(0.975, df)
        ratio = float(np.exp(coef))
        rate_pre = counts[post == 0].sum() / exposure[post == 0].sum()
        fitted = pd.DataFrame(
            {
                "period": data.periods,
                "observed": counts,
                "fitted": np.asarray(result.mu),
                "counterfactual": rate_pre * exposure,
            }
        )
        return data.effect(
            self,
            estimand="rate_ratio",
            estimate=ratio,
            ci_low=float(np.exp(coef - crit * se)),
            ci_high=float(np.exp(coef + crit * se)),
            p_value=float(2 * stats.t.sf(abs(coef / se), df)),
            method=(
                "Rate after / rate before with exposure; quasi-Poisson variance "
                f"(dispersion {float(result.scale):.2f}), t({int(df)}); no counterfactual for trend or shocks"
            ),
            fitted=fitted,
        )
