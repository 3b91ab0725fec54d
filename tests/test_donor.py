"""Donor comparison: exactness, coverage under drift, calibration on real Brå series, errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.meta_analysis import combine_effects

from pipeline.designs.base import DesignData
from pipeline.designs.donor import (
    DonorComparison,
    _poisson_fits,
    fit_donor_comparison,
    step_design_matrix,
)
from pipeline.errors import EstimationError
from pipeline.inputs.study import Indicator, Place
from pipeline.validation import calibration as cal

PERIODS = pd.period_range("2013-01", periods=48, freq="M")
START = PERIODS[30]
POST = np.asarray(PERIODS >= START)
SEASON = 0.15 * np.cos(2 * np.pi * (PERIODS.month.to_numpy() - 7) / 12)


def _expected(size: float, step: float) -> np.ndarray:
    """Noise-free counts of the model: level, season, a step at START."""
    return size * np.exp(SEASON + step * POST)


# --------------------------------------------------------------------------- exactness


def test_identical_donors_without_noise_give_the_difference_of_steps():
    b_target, b_donor = np.log(0.7), np.log(1.1)
    donors = np.column_stack([_expected(150, b_donor)] * 20)
    fit = fit_donor_comparison(_expected(200, b_target), donors, PERIODS, START)
    assert fit.ratio == pytest.approx(np.exp(b_target - b_donor), rel=1e-9)
    assert fit.target_step == pytest.approx(b_target, abs=1e-9)
    assert fit.donor_mean_step == pytest.approx(b_donor, abs=1e-9)
    assert fit.tau2 == pytest.approx(0.0, abs=1e-12)
    assert fit.ci_low < fit.ratio < fit.ci_high
    assert (fit.k, fit.df) == (20, 18)
    # Dispersion of a perfect fit is 0; it is floored at 1.
    assert fit.target_dispersion == 1.0
    assert (fit.donors["dispersion"] == 1.0).all()
    # Every donor is exactly like the others, the target is not: the most extreme rank.
    assert fit.placebo_p_value == pytest.approx(1 / 21)
    # After the start the counterfactual is the target moving like the donors.
    post = fit.fitted[POST]
    assert (post["observed"] / post["counterfactual"]).to_numpy() == pytest.approx(
        fit.ratio, rel=1e-8
    )
    pre = fit.fitted[~POST]
    assert pre["counterfactual"].to_numpy() == pytest.approx(pre["observed"].to_numpy(), rel=1e-8)


def test_exposure_offsets_are_respected():
    """Donors whose population doubles at the start, with counts doubling: no step."""
    exposure = np.where(POST, 2.0, 1.0)
    donors = {f"d{j}": _expected(100 + 10 * j, 0.0) * exposure for j in range(8)}
    donor_exposure = {name: exposure for name in donors}
    fit = fit_donor_comparison(
        _expected(120, np.log(0.8)),
        donors,
        PERIODS,
        START,
        target_exposure=np.ones(48),
        donor_exposure=donor_exposure,
    )
    assert fit.ratio == pytest.approx(0.8, rel=1e-9)
    assert fit.donors["donor"].tolist() == list(donors)


def test_step_fits_equal_statsmodels_quasi_poisson():
    rng = np.random.default_rng(4)
    x = step_design_matrix(PERIODS, START).to_numpy()
    y = rng.poisson(rng.gamma(4, 1, (48, 6)) * np.array([2, 10, 40, 100, 300, 900]) / 4)
    exposure = rng.uniform(0.5, 2.0, (48, 6))
    fits = _poisson_fits(y.astype(float), x, np.log(exposure))
    for j in range(6):
        model = sm.GLM(y[:, j], x, family=sm.families.Poisson(), offset=np.log(exposure[:, j]))
        res = model.fit(scale="X2")
        if res.scale < 1:
            res = model.fit(scale=1.0)
        assert fits.params[j] == pytest.approx(res.params, abs=1e-9)
        assert fits.std_error[j] == pytest.approx(res.bse, rel=1e-7)


def test_matches_the_random_effects_reference_calls():
    """d = b_t - mu_RE, se^2 = s_t^2 + tau^2 + var(mu_RE), t(K - 2)."""
    rng = np.random.default_rng(8)
    lam = 80 * np.exp(SEASON[:, None] + np.cumsum(rng.normal(0, 0.03, (48, 13)), axis=0))
    y = rng.poisson(lam).astype(float)
    fit = fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, START)
    x = step_design_matrix(PERIODS, START).to_numpy()
    steps = []
    for j in range(13):
        res = sm.GLM(y[:, j], x, family=sm.families.Poisson()).fit(scale="X2")
        if res.scale < 1:
            res = sm.GLM(y[:, j], x, family=sm.families.Poisson()).fit(scale=1.0)
        steps.append((res.params[1], res.bse[1]))
    (b_t, s_t), rest = steps[0], np.array(steps[1:])
    re = combine_effects(rest[:, 0], rest[:, 1] ** 2, method_re="iterated")
    d = b_t - re.mean_effect_re
    se = np.sqrt(s_t**2 + re.tau2 + re.var_eff_w_re)
    assert np.log(fit.ratio) == pytest.approx(d, abs=1e-9)
    assert fit.std_error == pytest.approx(se, rel=1e-7)
    assert fit.tau2 == pytest.approx(re.tau2, rel=1e-6, abs=1e-12)
    assert fit.df == 10
    assert fit.donors["weight"].sum() == pytest.approx(1.0)


def test_dersimonian_laird_tau2_is_truncated_at_zero():
    """Regression: with ``tau2_method="chi2"`` statsmodels' moment estimate of tau^2 came back
    negative when the donors' steps agreed more closely than their variances imply, and the
    negative value shrank the comparison's standard error."""
    rng = np.random.default_rng(2)
    y = rng.poisson(np.repeat((80 * np.exp(SEASON))[:, None], 13, axis=1)).astype(float)
    x = step_design_matrix(PERIODS, START).to_numpy()
    rest = []
    for j in range(1, 13):
        res = sm.GLM(y[:, j], x, family=sm.families.Poisson()).fit(scale="X2")
        if res.scale < 1:
            res = sm.GLM(y[:, j], x, family=sm.families.Poisson()).fit(scale=1.0)
        rest.append((res.params[1], res.bse[1]))
    rest = np.array(rest)
    assert combine_effects(rest[:, 0], rest[:, 1] ** 2, method_re="chi2").tau2 < 0
    fit = fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, START, tau2_method="chi2")
    assert fit.tau2 == 0.0
    var_mean = 1 / np.sum(1 / rest[:, 1] ** 2)
    assert fit.std_error == pytest.approx(np.sqrt(fit.target_std_error**2 + var_mean), rel=1e-7)
    assert fit.std_error > fit.target_std_error


def test_array_and_dict_donors_agree():
    rng = np.random.default_rng(2)
    y = rng.poisson(60, (48, 9)).astype(float)
    a = fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, START)
    b = fit_donor_comparison(y[:, 0], {f"m{j}": y[:, j] for j in range(1, 9)}, PERIODS, "2015-07")
    assert a.ratio == pytest.approx(b.ratio, rel=1e-12)
    assert a.placebo_p_value == b.placebo_p_value
    assert b.donors["donor"].tolist() == [f"m{j}" for j in range(1, 9)]


# --------------------------------------------------------------------------- known truth


def test_interval_covers_truth_under_common_shocks_and_unit_drift():
    """Target and 20 donors share season and monthly shocks; each drifts on its own."""
    rng = np.random.default_rng(2024)
    truth, reps, k = 0.8, 300, 20
    covered, errors, placebo_p = 0, [], []
    for _ in range(reps):
        common = rng.normal(0, 0.05, 48)
        size = 150 * np.exp(rng.normal(0, 0.3, k + 1))
        drift = np.cumsum(rng.normal(0, 0.02, (48, k + 1)), axis=0)
        lam = size * np.exp(SEASON[:, None] + common[:, None] + drift)
        lam[POST, 0] *= truth
        y = rng.poisson(lam).astype(float)
        fit = fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, START)
        covered += fit.ci_low <= truth <= fit.ci_high
        errors.append(np.log(fit.ratio) - np.log(truth))
        placebo_p.append(fit.placebo_p_value)
    assert 0.92 <= covered / reps <= 0.98
    # Bias on the log scale: the standard error of the mean is about 0.005.
    assert abs(np.mean(errors)) < 0.02
    # A 20 % drop against this drift is found by the rank test more often than not.
    assert np.mean(np.asarray(placebo_p) <= 0.05) > 0.5


def test_placebo_p_value_is_uniform_on_its_grid_without_effect():
    """Exchangeable target and donors: P(p <= j / (K + 1)) = j / (K + 1)."""
    rng = np.random.default_rng(77)
    k, reps = 9, 400
    p = []
    for _ in range(reps):
        lam = 100 * np.exp(SEASON[:, None] + np.cumsum(rng.normal(0, 0.02, (48, k + 1)), axis=0))
        y = rng.poisson(lam).astype(float)
        p.append(fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, START).placebo_p_value)
    p = np.asarray(p)
    assert set(np.round(p * (k + 1)).astype(int)) <= set(range(1, k + 2))
    for j in (2, 5):
        assert np.mean(p <= j / (k + 1) + 1e-12) == pytest.approx(j / (k + 1), abs=0.07)


# --------------------------------------------------------------------------- errors


def test_refuses_fewer_than_five_donors():
    y = np.full((48, 5), 50.0)
    with pytest.raises(EstimationError, match="at least 5 donors; got 4"):
        fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, START)
    with pytest.raises(EstimationError, match="at least 5 donors; got 0"):
        fit_donor_comparison(y[:, 0], {}, PERIODS, START)


def test_donors_without_events_are_left_out_and_may_leave_too_few():
    rng = np.random.default_rng(3)
    y = rng.poisson(50, (48, 9)).astype(float)
    y[POST, 3] = 0  # no events after the start
    y[5, 4] = np.nan
    fit = fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, START)
    assert fit.k == 6
    assert fit.excluded == (
        "donor3: no events before or after the start",
        "donor4: missing counts",
    )
    assert "donor3" not in set(fit.donors["donor"])
    with pytest.raises(EstimationError, match="5 usable donors; got 4 .*donor3: no events"):
        fit_donor_comparison(y[:, 0], y[:, 1:7], PERIODS, START)


def test_refuses_short_windows_and_a_target_without_events():
    y = np.full((48, 7), 50.0)
    with pytest.raises(EstimationError, match="12 periods before"):
        fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, PERIODS[11])
    with pytest.raises(EstimationError, match="12 periods before"):
        fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, PERIODS[46])
    target = y[:, 0].copy()
    target[:30] = 0
    with pytest.raises(EstimationError, match="no events"):
        fit_donor_comparison(target, y[:, 1:], PERIODS, START)
    with pytest.raises(ValueError, match="tau2_method"):
        fit_donor_comparison(y[:, 0], y[:, 1:], PERIODS, START, tau2_method="reml")


# --------------------------------------------------------------------------- the design


@dataclass(frozen=True)
class _Data(DesignData):
    donors: dict[str, pd.DataFrame] = field(default_factory=dict)


def _design_data(donors: dict[str, pd.DataFrame], target: pd.DataFrame) -> _Data:
    place = Place(id="t", name="T", municipality="M", role="target")
    indicator = Indicator(
        id="c", label_sv="c", label_en="c", family="count", better="lower", unit="n"
    )
    return _Data(
        municipality="M",
        place=place,
        indicator=indicator,
        start=START,
        target=target,
        notes=("cut before a co-intervention",),
        donors=donors,
    )


def _frame(counts, exposure=1.0):
    return pd.DataFrame({"value": counts, "exposure": exposure}, index=PERIODS)


def test_design_applies_with_five_donors_and_estimates_an_effect():
    rng = np.random.default_rng(12)
    y = rng.poisson(_expected(90, 0.0)[:, None] * np.ones(9)).astype(float)
    target = _frame(rng.poisson(_expected(90, np.log(0.75))).astype(float))
    donors = {f"d{j}": _frame(y[:, j]) for j in range(9)}
    design = DonorComparison()
    assert not design.applies(_design_data({k: donors[k] for k in list(donors)[:4]}, target))
    data = _design_data(donors, target)
    assert design.applies(data)
    effect = design.estimate(data)
    fit = fit_donor_comparison(target["value"], y, PERIODS, START)
    assert effect.estimate == pytest.approx(fit.ratio, rel=1e-12)
    assert (effect.design, effect.estimand, effect.sms_level) == (
        "donor_comparison",
        "rate_ratio",
        3,
    )
    assert (effect.n_pre, effect.n_post) == (30, 18)
    assert "K = 9" in effect.method and "tau = " in effect.method and "t(7)" in effect.method
    assert effect.notes[0] == "cut before a co-intervention"
    assert effect.notes[1] == f"placebo-in-space p = {fit.placebo_p_value:.2f} (K = 9)"
    assert list(effect.fitted.columns) == ["period", "observed", "fitted", "counterfactual"]


def test_design_leaves_out_donors_that_do_not_cover_the_window():
    rng = np.random.default_rng(13)
    donors = {f"d{j}": _frame(rng.poisson(80, 48).astype(float)) for j in range(6)}
    donors["short"] = donors.pop("d5").iloc[6:]
    effect = DonorComparison().estimate(
        _design_data(donors, _frame(rng.poisson(80, 48).astype(float)))
    )
    assert "K = 6" not in effect.method and "K = 5" in effect.method
    assert "short: does not cover the target's periods" in effect.notes[-1]


# --------------------------------------------------------------------------- real series


@pytest.mark.reference
def test_false_positive_rate_on_real_bra_series(reference_dir):
    """Placebo starts in Brå's monthly totals, 20 nearest-size donors: near nominal.

    All 290 municipalities are targets and candidate donors; 2 seeded starts each
    keep the run short. The full grid (7 starts each) is in
    ``benchmarks/calibrate_inference.py``.
    """
    from pipeline.inputs.bra import TOTAL, read_bra_folder

    frame = read_bra_folder(reference_dir / "bra_monthly_2013_2016")
    series = {
        name: g[["period", "count"]].reset_index(drop=True)
        for name, g in frame[frame["category"] == TOTAL].groupby("municipality", sort=True)
    }
    placebo_p = []

    def estimator(target, controls, periods, start):
        fit = fit_donor_comparison(target, controls, periods, start)
        placebo_p.append(fit.placebo_p_value)
        return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value

    result = cal.controlled_placebo_rejection_rate(
        series, estimator, n_controls=20, pool_factor=1, pooled=False, starts=2, seed=2013
    )
    assert result.n_failed == 0
    assert result.n_units == 290 and result.n_tests == 580
    assert result.rejection_rate <= 0.10
    # Not conservative to uselessness either.
    assert result.rejection_rate >= 0.01
    # The placebo-in-space p-value: below 0.05 only when the target is the most extreme of 21.
    assert np.mean(np.asarray(placebo_p) < 0.05) <= 0.10
    # No donor is the target itself.
    assert not any(u in c.split(", ") for u, c in result.results[["unit", "controls"]].values)
