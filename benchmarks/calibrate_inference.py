"""Which ITS inference holds its nominal error rate on real Brå series?

Runs :mod:`pipeline.validation.calibration` on Brå's monthly reported crimes for all
290 municipalities, 2013-2016 (48 months), for a list of inference methods:

- false-positive rate: fake intervention starts every 3 months that leave at
  least 18 months before and 12 after (2014-07 ... 2016-01, 7 per series);
- power: the same starts, the post-period counts binomially thinned to a
  true rate ratio of 0.8, in municipalities with at least 100 crimes a month;
  with the coverage of that ratio by the 95 % intervals and the median
  estimate.

The slow state-space fits marked "2 starts" use 2 seeded random starts per
series instead of the 7 grid starts. Prints one table (method, false-positive
rate with its Wilson 95 % interval, power, coverage, median rate ratio,
seconds), the checks behind the recommended method and the same checks for
the pipeline's ITS default (section (i): the drift terms of
``pipeline.designs.its``).

``--drift-prior`` prints only the controlled comparison's per-series
random-walk variance: its simulation check with a known variance and the
prior's degrees of freedom fitted on Brå (``controlled.RANDOM_WALK_PRIOR_DF``).

Usage: python benchmarks/calibrate_inference.py [--data DIR] [--jobs N] [--quick] [--drift-prior]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.designs.controlled import fit_conditional_binomial  # noqa: E402
from pipeline.designs.donor import fit_donor_comparison  # noqa: E402
from pipeline.designs.its import drift_variance, fit_its, its_design_matrix, placebo_steps  # noqa: E402
from pipeline.inputs.bra import TOTAL, read_bra_folder  # noqa: E402
from pipeline.methods.glm import poisson_step  # noqa: E402
from pipeline.validation import calibration as cal  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "reference" / "bra_monthly_2013_2016"
ALPHA = 0.05
RATE_RATIO = 0.8
MIN_MEAN = 100.0
SEED = 2013
Z = stats.norm.ppf(1 - ALPHA / 2)


# --------------------------------------------------------------------------- model pieces


def design(periods: pd.PeriodIndex, start: pd.Period, *, trend: bool = True, pairs: int = 2):
    """Columns const[, time], step, harmonics; returns the matrix and the step's column."""
    n = len(periods)
    s = periods.get_loc(start)
    t = np.arange(n, dtype=float)
    month = periods.month.to_numpy()
    cols = [np.ones(n)]
    if trend:
        # Years since the start: keeps the intercept at the start, well conditioned.
        cols.append((t - s) / 12)
    cols.append((t >= s).astype(float))
    for k in range(1, pairs + 1):
        cols += [np.sin(2 * np.pi * k * month / 12), np.cos(2 * np.pi * k * month / 12)]
    return np.column_stack(cols), (2 if trend else 1)


def interval(coef: float, se: float, p: float, crit: float = Z):
    return (
        float(np.exp(coef)),
        float(np.exp(coef - crit * se)),
        float(np.exp(coef + crit * se)),
        float(p),
    )


def offset(exposure):
    return None if exposure is None else np.log(exposure)


# --------------------------------------------------------------------------- single series


def naive_prepost(counts, exposure, periods, start):
    """Exact Poisson rate-ratio test of all post against all pre counts."""
    s = periods.get_loc(start)
    y0, y1 = counts[:s].sum(), counts[s:].sum()
    t0, t1 = (s, len(counts) - s) if exposure is None else (exposure[:s].sum(), exposure[s:].sum())
    # Given the total, the post count is binomial with the post share of exposure.
    test = stats.binomtest(int(y1), int(y0 + y1), t1 / (t0 + t1))
    ci = test.proportion_ci(confidence_level=1 - ALPHA)

    def odds(q):
        return q / (1 - q) * t0 / t1 if q < 1 else np.inf

    return odds(y1 / (y0 + y1)), odds(ci.low), odds(ci.high), test.pvalue


def quasipoisson_its(*, use_t: bool = False, hac_lags: int | None = None, correction=False):
    """Poisson GLM, log link, trend + step + 2 harmonic pairs."""

    def estimator(counts, exposure, periods, start):
        x, j = design(periods, start)
        model = sm.GLM(counts, x, family=sm.families.Poisson(), offset=offset(exposure))
        if hac_lags is None:
            res = model.fit(scale="X2", use_t=use_t)
        else:
            res = model.fit(
                cov_type="HAC",
                cov_kwds={"maxlags": hac_lags, "use_correction": correction},
                use_t=use_t,
            )
        crit = stats.t.ppf(1 - ALPHA / 2, res.df_resid) if use_t else Z
        return interval(res.params[j], res.bse[j], res.pvalues[j], crit)

    return estimator


def pipeline_its(counts, exposure, periods, start):
    """The pipeline's ITS without a drift term (pipeline.designs.its.fit_its, drift=False)."""
    fit = fit_its(counts, periods, start, exposure=exposure)
    return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value


def its_drift(**options):
    """The pipeline's ITS with a drift term from pre-period placebo steps (fit_its, drift=True)."""

    def estimator(counts, exposure, periods, start):
        fit = fit_its(counts, periods, start, exposure=exposure, drift=True, **options)
        return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value

    return estimator


def its_drift_satterthwaite(counts, exposure, periods, start):
    """Drift variance added as in fit_its, t on Satterthwaite df instead of the placebo count.

    ``V = s^2 + mean(b_i^2) - mean(s_i^2)``: the model variance ``s^2`` has
    ``df_resid`` df, the placebos' mean square ``k``.
    """
    fit = fit_its(counts, periods, start, exposure=exposure)
    coef, se = float(np.log(fit.rate_ratio)), fit.std_error_log
    steps = placebo_steps(counts, periods, start, exposure=exposure)
    df_resid = len(counts) - its_design_matrix(periods, start).shape[1]
    tau2 = drift_variance(steps)
    variance = se**2 + tau2
    denominator = se**4 / df_resid
    if steps and tau2 > 0:
        denominator += np.mean(np.square([b for b, _ in steps])) ** 2 / len(steps)
    df = variance**2 / denominator
    se = float(np.sqrt(variance))
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    return interval(coef, se, 2 * stats.t.sf(abs(coef) / se, df), crit)


def its_inflation_pooled(prior_weight: float = 10.0):
    """ITS drift inflation shrunk towards the donors' (the study's donor pool).

    Each donor gets the same step at the same start on its whole series; the
    donors' mean squared z-statistic is the pooled inflation, worth
    ``prior_weight`` placebo steps against the target's own ``k``; t on
    ``k + prior_weight`` df.
    """

    def estimator(target, donors, periods, start):
        fit = fit_its(target, periods, start)
        coef = float(np.log(fit.rate_ratio))
        exog = its_design_matrix(periods, start)
        j = list(exog.columns).index("post")
        pooled = []
        for column in donors.T:
            b, s = poisson_step(np.ascontiguousarray(column, dtype=float), exog.to_numpy(), None, j)
            pooled.append((b / s) ** 2)
        own = placebo_steps(target, periods, start)
        k = len(own)
        own_factor = float(np.mean([(b / s) ** 2 for b, s in own])) if k else 1.0
        factor = max(1.0, (k * own_factor + prior_weight * np.mean(pooled)) / (k + prior_weight))
        se = fit.std_error_log * np.sqrt(factor)
        df = k + prior_weight
        crit = stats.t.ppf(1 - ALPHA / 2, df)
        return interval(coef, se, 2 * stats.t.sf(abs(coef) / se, df), crit)

    return estimator


def negbin_its(counts, exposure, periods, start):
    """NB2 regression (dispersion by maximum likelihood), Wald z."""
    x, j = design(periods, start)
    res = sm.NegativeBinomial(counts, x, exposure=exposure).fit(disp=0, maxiter=200)
    return interval(res.params[j], res.bse[j], res.pvalues[j])


def sarimax_ar1(counts, exposure, periods, start):
    """Regression on log counts with AR(1) errors (exact Gaussian likelihood)."""
    x, j = design(periods, start)
    y = np.log(np.maximum(counts, 0.5)) - (0 if exposure is None else np.log(exposure))
    res = sm.tsa.SARIMAX(y, exog=x, order=(1, 0, 0), concentrate_scale=True).fit(disp=0)
    return interval(res.params[j], res.bse[j], res.pvalues[j])


def local_level(counts, exposure, periods, start):
    """Random-walk level plus noise on log counts, with step and harmonics as regressors."""
    x, j = design(periods, start, trend=False)
    y = np.log(np.maximum(counts, 0.5)) - (0 if exposure is None else np.log(exposure))
    res = sm.tsa.UnobservedComponents(y, "llevel", exog=x[:, 1:]).fit(disp=0)
    k = list(res.model.param_names).index("beta.x1")
    return interval(res.params[k], res.bse[k], res.pvalues[k])


def local_level_exact(counts, exposure, periods, start):
    """The same local-level fit, with the step's exact GLS standard error given its variances.

    statsmodels' default standard errors come from a numerical Hessian over
    all parameters; when the level variance sits at its boundary (zero, in
    about half of these fits) they are far wider than the exact error of the
    step for the fitted variances, ``(X' V^-1 X)^-1`` with ``V = s2_irregular
    I + s2_level min(i, j)`` (the intercept is the diffuse initial level).
    """
    x, j = design(periods, start, trend=False)
    y = np.log(np.maximum(counts, 0.5)) - (0 if exposure is None else np.log(exposure))
    res = sm.tsa.UnobservedComponents(y, "llevel", exog=x[:, 1:]).fit(disp=0)
    names = list(res.model.param_names)
    params = dict(zip(names, res.params, strict=True))
    t = np.arange(len(y))
    v = params["sigma2.irregular"] * np.eye(len(y)) + params["sigma2.level"] * np.minimum.outer(
        t, t
    )
    information = x.T @ np.linalg.solve(v, x)
    coef = res.params[names.index("beta.x1")]
    se = float(np.sqrt(np.linalg.inv(information)[j, j]))
    return interval(coef, se, 2 * stats.norm.sf(abs(coef) / se))


# --------------------------------------------------------------------------- pooled control


def woolf_odds_ratio(target, control, periods, start):
    """Relative effect size (odds ratio of before/after counts), Woolf's log-OR variance."""
    s = periods.get_loc(start)
    a, b = target[s:].sum(), target[:s].sum()
    c, d = control[s:].sum(), control[:s].sum()
    coef = np.log(a * d / (b * c))
    se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return interval(coef, se, 2 * stats.norm.sf(abs(coef / se)))


def pipeline_controlled(target, control, periods, start):
    """The pipeline's own controlled default (pipeline.designs.controlled)."""
    post = (periods >= start).astype(float)
    fit = fit_conditional_binomial(target, control, post)
    return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value


def quasibinomial_controlled(*, trend: bool):
    """Conditional binomial, logit p = a + d*post [+ b*time], Pearson dispersion, t."""

    def estimator(target, control, periods, start):
        x, j = design(periods, start, trend=trend, pairs=0)
        n = target + control
        # Proportions with var_weights: with a (successes, failures) endog,
        # statsmodels 0.15's scale="X2" is on the proportion scale (far too small).
        res = sm.GLM(target / n, x, family=sm.families.Binomial(), var_weights=n).fit(
            scale="X2", use_t=True
        )
        crit = stats.t.ppf(1 - ALPHA / 2, res.df_resid)
        return interval(res.params[j], res.bse[j], res.pvalues[j], crit)

    return estimator


# --------------------------------------------------------------------------- comparative, calibrated

_STEP_FITS: dict[tuple, tuple[float, float]] = {}


def step_fit(counts, periods, start, trend: bool) -> tuple[float, float]:
    """Log step and its quasi-Poisson standard error; cached (controls recur)."""
    key = (counts.tobytes(), start.ordinal, trend)
    if key not in _STEP_FITS:
        x, j = design(periods, start, trend=trend)
        res = sm.GLM(counts, x, family=sm.families.Poisson()).fit(scale="X2")
        _STEP_FITS[key] = (float(res.params[j]), float(res.bse[j]))
    return _STEP_FITS[key]


def comparative_re(*, trend: bool = False):
    """Target's step against the random-effects distribution of comparison steps.

    Every comparison municipality gets the same quasi-Poisson model at the
    same start. Their steps estimate what a municipality's level does at that
    date without the intervention: mean mu (common shocks) and spread tau
    (each municipality's own drift, beyond its sampling error). The target's
    step minus mu, with variance se_target^2 + tau^2 + var(mu), is compared
    with t(K - 2), as for a random-effects prediction interval.
    """

    def estimator(target, controls, periods, start):
        b_t, s_t = step_fit(target, periods, start, trend)
        fits = [step_fit(np.ascontiguousarray(c), periods, start, trend) for c in controls.T]
        b_c = np.array([f[0] for f in fits])
        s_c = np.array([f[1] for f in fits])
        re = combine_effects(b_c, s_c**2, method_re="iterated")
        d = b_t - re.mean_effect_re
        se = np.sqrt(s_t**2 + re.tau2 + re.var_eff_w_re)
        df = len(b_c) - 2
        crit = stats.t.ppf(1 - ALPHA / 2, df)
        return interval(d, se, 2 * stats.t.sf(abs(d) / se, df), crit)

    return estimator


def pipeline_donor(target, controls, periods, start):
    """The pipeline's donor comparison (pipeline.designs.donor): (g), dispersion floored at 1."""
    fit = fit_donor_comparison(target, controls, periods, start)
    return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value


def placebo_in_space_rank(target, controls, periods, start):
    """Rank of the target's step among the comparison steps (nonparametric)."""
    b_t = step_fit(target, periods, start, False)[0]
    b_c = np.array(
        [step_fit(np.ascontiguousarray(c), periods, start, False)[0] for c in controls.T]
    )
    centre = np.median(b_c)
    p = (1 + np.sum(np.abs(b_c - centre) >= abs(b_t - centre))) / (len(b_c) + 1)
    hi, lo = np.quantile(b_c - centre, [1 - ALPHA / 2, ALPHA / 2])
    d = b_t - centre
    return float(np.exp(d)), float(np.exp(d - hi)), float(np.exp(d - lo)), float(p)


# --------------------------------------------------------------------------- the runs


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    design: str  # "single", "pooled" or "panel"
    estimator: Callable
    cost: float  # rough seconds, to start the slow ones first
    options: dict = field(default_factory=dict)
    category: str = TOTAL


METHODS = [
    Method("a", "(a) naive pre/post exact Poisson test", "single", naive_prepost, 13),
    Method("b", "(b) quasi-Poisson ITS, X2 scale, z", "single", quasipoisson_its(), 7),
    Method(
        "b_t",
        "(b) quasi-Poisson ITS, X2 scale, t(df_resid)",
        "single",
        quasipoisson_its(use_t=True),
        7,
    ),
    Method(
        "c1",
        "(c) Poisson ITS, HAC NW maxlags=1, t",
        "single",
        quasipoisson_its(use_t=True, hac_lags=1),
        7,
    ),
    Method(
        "c3",
        "(c) Poisson ITS, HAC NW maxlags=3, t",
        "single",
        quasipoisson_its(use_t=True, hac_lags=3),
        7,
    ),
    Method(
        "c6",
        "(c) Poisson ITS, HAC NW maxlags=6, t",
        "single",
        quasipoisson_its(use_t=True, hac_lags=6),
        7,
    ),
    Method(
        "c12",
        "(c) Poisson ITS, HAC NW maxlags=12, t",
        "single",
        quasipoisson_its(use_t=True, hac_lags=12),
        7,
    ),
    Method(
        "c3c",
        "(b) quasi-Poisson ITS, dispersion >= 1, t (= fit_its no drift)",
        "single",
        pipeline_its,
        12,
    ),
    Method("d", "(d) negative binomial (NB2 MLE) ITS, z", "single", negbin_its, 40),
    Method(
        "e_ar1",
        "(e) SARIMAX AR(1) on log counts, trend+step+harm.",
        "single",
        sarimax_ar1,
        30,
        {"starts": 2},
    ),
    Method(
        "e_ll",
        "(e) local level on log counts + step + harm., 2 starts",
        "single",
        local_level,
        25,
        {"starts": 2},
    ),
    Method(
        "e_ll_grid",
        "(e) same, statsmodels se, all 7 grid starts",
        "single",
        local_level,
        90,
    ),
    Method(
        "e_ll_exact",
        "(e) same, exact GLS se given the fitted variances",
        "single",
        local_level_exact,
        95,
    ),
    Method(
        "i_var",
        "(i) ITS + drift variance added, t(k) (previous default)",
        "single",
        its_drift(drift_method="variance"),
        25,
    ),
    Method(
        "i_var_sat",
        "(i) ITS + drift variance added, Satterthwaite df",
        "single",
        its_drift_satterthwaite,
        25,
    ),
    Method(
        "i_var6",
        "(i) ITS + drift variance added, fake starts from month 6",
        "single",
        its_drift(drift_method="variance", placebo_before=6),
        35,
    ),
    Method(
        "i_infl",
        "(i) ITS, variance x placebo mean z^2, t(k) (= its default)",
        "single",
        its_drift(),
        25,
    ),
    Method(
        "i_infl6",
        "(i) ITS, variance x placebo mean z^2, fake starts from month 6",
        "single",
        its_drift(placebo_before=6),
        35,
    ),
    Method(
        "i_infl_pool",
        "(i) ITS inflation shrunk to 20 donors' (weight 10), t(k+10)",
        "panel",
        its_inflation_pooled(10.0),
        40,
        {"n_controls": 20},
    ),
    Method(
        "f_or", "(f) pooled 10: before/after odds ratio, Woolf SE", "pooled", woolf_odds_ratio, 8
    ),
    Method(
        "f_hac",
        "(f) pooled 10: cond. binomial HAC (= pipeline default)",
        "pooled",
        pipeline_controlled,
        9,
    ),
    Method(
        "f_qb",
        "(f) pooled 10: cond. binomial + trend, quasi-binomial t",
        "pooled",
        quasibinomial_controlled(trend=True),
        10,
    ),
    Method(
        "g20",
        "(g) comparative ITS, random-effects calibrated, K=20",
        "panel",
        comparative_re(),
        15,
        {"n_controls": 20},
    ),
    Method(
        "g20_pipe",
        "(g) K=20, pipeline fit_donor_comparison (= donor_comparison)",
        "panel",
        pipeline_donor,
        40,
        {"n_controls": 20},
    ),
    Method(
        "g10",
        "(g) same, K=10",
        "panel",
        comparative_re(),
        10,
        {"n_controls": 10},
    ),
    Method(
        "g40",
        "(g) same, K=40",
        "panel",
        comparative_re(),
        20,
        {"n_controls": 40},
    ),
    Method(
        "g20_draw",
        "(g) same, K=20 drawn from the 60 nearest",
        "panel",
        comparative_re(),
        10,
        {"n_controls": 20, "pool_factor": 3},
    ),
    Method(
        "g20_trend",
        "(g) same with trend, K=20",
        "panel",
        comparative_re(trend=True),
        15,
        {"n_controls": 20},
    ),
    Method(
        "h40",
        "(g) placebo-in-space rank test, K=40",
        "panel",
        placebo_in_space_rank,
        15,
        {"n_controls": 40},
    ),
    Method(
        "g20_viol",
        "(g) K=20 on Våldsbrott",
        "panel",
        comparative_re(),
        12,
        {"n_controls": 20},
        "Våldsbrott",
    ),
    Method(
        "g20_theft",
        "(g) K=20 on Stöldbrott",
        "panel",
        comparative_re(),
        12,
        {"n_controls": 20},
        "Stöldbrott",
    ),
]
RECOMMENDED = "g20"
ITS_DEFAULT = "i_infl"

_SERIES: dict[str, dict[str, pd.DataFrame]] = {}


def _load(data_dir: str) -> None:
    frame = read_bra_folder(data_dir)
    for category in {m.category for m in METHODS}:
        rows = frame[frame["category"] == category]
        _SERIES[category] = {
            name: g[["period", "count"]].reset_index(drop=True)
            for name, g in rows.groupby("municipality", sort=True)
        }


def _run(key: str, quick: bool):
    method = next(m for m in METHODS if m.key == key)
    warnings.simplefilter("ignore")  # convergence chatter of the state-space fits
    series = _SERIES[method.category]
    if quick:
        series = {u: series[u] for u in sorted(series)[::4]}
    opts = dict(method.options)
    started = time.perf_counter()
    common = {"alpha": ALPHA, "seed": SEED, "starts": opts.pop("starts", None)}
    if method.design == "single":
        placebo = cal.placebo_rejection_rate(series, method.estimator, **common)
        power = cal.injected_effect_power(
            series, method.estimator, rate_ratio=RATE_RATIO, min_mean=MIN_MEAN, **common
        )
    else:
        ctl = {
            "n_controls": opts.pop("n_controls", 10),
            # Panel methods compare with the nearest municipalities in size;
            # pooled controls are drawn from the 20 nearest.
            "pool_factor": opts.pop("pool_factor", 1 if method.design == "panel" else 2),
            "pooled": method.design == "pooled",
        }
        placebo = cal.controlled_placebo_rejection_rate(series, method.estimator, **common, **ctl)
        power = cal.controlled_injected_effect_power(
            series, method.estimator, rate_ratio=RATE_RATIO, min_mean=MIN_MEAN, **common, **ctl
        )
    return method.key, placebo, power, time.perf_counter() - started


# --------------------------------------------------------------------------- random-walk drift


def random_walk_variances(series: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Method-of-moments random-walk variance a month, for the time series and the comparison.

    At every fake start of the calibration grid (18-36 months before, every 3,
    48-month series) the design's step ``b`` has model variance ``s^2`` and
    random-walk load ``L`` (:func:`pipeline.methods.drift.random_walk_load`);
    with no effect ``E[b^2] = E[s^2] + sigma2 E[L]``, so ``sigma2 = sum(b^2 -
    s^2) / sum(L)``. The comparison's control is two pooled municipalities of
    similar size (as :func:`pipeline.calibration.choose_controls` picks them).
    These are the values behind ``its.RANDOM_WALK_VARIANCE`` and
    ``controlled.RANDOM_WALK_VARIANCE``.
    """
    from pipeline.designs.controlled import _fit_step
    from pipeline.designs.controlled import _random_walk_load as controlled_load
    from pipeline.methods.drift import random_walk_load

    counts = {u: f.sort_values("period")["count"].to_numpy(float) for u, f in series.items()}
    periods = {u: pd.PeriodIndex(f.sort_values("period")["period"]) for u, f in series.items()}
    sums = {"its": [0.0, 0.0], "controlled, trend": [0.0, 0.0], "controlled, no trend": [0.0, 0.0]}
    for unit, y in counts.items():
        control = sum(counts[c] for c in cal.choose_controls(series, unit, 2, seed=SEED))
        for start in cal.placebo_starts(periods[unit]):
            exog = its_design_matrix(periods[unit], start)
            j = list(exog.columns).index("post")
            fit = sm.GLM(y, exog, family=sm.families.Poisson()).fit(scale="X2")
            if fit.scale < 1:
                fit = sm.GLM(y, exog, family=sm.families.Poisson()).fit(scale=1.0)
            load = random_walk_load(exog.to_numpy(), np.asarray(fit.mu), j)
            sums["its"][0] += fit.params["post"] ** 2 - fit.bse["post"] ** 2
            sums["its"][1] += load
            post = (periods[unit] >= start).astype(float)
            offset = np.zeros(len(y))
            for trend, key in ((True, "controlled, trend"), (False, "controlled, no trend")):
                result, _ = _fit_step(y, control, post, offset, trend)
                load = controlled_load(result, y, control, offset, post, trend)
                sums[key][0] += result.params[1] ** 2 - result.bse[1] ** 2
                sums[key][1] += load
    return {key: excess / load for key, (excess, load) in sums.items()}


def own_random_walks(series: dict[str, pd.DataFrame], trend: bool) -> pd.DataFrame:
    """Every municipality's own random-walk estimate of its log ratio to two similar ones.

    The whole 48 months, without a step, against the two pooled municipalities
    of similar size the calibration uses: the estimate, its sampling variance
    ``2 sigma0^4 / nu`` at the pooled variance ``sigma0^2`` and its mean count.
    """
    from pipeline.designs.controlled import RANDOM_WALK_VARIANCE, own_random_walk_of

    scale = RANDOM_WALK_VARIANCE[trend]
    counts = {u: f.sort_values("period")["count"].to_numpy(float) for u, f in series.items()}
    rows = []
    for unit, y in counts.items():
        control = sum(counts[c] for c in cal.choose_controls(series, unit, 2, seed=SEED))
        t = np.arange(len(y), dtype=float) / 12
        exog = np.column_stack([np.ones(len(y))] + ([t] if trend else []))
        keep = (y + control) > 0
        fit = sm.GLM(
            y[keep] / (y + control)[keep],
            exog[keep],
            family=sm.families.Binomial(),
            var_weights=(y + control)[keep],
        ).fit()
        linear = exog @ np.asarray(fit.params)
        own = own_random_walk_of(
            y, control, np.ones(len(y), bool), linear, np.zeros(len(y)), trend, scale
        )
        nu = own.degrees_of_freedom(scale)
        rows.append((unit, own.variance, 2 * scale**2 / nu, nu, y.mean()))
    return pd.DataFrame(rows, columns=["unit", "variance", "sampling_variance", "df", "mean"])


def prior_degrees_of_freedom(estimates: pd.DataFrame, scale: float) -> tuple[float, float]:
    """``nu0`` of a scaled inverse chi-square prior with scale ``sigma0^2`` from the places' spread.

    The spread of the own estimates beyond their sampling variances
    (DerSimonian-Laird method of moments, precision weights) is the prior's
    variance ``2 nu0^2 sigma0^4 / ((nu0 - 2)^2 (nu0 - 4))``, solved for
    ``nu0 > 4``. Returns ``(between-place variance, nu0)``; ``nu0`` is
    infinite when the estimates spread no more than their sampling noise.
    """
    from scipy.optimize import brentq

    x = estimates["variance"].to_numpy()
    w = 1 / estimates["sampling_variance"].to_numpy()
    mean = np.sum(w * x) / np.sum(w)
    q = np.sum(w * (x - mean) ** 2)
    between = max(0.0, (q - (len(x) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    if between == 0:
        return 0.0, float("inf")

    def gap(nu0: float) -> float:
        return 2 * nu0**2 * scale**2 / ((nu0 - 2) ** 2 * (nu0 - 4)) - between

    return between, float(brentq(gap, 4 + 1e-9, 1e7))


def own_random_walk_recovery(replicates: int = 200, seed: int = SEED) -> pd.DataFrame:
    """Simulation with a known random-walk variance: bias and spread of the own estimate.

    Target and control share monthly shocks and a season; the target's log
    ratio to the control wanders as a random walk with variance ``sigma2``; the
    control has twice the target's level. Estimated over the pre-period with a
    trend, as the controlled comparison does. Columns: the true ``sigma2``,
    the mean and standard deviation of the estimates, the standard deviation
    its degrees of freedom predict (``sigma2 sqrt(2 / nu)``, at the truth) and
    the median ``nu``.
    """
    from pipeline.designs.controlled import RANDOM_WALK_VARIANCE, _fit_step, own_random_walk_of

    rng = np.random.default_rng(seed)
    rows = []
    for level in (5.0, 20.0, 200.0):
        for n_pre in (24, 96):
            for sigma2 in (0.0, 0.0005, RANDOM_WALK_VARIANCE[True], 0.01):
                estimates, dfs = [], []
                for _ in range(replicates):
                    n = n_pre + 12
                    walk = np.cumsum(rng.normal(0, np.sqrt(sigma2), n))
                    common = 0.2 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 0.1, n)
                    y = rng.poisson(level * np.exp(common + walk)).astype(float)
                    control = rng.poisson(2 * level * np.exp(common)).astype(float)
                    post = (np.arange(n) >= n_pre).astype(float)
                    if y[post == 0].sum() == 0 or y[post == 1].sum() == 0:
                        continue
                    result, _ = _fit_step(y, control, post, np.zeros(n), True)
                    linear = result.params[0] + result.params[2] * np.arange(n) / 12
                    own = own_random_walk_of(
                        y, control, post == 0, linear, np.zeros(n), True, RANDOM_WALK_VARIANCE[True]
                    )
                    estimates.append(own.variance)
                    dfs.append(own.degrees_of_freedom(max(sigma2, 1e-4)))
                e = np.asarray(estimates)
                nu = float(np.median(dfs))
                rows.append(
                    {
                        "crimes a month": level,
                        "months before": n_pre,
                        "sigma2": sigma2,
                        "mean estimate": round(float(e.mean()), 5),
                        "sd": round(float(e.std()), 5),
                        "sd from nu": round(max(sigma2, 1e-4) * np.sqrt(2 / nu), 5),
                        "median nu": round(nu, 1),
                    }
                )
    return pd.DataFrame(rows)


def drift_prior_report(series: dict[str, pd.DataFrame]) -> None:
    """Print the simulation check of the own estimate and the prior's ``nu0`` from Brå."""
    from pipeline.designs.controlled import RANDOM_WALK_VARIANCE

    print("own random-walk variance, simulation with a known sigma2 (trend design):")
    print(own_random_walk_recovery().to_string(index=False))
    for trend in (True, False):
        estimates = own_random_walks(series, trend)
        scale = RANDOM_WALK_VARIANCE[trend]
        between, nu0 = prior_degrees_of_freedom(estimates, scale)
        print(
            f"\n{'trend' if trend else 'no trend'}: {len(estimates)} municipalities' own "
            f"estimates (48 months, 2 similar ones as control): median {estimates['variance'].median():.5f}, "
            f"precision-weighted mean {np.average(estimates['variance'], weights=1 / estimates['sampling_variance']):.5f}, "
            f"median nu {estimates['df'].median():.1f}; between-place variance {between:.3g} "
            f"(sd {np.sqrt(between):.5f}) around the scale {scale:g}: prior nu0 = {nu0:.1f}"
        )
        by_size = estimates.groupby(
            pd.cut(estimates["mean"], [0, 100, 250, 1000, np.inf]), observed=True
        )
        print(
            "  by crimes a month, median estimate (n): "
            + ", ".join(f"{b}: {g['variance'].median():.5f} ({len(g)})" for b, g in by_size)
        )


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(DEFAULT_DATA), help="folder of Brå Databasfil exports"
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true", help="every 4th municipality only")
    parser.add_argument(
        "--drift-prior",
        action="store_true",
        help="only the controlled comparison's random-walk prior and its simulation check",
    )
    args = parser.parse_args(argv)
    if args.drift_prior:
        warnings.simplefilter("ignore")
        drift_prior_report(_series_for(args))
        return 0

    started = time.perf_counter()
    by_key = {m.key: m for m in METHODS}
    order = sorted(METHODS, key=lambda m: -m.cost)
    results = {}
    with ProcessPoolExecutor(args.jobs, initializer=_load, initargs=(args.data,)) as pool:
        futures = [pool.submit(_run, m.key, args.quick) for m in order]
        for f in futures:
            key, placebo, power, seconds = f.result()
            results[key] = (placebo, power, seconds)

    n_units = results["a"][0].n_units
    print(
        f"Brå reported crimes, {n_units} municipalities, 2013-01..2016-12; fake starts every 3 "
        f"months with >=18 months before and >=12 after; alpha={ALPHA}; power: true RR "
        f"{RATE_RATIO} by binomial thinning, municipalities with >= {MIN_MEAN:g} crimes/month."
    )
    print("Category 'Totalt antal brott' unless the method says otherwise. Percentages.\n")
    head = (
        f"{'method':<62} {'FPR':>5} {'95% CI':>13} {'by unit':>13} {'n':>5}  "
        f"{'power':>5} {'95% CI':>13} {'n':>5}  {'cover':>5} {'medRR':>6} {'sec':>5}"
    )
    print(head)
    print("-" * len(head))
    for m in METHODS:
        placebo, power, seconds = results[m.key]
        mark = {RECOMMENDED: " *", ITS_DEFAULT: " +"}.get(m.key, "")
        print(
            f"{(m.label + mark):<62} {_pct(placebo.rejection_rate)} "
            f"[{_pct(placebo.ci_low)},{_pct(placebo.ci_high)}] "
            f"[{_pct(placebo.cluster_ci_low)},{_pct(placebo.cluster_ci_high)}] {placebo.n_tests:>5}  "
            f"{_pct(power.detection_rate)} [{_pct(power.ci_low)},{_pct(power.ci_high)}] "
            f"{power.n_tests:>5}  {_pct(power.coverage)} {power.median_rate_ratio:6.3f} {seconds:5.1f}"
        )
        failed = placebo.n_failed + power.n_failed
        if failed:
            print(f"{'':<4}({failed} fits failed and are left out)")

    sizes = {u: float(f["count"].mean()) for u, f in _series_for(args).items()}
    print(f"\n* recommended: {by_key[RECOMMENDED].label}")
    _checks(*results[RECOMMENDED][:2], sizes)
    print(f"\n+ time-series default: {by_key[ITS_DEFAULT].label}")
    _checks(*results[ITS_DEFAULT][:2], sizes, by_pre=True)
    print(
        "\nrandom-walk drift variance a month (method of moments, the values the designs use): "
        + ", ".join(f"{k} {v:.5f}" for k, v in random_walk_variances(_series_for(args)).items())
    )
    print(f"\ntotal {time.perf_counter() - started:.0f} s with {args.jobs} processes")
    return 0


def _checks(placebo, power, sizes: dict[str, float], *, by_pre: bool = False) -> None:
    """Print a method's rejection at other levels, and its rates by size (and pre-period)."""
    p = placebo.results["p_value"]
    print(
        "  placebo rejection at alpha 0.01 / 0.05 / 0.10: "
        + " / ".join(_pct((p < a).mean()) for a in (0.01, 0.05, 0.10))
    )
    size = placebo.results["unit"].map(sizes)
    bands = pd.cut(size, [0, 50, 100, 250, 500, np.inf])
    fpr = placebo.results.groupby(bands, observed=True)["rejected"].agg(["mean", "size"])
    print(
        "  false-positive rate by crimes/month: "
        + ", ".join(f"{b}: {_pct(r['mean'])} (n={int(r['size'])})" for b, r in fpr.iterrows())
    )
    size_p = power.results["unit"].map(sizes)
    pw = power.results.groupby(pd.cut(size_p, [100, 150, 250, 500, np.inf]), observed=True).agg(
        power=("detected", "mean"), coverage=("covered", "mean"), n=("detected", "size")
    )
    print(
        "  power / coverage by crimes/month: "
        + ", ".join(
            f"{b}: {_pct(r['power'])} / {_pct(r['coverage'])} (n={int(r['n'])})"
            for b, r in pw.iterrows()
        )
    )
    if by_pre:
        # Power grows with the pre-period: what a longer series would buy.
        fpr_pre = placebo.results.groupby("n_pre")["rejected"].mean()
        pw_pre = power.results.groupby("n_pre").agg(
            power=("detected", "mean"), coverage=("covered", "mean")
        )
        print(
            "  by months before the start, false positives / power / coverage: "
            + ", ".join(
                f"{n}: {_pct(fpr_pre[n])} / {_pct(r['power'])} / {_pct(r['coverage'])}"
                for n, r in pw_pre.iterrows()
            )
        )
    pilots = ["Avesta", "Falun", "Hallstahammar", "Sala"]
    w = power.results[power.results["unit"].isin(pilots)]
    print(
        "  pilots, injected RR 0.8 (detected of 7, median estimate, median CI): "
        + "; ".join(
            f"{u} {int(g['detected'].sum())}/{len(g)}, {g['rate_ratio'].median():.2f} "
            f"[{g['ci_low'].median():.2f}, {g['ci_high'].median():.2f}]"
            for u, g in w.groupby("unit")
        )
    )


def _series_for(args) -> dict[str, pd.DataFrame]:
    if TOTAL not in _SERIES:
        _load(args.data)
    return _SERIES[TOTAL]


if __name__ == "__main__":
    raise SystemExit(main())
