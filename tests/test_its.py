"""Interrupted time series: published reference values and recovery of known effects."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pipeline.designs.its import fit_its, its_design_matrix, newey_west_lags
from pipeline.errors import EstimationError


def _sicily(reference_dir):
    frame = pd.read_csv(reference_dir / "lopezbernal_2017_sicily" / "sicily.csv")
    periods = pd.PeriodIndex(
        [
            pd.Period(year=y, month=m, freq="M")
            for y, m in zip(frame["year"], frame["month"], strict=True)
        ]
    )
    return frame, periods


@pytest.mark.reference
def test_reproduces_lopez_bernal_poisson_model(reference_dir):
    """Lopez Bernal, Cummins & Gasparrini (2017): Poisson aces ~ smokban + time, offset log(stdpop)."""
    frame, periods = _sicily(reference_dir)
    fit = fit_its(
        frame["aces"].to_numpy(),
        periods,
        pd.Period("2005-01", freq="M"),
        exposure=frame["stdpop"].to_numpy(),
        harmonic_pairs=0,
        inference="poisson",
        reference="normal",
    )
    assert round(fit.rate_ratio, 3) == 0.894
    assert round(fit.ci_low, 3) == 0.865
    assert round(fit.ci_high, 3) == 0.925


@pytest.mark.reference
def test_reproduces_lopez_bernal_quasipoisson_with_harmonics(reference_dir):
    """The tutorial's seasonally adjusted quasi-Poisson model: 0.885 (0.839-0.933)."""
    frame, periods = _sicily(reference_dir)
    fit = fit_its(
        frame["aces"].to_numpy(),
        periods,
        pd.Period("2005-01", freq="M"),
        exposure=frame["stdpop"].to_numpy(),
        harmonic_pairs=2,
        inference="quasipoisson",
        reference="normal",
    )
    assert round(fit.rate_ratio, 3) == 0.885
    assert round(fit.ci_low, 3) == 0.839
    assert round(fit.ci_high, 3) == 0.933


def _simulate(rng, effect, n=84, start_index=45, level=30.0, dispersion_shape=15.0):
    periods = pd.period_range("2017-01", periods=n, freq="M")
    month = periods.month.to_numpy()
    mu = (
        level
        * np.exp(0.2 * np.cos(2 * np.pi * (month - 7) / 12))
        * np.exp(0.02 * np.arange(n) / 12)
    )
    mu[start_index:] *= effect
    counts = rng.poisson(mu * rng.gamma(dispersion_shape, 1 / dispersion_shape, n))
    return counts, periods, periods[start_index]


def test_recovers_a_known_effect_on_average():
    rng = np.random.default_rng(1)
    estimates = []
    for _ in range(60):
        counts, periods, start = _simulate(rng, 0.75)
        estimates.append(np.log(fit_its(counts, periods, start).rate_ratio))
    assert np.exp(np.mean(estimates)) == pytest.approx(0.75, abs=0.03)


def test_interval_covers_truth_at_about_nominal_rate():
    rng = np.random.default_rng(7)
    covered = 0
    reps = 200
    for _ in range(reps):
        counts, periods, start = _simulate(rng, 0.8)
        fit = fit_its(counts, periods, start)
        covered += fit.ci_low <= 0.8 <= fit.ci_high
    # 200 replicates: a 95 % interval should cover between roughly 89 % and 99 %.
    assert 0.89 <= covered / reps <= 0.99


def test_design_matrix_has_step_shock_and_harmonics():
    from pipeline.study import Shock

    periods = pd.period_range("2019-01", "2022-12", freq="M")
    shock = Shock(id="covid19", label_sv="c", label_en="c", start="2020-03-01", end="2022-02-28")
    exog = its_design_matrix(periods, pd.Period("2021-01", freq="M"), shocks=(shock,))
    assert list(exog.columns) == [
        "const",
        "time",
        "sin1",
        "cos1",
        "sin2",
        "cos2",
        "shock_covid19",
        "post",
    ]
    assert exog["post"].sum() == 24
    assert exog["shock_covid19"].sum() == 24


def test_refuses_too_short_series():
    periods = pd.period_range("2020-01", periods=10, freq="M")
    with pytest.raises(EstimationError, match="at least 12 periods before"):
        fit_its(np.ones(10), periods, periods[5])


def test_newey_west_lag_rule():
    assert newey_west_lags(84) == 3
    assert newey_west_lags(10) == 2


@pytest.mark.reference
@pytest.mark.slow
def test_drift_calibrated_its_holds_its_error_rate_on_real_series(bra_total_series):
    """Placebo starts in real Brå series (every 4th municipality): at most 10 % significant at 5 %."""
    from pipeline import calibration

    series = {n: bra_total_series[n] for n in sorted(bra_total_series)[::4]}

    def estimator(counts, exposure, periods, start):
        fit = fit_its(counts, periods, start, exposure=exposure, drift=True)
        return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value

    result = calibration.placebo_rejection_rate(series, estimator)
    assert result.n_tests > 400
    assert result.rejection_rate <= 0.10


def test_drift_variance_widens_the_interval_of_a_drifting_series():
    rng = np.random.default_rng(12)
    periods = pd.period_range("2015-01", periods=84, freq="M")
    walk = np.exp(np.cumsum(rng.normal(0, 0.04, 84)))
    counts = rng.poisson(40 * walk)
    start = periods[60]
    plain = fit_its(counts, periods, start)
    calibrated = fit_its(counts, periods, start, drift=True)
    assert calibrated.rate_ratio == pytest.approx(plain.rate_ratio)
    assert calibrated.ci_high / calibrated.ci_low > plain.ci_high / plain.ci_low
    assert 0 < calibrated.placebo_p_value <= 1
    assert "placebo steps" in calibrated.inference


def test_slope_change_design_recovers_a_known_change_in_trend():
    from pipeline.designs import InterruptedTimeSeriesSlope
    from pipeline.simulation import simulate_design_data

    data = simulate_design_data(np.random.default_rng(3), effect=1.0, target_level=60, drift=False)
    months = np.arange(len(data.target))
    since = np.clip(months - data.n_pre, 0, None) / 12
    # Add a 20 % a year faster growth after the start by thinning nothing and scaling up.
    rng = np.random.default_rng(4)
    boosted = rng.poisson(data.target["value"].to_numpy() * np.exp(np.log(1.2) * since))
    data = replace(data, target=data.target.assign(value=boosted.astype(float)))
    effect = InterruptedTimeSeriesSlope().estimate(data)
    assert effect.estimand == "rate_ratio_per_year"
    assert effect.ci_low < 1.2 < effect.ci_high
    assert effect.ci_low > 1.0
