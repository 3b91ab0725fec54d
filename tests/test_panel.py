"""Panel difference-in-differences: exactness, inference, coverage, errors, demo and real data."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pipeline.designs.panel import INFERENCE, PanelFit, estimate_panel, fit_panel, panel_effects
from pipeline.errors import EstimationError
from pipeline.results import EFFECT_COLUMNS, effects_frame
from pipeline.run.provenance import REPO_ROOT
from pipeline.validation import calibration as cal

DEMO_DIR = REPO_ROOT / "data" / "raw" / "trygga_platser_demo"
PERIODS = pd.period_range("2017-01", periods=84, freq="M")
DAYS = PERIODS.days_in_month.to_numpy().astype(float)
SEASON = 0.15 * np.cos(2 * np.pi * (PERIODS.month.to_numpy() - 7) / 12)


def _frame(values, exposure=None, periods=PERIODS) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    exposure = np.ones(len(values)) if exposure is None else np.asarray(exposure, dtype=float)
    return pd.DataFrame({"value": values, "exposure": exposure}, index=periods[: len(values)])


def simulate(
    rng: np.random.Generator,
    *,
    effects=(0.7, 0.85, 1.0),
    levels=(12.0, 9.0, 16.0),
    starts=(40, 48, 57),
    n_controls: int = 25,
    drift_sd: float = 0.01,
    shock_sd: float = 0.07,
    shape: float = 12.0,
):
    """Targets and controls sharing monthly shocks, each drifting on its own.

    Every area: level x season x a shared AR(1) shock x its own random walk
    (``drift_sd`` per month, log scale) x days in the month, with gamma frailty
    (negative-binomial counts, variance mu + mu^2 / shape). Targets' counts from
    their starts on are multiplied by their true rate ratio.

    Returns
    -------
    targets, starts, controls, truth
        ``truth``: target -> true rate ratio, and ``"pooled"`` -> the weighted
        mean of the log ratios with the targets' expected post-period counts
        without the effect as weights (the design's estimand).
    """
    m = len(PERIODS)
    shock = np.zeros(m)
    shock[0] = rng.normal(0, shock_sd / np.sqrt(0.75))
    for t in range(1, m):
        shock[t] = 0.5 * shock[t - 1] + rng.normal(0, shock_sd)

    def draw(level, effect=1.0, start=m):
        walk = np.cumsum(rng.normal(0, drift_sd, m))
        mu = level * np.exp(SEASON + shock + walk - walk.mean()) * DAYS / 30.44
        lam = mu * np.where(np.arange(m) >= start, effect, 1.0)
        counts = rng.poisson(lam * rng.gamma(shape, 1 / shape, m))
        return _frame(counts, DAYS), mu[start:].sum()

    targets, start_of, truth, weights = {}, {}, {}, {}
    for g, (effect, level, start) in enumerate(zip(effects, levels, starts, strict=True)):
        name = f"t{g}"
        targets[name], weights[name] = draw(level, effect, start)
        start_of[name] = PERIODS[start]
        truth[name] = effect
    controls = {
        f"c{j}": draw(float(rng.choice([6.0, 8.0, 10.0, 12.0, 15.0])))[0] for j in range(n_controls)
    }
    w = np.array([weights[t] for t in targets])
    truth["pooled"] = float(np.exp(w @ np.log([truth[t] for t in targets]) / w.sum()))
    return targets, start_of, controls, truth


# --------------------------------------------------------------------------- exactness


def test_one_target_equals_the_classic_ratio_of_ratios():
    rng = np.random.default_rng(3)
    # Days in the month as every unit's exposure: the offset is absorbed by the month effects.
    target = _frame(rng.poisson(14 * np.exp(SEASON)), DAYS)
    controls = {f"c{j}": _frame(rng.poisson(9 * np.exp(SEASON)), DAYS) for j in range(6)}
    start = PERIODS[50]
    fit = fit_panel({"t": target}, {"t": start}, controls)
    pre = target.index < start
    pooled = sum(c["value"] for c in controls.values())
    classic = (target["value"][~pre].sum() / target["value"][pre].sum()) / (
        pooled[~pre].sum() / pooled[pre].sum()
    )
    assert fit.targets[0].ratio == pytest.approx(classic, rel=1e-9)
    assert fit.ratio == pytest.approx(classic, rel=1e-9)
    # The imputed counts before the start sum to the target's own pre-period count.
    counterfactual = fit.targets[0].fitted["counterfactual"].to_numpy()
    assert counterfactual[pre].sum() == pytest.approx(target["value"][pre].sum(), rel=1e-9)


def test_one_cohort_of_several_targets_gives_each_its_ratio_of_ratios():
    rng = np.random.default_rng(4)
    start = PERIODS[44]
    targets = {
        f"t{g}": _frame(rng.poisson(level * np.exp(SEASON))) for g, level in enumerate((8, 20))
    }
    controls = {f"c{j}": _frame(rng.poisson(11 * np.exp(SEASON))) for j in range(5)}
    fit = fit_panel(targets, dict.fromkeys(targets, start), controls, inference="quasipoisson")
    pooled = sum(c["value"] for c in controls.values())
    pre = PERIODS < start
    control_ratio = pooled[~pre].sum() / pooled[pre].sum()
    expected = []
    for target in fit.targets:
        y = targets[target.target]["value"]
        classic = (y[~pre].sum() / y[pre].sum()) / control_ratio
        assert target.ratio == pytest.approx(classic, rel=1e-9)
        # The weight's basis: the target's pre-period count moved like the controls.
        assert target.expected_post == pytest.approx(y[pre].sum() * control_ratio, rel=1e-9)
        expected.append(target.expected_post)
    w = np.array(expected) / sum(expected)
    assert fit.log_ratio == pytest.approx(w @ [np.log(t.ratio) for t in fit.targets], abs=1e-12)


def _noise_free_staggered():
    """Expected counts only: unit x month effects, unit-specific exposure, dynamic effects."""
    periods = PERIODS[:60]
    m = len(periods)
    rng = np.random.default_rng(5)
    month_effect = np.exp(SEASON[:m] + np.linspace(0, 0.3, m))
    starts = {"a": 20, "b": 32, "c": 44}
    levels = {"a": 20.0, "b": 12.0, "c": 30.0}
    targets, untreated = {}, {}
    for name, start in starts.items():
        exposure = np.linspace(1.0, 1.2, m) * levels[name]  # a growing population
        k = np.arange(m) - start
        # Heterogeneous effects that deepen with time since the start.
        effect = np.where(k >= 0, np.exp(-0.1 - 0.02 * np.minimum(k, 20)), 1.0)
        untreated[name] = exposure * month_effect
        targets[name] = _frame(untreated[name] * effect, exposure, periods)
    controls = {f"c{j}": _frame(rng.uniform(5, 25) * month_effect, None, periods) for j in range(8)}
    truth = {
        name: targets[name]["value"].to_numpy()[s:].sum() / untreated[name][s:].sum()
        for name, s in starts.items()
    }
    weights = np.array([untreated[name][s:].sum() for name, s in starts.items()])
    truth["pooled"] = float(np.exp(weights @ np.log([truth[n] for n in starts]) / weights.sum()))
    return targets, {n: periods[s] for n, s in starts.items()}, controls, truth


def test_staggered_heterogeneous_dynamic_effects_are_recovered_exactly():
    targets, starts, controls, truth = _noise_free_staggered()
    fit = fit_panel(targets, starts, controls, inference="quasipoisson")
    for target in fit.targets:
        assert target.ratio == pytest.approx(truth[target.target], rel=1e-8)
    assert fit.ratio == pytest.approx(truth["pooled"], rel=1e-8)
    assert sum(t.weight for t in fit.targets) == pytest.approx(1.0)

    # A two-way fixed effects model with one post dummy compares late targets with
    # early ones already treated: it misses the same truth.
    rows = []
    for name, frame in {**targets, **controls}.items():
        post = frame.index >= starts[name] if name in starts else np.zeros(len(frame), bool)
        rows += [
            (name, str(p), v, e, float(d))
            for p, v, e, d in zip(frame.index, frame["value"], frame["exposure"], post, strict=True)
        ]
    long = pd.DataFrame(rows, columns=["unit", "month", "y", "exposure", "post"])
    x = pd.concat(
        [
            pd.get_dummies(long["unit"], drop_first=True, dtype=float),
            pd.get_dummies(long["month"], drop_first=True, dtype=float),
            long[["post"]],
        ],
        axis=1,
    ).assign(const=1.0)
    naive = sm.GLM(
        long["y"], x, family=sm.families.Poisson(), offset=np.log(long["exposure"])
    ).fit()
    assert abs(naive.params["post"] - np.log(truth["pooled"])) > 0.02


def _untreated_glm(targets, starts, controls):
    """statsmodels' Poisson GLM with unit and month dummies on the untreated cells."""
    rows = []
    for name, frame in {**targets, **controls}.items():
        for period, value, exposure in zip(
            frame.index, frame["value"], frame["exposure"], strict=True
        ):
            if name in starts and period >= starts[name]:
                continue
            rows.append((name, period, value, exposure))
    long = pd.DataFrame(rows, columns=["unit", "period", "y", "exposure"])
    units = list(targets) + list(controls)
    periods = sorted(long["period"].unique())
    x = np.zeros((len(long), len(units) + len(periods) - 1))
    x[np.arange(len(long)), [units.index(u) for u in long["unit"]]] = 1.0
    for row, period in enumerate(long["period"]):
        j = periods.index(period)
        if j > 0:
            x[row, len(units) + j - 1] = 1.0
    model = sm.GLM(
        long["y"].to_numpy(), x, family=sm.families.Poisson(), offset=np.log(long["exposure"])
    )
    return model, long, units, periods


def _gradient(params, target, start, frame, units, periods):
    """Gradient of log(expected post count) in the GLM's parameters, and that count."""
    post = frame.index >= start
    months = [periods.index(p) for p in frame.index[post]]
    month_effect = np.concatenate([[0.0], params[len(units) :]])
    expected = frame["exposure"].to_numpy()[post] * np.exp(
        params[units.index(target)] + month_effect[months]
    )
    grad = np.zeros(len(params))
    grad[units.index(target)] = 1.0
    for j, share in zip(months, expected / expected.sum(), strict=True):
        if j > 0:
            grad[len(units) + j - 1] += share
    return grad, expected.sum()


def test_sampling_variance_is_the_delta_method_of_the_poisson_fit():
    # Expected counts: no overdispersion, so every dispersion is floored at 1.
    targets, starts, controls, _ = _noise_free_staggered()
    targets = {n: f.iloc[:40] for n, f in targets.items()}
    controls = {n: f.iloc[:40] for n, f in list(controls.items())[:4]}
    starts = {n: s for n, s in starts.items() if s < PERIODS[40 - 3]}
    targets = {n: targets[n] for n in starts}
    fit = fit_panel(targets, starts, controls, inference="quasipoisson")
    model, _, units, periods = _untreated_glm(targets, starts, controls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(tol=1e-12)
    grads = []
    for target in fit.targets:
        frame = targets[target.target]
        grad, expected = _gradient(
            result.params, target.target, starts[target.target], frame, units, periods
        )
        assert expected == pytest.approx(target.expected_post, rel=1e-7)
        observed = frame["value"][frame.index >= starts[target.target]].sum()
        variance = 1 / observed + grad @ result.cov_params() @ grad
        assert target.sampling_std_error**2 == pytest.approx(variance, rel=1e-5)
        grads.append(grad)
    # Targets share the month effects: the pooled variance carries their covariance.
    g = np.array(grads)
    w = np.array([t.weight for t in fit.targets])
    own = np.array([1 / t.observed_post for t in fit.targets])
    pooled = w @ (g @ result.cov_params() @ g.T + np.diag(own)) @ w
    assert fit.sampling_std_error**2 == pytest.approx(pooled, rel=1e-5)


def test_cluster_robust_option_matches_statsmodels():
    rng = np.random.default_rng(8)
    targets, starts, controls, _ = simulate(rng, n_controls=6)
    fit = fit_panel(targets, starts, controls, inference="cluster")
    model, long, units, periods = _untreated_glm(targets, starts, controls)
    result = model.fit(
        tol=1e-12,
        cov_type="cluster",
        cov_kwds={"groups": pd.factorize(long["unit"])[0], "use_correction": False},
    )
    clusters = len(units)
    for target in fit.targets:
        grad, _ = _gradient(
            result.params,
            target.target,
            starts[target.target],
            targets[target.target],
            units,
            periods,
        )
        variance = grad @ result.cov_params() @ grad * clusters / (clusters - 1)
        assert target.std_error**2 == pytest.approx(variance, rel=1e-4)
        assert target.df == clusters - 1
        # Blind to the target's own noise: far below the sampling variance.
        assert target.std_error < target.sampling_std_error


# --------------------------------------------------------------------------- inference


def test_fit_reports_every_inference_with_the_same_point_estimate():
    rng = np.random.default_rng(11)
    targets, starts, controls, _ = simulate(rng)
    fits = {name: fit_panel(targets, starts, controls, inference=name) for name in INFERENCE}
    ratios = {round(f.ratio, 12) for f in fits.values()}
    assert len(ratios) == 1
    space = fits["placebo_space"]
    assert isinstance(space, PanelFit)
    assert len(space.placebos) == 3 * 25
    assert set(space.placebos["unit"]) == set(controls)
    assert all(t.df == 25 for t in space.targets)
    assert all(0 < t.placebo_p_value <= 1 for t in space.targets)
    assert 0 < space.placebo_p_value <= 1
    # Pseudo-studies of 3 controls at once, about one per control.
    assert len(space.pooled_placebos) >= 25
    # The drift variance only widens the intervals.
    for with_drift, without in zip(space.targets, fits["quasipoisson"].targets, strict=True):
        assert with_drift.std_error >= without.std_error
    time_fit = fits["placebo_time"]
    assert all(t.df > 10 for t in time_fit.targets)
    assert set(time_fit.placebos["unit"]) == set(targets)
    # Placebo in time copies the target: fake starts only before its real start.
    for target in time_fit.targets:
        rows = time_fit.placebos[time_fit.placebos["unit"] == target.target]
        assert (rows["start"] < target.start).all()


def test_drift_shared_by_the_targets_widens_the_pooled_interval():
    rng = np.random.default_rng(14)
    targets, starts, controls, _ = simulate(rng, drift_sd=0.0)
    # A drift all targets share and no control does (one town's own trend).
    walk = np.exp(np.cumsum(rng.normal(0, 0.03, len(PERIODS))))
    shared = {
        n: f.assign(value=rng.poisson(f["value"].to_numpy() * walk).astype(float))
        for n, f in targets.items()
    }
    fit = fit_panel(shared, starts, controls)
    independent = sum(t.weight**2 * t.drift_variance for t in fit.targets)
    # The controls show no drift, the targets' common pre-period does.
    assert fit.std_error**2 - fit.sampling_std_error**2 > max(
        2 * independent, 0.5 * fit.sampling_std_error**2
    )
    assert "joint drift at" in fit.inference


def test_municipalities_that_differ_widen_the_pooled_interval():
    rng = np.random.default_rng(15)
    effects, levels, starts = (0.6, 0.65, 1.0, 1.05), (12.0, 9.0, 16.0, 11.0), (40, 48, 57, 44)
    targets, starts, controls, _ = simulate(rng, effects=effects, levels=levels, starts=starts)
    apart = {"t0": "A", "t1": "A", "t2": "B", "t3": "B"}
    mixed = {"t0": "A", "t1": "B", "t2": "A", "t3": "B"}
    one = fit_panel(targets, starts, controls)
    differ = fit_panel(targets, starts, controls, municipalities=apart)
    alike = fit_panel(targets, starts, controls, municipalities=mixed)
    assert one.log_ratio == differ.log_ratio == alike.log_ratio
    assert one.municipalities == 1 and one.between_tau2 == 0
    # Two municipalities whose effects differ: the variance between them, on M - 1 df.
    assert differ.municipalities == 2 and differ.between_tau2 > 0.01
    assert differ.std_error**2 > one.sampling_std_error**2 + differ.between_tau2 / 2 * 0.99
    assert differ.df == 1 and differ.ci_high / differ.ci_low > 3 * one.ci_high / one.ci_low
    assert "variance between its 2 municipalities" in differ.inference
    # Municipalities alike (each has one changed place and one not): little between them.
    assert alike.between_tau2 < differ.between_tau2 / 4 and alike.std_error < differ.std_error


def test_pooled_placebo_p_value_is_seeded():
    rng = np.random.default_rng(12)
    targets, starts, controls, _ = simulate(rng)
    a = fit_panel(targets, starts, controls, seed=1).placebo_p_value
    b = fit_panel(targets, starts, controls, seed=1).placebo_p_value
    assert a == b


def test_targets_with_different_windows_and_a_cut_series():
    rng = np.random.default_rng(13)
    targets, starts, controls, _ = simulate(rng)
    targets["t0"] = targets["t0"].iloc[:70]  # cut before a later co-intervention
    targets["t1"] = targets["t1"].iloc[6:]  # starts later
    fit = fit_panel(targets, starts, controls)
    t0, t1 = fit.targets[0], fit.targets[1]
    assert (t0.n_pre, t0.n_post) == (40, 30)
    assert (t1.n_pre, t1.n_post) == (42, 36)
    assert str(t0.fitted["period"].iloc[-1]) == str(PERIODS[69])
    # The placebos copy each target's months: a control's placebo for t0 stops where t0 stops.
    assert len(fit.placebos) == 3 * 25


@pytest.mark.slow
def test_simulated_coverage_and_bias_with_drift():
    """300 seeded replicates: 3 targets, staggered starts, effects 0.7 / 0.85 / 1.0, 25 controls."""
    rng = np.random.default_rng(2024)
    hits = {"pooled": [], "t0": [], "t1": [], "t2": []}
    logs = {key: [] for key in hits}
    cluster_hits = []
    for _ in range(300):
        targets, starts, controls, truth = simulate(rng)
        fit = fit_panel(targets, starts, controls)
        hits["pooled"].append(fit.ci_low <= truth["pooled"] <= fit.ci_high)
        logs["pooled"].append(fit.log_ratio - np.log(truth["pooled"]))
        for target in fit.targets:
            hits[target.target].append(target.ci_low <= truth[target.target] <= target.ci_high)
            logs[target.target].append(target.log_ratio - np.log(truth[target.target]))
        cluster = fit_panel(targets, starts, controls, inference="cluster")
        cluster_hits.append(cluster.ci_low <= truth["pooled"] <= cluster.ci_high)
    for key in hits:
        assert 0.91 <= np.mean(hits[key]) <= 0.99, (key, np.mean(hits[key]))
        assert abs(np.mean(logs[key])) < 0.02, (key, np.mean(logs[key]))
    # Cluster-robust errors with three treated units: far too narrow.
    assert np.mean(cluster_hits) < 0.8


# --------------------------------------------------------------------------- errors


@pytest.fixture
def small():
    rng = np.random.default_rng(21)
    targets, starts, controls, _ = simulate(rng, n_controls=4)
    return targets, starts, controls


def test_too_few_controls(small):
    targets, starts, controls = small
    with pytest.raises(EstimationError, match="at least 2 controls"):
        fit_panel(targets, starts, {"c0": controls["c0"]})
    silent = controls | {"c1": controls["c1"].assign(value=0.0)}
    with pytest.raises(EstimationError, match="c1: no events"):
        fit_panel(targets, starts, {"c0": silent["c0"], "c1": silent["c1"]})


def test_malformed_input_is_named(small):
    targets, starts, controls = small
    with pytest.raises(ValueError, match="no intervention start for target"):
        fit_panel(targets, {"t0": starts["t0"]}, controls)
    with pytest.raises(ValueError, match="cannot be a control too: t0"):
        fit_panel(targets, starts, controls | {"t0": targets["t0"]})
    bad = targets | {"t1": targets["t1"].assign(value=-1.0)}
    with pytest.raises(ValueError, match="'t1' has missing or negative counts"):
        fit_panel(bad, starts, controls)
    bad = targets | {"t1": targets["t1"].reset_index(drop=True)}
    with pytest.raises(ValueError, match="monthly periods"):
        fit_panel(bad, starts, controls)
    bad = controls | {"c2": controls["c2"].drop(columns="exposure")}
    with pytest.raises(ValueError, match="'c2' lacks column"):
        fit_panel(targets, starts, bad)
    bad = controls | {"c2": controls["c2"].assign(exposure=0.0)}
    with pytest.raises(ValueError, match="non-positive exposure"):
        fit_panel(targets, starts, bad)
    with pytest.raises(ValueError, match="inference must be one of"):
        fit_panel(targets, starts, controls, inference="bootstrap")
    with pytest.raises(ValueError, match="is not a month"):
        fit_panel(targets, starts | {"t0": "soon"}, controls)


def test_data_that_cannot_be_estimated(small):
    targets, starts, controls = small
    with pytest.raises(EstimationError, match="needs at least one target"):
        fit_panel({}, {}, controls)
    with pytest.raises(EstimationError, match="'t0' needs 12 months before and 3 from"):
        fit_panel(targets, starts | {"t0": PERIODS[5]}, controls)
    silent = targets["t0"].copy()
    silent.loc[silent.index >= starts["t0"], "value"] = 0.0
    with pytest.raises(EstimationError, match="'t0' has no events before or after"):
        fit_panel(targets | {"t0": silent}, starts, controls)
    gap = {n: f[f.index != PERIODS[30]] for n, f in controls.items()}
    with pytest.raises(EstimationError, match="no control has data for 1 month"):
        fit_panel(targets, starts, gap)
    late = starts | {"t0": PERIODS[14]}
    with pytest.raises(EstimationError, match="too few placebos to measure drift for target 't0'"):
        fit_panel(targets, late, controls, inference="placebo_time")


# --------------------------------------------------------------------------- results


def test_effects_rows(small):
    targets, starts, controls = small
    effects = estimate_panel(
        targets,
        starts,
        controls,
        indicator="crimes_total",
        municipality="Sala",
        notes=("a caveat",),
    )
    pooled, *per_target = effects
    assert [e.place_id for e in effects] == ["", "t0", "t1", "t2"]
    assert {e.design for e in effects} == {"panel"}
    assert {e.estimand for e in effects} == {"rate_ratio"}
    assert {e.sms_level for e in effects} == {3}
    assert pooled.n_pre == round(np.mean([e.n_pre for e in per_target]))
    assert pooled.n_post == round(np.mean([e.n_post for e in per_target]))
    assert pooled.fitted is None and all(e.fitted is not None for e in per_target)
    assert all("a caveat" in e.notes for e in effects)
    assert any("expected post-period counts" in note for note in pooled.notes)
    assert "\n" not in pooled.method and "Wooldridge" in pooled.method
    for e in effects:
        assert e.ci_low < e.estimate < e.ci_high and 0 <= e.p_value <= 1
    assert list(effects_frame(effects).columns) == EFFECT_COLUMNS


# --------------------------------------------------------------------------- the demo study


def test_demo_study_every_target(demo_data):
    study = demo_data.study
    targets = study.targets()
    effects = panel_effects(demo_data, "crimes_total", targets)
    pooled, *per_target = effects
    assert [e.place_id for e in per_target] == [t.id for t in targets]
    assert pooled.place_id == "" and pooled.municipality == ""
    assert [e.municipality for e in per_target] == [t.municipality for t in targets]
    assert "25 never-treated controls" in pooled.method
    truth = pd.read_csv(DEMO_DIR / "ground_truth.csv")
    truth = truth[truth["indicator"] == "crimes_total"].set_index("place_id")["true_rate_ratio"]
    covered = [e.ci_low <= truth[e.place_id] <= e.ci_high for e in per_target]
    assert sum(covered) >= 9, [(e.place_id, e.estimate, truth[e.place_id]) for e in per_target]
    # Falun's Knutpunkten is cut before the police cameras of November 2023.
    knut = next(e for e in per_target if e.place_id == "falun_knutpunkten")
    assert str(knut.fitted["period"].iloc[-1]) == "2023-10"
    assert "series cut before the co-intervention starting 2023-11" in knut.notes
    assert "falun_knutpunkten: series cut before the co-intervention starting 2023-11" in (
        pooled.notes
    )
    assert not any("co-intervention" in n for n in per_target[0].notes)
    # The pooled interval covers the truth averaged with the design's weights.
    weights = np.array([float(n.split()[-1]) for e in per_target for n in e.notes if "weight" in n])
    pooled_truth = np.exp(weights @ np.log([truth[e.place_id] for e in per_target]) / weights.sum())
    assert pooled.ci_low <= pooled_truth <= pooled.ci_high
    # Most targets had a real effect: the pooled decrease is clear.
    assert pooled.ci_high < 1


def test_demo_study_one_municipality(demo_data):
    """The panel of one municipality's targets (its speed is measured by benchmarks/validate.py)."""
    targets = demo_data.study.targets("Sala")
    effects = panel_effects(demo_data, "crimes_violence", targets)
    assert effects[0].municipality == "Sala" and len(effects) == 4


def test_demo_study_errors(demo_data):
    study = demo_data.study
    with pytest.raises(EstimationError, match="at least 2 targets"):
        panel_effects(demo_data, "crimes_total", study.targets()[:1])
    with pytest.raises(ValueError, match="not a target"):
        panel_effects(demo_data, "crimes_total", [study.place("avesta_krylbo")])
    # Keep one control's series only: too few comparison areas.
    controls = [p.id for p in study.places if p.role == "control"]
    series = demo_data.series[~demo_data.series["place_id"].isin(controls[1:])]
    with pytest.raises(EstimationError, match="at least 2 control areas"):
        panel_effects(replace(demo_data, series=series), "crimes_total", study.targets())
    # A control that does not cover the window is left out and named.
    series = demo_data.series[
        ~(
            (demo_data.series["place_id"] == "sala_givare_1")
            & (demo_data.series["period"] < pd.Period("2018-01", freq="M"))
        )
    ]
    effects = panel_effects(
        replace(demo_data, series=series), "crimes_total", study.targets("Sala")
    )
    assert "24 never-treated controls" in effects[0].method
    assert any("sala_givare_1" in note for note in effects[0].notes)


# --------------------------------------------------------------------------- real series


@pytest.mark.slow
@pytest.mark.reference
def test_false_positive_rate_on_real_bra_series(reference_dir):
    """Fake staggered starts in groups of 3 size neighbours among Brå's 290 municipalities.

    The 25 municipalities nearest in size outside the group are the controls;
    two rounds of groups (the cut shifted by one). ``benchmarks/calibrate_panel.py``
    runs more rounds, power and the other inferences.
    """
    from pipeline.inputs.bra import TOTAL, read_bra_folder

    frame = read_bra_folder(reference_dir / "bra_monthly_2013_2016")
    rows = frame[frame["category"] == TOTAL]
    series = {
        name: pd.DataFrame(
            {"value": g["count"].to_numpy(dtype=float), "exposure": 1.0},
            index=pd.PeriodIndex(g["period"], freq="M"),
        )
        for name, g in rows.groupby("municipality", sort=True)
    }
    counts = {name: f.rename(columns={"value": "count"}) for name, f in series.items()}
    order = sorted(series, key=lambda name: (series[name]["value"].mean(), name))
    pooled, per_target = [], []
    for round_ in range(2):
        for index in range(round_, len(order) - 2, 3):
            group = order[index : index + 3]
            rng = np.random.default_rng([2013, round_, index])
            positions = rng.integers(18, 37, size=3)
            starts = {name: series[name].index[p] for name, p in zip(group, positions, strict=True)}
            controls = cal.choose_controls(
                counts, group[1], 25, pool_factor=1, exclude=[group[0], group[2]], seed=round_
            )
            fit = fit_panel({n: series[n] for n in group}, starts, {c: series[c] for c in controls})
            pooled.append(fit.p_value < 0.05)
            per_target += [t.p_value < 0.05 for t in fit.targets]
    assert len(pooled) == 192 and len(per_target) == 576
    assert np.mean(pooled) <= 0.10
    assert 0.01 <= np.mean(per_target) <= 0.10
