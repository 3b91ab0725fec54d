"""Controlled comparison: exactness on a 2x2 table, cancellation of shocks, coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.designs.controlled import fit_conditional_binomial
from pipeline.errors import EstimationError
from pipeline.methods.drift import MIN_EFFECTIVE_PLACEBOS


def test_estimate_equals_ratio_of_rate_ratios_of_the_sums():
    """With only an intercept and a step, the MLE is the textbook ratio of before/after ratios."""
    rng = np.random.default_rng(3)
    target = rng.poisson(20, 48)
    control = rng.poisson(30, 48)
    post = (np.arange(48) >= 30).astype(float)
    fit = fit_conditional_binomial(target, control, post)
    expected = (target[post == 1].sum() / target[post == 0].sum()) / (
        control[post == 1].sum() / control[post == 0].sum()
    )
    assert fit.ratio == pytest.approx(expected, rel=1e-8)
    assert fit.ci_low < fit.ratio < fit.ci_high


def test_common_shocks_cancel():
    """A shock that hits target and control alike (COVID-19) does not bias the estimate."""
    rng = np.random.default_rng(11)
    n = 84
    shock = np.ones(n)
    shock[38:60] = 0.5  # a deep dip that overlaps the start
    post = (np.arange(n) >= 44).astype(float)
    logs = []
    for _ in range(100):
        common = shock * np.exp(rng.normal(0, 0.1, n))
        target = rng.poisson(15 * common * np.where(post > 0, 0.8, 1.0))
        control = rng.poisson(25 * common)
        logs.append(np.log(fit_conditional_binomial(target, control, post).ratio))
    assert np.exp(np.mean(logs)) == pytest.approx(0.8, abs=0.03)


def test_interval_covers_truth_with_one_control_and_overdispersion():
    rng = np.random.default_rng(5)
    n, reps, covered = 84, 200, 0
    post = (np.arange(n) >= 44).astype(float)
    for _ in range(reps):
        common = np.exp(rng.normal(0, 0.15, n))
        target = rng.poisson(12 * common * rng.gamma(10, 0.1, n) * np.where(post > 0, 0.7, 1.0))
        control = rng.poisson(12 * common * rng.gamma(10, 0.1, n))
        fit = fit_conditional_binomial(target, control, post)
        covered += fit.ci_low <= 0.7 <= fit.ci_high
    assert 0.89 <= covered / reps <= 0.99


def test_exposure_offset_is_respected():
    """The control's exposure doubles after the start and its counts with it: no effect."""
    rng = np.random.default_rng(9)
    n, reps, covered, logs = 60, 300, 0, []
    post = (np.arange(n) >= 30).astype(float)
    control_exposure = np.where(post > 0, 2.0, 1.0)
    for _ in range(reps):
        target = rng.poisson(np.full(n, 40.0))
        control = rng.poisson(40.0 * control_exposure)
        fit = fit_conditional_binomial(
            target, control, post, target_exposure=np.ones(n), control_exposure=control_exposure
        )
        covered += fit.ci_low <= 1.0 <= fit.ci_high
        logs.append(np.log(fit.ratio))
    assert np.exp(np.mean(logs)) == pytest.approx(1.0, abs=0.01)
    assert 0.92 <= covered / reps <= 0.98


def test_refuses_a_control_without_events():
    post = (np.arange(24) >= 12).astype(float)
    with pytest.raises(EstimationError, match="control"):
        fit_conditional_binomial(np.ones(24), np.zeros(24), post)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.PerfectSeparationWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_counterfactual_has_one_value_per_period():
    post = (np.arange(24) >= 12).astype(float)
    fit = fit_conditional_binomial(np.full(24, 5), np.full(24, 10), post)
    assert len(pd.Series(fit.counterfactual)) == 24
    assert fit.counterfactual[0] == pytest.approx(5.0)


@pytest.mark.reference
@pytest.mark.slow
def test_calibrated_comparison_holds_its_error_rate_on_real_series(bra_total_series):
    """Placebo starts in real Brå series against one similar municipality: at most 10 % significant."""
    from pipeline.validation import calibration

    series = {n: bra_total_series[n] for n in sorted(bra_total_series)[::3]}

    def estimator(target, control, periods, start):
        post = (periods >= start).astype(float)
        fit = fit_conditional_binomial(target, control, post, trend=True, drift=True)
        return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value

    result = calibration.controlled_placebo_rejection_rate(series, estimator, n_controls=1)
    assert result.n_tests > 500
    assert result.rejection_rate <= 0.10


def test_brå_pre_periods_never_measure_their_own_drift(bra_total_series):
    """The bands section fits without placebo steps; on Brå that is the default's interval.

    With 18-36 months before a fake start the placebo steps are worth fewer than
    MIN_EFFECTIVE_PLACEBOS independent ones, so the default takes the pooled random
    walk and the benchmark's figures are the default's.
    """
    from pipeline.validation import calibration

    series = {n: bra_total_series[n] for n in sorted(bra_total_series)[::10]}
    fits = []

    def estimator(target, control, periods, start):
        post = (periods >= start).astype(float)
        default = fit_conditional_binomial(target, control, post, trend=True, drift=True)
        bands = fit_conditional_binomial(
            target, control, post, trend=True, drift=True, placebo=False
        )
        fits.append((default, bands))
        return default.ratio, default.ci_low, default.ci_high, default.p_value

    calibration.controlled_placebo_rejection_rate(series, estimator, n_controls=2, seed=2013)
    assert len(fits) > 150
    assert max(d.effective_placebos for d, _ in fits) < MIN_EFFECTIVE_PLACEBOS
    for default, bands in fits:
        assert not default.drift_measured
        assert (default.ci_low, default.ci_high) == pytest.approx((bands.ci_low, bands.ci_high))


def test_placebo_p_value_comes_from_the_pre_period_steps():
    rng = np.random.default_rng(21)
    post = (np.arange(84) >= 48).astype(float)
    target = rng.poisson(np.where(post > 0, 6.0, 20.0))
    control = rng.poisson(np.full(84, 20.0))
    fit = fit_conditional_binomial(target, control, post, trend=True, drift=True)
    n_placebos = 48 - 12 - 6 + 1
    assert fit.placebo_p_value == pytest.approx(1 / (n_placebos + 1))
    assert f"{n_placebos} placebo steps" in fit.inference
    assert fit.placebo_p_min == pytest.approx(1 / (n_placebos + 1))


def test_drift_term_is_the_random_walk_of_the_log_ratio_when_placebos_overlap():
    """Bug: 30 overlapping placebo steps were taken as 30 independent ones (t(30))."""
    rng = np.random.default_rng(22)
    post = (np.arange(84) >= 48).astype(float)
    target = rng.poisson(np.full(84, 20.0))
    control = rng.poisson(np.full(84, 20.0))
    plain = fit_conditional_binomial(target, control, post, trend=True)
    fit = fit_conditional_binomial(target, control, post, trend=True, drift=True)
    assert fit.effective_placebos < MIN_EFFECTIVE_PLACEBOS and not fit.drift_measured
    assert "random walk of the log ratio" in fit.inference and "t(30)" not in fit.inference
    assert fit.ci_high / fit.ci_low > plain.ci_high / plain.ci_low
    assert fit.ratio == pytest.approx(plain.ratio)


def test_learnt_drift_variance_is_mostly_the_series_own_when_it_is_long_and_large():
    """No drift between two large areas over 96 months: narrower than the pooled rule."""
    rng = np.random.default_rng(23)
    post = (np.arange(108) >= 96).astype(float)
    shocks = np.exp(rng.normal(0, 0.1, 108))
    target = rng.poisson(1000 * shocks)
    control = rng.poisson(2000 * shocks)
    pooled = fit_conditional_binomial(target, control, post, trend=True, drift=True)
    learnt = fit_conditional_binomial(
        target, control, post, trend=True, drift=True, drift_variance="learnt"
    )
    assert learnt.ratio == pytest.approx(pooled.ratio)
    assert np.log(learnt.ci_high / learnt.ci_low) < 0.7 * np.log(pooled.ci_high / pooled.ci_low)
    assert "the pre-period's own" in learnt.inference
    assert "as measured across real crime series" in learnt.inference


def test_learnt_drift_variance_is_mostly_the_prior_when_the_series_is_short_and_small():
    rng = np.random.default_rng(24)
    post = (np.arange(30) >= 18).astype(float)
    target = rng.poisson(np.full(30, 8.0))
    control = rng.poisson(np.full(30, 16.0))
    pooled = fit_conditional_binomial(target, control, post, trend=True, drift=True)
    learnt = fit_conditional_binomial(
        target, control, post, trend=True, drift=True, drift_variance="learnt"
    )
    width = np.log(learnt.ci_high / learnt.ci_low) / np.log(pooled.ci_high / pooled.ci_low)
    assert 0.9 < width < 1.3


def test_unknown_drift_variance_rule_is_refused():
    post = (np.arange(30) >= 18).astype(float)
    with pytest.raises(ValueError, match="drift_variance"):
        fit_conditional_binomial(
            np.full(30, 5.0), np.full(30, 9.0), post, drift=True, drift_variance="own"
        )


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.PerfectSeparationWarning")
def test_learnt_drift_variance_is_the_prior_when_too_few_months_have_events():
    post = (np.arange(9) >= 6).astype(float)
    target = np.array([1, 0, 0, 0, 0, 1, 1, 0, 1.0])
    control = np.array([3, 0, 0, 0, 0, 2, 2, 3, 3.0])
    fit = fit_conditional_binomial(
        target, control, post, trend=True, drift=True, drift_variance="learnt"
    )
    assert "the pre-period too short for its own" in fit.inference
    assert fit.ci_low < fit.ratio < fit.ci_high
