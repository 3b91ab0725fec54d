"""Interrupted time series: published reference values and recovery of known effects."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pipeline.designs.its import (
    RANDOM_WALK_VARIANCE,
    drift_inflation,
    drift_variance,
    fit_its,
    its_design_matrix,
    newey_west_lags,
    placebo_steps,
)
from pipeline.errors import EstimationError
from pipeline.methods.drift import MIN_EFFECTIVE_PLACEBOS, random_walk_load


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
@pytest.mark.parametrize(
    ("harmonic_pairs", "inference", "published"),
    [
        # Poisson aces ~ smokban + time, offset log(stdpop)
        (0, "poisson", (0.894, 0.865, 0.925)),
        # the tutorial's seasonally adjusted quasi-Poisson model
        (2, "quasipoisson", (0.885, 0.839, 0.933)),
    ],
)
def test_reproduces_lopez_bernal(reference_dir, harmonic_pairs, inference, published):
    """Lopez Bernal, Cummins & Gasparrini (2017): the rate ratio and interval of the
    smoking ban in Sicily, to three decimals."""
    frame, periods = _sicily(reference_dir)
    fit = fit_its(
        frame["aces"].to_numpy(),
        periods,
        pd.Period("2005-01", freq="M"),
        exposure=frame["stdpop"].to_numpy(),
        harmonic_pairs=harmonic_pairs,
        inference=inference,
        reference="normal",
    )
    assert tuple(round(x, 3) for x in (fit.rate_ratio, fit.ci_low, fit.ci_high)) == published


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
    from pipeline.inputs.study import Shock

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
    from pipeline.validation import calibration

    series = {n: bra_total_series[n] for n in sorted(bra_total_series)[::4]}

    def estimator(counts, exposure, periods, start):
        fit = fit_its(counts, periods, start, exposure=exposure, drift=True)
        return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value

    result = calibration.placebo_rejection_rate(series, estimator)
    assert result.n_tests > 400
    assert result.rejection_rate <= 0.10


def _drifting_series(seed=12, n=84):
    rng = np.random.default_rng(seed)
    periods = pd.period_range("2015-01", periods=n, freq="M")
    walk = np.exp(np.cumsum(rng.normal(0, 0.04, n)))
    return rng.poisson(40 * walk), periods


def test_default_drift_term_is_the_random_walk_of_the_log_level():
    counts, periods = _drifting_series()
    start = periods[60]
    plain = fit_its(counts, periods, start)
    calibrated = fit_its(counts, periods, start, drift=True)
    exog = its_design_matrix(periods, start)
    mu = np.asarray(plain.fitted["fitted"])
    load = random_walk_load(exog.to_numpy(), mu, list(exog.columns).index("post"))
    assert calibrated.rate_ratio == pytest.approx(plain.rate_ratio)
    assert calibrated.std_error_log**2 == pytest.approx(
        plain.std_error_log**2 + RANDOM_WALK_VARIANCE * load, rel=1e-6
    )
    assert "random walk of the log level" in calibrated.inference
    assert 0 < calibrated.placebo_p_value <= 1
    assert calibrated.placebo_p_min == pytest.approx(1 / (calibrated.n_placebos + 1))


@pytest.mark.parametrize("method", ["inflation", "variance"])
def test_own_placebo_drift_needs_five_effective_placebos(method):
    """Bug: 60 months before the start gave 43 overlapping placebo steps a t(43) reference."""
    counts, periods = _drifting_series()
    start = periods[60]
    fit = fit_its(counts, periods, start, drift=True, drift_method=method)
    assert fit.n_placebos == 43
    assert fit.effective_placebos < MIN_EFFECTIVE_PLACEBOS
    assert not fit.drift_measured
    assert "worth" in fit.inference and "random-walk model" in fit.inference
    assert "t(43)" not in fit.inference


@pytest.mark.slow
def test_long_series_measure_their_own_drift():
    counts, periods = _drifting_series(n=216)
    fit = fit_its(counts, periods, periods[204], drift=True, drift_method="inflation")
    assert fit.effective_placebos >= MIN_EFFECTIVE_PLACEBOS
    assert fit.drift_measured
    assert f"t({fit.effective_placebos:.1f})" in fit.inference
    steps = placebo_steps(counts, periods, periods[204])
    factor = max(1.0, np.mean([(b / s) ** 2 for b, s in steps]))
    plain = fit_its(counts, periods, periods[204])
    assert fit.std_error_log == pytest.approx(plain.std_error_log * np.sqrt(factor))


def test_drift_summaries_of_placebo_steps():
    steps = [(0.3, 0.1), (-0.1, 0.1), (0.0, 0.2)]
    assert drift_inflation(steps) == pytest.approx((9 + 1 + 0) / 3)
    assert drift_variance(steps) == pytest.approx((0.09 + 0.01) / 3 - (0.01 + 0.01 + 0.04) / 3)
    # Placebo steps smaller than their errors never narrow the interval.
    assert drift_inflation([(0.01, 0.1), (0.0, 0.1)]) == 1.0
    assert drift_variance([(0.01, 0.1), (0.0, 0.1)]) == 0.0
    assert drift_inflation([]) == 1.0 and drift_variance([]) == 0.0


def test_placebo_steps_fake_starts_leave_the_months_asked_for():
    counts, periods = _drifting_series(n=48)
    start = periods[24]
    # Fake starts need `before` months before and 6 from them, within the 24 pre-period months.
    assert len(placebo_steps(counts, periods, start)) == 24 - 12 - 6 + 1
    assert len(placebo_steps(counts, periods, start, before=6)) == 24 - 6 - 6 + 1
    # The post period never enters: changing it leaves the steps unchanged.
    changed = counts.copy()
    changed[24:] *= 3
    assert placebo_steps(changed, periods, start) == placebo_steps(counts, periods, start)


def test_earlier_fake_starts_give_more_placebo_steps():
    counts, periods = _drifting_series(n=48)
    start = periods[24]
    fit = fit_its(counts, periods, start, drift=True, placebo_before=6)
    assert fit.n_placebos == 13
    assert fit.placebo_p_min == pytest.approx(1 / 14)


def test_too_short_a_pre_period_for_placebos_is_said():
    """Bug: without a placebo step the note said "pre-period too short" whatever the reason."""
    counts, periods = _drifting_series(n=36)
    fit = fit_its(counts, periods, periods[14], drift=True, drift_method="inflation")
    assert "no placebo step could be fitted" in fit.inference
    assert "random walk of the log level" in fit.inference
    assert np.isnan(fit.placebo_p_value) and fit.n_placebos == 0


def test_unknown_drift_method_is_refused():
    counts, periods = _drifting_series(n=48)
    with pytest.raises(ValueError, match="drift_method"):
        fit_its(counts, periods, periods[24], drift=True, drift_method="robust")


def test_slope_change_design_recovers_a_known_change_in_trend():
    from pipeline.designs import InterruptedTimeSeriesSlope
    from pipeline.validation.simulation import simulate_design_data

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


def test_rank_test_needs_twenty_fake_starts_and_ranks_among_them():
    from pipeline.designs.base import DesignData
    from pipeline.designs.its import InterruptedTimeSeriesRank
    from pipeline.inputs.study import Place
    from pipeline.validation.simulation import TOTAL

    counts, periods = _drifting_series(n=72)

    def data(n_pre):
        frame = pd.DataFrame({"value": counts, "exposure": 1.0}, index=periods)
        place = Place(id="t", name="t", municipality="m", role="target")
        return DesignData("m", place, TOTAL, periods[n_pre], frame)

    with pytest.raises(EstimationError, match="needs at least 20 placebo steps"):
        InterruptedTimeSeriesRank().estimate(data(36))
    effect = InterruptedTimeSeriesRank().estimate(data(60))
    steps = placebo_steps(counts, periods, periods[60])
    assert len(steps) == 43
    assert effect.placebo_p_min == pytest.approx(1 / 44)
    assert effect.p_value == effect.placebo_p_value
    assert effect.ci_low < effect.estimate < effect.ci_high
