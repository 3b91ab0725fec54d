"""Pooled difference-in-differences for sparse panels (``pipeline/designs/pooled_did.py``)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pipeline.designs.pooled_did import (
    estimate_pooled_did,
    fit_pooled_did,
    randomisation_p_value,
)
from pipeline.errors import EstimationError
from pipeline.validation.simulation import (
    SPARSE_START,
    SparseScenario,
    pooled_did_coverage,
    pooled_did_level,
)
from pipeline.validation.simulation import sparse_panel as simulated_panel

START = SPARSE_START


def sparse_panel(
    n_targets: int,
    n_controls: int,
    *,
    months: int = 24,
    start: int = 12,
    rate_ratio: float = 1.0,
    seed: int = 0,
    **noise,
):
    """Seeded place series (``pipeline.validation.simulation.sparse_panel``) as the fit takes them."""
    scenario = SparseScenario(n_targets, n_controls, months, start, **noise)
    return simulated_panel(scenario, rate_ratio=rate_ratio, seed=seed)


def statsmodels_ratio(targets, starts, controls) -> float:
    """The common rate ratio of a plain Poisson GLM with unit and month dummies (statsmodels)."""
    rows = []
    for name, frame in [*targets.items(), *controls.items()]:
        for period, value in frame["value"].items():
            treated = name in targets and period >= pd.Period(starts[name], freq="M")
            rows.append((name, str(period), value, float(treated)))
    frame = pd.DataFrame(rows, columns=["unit", "month", "y", "treated"])
    design = pd.get_dummies(frame[["unit", "month"]], drop_first=True, dtype=float)
    design.insert(0, "const", 1.0)
    design["treated"] = frame["treated"]
    fit = sm.GLM(frame["y"], design, family=sm.families.Poisson()).fit(tol=1e-12)
    return float(np.exp(fit.params["treated"]))


def test_ratio_of_sums_equals_plain_poisson_fixed_effects():
    targets, starts, controls = sparse_panel(6, 10, mean=1.0, rate_ratio=0.7, seed=1)
    fit = fit_pooled_did(targets, starts, controls, bootstrap=0)
    assert fit.ratio == pytest.approx(statsmodels_ratio(targets, starts, controls), rel=1e-7)
    assert fit.ratio == pytest.approx(fit.observed / fit.expected, rel=1e-12)
    assert fit.ci_low < fit.ratio < fit.ci_high
    assert (fit.n_targets, fit.n_controls, fit.n_pre, fit.n_post) == (6, 10, 12, 12)


def test_targets_without_events_on_one_side_are_kept():
    """Regression: targets with no event before or after their start were dropped (selection
    on the outcome); here they enter, and the fit is still the plain Poisson one."""
    targets, starts, controls = sparse_panel(5, 12, mean=0.5, seed=2)
    before = targets["t0"].index < START
    targets["t0"] = targets["t0"].assign(value=np.where(before, 0.0, targets["t0"]["value"] + 1))
    targets["t1"] = targets["t1"].assign(value=np.where(before, targets["t1"]["value"] + 1, 0.0))
    fit = fit_pooled_did(targets, starts, controls, bootstrap=0)
    assert fit.n_targets == 5
    assert np.isfinite([fit.ratio, fit.ci_low, fit.ci_high]).all()
    assert fit.ratio == pytest.approx(statsmodels_ratio(targets, starts, controls), rel=1e-7)


def test_short_series_need_no_twelve_months():
    targets, starts, controls = sparse_panel(4, 20, months=9, start=4, mean=0.5, seed=3)
    fit = fit_pooled_did(targets, starts, controls, bootstrap=0)
    assert (fit.n_pre, fit.n_post) == (4, 5)
    assert fit.ratio == pytest.approx(statsmodels_ratio(targets, starts, controls), rel=1e-7)


def test_staggered_starts_are_stacked_against_never_treated_areas():
    """Each start month gets its own sub-panel of its targets and the never-treated areas;
    the estimate equals a plain Poisson fit of the stacked data with unit and month effects
    per stack, so a target that has started never serves as a comparison."""
    targets, _, controls = sparse_panel(4, 8, mean=2.0, rate_ratio=0.6, seed=4)
    starts = {"t0": START, "t1": START, "t2": START + 4, "t3": START + 4}
    fit = fit_pooled_did(targets, starts, controls, bootstrap=0)
    rows = []
    for stack, start in enumerate(sorted(set(starts.values()))):
        members = {n: f for n, f in targets.items() if starts[n] == start}
        for name, frame in [*members.items(), *controls.items()]:
            for period, value in frame["value"].items():
                treated = name in members and period >= start
                rows.append((f"{stack}:{name}", stack, str(period), value, float(treated)))
    frame = pd.DataFrame(rows, columns=["unit", "stack", "month", "y", "treated"])
    # Every unit its own level; each stack's months relative to its first (full rank).
    design = pd.get_dummies(frame["unit"], dtype=float)
    for stack, part in frame.groupby("stack"):
        months = pd.get_dummies(part["month"], dtype=float).iloc[:, 1:]
        design = design.join(months.add_prefix(f"{stack}:")).fillna(0.0)
    design["treated"] = frame["treated"]
    reference = sm.GLM(frame["y"], design, family=sm.families.Poisson()).fit(tol=1e-12)
    assert fit.stacks == 2
    assert fit.ratio == pytest.approx(np.exp(reference.params["treated"]), rel=1e-6)


def _divided_after_start(targets, ratio):
    """The targets' series with their counts from the start divided by ``ratio``."""
    return {
        name: frame.assign(
            value=np.where(frame.index >= START, frame["value"] / ratio, frame["value"])
        )
        for name, frame in targets.items()
    }


def test_interval_ends_are_where_the_test_starts_to_reject():
    """The interval is the inversion of the randomisation test: refitting the data with the
    targets' counts from the start divided by a ratio just inside an end keeps p >= 0.05,
    just outside it gives p < 0.05 (same seed, so the same assignments)."""
    targets, starts, controls = sparse_panel(4, 16, mean=2.0, rate_ratio=0.7, seed=11)
    fit = fit_pooled_did(targets, starts, controls, draws=199, bootstrap=0, seed=5)
    assert fit.ratios_tested >= 4
    for end, outward in ((fit.ci_low, 0.98), (fit.ci_high, 1.02)):
        inside = _divided_after_start(targets, end / outward)
        outside = _divided_after_start(targets, end * outward)
        kept = fit_pooled_did(inside, starts, controls, draws=199, bootstrap=0, seed=5)
        rejected = fit_pooled_did(outside, starts, controls, draws=199, bootstrap=0, seed=5)
        assert kept.p_value >= 0.05 > rejected.p_value


@pytest.mark.parametrize("seed", range(8))
def test_interval_excludes_one_exactly_when_the_test_rejects(seed):
    """Regression: the interval (Conley and Taber's, inverted at the estimate) excluded 1 in 16
    of 100 drifting null panels while the test rejected 9; now it is the test's inversion."""
    targets, starts, controls = sparse_panel(
        5, 15, mean=1.5, rate_ratio=0.75, overdispersion=0.3, drift=0.05, seed=100 + seed
    )
    fit = fit_pooled_did(targets, starts, controls, draws=99, bootstrap=0, seed=seed)
    assert fit.ci_low < fit.ratio < fit.ci_high
    assert (fit.p_value < 0.05) == (not fit.ci_low <= 1.0 <= fit.ci_high)


@pytest.mark.parametrize(("mean", "seed"), [(2.0, 3), (0.5, 4)])
def test_every_assignment_as_the_targets_gives_every_p_value_once(mean, seed):
    """The randomisation test is exact: with every assignment enumerated, taking each in turn
    as the targets' gives the p-values 1/N, 2/N, ..., 1 once each, which holds only if the
    targets' statistic is computed exactly as every other assignment's (same fit, same scale,
    no fit dropped or treated apart)."""
    scenario = SparseScenario(2, 7, mean=mean, overdispersion=0.3, drift=0.05)
    targets, starts, controls = simulated_panel(scenario, seed=seed)
    units = {**targets, **controls}
    p_values = []
    for pair in itertools.combinations(units, 2):
        chosen = {name: units[name] for name in pair}
        others = {name: series for name, series in units.items() if name not in pair}
        p_values.append(randomisation_p_value(chosen, dict.fromkeys(chosen, START), others))
    n = len(p_values)
    assert n == 36
    assert np.sort(p_values) * n == pytest.approx(np.arange(1, n + 1))


def test_p_value_alone_is_the_fits_test():
    """``randomisation_p_value`` is the test the fit reports and inverts: the same p-value of
    no effect, and p < 0.05 exactly for the ratios outside the interval."""
    targets, starts, controls = sparse_panel(
        5, 15, mean=1.5, rate_ratio=0.7, overdispersion=0.3, drift=0.05, seed=21
    )
    fit = fit_pooled_did(targets, starts, controls, bootstrap=0, seed=2)
    assert randomisation_p_value(targets, starts, controls, seed=2) == fit.p_value
    for ratio in (
        fit.ci_low * 0.98,
        fit.ci_low * 1.02,
        0.7,
        fit.ci_high * 0.98,
        fit.ci_high * 1.02,
    ):
        p = randomisation_p_value(targets, starts, controls, ratio=ratio, seed=2)
        assert (p < 0.05) == (not fit.ci_low <= ratio <= fit.ci_high)
    with pytest.raises(ValueError, match="ratio"):
        randomisation_p_value(targets, starts, controls, ratio=0.0)


@pytest.mark.parametrize(("after", "level"), [(3, 1), (3, 3), (30, 3), (300, 1)])
def test_an_assignment_without_events_before_is_as_extreme_as_any(after, level):
    """Regression: an assignment whose units have no events before the start drives its fit
    towards an infinite ratio; where the fit stopped without converging (NaN) it counted as
    the least extreme of all, where it stopped at a large finite ratio as extreme, so the
    same data gave p = 1/45 or 2/45 by chance of convergence."""
    periods = pd.period_range(START - 6, periods=12, freq="M")
    rng = np.random.default_rng(0)

    def frame(values) -> pd.DataFrame:
        return pd.DataFrame({"value": np.asarray(values, float), "exposure": 1.0}, index=periods)

    targets = {"t0": frame([5] * 6 + [1] * 6), "t1": frame([6] * 6 + [2] * 6)}
    controls = {f"c{i}": frame(rng.poisson(level, 12)) for i in range(2, 8)}
    controls |= {"c0": frame([0] * 6 + [after] * 6), "c1": frame([0] * 6 + [after] * 6)}
    starts = dict.fromkeys(targets, START)
    # The targets' decrease is beyond every other assignment's but {c0, c1}'s.
    assert randomisation_p_value(targets, starts, controls) == pytest.approx(2 / 45)
    fit = fit_pooled_did(targets, starts, controls, bootstrap=0)
    assert fit.exact and fit.p_value == pytest.approx(2 / 45)
    assert fit.ci_high < 1.0


def test_few_units_are_enumerated_exactly():
    targets, starts, controls = sparse_panel(2, 6, mean=3.0, seed=5)
    fit = fit_pooled_did(targets, starts, controls, bootstrap=0)
    assert fit.exact and fit.draws == 27 and fit.min_p_value == pytest.approx(1 / 28)
    assert fit.p_value >= fit.min_p_value


def test_refuses_when_the_randomisation_cannot_reach_the_level():
    targets, starts, controls = sparse_panel(2, 3, seed=6)
    with pytest.raises(EstimationError, match="smallest attainable"):
        fit_pooled_did(targets, starts, controls, bootstrap=0)


def test_refuses_without_events_at_the_targets():
    targets, starts, controls = sparse_panel(3, 10, seed=7)
    targets = {n: f.assign(value=0.0) for n, f in targets.items()}
    with pytest.raises(EstimationError, match="no events"):
        fit_pooled_did(targets, starts, controls, bootstrap=0)


def test_effect_row_is_finite_and_says_how():
    targets, starts, controls = sparse_panel(3, 15, mean=1.0, seed=8)
    effect = estimate_pooled_did(targets, starts, controls, indicator="crimes", seed=1)
    assert effect.design == "pooled_did" and effect.place_id == "" and effect.sms_level == 3
    assert np.isfinite([effect.estimate, effect.ci_low, effect.ci_high, effect.p_value]).all()
    assert "randomisation" in effect.method
    assert any("cluster bootstrap" in note for note in effect.notes)


def test_seeded():
    targets, starts, controls = sparse_panel(3, 30, seed=9)
    first = fit_pooled_did(targets, starts, controls, bootstrap=49, seed=3)
    second = fit_pooled_did(targets, starts, controls, bootstrap=49, seed=3)
    assert first == second


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overdispersion", "drift"),
    [(0.0, 0.0), (0.5, 0.0), (0.3, 0.05)],
    ids=["poisson", "od", "drift"],
)
def test_simulated_places_hold_the_level_and_cover(overdispersion, drift):
    """Known truth: 5 targets and 15 areas of 0.4-6 crimes a month, 24 months. Under no
    effect the randomisation test rejects at its level and the interval covers 1 as often
    as the test keeps it; the interval covers a true 0.7."""
    scenario = SparseScenario(overdispersion=overdispersion, drift=drift)
    null = pooled_did_coverage(scenario, replicates=100, effect=1.0)
    effect = pooled_did_coverage(scenario, replicates=100, effect=0.7)
    print(f"pooled DiD: false positives {null['rejection_rate']}, coverage {effect['coverage']}")
    assert null["failed"] == effect["failed"] == 0
    assert null["discordant"] == effect["discordant"] == 0
    assert null["coverage"] == pytest.approx(1 - null["rejection_rate"])
    # Binomial 99 % bounds around 5 % and 95 % with 100 replicates.
    assert null["rejection_rate"] <= 0.12
    assert 0.88 <= effect["coverage"] <= 1.0


@pytest.mark.slow
def test_drifting_places_hold_the_level_over_many_replicates():
    """12 of the first 100 drifting null replicates were significant, which looked like a
    broken level; the units are exchangeable, so the test is exact, and over more replicates
    (the same seeds first) it rejects as an exact test with 199 draws does (4.5 %)."""
    scenario = SparseScenario(overdispersion=0.3, drift=0.05)
    level = pooled_did_level(scenario, replicates=600, seed=2004)
    print(f"pooled DiD with drift: {level}")
    assert level["failed"] == 0
    # Binomial 99.9 % bounds around 4.5 %, 1 % and 10 % with 600 replicates.
    assert level["rejection_rate"] <= 0.073
    assert level["at_most_01"] <= 0.025
    assert level["at_most_10"] <= 0.14


# --------------------------------------------------------------------------- Buenos Aires


def ditella_blocks(reference_dir):
    """Di Tella & Schargrodsky's (2004) monthly car thefts per block, April-December 1994.

    Targets: the 37 blocks with a Jewish institution, guarded by police from the attack
    of 18 July 1994; comparison areas: the blocks two or more blocks away from any
    institution (the paper finds no effect one block away, but they are not clean
    controls). Whole July counts as before (the attack came in its second half), so
    the start is August: 4 months before, 5 after. Thefts on corners are shared as
    quarters; the counts are in quarter-thefts, which leaves every ratio unchanged.
    """
    path = reference_dir / "ditella_schargrodsky_2004" / "MonthlyPanel.dta"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    frame = pd.read_stata(path)
    frame = frame[frame["mes"].between(4, 12)]
    frame = frame.assign(
        period=[f"1994-{int(m):02d}" for m in frame["mes"]],
        value=(4 * frame["totrob"]).round().astype(int),
        place_id=[f"block_{int(b)}" for b in frame["observ"]],
    )
    blocks = frame.groupby("place_id").agg(
        institution=("institu1", "first"),
        distance=("distanci", "first"),
        barrio=("barrio", "first"),
    )
    targets = blocks.index[blocks["institution"] == 1].tolist()
    controls = blocks.index[(blocks["institution"] == 0) & (blocks["distance"] >= 2)].tolist()
    return frame, blocks, targets, controls


def _as_series(frame, ids):
    out = {}
    for place_id, rows in frame[frame["place_id"].isin(ids)].groupby("place_id"):
        index = pd.PeriodIndex(rows["period"], freq="M")
        out[place_id] = pd.DataFrame(
            {"value": rows["value"].to_numpy(float), "exposure": 1.0}, index=index
        ).sort_index()
    return out


@pytest.mark.reference
@pytest.mark.slow
def test_buenos_aires_subset_equals_plain_poisson_fixed_effects(reference_dir):
    frame, blocks, targets, controls = ditella_blocks(reference_dir)
    # One neighbourhood keeps the dummy-variable fit small.
    barrio = blocks.loc[targets, "barrio"].mode()[0]
    targets = [t for t in targets if blocks.loc[t, "barrio"] == barrio]
    nearby = [c for c in controls if blocks.loc[c, ["distance", "barrio"]].tolist() == [2, barrio]]
    target_series, control_series = _as_series(frame, targets), _as_series(frame, nearby)
    starts = dict.fromkeys(target_series, "1994-08")
    fit = fit_pooled_did(target_series, starts, control_series, bootstrap=0, draws=99)
    assert fit.ratio == pytest.approx(
        statsmodels_ratio(target_series, starts, control_series), rel=1e-7
    )


@pytest.mark.reference
@pytest.mark.slow
def test_buenos_aires_study_gets_the_published_pooled_decrease(tmp_path, reference_dir):
    """Regression: this study got pre/post and relative-effect rows for only the targets
    with thefts on both sides, no panel, and pooled_effects.csv meta-pooled those
    outcome-selected survivors. Di Tella & Schargrodsky (2004, Table 3) report that
    police protection cut car thefts in the protected block by about 75 %, significant
    at the 1 % level; the pooled estimate must agree in direction and significance."""
    import yaml

    from pipeline.evaluation.municipality import evaluate_municipality
    from pipeline.evaluation.study import study_results
    from pipeline.inputs.prepare import prepare_study

    frame, blocks, targets, controls = ditella_blocks(reference_dir)
    folder = tmp_path / "ditella"
    folder.mkdir()
    places = [
        {
            "id": t,
            "name": t,
            "municipality": "Buenos Aires",
            "role": "target",
            "intervention_start": "1994-08-01",
            "controls": [c for c in controls if blocks.loc[c, "barrio"] == blocks.loc[t, "barrio"]],
        }
        for t in targets
    ] + [{"id": c, "name": c, "municipality": "Buenos Aires", "role": "control"} for c in controls]
    study = {
        "title": "Di Tella & Schargrodsky (2004): police protection and car theft",
        "synthetic": False,
        "municipalities": [{"name": "Buenos Aires", "kommunkod": "0000"}],
        "places": places,
        "indicators": [
            {
                "id": "car_theft",
                "label_sv": "Bilstölder (fjärdedelar)",
                "label_en": "Car thefts (quarters)",
                "family": "count",
                "better": "lower",
                "unit": "quarter-thefts per month",
            }
        ],
    }
    (folder / "study.yml").write_text(yaml.safe_dump(study, allow_unicode=True), "utf-8")
    series = frame[frame["place_id"].isin(targets + controls)]
    series.assign(indicator="car_theft")[["place_id", "indicator", "period", "value"]].to_csv(
        folder / "series.csv", index=False
    )
    data = prepare_study(folder, tmp_path / "processed")
    evaluation = evaluate_municipality(data, "Buenos Aires")
    effects = evaluation.to_frame()
    pooled = effects[effects["design"] == "pooled_did"]
    assert len(pooled) == 1
    row = pooled.iloc[0]
    assert "37 targets" in row["method"]
    assert row["estimate"] < 0.5 and row["ci_high"] < 1 and row["p_value"] < 0.01
    for column in ("estimate", "ci_low", "ci_high"):
        assert np.isfinite(effects[column].dropna()).all()

    # The study level never meta-pools the outcome-selected survivors (the places' own
    # ratios): count indicators are pooled through one joint model only.
    # Its programme-level row is the pooled difference-in-differences of all 37 targets
    # (the panel refuses: 4 months before the start).
    results = study_results(data, effects, ["Buenos Aires"])
    assert not results.pooled["design"].str.startswith("meta").any()
    programme = results.pooled[results.pooled["indicator"] == "car_theft"]
    assert programme["design"].tolist() == ["pooled_did"]
    row = programme.iloc[0]
    assert row["k"] == 37 and row["estimate"] < 0.5 and row["ci_high"] < 1
    assert row["p_value"] < 0.01 and "panel of the targets could not be fitted" in row["notes"]
