"""Minimum detectable effect for before/after and controlled count comparisons.

The closed form is checked by hand; the default (SE at the counts expected under the
effect) is checked by seeded simulation: drawing counts at the computed MDE and
running the same two-sided Wald test on the log ratio must reject about 80 % of the time.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np
import pytest
from scipy import stats

from pipeline.checks.power import MDEResult, minimum_detectable_effect, power_for_effect

K = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)  # 1.959964 + 0.841621 = 2.801585
N_SIM = 10_000  # Monte Carlo SE of a power near 0.8: sqrt(0.16 / 10000) = 0.004
# The normal approximation of the log ratio is good to about +-0.03 in power at these
# counts (decreases come out slightly conservative, increases slightly liberal).
POWER_BAND = (0.77, 0.85)


def _draw(rng, mean, phi):
    if phi == 1:
        return rng.poisson(mean, N_SIM)
    return rng.negative_binomial(mean / (phi - 1), 1 / phi, N_SIM)


def _simulated_power(rate_ratio, tp, tq, cp=None, cq=None, phi=1.0, seed=0):
    """Share of simulated studies whose two-sided 5 % Wald test on log(ratio) rejects."""
    rng = np.random.default_rng(seed)
    pre, post = _draw(rng, tp, phi), _draw(rng, tq * rate_ratio, phi)
    ok = (pre > 0) & (post > 0)
    # The null is the ratio expected without an effect (e.g. unequal period lengths).
    null = math.log(tq / tp)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(post) - np.log(pre)
        var = 1 / pre + 1 / post
        if cp is not None:
            c0, c1 = _draw(rng, cp, phi), _draw(rng, cq, phi)
            ok &= (c0 > 0) & (c1 > 0)
            log_ratio -= np.log(c1) - np.log(c0)
            var += 1 / c0 + 1 / c1
            null -= math.log(cq / cp)
        z = (log_ratio - null) / np.sqrt(phi * var)
    # A cell with no crimes gives no test, hence no rejection.
    return float(np.mean(ok & (np.abs(z) > stats.norm.ppf(0.975))))


def test_closed_form_by_hand():
    # 100 before and 100 expected after: SE = sqrt(1/100 + 1/100) = 0.141421,
    # delta = 2.801585 * 0.141421 = 0.396203: decrease 1 - exp(-delta) = 32.71 %,
    # increase exp(delta) - 1 = 48.62 %.
    r = minimum_detectable_effect(100, 100, variance_at="null")
    assert r.std_error_log_null == pytest.approx(math.sqrt(0.02))
    assert r.log_mde_decrease == pytest.approx(K * math.sqrt(0.02))
    assert r.decrease_pct == pytest.approx(32.713, abs=1e-3)
    assert r.increase_pct == pytest.approx(48.617, abs=1e-3)


def test_controlled_closed_form_by_hand_with_dispersion():
    r = minimum_detectable_effect(50, 40, 200, 220, dispersion=2.0, variance_at="null")
    se = math.sqrt(2.0 * (1 / 50 + 1 / 40 + 1 / 200 + 1 / 220))
    assert r.design == "controlled"
    assert r.log_mde_decrease == pytest.approx(K * se)
    assert r.log_mde_increase == pytest.approx(K * se)


def test_default_solves_the_equation_at_the_alternative_counts():
    r = minimum_detectable_effect(100, 100)
    d, u = r.log_mde_decrease, r.log_mde_increase
    assert d == pytest.approx(K * math.sqrt(1 / 100 + 1 / (100 * math.exp(-d))), rel=1e-9)
    assert u == pytest.approx(K * math.sqrt(1 / 100 + 1 / (100 * math.exp(u))), rel=1e-9)
    # Fewer crimes after a decrease: a larger log effect is needed than for an increase.
    assert d > r.std_error_log_null * K > u
    assert r.decrease_pct == pytest.approx(36.16, abs=0.01)
    assert r.increase_pct == pytest.approx(44.01, abs=0.01)
    # Its power, by the same normal approximation, is the requested 0.8 (plus the
    # negligible far tail).
    assert power_for_effect(r.rate_ratio_decrease, 100, 100) == pytest.approx(0.8, abs=1e-5)
    assert power_for_effect(r.rate_ratio_increase, 100, 100) == pytest.approx(0.8, abs=1e-5)


@pytest.mark.parametrize(
    ("counts", "phi"),
    [
        ((100, 100), 1.0),  # before/after, Poisson
        ((300, 150), 1.0),  # after period half as long
        ((60, 60, 200, 200), 1.0),  # with a control area
        ((120, 132, 300, 330), 2.0),  # overdispersed, control trend +10 %
    ],
)
@pytest.mark.parametrize("direction", ["decrease", "increase"])
def test_simulated_power_at_mde_is_nominal(counts, phi, direction):
    r = minimum_detectable_effect(*counts, dispersion=phi)
    rr = r.rate_ratio_decrease if direction == "decrease" else r.rate_ratio_increase
    seed = zlib.crc32(repr((counts, phi, direction)).encode())  # fixed across runs
    low, high = POWER_BAND
    assert low <= _simulated_power(rr, *counts, phi=phi, seed=seed) <= high


def test_null_variance_overstates_power_for_a_decrease():
    # Why the default evaluates the SE under the effect: at the closed-form decrease the
    # achieved power falls well short of 0.8.
    r = minimum_detectable_effect(100, 100, variance_at="null")
    assert _simulated_power(r.rate_ratio_decrease, 100, 100, seed=11) < 0.75


def test_more_crimes_and_less_dispersion_mean_smaller_effects():
    small = minimum_detectable_effect(30, 30)
    large = minimum_detectable_effect(300, 300)
    assert large.decrease_pct < small.decrease_pct
    assert large.increase_pct < small.increase_pct
    noisy = minimum_detectable_effect(300, 300, dispersion=3)
    assert noisy.decrease_pct > large.decrease_pct
    controlled = minimum_detectable_effect(300, 300, 300, 300)
    assert controlled.decrease_pct > large.decrease_pct  # a control adds its own noise


def test_target_post_defaults_to_target_pre():
    assert minimum_detectable_effect(80) == minimum_detectable_effect(80, 80)


def test_too_few_crimes_for_any_decrease():
    r = minimum_detectable_effect(5, 5)
    assert not r.decrease_detectable
    assert math.isnan(r.decrease_pct)
    assert r.increase_pct > 100
    assert "none" in r.summary()


def test_result_conventions():
    r = minimum_detectable_effect(60, 60, 200, 200)
    assert isinstance(r, MDEResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.power = 0.9  # type: ignore[misc]
    frame = r.to_frame()
    assert list(frame["direction"]) == ["decrease", "increase"]
    assert frame.loc[0, "change_pct"] == pytest.approx(-r.decrease_pct)
    assert frame.loc[1, "rate_ratio"] == pytest.approx(r.rate_ratio_increase)
    # the increase solves d = k * SE(+d): its row carries that standard error
    k = stats.norm.ppf(1 - r.alpha / 2) + stats.norm.ppf(r.power)
    assert frame.loc[1, "std_error_log"] == pytest.approx(r.log_mde_increase / k)
    text = r.summary()
    assert isinstance(text, str) and "decrease" in text and "%" in text
    assert "<table" in r._repr_html_()


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 10), {}, "> 0"),
        ((10, 10, 20), {}, "both control_pre and control_post"),
        ((10, 10), {"dispersion": 0.9}, ">= 1"),
        ((10, 10), {"alpha": 0}, "alpha"),
        ((10, 10), {"power": 1.0}, "power"),
        ((10, 10), {"variance_at": "both"}, "variance_at"),
    ],
)
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        minimum_detectable_effect(*args, **kwargs)


def test_power_for_effect_bad_rate_ratio():
    with pytest.raises(ValueError, match="rate_ratio"):
        power_for_effect(0, 100, 100)
