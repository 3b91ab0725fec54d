"""Tests for pipeline.methods.meta_analysis: meta-analysis, forest plot, p-value adjustment.

Reference values
----------------
BCG vaccine trials (Colditz et al. 1994), 13 trials, log risk ratios. The counts
below are the published 2x2 tables as distributed with metafor (``dat.bcg``).
The expected numbers come from published metafor / Stata output; the R calls
that produce them are::

    library(metafor)
    dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
    rma(yi, vi, data=dat, test="knha")   # REML + Knapp-Hartung   [1]
    rma(yi, vi, data=dat)                # REML + Wald (z)        [2]
    rma(yi, vi, data=dat, method="FE")   # fixed effect           [3]
    rma(yi, vi, data=dat, method="DL")   # DerSimonian-Laird      [3]
    rma(yi, vi, data=dat, method="DLIT") # iterated DL = PM       [4]

[1] metafor README (github.com/wviechtb/metafor, section "Example"): tau^2 0.3132,
    I^2 92.22 %, H^2 12.86, Q(12) 152.2330, estimate -0.7145, se 0.1808,
    t -3.9522 on 12 df, p 0.0019, CI (-1.1084, -0.3206); exp: 0.49 (0.33, 0.73).
[2] metafor's printed output of rma(yi, vi, data=dat) (Viechtbauer 2010, JSS 36(3),
    reproduced e.g. in the RoBMA vignette): se 0.1798, z -3.9744, CI (-1.0669, -0.3622).
[3] metafor tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r, checked there
    against Stata's ``metan``: FE -0.4303 (-0.5097, -0.3509), z -10.6247, Q 152.2330,
    exp 0.6503 (0.6007, 0.7040); DL -0.7141 (-1.0644, -0.3638), z -3.9952,
    tau^2 0.3088, I^2 92.1173 %, exp 0.4896 (0.3449, 0.6950).
[4] metafor tests/testthat/test_misc_rma_uni.r: DLIT and SJIT both give tau^2 0.3181.
    The fixed point of iterated DerSimonian-Laird solves the Paule-Mandel equation
    (generalised Q = k - 1), so it is a published reference for PM.

statsmodels.stats.meta_analysis.combine_effects is an independent implementation
of FE, DL and PM with both Wald and HKSJ intervals; it has no REML.
"""

from __future__ import annotations

import dataclasses
import doctest
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import Polygon
from scipy import optimize, stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from pipeline.methods import meta_analysis as synthesis
from pipeline.methods.meta_analysis import MetaAnalysisResult, meta_analyse
from pipeline.methods.multiplicity import adjust_p_values
from pipeline.report.figures_pooling import forest_plot
from pipeline.report.style import PALETTE

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

# BCG trials (Colditz et al. 1994): vaccinated TB+ / TB-, control TB+ / TB-.
BCG = pd.DataFrame(
    {
        "trial": [
            "Aronson 1948",
            "Ferguson & Simes 1949",
            "Rosenthal et al 1960",
            "Hart & Sutherland 1977",
            "Frimodt-Moller et al 1973",
            "Stein & Aronson 1953",
            "Vandiviere et al 1973",
            "TPT Madras 1980",
            "Coetzee & Berjak 1968",
            "Rosenthal et al 1961",
            "Comstock et al 1974",
            "Comstock & Webster 1969",
            "Comstock et al 1976",
        ],
        "tpos": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
        "tneg": [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
        "cpos": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
        "cneg": [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
    }
)

# escalc(measure="RR") output printed in the metafor README.
BCG_PUBLISHED_YI = [
    -0.8893,
    -1.5854,
    -1.3481,
    -1.4416,
    -0.2175,
    -0.7861,
    -1.6209,
    0.0120,
    -0.4694,
    -1.3713,
    -0.3394,
    0.4459,
    -0.0173,
]
BCG_PUBLISHED_VI = [
    0.3256,
    0.1946,
    0.4154,
    0.0200,
    0.0512,
    0.0069,
    0.2230,
    0.0040,
    0.0564,
    0.0730,
    0.0124,
    0.5325,
    0.0714,
]

# Published values are rounded to 4 decimals.
ABS4 = 6e-5

MUNICIPALITIES = ["Avesta", "Falun", "Hallstahammar", "Sala"]


def bcg_log_rr() -> tuple[np.ndarray, np.ndarray]:
    """Log risk ratios and their variances, as metafor's escalc(measure="RR")."""
    a, b, c, d = (BCG[col].to_numpy(float) for col in ("tpos", "tneg", "cpos", "cneg"))
    yi = np.log((a / (a + b)) / (c / (c + d)))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return yi, vi


@pytest.fixture(scope="module")
def bcg() -> tuple[np.ndarray, np.ndarray]:
    yi, vi = bcg_log_rr()
    return yi, np.sqrt(vi)


# Four municipality-like log rate ratios with clear heterogeneity (Q > k - 1),
# so that statsmodels' untruncated DL estimate is positive too.
FOUR_Y = np.array([-0.45, 0.05, -0.30, 0.20])
FOUR_SE = np.array([0.12, 0.08, 0.15, 0.11])
# A second, less heterogeneous set, and a two-study set.
FOUR_B_Y = np.array([-0.35, -0.10, -0.22, 0.05])
FOUR_B_SE = np.array([0.10, 0.07, 0.16, 0.12])
TWO_Y = np.array([-0.40, 0.10])
TWO_SE = np.array([0.10, 0.12])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------
# Published reference: BCG vaccine trials
# ---------------------------------------------------------------------------


def test_bcg_effect_sizes_match_published_table():
    yi, vi = bcg_log_rr()
    np.testing.assert_allclose(yi, BCG_PUBLISHED_YI, atol=ABS4)
    np.testing.assert_allclose(vi, BCG_PUBLISHED_VI, atol=ABS4)


def test_bcg_reml_hksj_matches_metafor_knha(bcg):
    res = meta_analyse(*bcg)  # defaults: REML, HKSJ
    assert res.method == "REML" and res.hksj
    assert res.tau2 == pytest.approx(0.3132, abs=ABS4)
    assert res.tau == pytest.approx(0.5597, abs=ABS4)
    assert res.i2 == pytest.approx(92.22, abs=0.006)
    assert res.h2 == pytest.approx(12.86, abs=0.006)
    assert res.q == pytest.approx(152.2330, abs=ABS4)
    assert res.q_df == 12
    assert res.q_p_value < 1e-4
    r = res.random
    assert r.estimate == pytest.approx(-0.7145, abs=ABS4)
    assert r.std_error == pytest.approx(0.1808, abs=ABS4)
    assert r.statistic == pytest.approx(-3.9522, abs=ABS4)
    assert r.df == 12
    assert r.p_value == pytest.approx(0.0019, abs=ABS4)
    assert r.ci_low == pytest.approx(-1.1084, abs=ABS4)
    assert r.ci_high == pytest.approx(-0.3206, abs=ABS4)
    # predict(res, transf=exp, digits=2)
    assert round(r.ratio, 2) == 0.49
    assert tuple(round(x, 2) for x in r.ratio_ci) == (0.33, 0.73)


def test_bcg_reml_wald_matches_metafor(bcg):
    res = meta_analyse(*bcg, hksj=False)
    r = res.random
    assert r.estimate == pytest.approx(-0.7145, abs=ABS4)
    assert r.std_error == pytest.approx(0.1798, abs=ABS4)
    assert r.statistic == pytest.approx(-3.9744, abs=ABS4)
    assert math.isinf(r.df)
    assert r.ci_low == pytest.approx(-1.0669, abs=ABS4)
    assert r.ci_high == pytest.approx(-0.3622, abs=ABS4)
    assert math.isnan(res.hksj_scale)


def test_bcg_fixed_effect_matches_stata_metan(bcg):
    f = meta_analyse(*bcg).fixed
    assert f.estimate == pytest.approx(-0.4303, abs=ABS4)
    assert f.ci_low == pytest.approx(-0.5097, abs=ABS4)
    assert f.ci_high == pytest.approx(-0.3509, abs=ABS4)
    assert f.statistic == pytest.approx(-10.6247, abs=ABS4)
    assert f.ratio == pytest.approx(0.6503, abs=ABS4)
    assert f.ratio_ci == pytest.approx((0.6007, 0.7040), abs=ABS4)


def test_bcg_dersimonian_laird_matches_stata_metan(bcg):
    res = meta_analyse(*bcg, method="DL", hksj=False)
    r = res.random
    assert res.tau2 == pytest.approx(0.3088, abs=ABS4)
    assert res.i2 == pytest.approx(92.1173, abs=ABS4)
    assert r.estimate == pytest.approx(-0.7141, abs=ABS4)
    assert r.ci_low == pytest.approx(-1.0644, abs=ABS4)
    assert r.ci_high == pytest.approx(-0.3638, abs=ABS4)
    assert r.statistic == pytest.approx(-3.9952, abs=ABS4)
    assert r.ratio == pytest.approx(0.4896, abs=ABS4)
    assert r.ratio_ci == pytest.approx((0.3449, 0.6950), abs=ABS4)


def test_bcg_paule_mandel_matches_metafor_iterated_dl(bcg):
    res = meta_analyse(*bcg, method="PM")
    assert res.tau2 == pytest.approx(0.3181, abs=ABS4)


def test_bcg_prediction_interval_follows_higgins_thompson_spiegelhalter(bcg):
    """PI = mu +/- t(k-2) * sqrt(tau^2 + SE^2), from the published REML numbers.

    metafor's own PI with test="knha" (0.14, 1.76 on the ratio scale) uses t with
    k - 1 df and the HKSJ standard error, so it is deliberately not the target.
    """
    res = meta_analyse(*bcg)
    half = stats.t.ppf(0.975, 13 - 2) * math.sqrt(0.3132 + 0.1798**2)
    assert res.pi_low == pytest.approx(-0.7145 - half, abs=2e-4)
    assert res.pi_high == pytest.approx(-0.7145 + half, abs=2e-4)
    # Same PI whichever interval the mean gets: it uses the unadjusted SE.
    wald = meta_analyse(*bcg, hksj=False)
    assert wald.prediction_interval == pytest.approx(res.prediction_interval, rel=1e-12)
    lo, hi = res.ratio_prediction_interval
    assert (round(lo, 2), round(hi, 2)) == (0.13, 1.78)


# ---------------------------------------------------------------------------
# Independent implementation: statsmodels combine_effects (FE, DL, PM)
# ---------------------------------------------------------------------------

DATASETS = {
    "bcg": (bcg_log_rr()[0], np.sqrt(bcg_log_rr()[1])),
    "four": (FOUR_Y, FOUR_SE),
    "four_b": (FOUR_B_Y, FOUR_B_SE),
    "two": (TWO_Y, TWO_SE),
}


def _statsmodels(y, se, method):
    kwds = {"atol": 1e-12, "maxiter": 500} if method == "PM" else {}
    return combine_effects(y, se**2, method_re={"DL": "dl", "PM": "pm"}[method], **kwds)


@pytest.mark.parametrize("name", DATASETS)
def test_fixed_effect_and_q_match_statsmodels(name):
    y, se = DATASETS[name]
    ours = meta_analyse(y, se, method="DL")
    sm = _statsmodels(y, se, "DL")
    assert ours.fixed.estimate == pytest.approx(sm.mean_effect_fe, rel=1e-12)
    assert ours.fixed.std_error == pytest.approx(sm.sd_eff_w_fe, rel=1e-12)
    ci_fe = sm.conf_int(alpha=0.05, use_t=False)[0]
    assert (ours.fixed.ci_low, ours.fixed.ci_high) == pytest.approx(tuple(ci_fe), rel=1e-10)
    assert ours.q == pytest.approx(sm.q, rel=1e-12)
    assert ours.q_p_value == pytest.approx(sm.test_homogeneity().pvalue, rel=1e-9)
    np.testing.assert_allclose(ours.weights_fixed, sm.weights_rel_fe, rtol=1e-12)


@pytest.mark.parametrize("method", ["DL", "PM"])
@pytest.mark.parametrize("name", DATASETS)
def test_random_effects_match_statsmodels(name, method):
    y, se = DATASETS[name]
    sm = _statsmodels(y, se, method)
    assert sm.tau2 > 0, "the comparison data sets are chosen to be heterogeneous"
    hk = meta_analyse(y, se, method=method, hksj=True)
    wald = meta_analyse(y, se, method=method, hksj=False)

    assert hk.tau2 == pytest.approx(sm.tau2, rel=1e-8)
    assert hk.random.estimate == pytest.approx(sm.mean_effect_re, rel=1e-8)
    np.testing.assert_allclose(hk.weights_random, sm.weights_rel_re, rtol=1e-8)

    ci_wald = sm.conf_int(alpha=0.05, use_t=False)[1]
    assert wald.random.std_error == pytest.approx(sm.sd_eff_w_re, rel=1e-8)
    assert (wald.random.ci_low, wald.random.ci_high) == pytest.approx(tuple(ci_wald), rel=1e-8)

    # statsmodels' "random effect wls" interval with t(k-1) is the HKSJ interval.
    ci_hk = sm.conf_int(alpha=0.05, use_t=True)[3]
    assert hk.random.std_error == pytest.approx(sm.sd_eff_w_re_hksj, rel=1e-8)
    assert (hk.random.ci_low, hk.random.ci_high) == pytest.approx(tuple(ci_hk), rel=1e-8)
    assert hk.hksj_scale == pytest.approx(sm.scale_hksj_re, rel=1e-8)

    if method == "DL":  # statsmodels' I² and H² are the Q-based ones, equal for DL
        assert hk.i2 == pytest.approx(100 * sm.i2, rel=1e-10)
        assert hk.h2 == pytest.approx(sm.h2, rel=1e-10)


@pytest.mark.parametrize("level", [0.80, 0.90, 0.99])
def test_level_matches_statsmodels_alpha(level):
    sm = _statsmodels(FOUR_Y, FOUR_SE, "DL")
    ours = meta_analyse(FOUR_Y, FOUR_SE, method="DL", level=level)
    ci_hk = sm.conf_int(alpha=1 - level, use_t=True)[3]
    assert (ours.random.ci_low, ours.random.ci_high) == pytest.approx(tuple(ci_hk), rel=1e-10)


# ---------------------------------------------------------------------------
# REML on its own terms
# ---------------------------------------------------------------------------


def _neg_restricted_loglik(tau2, y, v):
    w = 1 / (v + tau2)
    mu = (w * y).sum() / w.sum()
    return 0.5 * (np.log(v + tau2).sum() + np.log(w.sum()) + (w * (y - mu) ** 2).sum())


@pytest.mark.parametrize("name", ["four", "four_b", "two", "bcg"])
def test_reml_maximises_the_restricted_likelihood(name):
    y, se = DATASETS[name]
    v = se**2
    opt = optimize.minimize_scalar(
        _neg_restricted_loglik,
        bounds=(0, 10),
        args=(y, v),
        method="bounded",
        options={"xatol": 1e-10},
    )
    ours = meta_analyse(y, se).tau2
    assert ours == pytest.approx(opt.x, abs=1e-6)
    assert _neg_restricted_loglik(ours, y, v) <= opt.fun + 1e-12


@pytest.mark.parametrize("method", ["REML", "DL", "PM"])
def test_homogeneous_estimates_give_zero_tau2_and_re_equal_to_fe(method):
    y = np.array([-0.20, -0.21, -0.19, -0.20])
    se = np.array([0.10, 0.12, 0.09, 0.15])
    res = meta_analyse(y, se, method=method, hksj=False)
    assert res.tau2 == 0
    assert res.i2 == 0 and res.h2 == 1
    assert res.random.estimate == pytest.approx(res.fixed.estimate, rel=1e-14)
    assert (res.random.ci_low, res.random.ci_high) == pytest.approx(
        (res.fixed.ci_low, res.fixed.ci_high), rel=1e-14
    )
    assert any("τ² is estimated as 0" in n for n in res.notes)


def test_hksj_scale_below_one_is_flagged():
    y = np.array([-0.20, -0.21, -0.19, -0.20])
    se = np.array([0.10, 0.12, 0.09, 0.15])
    res = meta_analyse(y, se)
    assert res.hksj_scale < 1
    wald = meta_analyse(y, se, hksj=False)
    assert res.random.ci_high - res.random.ci_low < wald.random.ci_high - wald.random.ci_low
    assert any("below 1" in n for n in res.notes)


# ---------------------------------------------------------------------------
# Small k
# ---------------------------------------------------------------------------


def test_single_estimate_is_returned_with_a_note():
    res = meta_analyse([-0.25], [0.1], ["Sala"])
    assert res.k == 1
    for pooled in (res.fixed, res.random):
        assert pooled.estimate == -0.25
        assert pooled.std_error == 0.1
        assert pooled.ci_low == pytest.approx(-0.25 - 1.959964 * 0.1, abs=1e-6)
        assert pooled.ci_method == "Wald (z)"
    for value in (res.tau2, res.i2, res.h2, res.q, res.q_p_value, res.pi_low, res.pi_high):
        assert math.isnan(value)
    assert any("nothing to pool" in n for n in res.notes)
    assert "Sala" in res.summary()
    assert "not estimable" in res.summary()


def test_two_estimates_pool_but_have_no_prediction_interval():
    res = meta_analyse(TWO_Y, TWO_SE)
    assert res.k == 2 and res.q_df == 1
    assert math.isnan(res.pi_low) and math.isnan(res.pi_high)
    assert any("prediction interval" in n and "k = 2" in n for n in res.notes)
    # HKSJ with k = 2 uses t with 1 df.
    r = res.random
    t1 = stats.t.ppf(0.975, 1)
    assert r.df == 1
    assert r.ci_high - r.estimate == pytest.approx(t1 * r.std_error, rel=1e-12)
    assert "not defined" in res.summary()


def test_three_estimates_have_a_prediction_interval_with_one_df():
    y, se = FOUR_Y[:3], FOUR_SE[:3]
    res = meta_analyse(y, se, hksj=False)
    half = stats.t.ppf(0.975, 1) * math.sqrt(res.tau2 + res.random.std_error**2)
    assert res.pi_high - res.random.estimate == pytest.approx(half, rel=1e-12)


# ---------------------------------------------------------------------------
# Coverage by simulation
# ---------------------------------------------------------------------------


def _coverage(rng, mu, tau, se, reps, **kwargs):
    hits = 0
    for _ in range(reps):
        y = mu + rng.normal(0.0, tau, se.size) + rng.normal(0.0, se)
        r = meta_analyse(y, se, **kwargs).random
        hits += r.ci_low <= mu <= r.ci_high
    return hits / reps


def test_hksj_coverage_is_exact_with_equal_standard_errors():
    """With equal SEs the HKSJ interval is the one-sample t interval: exact 95 %."""
    rng = np.random.default_rng(20240601)
    cov = _coverage(rng, math.log(0.85), 0.15, np.full(4, 0.12), reps=2000)
    assert abs(cov - 0.95) < 0.015  # about 3 Monte Carlo SEs


def test_hksj_covers_95_percent_for_four_municipalities_where_wald_does_not():
    """k = 4, SEs in proportion to 1/sqrt(monthly crimes) of the four pilots, τ = 0.15."""
    monthly_crimes = np.array([188.0, 392.0, 131.0, 215.0])  # DOMAIN.md, 2013-16 means
    se = 2.0 / np.sqrt(monthly_crimes)
    mu, tau, reps = math.log(0.85), 0.15, 2000
    hksj = _coverage(np.random.default_rng(11), mu, tau, se, reps)
    wald = _coverage(np.random.default_rng(11), mu, tau, se, reps, hksj=False)
    assert 0.93 <= hksj <= 0.97
    assert wald < hksj - 0.03


# ---------------------------------------------------------------------------
# Result object
# ---------------------------------------------------------------------------


@pytest.fixture
def four() -> MetaAnalysisResult:
    return meta_analyse(FOUR_Y, FOUR_SE, MUNICIPALITIES)


def test_result_is_frozen(four):
    with pytest.raises(dataclasses.FrozenInstanceError):
        four.tau2 = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        four.random.estimate = 0.0


def test_to_frame_is_tidy_and_carries_the_ratio_scale(four):
    frame = four.to_frame()
    assert list(frame["label"]) == MUNICIPALITIES + [
        "Fixed effect",
        "Random effects",
        "Prediction interval",
    ]
    assert list(frame["row"]) == ["study"] * 4 + ["fixed", "random", "prediction"]
    np.testing.assert_allclose(frame["ratio"], np.exp(frame["estimate"]))
    np.testing.assert_allclose(frame["ratio_low"], np.exp(frame["low"]))
    np.testing.assert_allclose(frame["ratio_high"], np.exp(frame["high"]))
    studies = frame[frame["row"] == "study"]
    assert studies["weight_fixed"].sum() == pytest.approx(1)
    assert studies["weight_random"].sum() == pytest.approx(1)
    np.testing.assert_allclose(studies["low"], FOUR_Y - stats.norm.ppf(0.975) * FOUR_SE)
    pi = frame.iloc[-1]
    assert (pi["low"], pi["high"]) == (four.pi_low, four.pi_high)
    assert (frame["level"] == 0.95).all()
    assert four.random.ratio == pytest.approx(math.exp(four.random.estimate))


def test_heterogeneity_frame(four):
    het = four.heterogeneity_frame()
    assert len(het) == 1
    row = het.iloc[0]
    assert row["k"] == 4 and row["q_df"] == 3 and row["method"] == "REML"
    assert row["tau"] == pytest.approx(math.sqrt(four.tau2))


def test_summary_returns_text_without_printing(four, capsys):
    text = four.summary()
    assert capsys.readouterr().out == ""
    assert isinstance(text, str)
    for word in MUNICIPALITIES + [
        "Fixed effect",
        "Random effects",
        "Prediction interval",
        "τ²",
        "I²",
        "Hartung–Knapp–Sidik–Jonkman",
    ]:
        assert word in text


def test_repr_html(four):
    out = four._repr_html_()
    assert "<table" in out and "Hallstahammar" in out and "I²" in out


def test_labels_default_from_series_index():
    y = pd.Series(FOUR_Y, index=MUNICIPALITIES)
    se = pd.Series(FOUR_SE, index=MUNICIPALITIES)
    assert meta_analyse(y, se).labels == tuple(MUNICIPALITIES)
    assert meta_analyse(list(FOUR_Y), list(FOUR_SE)).labels == (
        "Study 1",
        "Study 2",
        "Study 3",
        "Study 4",
    )


def test_method_is_case_insensitive():
    a = meta_analyse(FOUR_Y, FOUR_SE, method="reml")
    b = meta_analyse(FOUR_Y, FOUR_SE, method="REML")
    assert a.method == "REML" and a.tau2 == b.tau2


def test_narrower_level_gives_narrower_intervals():
    wide = meta_analyse(FOUR_Y, FOUR_SE, level=0.95)
    narrow = meta_analyse(FOUR_Y, FOUR_SE, level=0.90)
    assert narrow.random.ci_low > wide.random.ci_low
    assert narrow.pi_high < wide.pi_high
    assert narrow.fixed.ci_high < wide.fixed.ci_high


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimates": [], "std_errors": []}, "empty"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1]}, "differ in length"),
        ({"estimates": [0.1, np.nan], "std_errors": [0.1, 0.1]}, "finite"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, 0.0]}, "> 0"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, -0.1]}, "> 0"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, np.inf]}, "> 0"),
        ({"estimates": [[0.1, 0.2]], "std_errors": [[0.1, 0.2]]}, "one-dimensional"),
        ({"estimates": ["a", "b"], "std_errors": [0.1, 0.2]}, "numbers"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, 0.2], "labels": ["A"]}, "labels"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, 0.2], "labels": "AB"}, "labels"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, 0.2], "method": "ML"}, "method"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, 0.2], "level": 95}, "level"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, 0.2], "level": 0}, "level"),
        ({"estimates": [0.1, 0.2], "std_errors": [0.1, 0.2], "hksj": "yes"}, "hksj"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        meta_analyse(**kwargs)


def test_misaligned_series_raise():
    y = pd.Series([0.1, 0.2], index=["Sala", "Falun"])
    se = pd.Series([0.1, 0.2], index=["Falun", "Sala"])
    with pytest.raises(ValueError, match="indexes"):
        meta_analyse(y, se)


def test_docstring_examples_run():
    failures, _ = doctest.testmod(synthesis, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


# ---------------------------------------------------------------------------
# Forest plot
# ---------------------------------------------------------------------------


def test_forest_plot_draws_studies_diamonds_and_prediction_interval(four, monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show was called"))
    fig, ax = forest_plot(four)
    assert fig is ax.figure
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == MUNICIPALITIES + [
        "Fixed effect",
        "Random effects (REML)",
        "Prediction interval",
    ]
    diamonds = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == 2
    assert diamonds[1].get_facecolor() == pytest.approx(to_rgba(PALETTE["target"]))
    # Diamond tips at the random-effects CI on the ratio scale.
    xs = diamonds[1].get_xy()[:, 0]
    assert xs.min() == pytest.approx(four.random.ratio_ci[0])
    assert xs.max() == pytest.approx(four.random.ratio_ci[1])
    # Marker areas follow the random-effects weights.
    sizes = ax.collections[1].get_sizes()
    assert np.argmax(sizes) == int(np.argmax(four.weights_random))
    texts = " ".join(t.get_text() for t in ax.texts)
    assert f"{four.random.ratio:.2f}" in texts
    fig.canvas.draw()  # renders without error


def test_forest_plot_uses_given_axes_and_options(four):
    fig, ax = plt.subplots()
    fig2, ax2 = forest_plot(four, ax=ax, xlabel="Relative effect size", log_scale=False, null=None)
    assert ax2 is ax and fig2 is fig
    assert ax.get_xlabel() == "Relative effect size"
    assert ax.get_xscale() == "linear"
    assert not any(np.allclose(line.get_xdata(), [1.0, 1.0]) for line in ax.get_lines())


@pytest.mark.parametrize("k", [1, 2])
def test_forest_plot_small_k(k):
    res = meta_analyse(TWO_Y[:k], TWO_SE[:k], ["Avesta", "Sala"][:k])
    fig, ax = forest_plot(res)
    diamonds = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == (0 if k == 1 else 2)
    if k == 2:
        assert any("not defined" in t.get_text() for t in ax.texts)
    fig.canvas.draw()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"null": 0.0}, "null"), ({"null": -1.0}, "null"), ({"null": np.nan}, "null")],
)
def test_forest_plot_bad_arguments(four, kwargs, match):
    with pytest.raises(ValueError, match=match):
        forest_plot(four, **kwargs)


def test_forest_plot_rejects_other_objects():
    with pytest.raises(ValueError, match="MetaAnalysisResult"):
        forest_plot({"estimate": 1.0})


# ---------------------------------------------------------------------------
# adjust_p_values
# ---------------------------------------------------------------------------


def test_holm_by_hand_with_nan_left_out_of_the_family():
    # Family of 3: sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04).
    out = adjust_p_values([0.01, np.nan, 0.04, 0.03])
    np.testing.assert_allclose(out, [0.03, np.nan, 0.06, 0.06])


def test_benjamini_hochberg_by_hand():
    # 0.04*3/3 = 0.04; min(0.03*3/2, 0.04) = 0.04; 0.01*3/1 = 0.03.
    out = adjust_p_values([0.01, np.nan, 0.04, 0.03], method="fdr_bh")
    np.testing.assert_allclose(out, [0.03, np.nan, 0.04, 0.04])


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_adjust_matches_multipletests_on_the_non_missing(method):
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 0.2, 12)
    p[[2, 7, 8]] = np.nan
    out = adjust_p_values(p, method=method)
    keep = ~np.isnan(p)
    np.testing.assert_array_equal(np.isnan(out), ~keep)
    np.testing.assert_allclose(out[keep], multipletests(p[keep], method=method)[1])


def test_adjust_keeps_series_index_and_name():
    s = pd.Series([0.02, np.nan, 0.01], index=MUNICIPALITIES[:3], name="p_total")
    out = adjust_p_values(s)
    assert isinstance(out, pd.Series)
    assert list(out.index) == MUNICIPALITIES[:3] and out.name == "p_total"
    assert math.isnan(out["Falun"])


def test_adjust_all_missing_and_empty():
    assert np.isnan(adjust_p_values([np.nan, np.nan])).all()
    assert adjust_p_values([]).size == 0


@pytest.mark.parametrize(
    ("p_values", "method", "match"),
    [
        ([0.1, 1.2], "holm", r"\[0, 1\]"),
        ([0.1, -0.01], "holm", r"\[0, 1\]"),
        ([0.1, np.inf], "holm", r"\[0, 1\]"),
        ([[0.1, 0.2]], "holm", "one-dimensional"),
        ([0.1, 0.2], "bonferroni", "method"),
        (["x"], "holm", "numbers"),
    ],
)
def test_adjust_bad_arguments(p_values, method, match):
    with pytest.raises(ValueError, match=match):
        adjust_p_values(p_values, method=method)
