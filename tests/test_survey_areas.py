"""The survey difference-in-differences with areas as the unit, and the proportional-odds check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.methods.survey_areas import (
    area_difference_in_differences,
    area_log_odds_standard_error,
    proportional_odds_check,
)
from pipeline.validation.survey_respondents import controlled_comparison
from pipeline.validation.survey_simulation import survey_inference_study
from pipeline.validation.synthetic_survey import clustered_survey

BEFORE, AFTER = "2019-10-01", "2022-10-01"


def equal_design(shares: dict[tuple[str, int], float], n: int = 40) -> pd.DataFrame:
    """Equal weights and equal respondents per area and period, with exact shares."""
    rows = []
    for (area, after), share in shares.items():
        k = int(round(share * n))
        for i in range(n):
            rows.append(
                {
                    "respondent_id": f"{area}-{after}-{i}",
                    "municipality": "M",
                    "place_id": area,
                    "wave": pd.Timestamp(AFTER if after else BEFORE),
                    "question": "q",
                    "answer": 3 if i < k else 1,
                    "weight": 1.0,
                }
            )
    return pd.DataFrame(rows)


def test_equal_areas_reduce_to_the_two_sample_t_test_on_the_areas_changes():
    before = {"t0": 0.40, "t1": 0.30, "t2": 0.50, "c0": 0.35, "c1": 0.45}
    after = {"t0": 0.30, "t1": 0.25, "t2": 0.35, "c0": 0.40, "c1": 0.40}
    shares = {**{(a, 0): s for a, s in before.items()}, **{(a, 1): s for a, s in after.items()}}
    result = area_difference_in_differences(
        equal_design(shares), treated=["t0", "t1", "t2"], before=BEFORE, after=AFTER
    )
    change = {a: 100 * (after[a] - before[a]) for a in before}
    d_t = [change[a] for a in ("t0", "t1", "t2")]
    d_c = [change[a] for a in ("c0", "c1")]
    test = stats.ttest_ind(d_t, d_c)  # pooled variance, 3 degrees of freedom
    estimate, low, high, p = result.values("share_difference_pp")
    assert estimate == pytest.approx(np.mean(d_t) - np.mean(d_c))
    assert p == pytest.approx(test.pvalue)
    assert result.df == 3
    half = stats.t.ppf(0.975, 3) * estimate / test.statistic
    assert (low, high) == pytest.approx((estimate - abs(half), estimate + abs(half)))
    assert result.arms.loc["target", "share_before"] == pytest.approx(0.40)
    assert result.arms.loc["comparison", "change_pp"] == pytest.approx(0.0, abs=1e-9)
    assert "target areas: 40.0 % unsafe before, 30.0 % after (-10.0 points)" in result.arm_texts()


def test_pooled_arm_shares_follow_the_weights():
    data, _ = clustered_survey(seed=3, n_target=2, n_comparison=2)
    result = area_difference_in_differences(data, treated=["t0", "t1"], before=BEFORE, after=AFTER)
    frame = data[data["place_id"].str.startswith("t") & (data["wave"] == pd.Timestamp(AFTER))]
    unsafe = frame["answer"].isin([3, 4])
    expected = np.average(unsafe, weights=frame["weight"])
    assert result.arms.loc["target", "share_after"] == pytest.approx(expected)
    assert result.arms.loc["target", "n_after"] == len(frame)


def test_one_area_per_arm_is_refused_with_a_reason():
    data, _ = clustered_survey(seed=4, n_target=1, n_comparison=1)
    result = area_difference_in_differences(data, treated="t0", before=BEFORE, after=AFTER)
    estimate, low, high, p = result.values("share_difference_pp")
    assert np.isfinite(estimate) and np.isnan([low, high, p]).all()
    assert "cannot be estimated" in result.reason and result.df == 0
    assert "cannot be estimated" in result.summary()
    se, df = area_log_odds_standard_error(data, treated="t0", before=BEFORE, after=AFTER)
    assert np.isnan(se) and df == 0


def test_repeated_respondents_are_one_cluster_in_the_proportional_odds_check():
    """Duplicating every row as the same respondent leaves the check's variance as it was;
    as separate people it would halve it."""
    data, _ = clustered_survey(seed=5, n_target=2, n_comparison=1, repeat_share=0.0)
    common = dict(treated=["t0", "t1"], before=BEFORE, after=AFTER)
    once = proportional_odds_check(data, **common)
    twice = proportional_odds_check(pd.concat([data, data]), **common)
    assert twice.cuts["std_error"].to_numpy() == pytest.approx(once.cuts["std_error"].to_numpy())
    strangers = pd.concat([data, data.assign(respondent_id=data["respondent_id"] + "b")])
    apart = proportional_odds_check(strangers, **common)
    ratio = apart.cuts["std_error"].to_numpy() / once.cuts["std_error"].to_numpy()
    assert ratio == pytest.approx(np.full(len(ratio), 1 / np.sqrt(2)))


def test_proportional_odds_check_matches_separate_logits_and_flags_a_change_at_one_cut():
    data, _ = clustered_survey(seed=6, n_target=2, n_comparison=2, respondents=(300, 300))
    common = dict(treated=["t0", "t1"], before=BEFORE, after=AFTER)
    check = proportional_odds_check(data, **common)
    for cut in (2, 3, 4):
        unsafe = tuple(range(cut, 5))
        model = controlled_comparison(
            data.assign(answer=data["answer"].where(data["answer"] < 5, 4)),
            unsafe=unsafe,
            group_col="place_id",
            **common,
        )
        row = check.cuts.set_index("cut").loc[cut]
        assert row["odds_ratio"] == pytest.approx(model.estimate, rel=1e-6)
    # Move only "very unsafe" (4) answers to 3 in the target areas after: the top cut changes alone.
    moved = data.copy()
    later = moved["place_id"].str.startswith("t") & (moved["wave"] == pd.Timestamp(AFTER))
    rng = np.random.default_rng(0)
    flip = later & (moved["answer"] == 4) & (rng.random(len(moved)) < 0.6)
    moved.loc[flip, "answer"] = 3
    rejected = proportional_odds_check(moved, **common)
    assert not rejected.holds and "rejected" in rejected.note()
    assert rejected.p_value < check.p_value


@pytest.mark.slow
def test_area_inference_holds_its_error_rates_with_area_by_wave_shocks():
    """The area-level difference-in-differences keeps false positives at most 7 % and
    coverage 93-97 % with area-by-wave shocks from 0 to logit SD 0.3."""
    table = survey_inference_study(
        reps=200,
        arms=((2, 2), (3, 2)),
        shock_sds=(0.0, 0.15, 0.3),
        effects=(0.0,),
        respondent_level=False,
    )
    assert (table["reps"] == 200).all() and len(table) == 12
    assert (table["rejection_rate"] <= 0.07).all()
    for _, rows in table.groupby("inference"):
        assert 0.93 <= rows["coverage"].mean() <= 0.97


@pytest.mark.slow
def test_respondent_level_errors_reject_too_often_with_area_by_wave_shocks():
    """The bug: the logistic regression with HC1 errors treated respondents as independent
    although answers cluster by area and wave, and called far too many null effects
    significant."""
    table = survey_inference_study(reps=150, arms=((2, 2),), shock_sds=(0.3,), effects=(0.0,))
    rate = table.set_index("inference")["rejection_rate"]
    assert rate["respondents: HC1 log odds"] > 0.12
    assert rate["areas: log odds"] <= 0.07


@pytest.mark.slow
def test_area_inference_covers_a_true_effect():
    table = survey_inference_study(
        reps=150, arms=((3, 3),), shock_sds=(0.15,), effects=(-0.5,), respondent_level=False
    )
    assert (table["coverage"].between(0.93, 0.97)).all()
    # About -10 points with 3 areas per arm on 4 degrees of freedom: power is low but above
    # the 5 % a null effect would give.
    assert (table["rejection_rate"] > 0.10).all()
