"""The lean IRLS fits used for placebo refits agree with statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pipeline.designs.its import its_design_matrix
from pipeline.methods.glm import binomial_step, poisson_step


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_poisson_step_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    periods = pd.period_range("2018-01", periods=40, freq="M")
    exog = its_design_matrix(periods, periods[24])
    exposure = rng.integers(28, 32, 40).astype(float)
    counts = rng.poisson(12 * rng.gamma(5, 0.2, 40) * exposure / 30)
    reference = sm.GLM(counts, exog, family=sm.families.Poisson(), offset=np.log(exposure)).fit(
        scale="X2"
    )
    if reference.scale < 1:
        reference = sm.GLM(counts, exog, family=sm.families.Poisson(), offset=np.log(exposure)).fit(
            scale=1.0
        )
    column = list(exog.columns).index("post")
    coef, se = poisson_step(counts, exog.to_numpy(), np.log(exposure), column)
    assert coef == pytest.approx(reference.params["post"], rel=1e-7, abs=1e-9)
    assert se == pytest.approx(reference.bse["post"], rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_binomial_step_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    n = 40
    post = (np.arange(n) >= 25).astype(float)
    exog = np.column_stack([np.ones(n), post, np.arange(n) / 12])
    target = rng.poisson(10 * rng.gamma(6, 1 / 6, n))
    control = rng.poisson(14 * rng.gamma(6, 1 / 6, n))
    totals = target + control
    keep = totals > 0
    offset = np.zeros(n)
    model = sm.GLM(
        target[keep] / totals[keep],
        exog[keep],
        family=sm.families.Binomial(),
        var_weights=totals[keep],
    )
    reference = model.fit(scale="X2")
    if reference.scale < 1:
        reference = model.fit(scale=1.0)
    coef, se = binomial_step(target[keep], totals[keep], exog[keep], offset[keep], 1)
    assert coef == pytest.approx(reference.params[1], rel=1e-7, abs=1e-9)
    assert se == pytest.approx(reference.bse[1], rel=1e-6)
