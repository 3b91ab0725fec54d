"""Pre/post without comparison: the textbook ratio, and never primary over a stronger design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.designs.base import DesignData
from pipeline.designs.prepost import PrePost
from pipeline.inputs.study import Indicator, Place


def _data(counts, exposure, start="2020-01"):
    periods = pd.period_range("2018-01", periods=len(counts), freq="M")
    target = pd.DataFrame({"value": counts, "exposure": exposure}, index=periods)
    place = Place(
        id="t", name="T", municipality="M", role="target", intervention_start="2020-01-01"
    )
    indicator = Indicator(
        id="c", label_sv="c", label_en="c", family="count", better="lower", unit="n"
    )
    return DesignData("M", place, indicator, pd.Period(start, "M"), target)


def test_estimate_is_the_ratio_of_rates_with_exposure():
    rng = np.random.default_rng(2)
    counts = rng.poisson(20, 36).astype(float)
    exposure = rng.integers(28, 32, 36).astype(float)
    effect = PrePost().estimate(_data(counts, exposure))
    pre, post = slice(0, 24), slice(24, 36)
    expected = (counts[post].sum() / exposure[post].sum()) / (
        counts[pre].sum() / exposure[pre].sum()
    )
    assert effect.estimate == pytest.approx(expected, rel=1e-8)
    assert effect.ci_low < effect.estimate < effect.ci_high
    assert (effect.n_pre, effect.n_post, effect.sms_level) == (24, 12, 2)


def test_overdispersion_widens_the_interval():
    rng = np.random.default_rng(4)
    calm = rng.poisson(20, 36).astype(float)
    wild = rng.poisson(20 * rng.gamma(2, 0.5, 36)).astype(float)
    ones = np.ones(36)
    narrow = PrePost().estimate(_data(calm, ones))
    wide = PrePost().estimate(_data(wild, ones))
    assert np.log(wide.ci_high / wide.ci_low) > np.log(narrow.ci_high / narrow.ci_low)


def test_is_never_primary_when_the_time_series_applies():
    from pipeline.designs import DESIGNS

    names = [d.name for d in DESIGNS]
    assert names.index("its") < names.index("prepost")


def test_dispersion_is_floored_at_one():
    """Regression: months less variable than Poisson made the interval narrower than the
    Poisson one (the Pearson dispersion was not floored at 1)."""
    counts = np.array([10.0] * 12 + [8.0] * 12)  # no month-to-month variation at all
    effect = PrePost().estimate(_data(counts, np.ones(24), start="2019-01"))
    se = np.sqrt(1 / 120 + 1 / 96)  # Poisson: the periods' totals are their variances
    crit = stats.t.ppf(0.975, 22)
    assert effect.ci_low == pytest.approx(0.8 * np.exp(-crit * se), rel=1e-6)
    assert "dispersion 1.00" in effect.method
