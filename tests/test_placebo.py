"""Placebo tests in time."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from pipeline.checks.placebo import placebo_in_time
from pipeline.designs import InterruptedTimeSeries, PrePost
from pipeline.validation.simulation import simulate_design_data


def test_a_large_real_effect_ranks_first_among_the_placebos():
    data = simulate_design_data(np.random.default_rng(8), effect=0.3, target_level=40, drift=False)
    design = PrePost()
    real = design.estimate(data)
    p_value, n = placebo_in_time(design, data, real)
    assert n >= 8
    assert p_value == 1 / (n + 1)


def test_placebos_never_see_the_post_period():
    """Doubling every post-period count changes the real estimate but not the placebo distribution."""
    data = simulate_design_data(np.random.default_rng(9), effect=1.0, drift=False)
    design = InterruptedTimeSeries()
    real = design.estimate(data)
    post = data.target.index >= data.start
    inflated = replace(
        data,
        target=data.target.assign(
            value=np.where(post, 2 * data.target["value"], data.target["value"])
        ),
    )
    p_plain, n_plain = placebo_in_time(design, data, real)
    p_inflated, n_inflated = placebo_in_time(design, inflated, real)
    assert (p_plain, n_plain) == (p_inflated, n_inflated)


def test_too_short_a_pre_period_gives_no_placebo():
    data = simulate_design_data(np.random.default_rng(1), start="2018-06-01", drift=False)
    real = InterruptedTimeSeries().estimate(replace(data, start=pd.Period("2018-06", freq="M")))
    p_value, n = placebo_in_time(InterruptedTimeSeries(), data, real)
    assert n == 0 and np.isnan(p_value)
