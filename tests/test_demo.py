"""The embedded demo study: reproducible, realistic, with a ground truth."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from pipeline.designs.survey import problems_index_effects
from pipeline.inputs.actions import read_actions
from pipeline.inputs.inspections import read_inspections
from pipeline.inputs.study import load_study
from pipeline.inputs.survey import read_survey
from pipeline.methods.implementation import implementation_shares
from pipeline.methods.inspection import inspection_changes, sign_flip_p_value
from pipeline.run.provenance import REPO_ROOT
from pipeline.validation import demo_actions, demo_inspections, demo_problems, demo_survey
from pipeline.validation.demo import (
    DEMO_SEED,
    INSPECTION_STREAM,
    SURVEY_STREAM,
    covid_factor,
    generate_demo,
)
from pipeline.validation.demo_places import PLACES
from pipeline.validation.survey_respondents import controlled_comparison

DEMO_DIR = REPO_ROOT / "data" / "raw" / "trygga_platser_demo"
BEFORE, AFTER = demo_survey.SURVEY_WAVES
# The demo's series.csv before footfall, women's share and vacant premises were added.
CRIME_SERIES_SHA256 = "a60697cc2cd2936e007b3f935d599c97d438dbf3fab40476c4f80510bb59c958"


@pytest.fixture(scope="module")
def demo(demo_study):
    return demo_study.study, demo_study.series


@pytest.fixture(scope="module")
def study():
    return load_study(DEMO_DIR)


def _place_municipality(study) -> dict[str, str]:
    return {p.id: p.municipality for p in study.places}


def _survey_groups(study, municipality: str) -> tuple[list[str], list[str]]:
    """The municipality's target areas and the comparison areas its targets name."""
    targets = [p.id for p in study.targets(municipality)]
    controls = sorted({c for p in study.targets(municipality) for c in p.controls})
    return targets, controls


@pytest.fixture(scope="module")
def all_questions(study):
    return read_survey(
        DEMO_DIR / "survey.csv",
        municipalities=study.municipality_names,
        places=_place_municipality(study),
    )


@pytest.fixture(scope="module")
def survey(all_questions):
    """The safety question's rows (the local problems questions follow them)."""
    return all_questions[all_questions["question"] == demo_survey.SURVEY_QUESTION].reset_index(
        drop=True
    )


@pytest.fixture(scope="module")
def inspections(study):
    return read_inspections(
        DEMO_DIR / "inspections.csv",
        places=_place_municipality(study),
        aspects=demo_inspections.INSPECTION_ASPECTS,
    )


@pytest.fixture(scope="module")
def actions(study):
    return read_actions(
        DEMO_DIR / "actions.csv",
        municipalities=study.municipality_names,
        places=_place_municipality(study),
    )


def test_regenerating_gives_the_committed_files(tmp_path):
    written = generate_demo(DEMO_SEED).write(tmp_path)
    names = sorted(p.name for p in written.iterdir())
    assert names == sorted(p.name for p in DEMO_DIR.iterdir())
    for name in names:
        assert (tmp_path / name).read_bytes() == (DEMO_DIR / name).read_bytes(), name


def test_another_seed_gives_other_counts():
    assert generate_demo(DEMO_SEED + 1).series_csv != generate_demo(DEMO_SEED).series_csv


def test_pilot_municipalities_and_codes(demo):
    study, _ = demo
    codes = {m.name: m.kommunkod for m in study.municipalities}
    assert codes == {"Avesta": "2084", "Falun": "2080", "Hallstahammar": "1961", "Sala": "1981"}
    assert study.synthetic is True
    for target in study.targets():
        assert (
            pd.Timestamp("2020-04-01")
            <= pd.Timestamp(target.intervention_start)
            <= pd.Timestamp("2022-06-30")
        )
    roles = {p.role for p in study.places}
    assert roles == {"target", "control", "buffer"}


def test_series_cover_2017_to_2023_monthly(demo):
    _, series = demo
    assert str(series["period"].min()) == "2017-01"
    assert str(series["period"].max()) == "2023-12"
    sizes = series.groupby(["place_id", "indicator"]).size()
    yearly = sizes.index.get_level_values("indicator") == "vacant_premises"
    assert sizes[~yearly].eq(84).all()
    assert sizes[yearly].eq(7).all()  # one inventory each September


def test_programme_indicators_leave_the_crime_rows_as_they_were():
    """Footfall, women's share and vacant premises come from their own stream, after the
    crime rows: the file without them is the series the demo had before they were added."""
    from pipeline.validation import demo_indicators

    text = (DEMO_DIR / "series.csv").read_text("utf-8")
    lines = text.splitlines()
    added = {i["id"] for i in demo_indicators.INDICATORS}
    is_added = [line.split(",")[1] in added for line in lines[1:]]
    first = is_added.index(True)
    assert all(is_added[first:]) and not any(is_added[:first])
    assert lines[first].split(",")[1] not in added  # the last crime row, header counted
    hashed = hashlib.sha256(("\n".join(lines[: first + 1]) + "\n").encode()).hexdigest()
    assert hashed == CRIME_SERIES_SHA256


def test_total_is_at_least_the_sum_of_listed_categories(demo):
    _, series = demo
    wide = series.pivot_table(index=["place_id", "period"], columns="indicator", values="value")
    listed = wide[["crimes_violence", "crimes_theft", "crimes_vandalism"]].sum(axis=1)
    assert (wide["crimes_total"] >= listed).all()


def test_counts_are_overdispersed_and_seasonal(demo):
    _, series = demo
    total = series[series["indicator"] == "crimes_total"]
    pre = total[total["period"] < pd.Period("2020-03", freq="M")]
    ratios = pre.groupby("place_id")["value"].agg(lambda v: v.var() / v.mean())
    # Overdispersed beyond Poisson (variance/mean = 1), as small-area crime counts are.
    assert ratios.median() > 1.2
    violence = series[
        (series["indicator"] == "crimes_violence")
        & (series["period"] < pd.Period("2020-03", freq="M"))
    ]
    by_month = violence.groupby(violence["period"].dt.month)["value"].mean()
    assert by_month.loc[[6, 7, 8]].mean() > 1.2 * by_month.loc[[12, 1, 2]].mean()


def test_covid_dip_is_visible_everywhere(demo):
    _, series = demo
    total = series[series["indicator"] == "crimes_total"].copy()
    total["year_month"] = total["period"]
    controls = [p["id"] for p in PLACES if p["role"] == "control"]
    spring_2019 = total[
        total["period"].between(pd.Period("2019-04", "M"), pd.Period("2019-09", "M"))
    ]
    spring_2020 = total[
        total["period"].between(pd.Period("2020-04", "M"), pd.Period("2020-09", "M"))
    ]
    before = spring_2019[spring_2019["place_id"].isin(controls)].groupby("place_id")["value"].sum()
    during = spring_2020[spring_2020["place_id"].isin(controls)].groupby("place_id")["value"].sum()
    # Each area's own drift blurs single places; together the comparison areas dip clearly.
    assert during.sum() < 0.9 * before.sum()
    assert (during < before).mean() > 0.7
    factor = covid_factor(pd.period_range("2020-01", "2022-06", freq="M"), 0.3)
    assert factor[0] == 1.0 and factor.min() < 0.8 and factor[-1] == pytest.approx(1.0)


def test_ground_truth_has_no_effect_and_displacement_cases():
    truth = pd.read_csv(DEMO_DIR / "ground_truth.csv")
    by_place = truth.groupby("place_id")["true_rate_ratio"].first()
    assert by_place["hallstahammar_centrum"] == 1.0
    assert by_place["sala_stationen_buffert"] > 1.0
    assert set(truth["role"]) == {"target", "buffer"}
    assert np.all(truth["true_rate_ratio"] > 0)


def test_demo_levels_are_plausible_for_central_places(demo):
    _, series = demo
    totals = series[series["indicator"] == "crimes_total"].groupby("place_id")["value"].mean()
    # A square or a station: a handful to a few dozen reported crimes a month.
    assert totals.between(3, 40).all()


# --------------------------------------------------------------------------
# study.yml sections for the survey, the inspections and the action plans
# --------------------------------------------------------------------------


def test_study_names_the_survey_inspections_and_action_plan(study):
    families = {i.id: i.family for i in study.indicators}
    assert families["unsafe_evening"] == "proportion"
    assert families["inspection_score"] == "score"
    assert study.survey.indicator == "unsafe_evening"
    assert study.survey.question == demo_survey.SURVEY_QUESTION
    assert study.survey.unsafe_answers == (3, 4)
    assert [str(w) for w in study.survey.before] == [BEFORE]
    assert [str(w) for w in study.survey.after] == [AFTER]
    assert study.inspections.indicator == "inspection_score"
    assert str(study.action_plan.project_start) == "2020-04-01"
    assert study.action_plan.horizons_months == (12, 24)


# --------------------------------------------------------------------------
# survey.csv
# --------------------------------------------------------------------------


def test_survey_respondents_live_in_targets_or_their_named_controls(study, survey):
    for municipality in study.municipality_names:
        targets, controls = _survey_groups(study, municipality)
        of_m = survey[survey["municipality"] == municipality]
        assert set(of_m["place_id"]) == set(targets) | set(controls)
        assert not of_m["place_id"].str.contains("givare").any()
        assert 0.55 <= of_m["place_id"].isin(targets).mean() <= 0.65
        per_wave = of_m.groupby("wave").size()
        assert per_wave.between(280, 420).all() and per_wave.nunique() == 2
    assert set(survey["wave"].dt.strftime("%Y-%m-%d")) == {BEFORE, AFTER}
    assert survey["respondent_id"].str.fullmatch(r"(AV|FA|HA|SA)-20(19|22)-\d{4}").all()
    assert not survey[["respondent_id", "wave"]].duplicated().any()


def test_every_survey_cell_has_at_least_30_respondents(survey):
    # Reports flag cells under 30 as unreliable and suppress those under 5.
    cells = survey.groupby(["municipality", "wave", "place_id"]).size()
    assert len(cells) == 2 * 15 and cells.min() >= 30


def test_survey_answers_shares_and_weights_are_realistic(study, survey):
    assert 0.015 <= (survey["answer_code"] == 5).mean() <= 0.05
    assert set(survey["answer_code"].dropna()) == {1, 2, 3, 4, 5}
    valid = survey[survey["answer"].notna()].copy()
    valid["unsafe"] = valid["answer"].isin([3, 4])
    valid["target"] = valid["place_id"].isin([p.id for p in study.targets()])
    before = valid[valid["wave"] == BEFORE]
    weighted = before.groupby(["municipality", "target"])[["unsafe", "weight"]].apply(
        lambda c: np.average(c["unsafe"], weights=c["weight"])
    )
    assert weighted.xs(True, level="target").between(0.25, 0.36).all()
    assert weighted.xs(False, level="target").between(0.15, 0.25).all()
    cv = survey.groupby(["municipality", "wave"])["weight"].agg(lambda w: w.std() / w.mean())
    assert cv.between(0.25, 0.6).all()
    # Expansion weights: each area's respondents add up to its residents, every wave.
    totals = survey.groupby(["wave", "place_id"])["weight"].sum().groupby("place_id").mean()
    residents = pd.Series({a: s["residents"] for a, s in demo_survey.SURVEY_AREAS.items()})
    assert np.allclose(totals.sort_index(), residents.sort_index(), rtol=1e-3)
    # Women and older people answer more often and feel less safe, so the unweighted
    # share overstates the weighted one, a little.
    gap = valid["unsafe"].mean() - np.average(valid["unsafe"], weights=valid["weight"])
    assert 0.0 < gap < 0.05


def test_survey_controlled_comparison_recovers_the_true_log_odds_ratios(study, survey):
    truth = pd.read_csv(DEMO_DIR / "ground_truth_survey.csv").set_index("municipality")
    assert truth["true_log_odds_ratio"].to_dict() == demo_survey.SURVEY_EFFECTS
    # Averaging over sex and age shrinks the odds ratio, but far less than its uncertainty.
    assert np.allclose(truth["marginal_log_odds_ratio"], truth["true_log_odds_ratio"], atol=0.01)
    for municipality in study.municipality_names:
        targets, controls = _survey_groups(study, municipality)
        true = truth.loc[municipality, "true_log_odds_ratio"]
        result = controlled_comparison(
            survey,
            treated=targets,
            comparison=controls,
            group_col="place_id",
            before=BEFORE,
            after=AFTER,
            question=demo_survey.SURVEY_QUESTION,
        )
        low, high = np.log(result.ci_low), np.log(result.ci_high)
        assert low < true < high, (municipality, low, high)
        assert result.cells["n"].min() >= 30


@pytest.mark.slow
def test_survey_intervals_cover_the_truth_over_replicates(study, tmp_path):
    path = tmp_path / "survey.csv"
    covered = []
    for replicate in range(200):
        rng = np.random.default_rng([DEMO_SEED, SURVEY_STREAM, replicate])
        demo_survey.demo_survey(rng).to_csv(path, index=False, lineterminator="\n")
        data = read_survey(
            path, municipalities=study.municipality_names, places=_place_municipality(study)
        )
        for municipality, true in demo_survey.SURVEY_EFFECTS.items():
            targets, controls = _survey_groups(study, municipality)
            result = controlled_comparison(
                data,
                treated=targets,
                comparison=controls,
                group_col="place_id",
                before=BEFORE,
                after=AFTER,
            )
            covered.append(np.log(result.ci_low) < true < np.log(result.ci_high))
    assert 0.90 <= np.mean(covered) <= 0.98


# --------------------------------------------------------------------------
# inspections.csv
# --------------------------------------------------------------------------


def test_every_target_is_inspected_before_its_measures_and_in_spring_2022(study, inspections):
    assert set(inspections["place_id"]) == {p.id for p in study.targets()}
    for target in study.targets():
        of_place = inspections[inspections["place_id"] == target.id]
        dates = sorted(of_place["date"].unique())
        assert len(dates) == 2
        before, after = (pd.Timestamp(d) for d in dates)
        assert before.year == 2020 and before < pd.Timestamp(target.intervention_start)
        assert pd.Timestamp("2022-03-01") <= after <= pd.Timestamp("2022-06-30")
        assert of_place.groupby("date")["aspect"].apply(set).map(len).eq(9).all()
    first = inspections.groupby("place_id")["date"].transform("min") == inspections["date"]
    # Before the measures the places score red or yellow; afterwards some aspects are green.
    assert set(inspections.loc[first, "band"]) <= {"red", "yellow"}
    assert (inspections.loc[~first, "band"] == "green").any()


def test_inspection_mean_change_is_recovered_within_its_sign_flip_uncertainty(inspections):
    truth = pd.read_csv(DEMO_DIR / "ground_truth_inspections.csv").set_index("place_id")
    assert truth.loc["hallstahammar_centrum", "true_mean_change"] == 0.0
    changes = inspection_changes(inspections)
    assert set(changes) == set(truth.index)
    for place, change in changes.items():
        true = truth.loc[place, "true_mean_change"]
        d = change.table["change"].to_numpy(float)
        # The truth lies in the 95 % sign-flip interval: shifted by it, the changes
        # are not rejected as symmetric about zero.
        assert sign_flip_p_value(d - true) > 0.05, place
        if true >= 3:
            assert change.permutation_p_value < 0.05, place


@pytest.mark.slow
def test_inspection_sign_flip_intervals_cover_the_truth_over_replicates():
    covered = []
    for replicate in range(200):
        rng = np.random.default_rng([DEMO_SEED, INSPECTION_STREAM, replicate])
        data = demo_inspections.demo_inspections(rng)
        for place, spec in demo_inspections.INSPECTIONS.items():
            of_place = data[data["place_id"] == place]
            before = of_place.loc[of_place["date"] == spec["before"], "score"].to_numpy()
            after = of_place.loc[of_place["date"] == spec["after"], "score"].to_numpy()
            covered.append(sign_flip_p_value(after - before - spec["change"]) > 0.05)
    # Integer scores make the exact test a little conservative.
    assert 0.93 <= np.mean(covered) <= 0.995


# --------------------------------------------------------------------------
# actions.csv
# --------------------------------------------------------------------------


def test_implementation_shares_mirror_the_pilots_follow_ups(actions):
    shares = implementation_shares(actions, project_start="2020-04-01").to_frame()
    at = shares.set_index(["horizon_months", "municipality"])
    for municipality, (k, n) in {
        "Avesta": (22, 28),
        "Sala": (17, 19),
        "Falun": (18, 30),
        "Hallstahammar": (8, 15),
    }.items():
        assert (at.loc[(24, municipality), "k"], at.loc[(24, municipality), "n"]) == (k, n)
        assert at.loc[(12, municipality), "k"] < k
        assert at.loc[(12, municipality), "n_not_followed_up"] == 0


def test_action_statuses_only_move_forward(study, actions):
    rank = {"planned": 0, "started": 1, "done": 2}
    for (_, _), measure in actions.groupby(["municipality", "measure_id"]):
        assert list(measure["followup_date"].dt.strftime("%Y-%m-%d")) == list(
            demo_actions.ACTION_FOLLOWUPS
        )
        first, last = measure["status"]
        if first == "cancelled":
            assert last == "cancelled"
        elif last != "cancelled":
            assert rank[first] <= rank[last]
        assert (
            measure["description"].nunique() == 1 and measure["place_id"].nunique(dropna=False) == 1
        )
    assert (actions["status"] == "cancelled").any()
    assert actions["place_id"].isna().any()  # some measures cover the whole municipality
    placed = actions.dropna(subset=["place_id"])
    targets = {p.id for p in study.targets()}
    assert placed["place_id"].isin(targets).all()
    assert len(set(actions["category"])) == 8


# --------------------------------------------------------------------------
# the local problems index
# --------------------------------------------------------------------------


def test_every_respondent_answers_the_problem_questions_after_the_safety_question(
    study, survey, all_questions
):
    problems = all_questions[all_questions["question"] != demo_survey.SURVEY_QUESTION]
    assert list(all_questions["question"].iloc[: len(survey)]) == [
        demo_survey.SURVEY_QUESTION
    ] * len(survey)
    index = study.survey.problems_index
    assert set(problems["question"]) == set(index.questions) == set(demo_problems.PROBLEM_QUESTIONS)
    per_respondent = problems.groupby(["respondent_id", "wave"]).size()
    assert len(per_respondent) == len(survey) and (per_respondent == 4).all()
    assert 0.04 <= (problems["answer_code"] == 5).mean() <= 0.08
    # The same respondent, area and weight as their safety answer.
    merged = problems.merge(survey, on=["respondent_id", "wave"], suffixes=("", "_safety"))
    assert (merged["place_id"] == merged["place_id_safety"]).all()
    assert (merged["weight"] == merged["weight_safety"]).all()
    families = {i.id: (i.family, i.better) for i in study.indicators}
    assert families[index.indicator] == ("continuous", "lower")


def test_the_index_difference_in_differences_covers_the_true_effect(demo_study):
    truth = pd.read_csv(DEMO_DIR / "ground_truth_problems_index.csv").set_index("municipality")
    assert truth["true_latent_shift"].to_dict() == demo_problems.PROBLEM_EFFECTS
    for municipality in demo_study.study.municipality_names:
        (effect,), skipped = problems_index_effects(demo_study, municipality)
        assert skipped == [] and effect.primary and effect.estimand == "mean_score_change"
        true = truth.loc[municipality, "true_index_difference"]
        assert effect.ci_low <= true <= effect.ci_high
    # Effects on the latent scale become index points smaller than a third of a point.
    assert (
        truth.loc["Sala", "true_index_difference"] < truth.loc["Falun", "true_index_difference"] < 0
    )
