"""Relative effect size of Welsh & Farrington.

Checks: the definition as published (Farrington et al. 2007, Appendix: RES = ad/bc,
"RES = 2 indicates that d/c is twice as great as b/a"); a hand calculation in exact
arithmetic; equality with the interaction of a Poisson log-linear model fitted by
statsmodels (the textbook route to the same estimate and SE); and seeded simulations
that the 95 % interval covers a known truth about 95 % of the time, with and without
overdispersion. No published worked example with its four counts and RES could be
located to reproduce.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from pipeline.designs.relative_effect import dispersion_from_monthly, relative_effect_size


def _nb(rng, mean, phi, size):
    """Counts with the given mean and variance phi * mean (phi > 1)."""
    mean = np.broadcast_to(np.asarray(mean, dtype=float), size)
    return rng.negative_binomial(mean / (phi - 1), 1 / phi)


@pytest.mark.parametrize(
    ("target", "control"),
    [
        ((100, 100), (100, 200)),  # control doubles, target constant
        ((100, 50), (100, 100)),  # target halves, control constant
        ((80, 60), (40, 60)),  # d/c = 1.5 = 2 * (b/a = 0.75)
    ],
)
def test_res_two_as_published(target, control):
    # Farrington et al. (2007): RES = 2 when d/c is twice b/a, however that comes about.
    r = relative_effect_size(target, control)
    assert r.res == pytest.approx(2.0)
    assert r.rate_ratio == pytest.approx(0.5)
    assert r.percent_change == pytest.approx(-50.0)


def test_hand_calculation():
    # a, b = 207, 110 (target); c, d = 308, 318 (control)
    # RES = 207*318 / (110*308) = 65826/33880 = 32913/16940 = 1.94292...
    # Var(log RES) = 1/207 + 1/110 + 1/308 + 1/318 = 0.020353...
    r = relative_effect_size((207, 110), (308, 318))
    assert Fraction(207 * 318, 110 * 308) == Fraction(32913, 16940)
    assert r.res == pytest.approx(32913 / 16940, rel=1e-12)
    var = Fraction(1, 207) + Fraction(1, 110) + Fraction(1, 308) + Fraction(1, 318)
    assert r.var_log_res_poisson == pytest.approx(float(var), rel=1e-12)
    assert r.std_error_log_res == pytest.approx(math.sqrt(float(var)))
    z = math.log(32913 / 16940) / math.sqrt(float(var))
    assert r.z == pytest.approx(z)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    half = 1.959963984540054 * math.sqrt(float(var))
    assert r.ci_low == pytest.approx(32913 / 16940 * math.exp(-half))
    assert r.ci_high == pytest.approx(32913 / 16940 * math.exp(half))
    assert r.rate_ratio_ci == pytest.approx((1 / r.ci_high, 1 / r.ci_low))


@pytest.mark.parametrize("dispersion", [1.0, 2.5])
def test_matches_poisson_loglinear_interaction(dispersion):
    counts = {"a": 64, "b": 41, "c": 230, "d": 251}
    frame = pd.DataFrame(
        {
            "y": [counts["a"], counts["b"], counts["c"], counts["d"]],
            "treated": [1, 1, 0, 0],
            "after": [0, 1, 0, 1],
        }
    )
    frame["treated_after"] = frame["treated"] * frame["after"]
    exog = sm.add_constant(frame[["treated", "after", "treated_after"]])
    # Four cells, four parameters: the model is saturated, which statsmodels flags as
    # perfect prediction and a zero-df residual scale; neither matters for these SEs.
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        fit = sm.GLM(frame["y"], exog, family=sm.families.Poisson()).fit(scale=dispersion)
    r = relative_effect_size(
        (counts["a"], counts["b"]), (counts["c"], counts["d"]), dispersion=dispersion
    )
    # The interaction is log((b/a)/(d/c)) = -log RES (equal up to the IRLS tolerance).
    assert r.log_res == pytest.approx(-fit.params["treated_after"], rel=1e-6)
    assert r.std_error_log_res == pytest.approx(fit.bse["treated_after"], rel=1e-6)


def test_dispersion_widens_interval_by_its_square_root():
    plain = relative_effect_size((120, 90), (300, 310))
    wide = relative_effect_size((120, 90), (300, 310), dispersion=4)
    assert wide.res == plain.res
    assert wide.std_error_log_res == pytest.approx(2 * plain.std_error_log_res)
    assert wide.p_value > plain.p_value


def test_interval_covers_truth_poisson_simulation():
    rng = np.random.default_rng(2002)
    n = 4000
    true_res = 1.3  # target falls 20 %, control rises 4 %: 1.04 / 0.8
    a, b = rng.poisson(120, n), rng.poisson(96, n)
    c, d = rng.poisson(200, n), rng.poisson(208, n)
    covered = sum(
        r.ci_low <= true_res <= r.ci_high
        for r in (relative_effect_size((a[i], b[i]), (c[i], d[i])) for i in range(n))
    )
    assert 0.935 <= covered / n <= 0.965


def test_interval_covers_truth_overdispersed_only_with_dispersion():
    rng = np.random.default_rng(2007)
    n, phi, true_res = 3000, 3.0, 1.25
    a, b = _nb(rng, 150, phi, n), _nb(rng, 120, phi, n)
    c, d = _nb(rng, 250, phi, n), _nb(rng, 250, phi, n)
    cover_inflated = cover_poisson = 0
    for i in range(n):
        r = relative_effect_size((a[i], b[i]), (c[i], d[i]), dispersion=phi)
        cover_inflated += r.ci_low <= true_res <= r.ci_high
        r = relative_effect_size((a[i], b[i]), (c[i], d[i]))
        cover_poisson += r.ci_low <= true_res <= r.ci_high
    assert 0.93 <= cover_inflated / n <= 0.97
    assert cover_poisson / n < 0.85  # ignoring overdispersion overstates precision


def test_dispersion_from_monthly_hand_calculation():
    # Series [1, 3] (mean 2) and [2, 2, 8] (mean 4):
    # Pearson = (1 + 1)/2 + (4 + 4 + 16)/4 = 1 + 6 = 7 on 1 + 2 = 3 df -> 7/3.
    assert dispersion_from_monthly([1, 3], [2, 2, 8], floor=0) == pytest.approx(7 / 3)
    # Identical months are underdispersed; the default floor keeps the Poisson variance.
    assert dispersion_from_monthly([5, 5, 5, 5]) == 1.0
    assert dispersion_from_monthly([5, 5, 5, 5], floor=0) == 0.0
    # An all-zero series carries no information.
    assert dispersion_from_monthly([1, 3], [0, 0, 0], floor=0) == pytest.approx(1.0)


def test_dispersion_from_monthly_recovers_known_scale():
    rng = np.random.default_rng(4)
    poisson = [rng.poisson(20, 12) for _ in range(40)]
    assert dispersion_from_monthly(*poisson, floor=0) == pytest.approx(1.0, abs=0.15)
    over = [_nb(rng, 20, 3.0, 12) for _ in range(40)]
    assert dispersion_from_monthly(*over) == pytest.approx(3.0, rel=0.2)


def test_result_conventions():
    r = relative_effect_size((207, 110), (308, 318), dispersion=1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.res = 1.0  # type: ignore[misc]
    frame = r.to_frame()
    assert list(frame["measure"]) == ["res", "rate_ratio"]
    assert frame.loc[1, "estimate"] == pytest.approx(1 / r.res)
    assert frame.loc[1, "ci_low"] < frame.loc[1, "estimate"] < frame.loc[1, "ci_high"]
    assert (frame["std_error_log"] == r.std_error_log_res).all()
    text = r.summary()
    assert isinstance(text, str) and "RES" in text and "1.50" in text
    assert "<table" in r._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": (0, 10), "control": (10, 10)}, "undefined"),
        ({"target": (-1, 10), "control": (10, 10)}, ">= 0"),
        ({"target": (10,), "control": (10, 10)}, "pair"),
        ({"target": (10, 10), "control": (10, 10), "dispersion": 0.5}, ">= 1"),
        ({"target": (10, 10), "control": (10, 10), "alpha": 0}, "alpha"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        relative_effect_size(**kwargs)


def test_dispersion_from_monthly_bad_arguments():
    with pytest.raises(ValueError, match="at least one"):
        dispersion_from_monthly()
    with pytest.raises(ValueError, match="at least 2"):
        dispersion_from_monthly([3])
    with pytest.raises(ValueError, match="all zeros"):
        dispersion_from_monthly([0, 0], [0, 0, 0])
    with pytest.raises(ValueError, match=">= 0"):
        dispersion_from_monthly([1, -2, 3])
