"""Drift building blocks: effective placebos, rank test and interval, random-walk load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.designs.its import its_design_matrix, placebo_fits
from pipeline.methods.drift import (
    RandomWalkPrior,
    effective_placebos,
    own_random_walk,
    placebo_note,
    random_walk_load,
    rank_interval,
    rank_p_value,
    step_correlation,
)
from pipeline.methods.glm import poisson_step


def test_effective_placebos_of_independent_and_identical_steps():
    assert effective_placebos(np.eye(7)) == pytest.approx(7)
    assert effective_placebos(np.ones((7, 7))) == pytest.approx(1)
    assert effective_placebos(np.empty((0, 0))) == 0.0


def test_rank_p_value_carries_its_floor():
    p, floor = rank_p_value(3.0, [0.5, -1.0, 2.0, -3.5])
    assert p == pytest.approx(2 / 5) and floor == pytest.approx(1 / 5)
    assert all(np.isnan(rank_p_value(1.0, [])))
    assert "no test at the 5 % level" in placebo_note("in-time", p, floor, 4)
    assert "no test" not in placebo_note("in-time", 0.04, 1 / 25, 24)


@pytest.mark.parametrize("n", [19, 20, 39, 40, 100])
def test_rank_interval_is_the_set_the_rank_test_keeps(n):
    rng = np.random.default_rng(n)
    z = rng.normal(size=n)
    coef, se = 0.3, 0.1
    interval = rank_interval(coef, se, z)
    if n < 20:
        assert interval is None  # 1 / (n + 1) is not below 0.05: no rejection possible
        return
    for d in np.linspace(-0.5, 1.1, 801):
        p, _ = rank_p_value((coef - d) / se, z)
        assert (p >= 0.05) == (interval[0] <= d <= interval[1])


def test_random_walk_load_is_the_quadratic_form_of_the_walk():
    rng = np.random.default_rng(3)
    periods = pd.period_range("2019-01", periods=30, freq="M")
    exog = its_design_matrix(periods, periods[20]).to_numpy()
    weights = rng.uniform(3, 9, 30)
    column = exog.shape[1] - 1
    a = np.linalg.solve(exog.T @ (exog * weights[:, None]), exog.T)[column] * weights
    walk = np.minimum.outer(np.arange(1, 31), np.arange(1, 31))
    assert random_walk_load(exog, weights, column) == pytest.approx(a @ walk @ a)


@pytest.mark.slow
def test_random_walk_load_predicts_the_step_variance_of_a_drifting_series():
    """Poisson counts around a random-walk log level: the step's variance = sampling + sigma2 x load."""
    rng = np.random.default_rng(11)
    periods = pd.period_range("2016-01", periods=42, freq="M")
    exog = its_design_matrix(periods, periods[30])
    column = list(exog.columns).index("post")
    sigma2, level = 0.004, 30.0
    steps, sampling = [], []
    for _ in range(600):
        walk = np.cumsum(rng.normal(0, np.sqrt(sigma2), 42))
        counts = rng.poisson(level * np.exp(walk - walk.mean())).astype(float)
        coef, se = poisson_step(counts, exog.to_numpy(), None, column)
        steps.append(coef)
        sampling.append(se**2)
    load = random_walk_load(exog.to_numpy(), np.full(42, level), column)
    predicted = np.mean(sampling) + sigma2 * load
    assert np.var(steps) == pytest.approx(predicted, rel=0.15)


@pytest.mark.slow
def test_step_correlation_matches_simulated_placebo_steps():
    """The model correlation of placebo steps is what independent Poisson series show."""
    rng = np.random.default_rng(5)
    periods = pd.period_range("2018-01", periods=30, freq="M")
    after = periods[-1] + 1
    z = []
    for _ in range(300):
        counts = rng.poisson(25.0, 30).astype(float)
        fits, _ = placebo_fits(counts, periods, after)
        z.append([f.coef / f.std_error for f in fits])
    z = np.asarray(z)
    fits, n_effective = placebo_fits(np.full(30, 25.0), periods, after)
    model = step_correlation(fits, np.full(30, 25.0))
    assert np.abs(np.corrcoef(z.T) - model).max() < 0.15
    assert n_effective < len(fits) / 3


def _log_ratio_walk(rng, n: int, sigma2: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Empirical logits of a target against a twice-as-large control whose ratio walks."""
    walk = np.cumsum(rng.normal(0, np.sqrt(sigma2), n))
    p = level * np.exp(walk) / (level * np.exp(walk) + 2 * level)
    totals = rng.poisson(3 * level, n).astype(float)
    target = rng.binomial(totals.astype(int), p).astype(float)
    log_ratio = np.log((target + 0.5) / (totals - target + 0.5))
    return log_ratio, 1 / (totals * (1 / 3) * (2 / 3))


@pytest.mark.parametrize("sigma2", [0.0, 0.003])
def test_own_random_walk_recovers_a_known_variance_and_its_spread(sigma2):
    """Unbiased for the walk's variance, and its degrees of freedom predict its spread."""
    rng = np.random.default_rng(12)
    n = 60
    months = np.arange(n, dtype=float)
    design = np.column_stack([np.ones(n), months / 12])
    estimates, dfs = [], []
    for _ in range(200):
        log_ratio, variance = _log_ratio_walk(rng, n, sigma2, 100.0)
        own = own_random_walk(log_ratio, variance, months, design, prior_scale=0.002)
        estimates.append(own.variance)
        dfs.append(own.degrees_of_freedom(max(sigma2, 1e-4)))
    spread = max(sigma2, 1e-4) * np.sqrt(2 / np.median(dfs))
    assert np.mean(estimates) == pytest.approx(sigma2, abs=3 * spread / np.sqrt(200))
    assert np.std(estimates) == pytest.approx(spread, rel=0.2)


def test_own_random_walk_ignores_a_linear_trend_and_the_noise_level():
    """A differential trend is in the mean design, and extra noise is the dispersion's."""
    rng = np.random.default_rng(13)
    n = 48
    months = np.arange(n, dtype=float)
    design = np.column_stack([np.ones(n), months / 12])
    log_ratio, variance = _log_ratio_walk(rng, n, 0.0, 50.0)
    noisy = log_ratio + rng.normal(0, np.sqrt(variance), n)
    plain = own_random_walk(log_ratio, variance, months, design, prior_scale=0.002)
    trended = own_random_walk(log_ratio + 0.3 * months / 12, variance, months, design, 0.002)
    assert trended.variance == pytest.approx(plain.variance, abs=1e-12)
    doubled = own_random_walk(noisy, variance, months, design, 0.002)
    assert doubled.dispersion > 1.4
    assert abs(doubled.variance) < 3 * 0.002


def test_prior_posterior_moves_from_the_prior_to_the_series_with_its_information():
    """Little information: the prior's scale; much: the series' own estimate."""
    rng = np.random.default_rng(14)
    prior = RandomWalkPrior(scale=0.002, df=5.0)
    results = {}
    for n, level in ((24, 5.0), (240, 2000.0)):
        months = np.arange(n, dtype=float)
        design = np.ones((n, 1))
        log_ratio, variance = _log_ratio_walk(rng, n, 0.0, level)
        own = own_random_walk(log_ratio, variance, months, design, prior.scale)
        results[n] = prior.posterior(own)
    short_scale, short_df = results[24]
    long_scale, long_df = results[240]
    assert short_scale == pytest.approx(prior.scale, rel=0.1) and short_df < prior.df + 1
    assert long_scale < prior.scale / 3 and long_df > 4 * prior.df
