"""Tests of the survey reader and the perceived-safety statistics."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from pipeline.errors import EstimationError, ValidationError
from pipeline.inputs.survey import read_survey
from pipeline.methods import survey as sv
from pipeline.methods.survey_microdata import suppress_small_cells
from pipeline.methods.survey_ordinal import ordinal_model
from pipeline.report.figures_outcomes import plot_shares
from pipeline.validation.survey_respondents import controlled_comparison
from pipeline.validation.synthetic_survey import synthetic_survey

MUNICIPALITIES = ("Avesta", "Falun", "Hallstahammar", "Sala")
HEADER = "respondent_id;municipality;place_id;wave;question;answer;weight\n"


def write(tmp_path, text: str, name: str = "survey.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def kish_descr(y, w):
    """DescrStatsW with weights rescaled to sum to Kish's effective n.

    The weighted variance of a 0/1 variable is p(1-p), so the standard error
    of the mean on these weights is the design-effect standard error
    sqrt(p(1-p)/n_eff), reached by an independent route.
    """
    w = np.asarray(w, float)
    n_eff = w.sum() ** 2 / (w**2).sum()
    return DescrStatsW(np.asarray(y, float), weights=w * n_eff / w.sum(), ddof=0), n_eff


# --------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------


def test_read_survey_semicolon_decimal_comma_cp1252(tmp_path):
    text = (
        HEADER
        + "r1;Falun;Årummet;2021-10-01;q1;3;1,25\n"
        + "r2;falun;;2021-10-01;q1;5;0,8\n"
        + "\n"  # blank lines are skipped but still counted
        + "r3;Sala;;2021-10-01;q1;1;2\n"
    )
    path = write(tmp_path, text, encoding="cp1252")
    data = read_survey(path, municipalities=MUNICIPALITIES, places={"Årummet": "Falun"})
    assert list(data["municipality"]) == ["Falun", "Falun", "Sala"]
    assert data["place_id"].iloc[0] == "Årummet"
    assert pd.isna(data["place_id"].iloc[1])
    assert data["weight"].tolist() == [1.25, 0.8, 2.0]
    assert data["answer_code"].tolist() == [3, 5, 1]
    assert pd.isna(data["answer"].iloc[1])  # code 5 is missing
    assert data["wave"].iloc[0] == pd.Timestamp("2021-10-01")


def test_read_survey_utf8_bom_comma_separated(tmp_path):
    text = HEADER.replace(";", ",") + "r1,Avesta,,2021-10-01,q1,4,1.5\n"
    path = write(tmp_path, text, encoding="utf-8-sig")
    data = read_survey(path, municipalities=MUNICIPALITIES)
    assert data.loc[0, "respondent_id"] == "r1"
    assert data.loc[0, "answer"] == 4


def test_read_survey_reports_every_problem_with_file_row_and_column(tmp_path):
    text = (
        HEADER
        + "r1;Avesta;;2021-10-01;q1;3;1\n"  # line 2: fine
        + "r2;Borlänge;;2021-10-01;q1;3;1\n"  # line 3: unknown municipality
        + "r3;Avesta;;2021-13-01;q1;3;1\n"  # line 4: bad date
        + "r4;Avesta;;01/10/2021;q1;3;1\n"  # line 5: not ISO
        + "r5;Avesta;;2021-10-01;q1;7;1\n"  # line 6: answer outside scale
        + "r6;Avesta;;2021-10-01;q1;2;0\n"  # line 7: weight not positive
        + "r7;Avesta;;2021-10-01;q1;2;abc\n"  # line 8: weight not a number
        + "r1;Avesta;;2021-10-01;q1;4;1\n"  # line 9: duplicate of line 2
        + "r8;Avesta;P9;2021-10-01;q1;2;1\n"  # line 10: unknown place
    )
    path = write(tmp_path, text)
    with pytest.raises(ValidationError) as info:
        read_survey(path, municipalities=MUNICIPALITIES, places=["P1"])
    message = str(info.value)
    for row, column in [
        (3, "municipality"),
        (4, "wave"),
        (5, "wave"),
        (6, "answer"),
        (7, "weight"),
        (8, "weight"),
        (9, "respondent_id"),
        (10, "place_id"),
    ]:
        assert f"{path}, row {row}, column '{column}'" in message
    assert "Borlänge" in message
    assert "first on line 2" in message
    assert len(info.value.problems) == 8


def test_read_survey_respondent_weight_must_not_change_within_a_wave(tmp_path):
    text = HEADER + "r1;Avesta;;2021-10-01;q1;3;1\n" + "r1;Avesta;;2021-10-01;q2;3;2\n"
    path = write(tmp_path, text)
    with pytest.raises(ValidationError) as info:
        read_survey(path, municipalities=MUNICIPALITIES)
    assert f"{path}, row 3, column 'weight'" in str(info.value)


def test_read_survey_missing_column_and_field_count(tmp_path):
    path = write(
        tmp_path, "respondent_id,municipality,wave,question,answer\nr1,Avesta,2021-10-01,q1,3\n"
    )
    with pytest.raises(ValidationError) as info:
        read_survey(path, municipalities=MUNICIPALITIES)
    assert f"{path}, row 1, column 'weight': required column 'weight' is missing" in str(info.value)

    # An unquoted decimal comma in a comma-separated file splits the field.
    path = write(tmp_path, HEADER.replace(";", ",") + "r1,Avesta,,2021-10-01,q1,3,1,5\n", "b.csv")
    with pytest.raises(ValidationError) as info:
        read_survey(path, municipalities=MUNICIPALITIES)
    assert f"{path}, row 2:" in str(info.value)
    assert "decimal comma" in str(info.value)


def test_read_survey_refuses_a_decimal_comma_in_a_comma_separated_file(tmp_path):
    # Quoted it is one cell, but "1,500" could be 1.5 or 1500: the study rule refuses it.
    path = write(tmp_path, HEADER.replace(";", ",") + 'r1,Avesta,,2021-10-01,q1,3,"1,5"\n')
    with pytest.raises(ValidationError) as info:
        read_survey(path, municipalities=MUNICIPALITIES)
    (problem,) = info.value.problems
    assert (problem.row, problem.column) == (2, "weight")
    assert "comma-separated file" in problem.message and "';'" in problem.message


def test_read_survey_excel_unicode_text(tmp_path):
    # Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated.
    text = HEADER.replace(";", "\t") + "r1\tFalun\t\t2021-10-01\tq1\t3\t1,25\n"
    data = read_survey(write(tmp_path, text, encoding="utf-16"), municipalities=MUNICIPALITIES)
    assert data["weight"].tolist() == [1.25] and data["municipality"].tolist() == ["Falun"]


def test_place_must_belong_to_the_rows_municipality(tmp_path):
    path = write(tmp_path, HEADER + "r1;Sala;Knutpunkten;2021-10-01;q1;3;1\n")
    with pytest.raises(ValidationError, match="belongs to Falun"):
        read_survey(path, municipalities=MUNICIPALITIES, places={"Knutpunkten": "Falun"})


# --------------------------------------------------------------------------
# (a) weighted share with Kish's design effect
# --------------------------------------------------------------------------


def hand_frame(weights, answers, group="Avesta", wave="2021-10-01"):
    return pd.DataFrame(
        {
            "respondent_id": [f"r{i}" for i in range(len(answers))],
            "municipality": group,
            "wave": pd.Timestamp(wave),
            "question": "q1",
            "answer": pd.array(answers, dtype="Int64"),
            "weight": np.asarray(weights, float),
        }
    )


def test_weighted_share_and_kish_interval_by_hand():
    # weights 1, 2, 3, 4; the one with weight 2 feels safe: p = 8/10, n_eff = 100/30.
    data = hand_frame([1, 2, 3, 4, 1], [3, 1, 4, 3, 5])
    row = sv.share_unsafe(data, min_n=1).table.iloc[0]
    assert row["n"] == 4 and row["n_missing"] == 1
    assert row["share"] == pytest.approx(0.8)
    assert row["n_eff"] == pytest.approx(10 / 3)
    assert row["deff"] == pytest.approx(1.2)  # 1 + CV² of the weights (population CV)
    z, n, p = 1.959963984540054, 10 / 3, 0.8
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert row["ci_low"] == pytest.approx(centre - half)
    assert row["ci_high"] == pytest.approx(centre + half)


def test_weighted_share_matches_descrstatsw_and_statsmodels_wilson():
    data = synthetic_survey(seed=3, n=120)
    result = sv.share_unsafe(data)
    assert set(result.table.columns).isdisjoint({"respondent_id", "weight", "answer"})
    for row in result.table.itertuples(index=False):
        cell = data.loc[(data["municipality"] == row.municipality) & (data["wave"] == row.wave)]
        cell = cell.loc[cell["answer"].notna()]
        y = cell["answer"].isin([3, 4]).to_numpy(float)
        descr, n_eff = kish_descr(y, cell["weight"])
        assert row.share == pytest.approx(descr.mean)
        assert row.n_eff == pytest.approx(n_eff)
        # DescrStatsW.std_mean divides by sqrt(Σw - 1); the binomial SE divides by sqrt(n_eff).
        expected_se = descr.std_mean * np.sqrt((n_eff - 1) / n_eff)
        assert np.sqrt(row.share * (1 - row.share) / row.n_eff) == pytest.approx(expected_se)
        lo, hi = proportion_confint(row.share * n_eff, n_eff, alpha=0.05, method="wilson")
        assert (row.ci_low, row.ci_high) == pytest.approx((lo, hi))


def test_logit_interval_on_effective_n():
    data = synthetic_survey(seed=4, n=80)
    row = sv.share_unsafe(data, method="logit").table.iloc[0]
    half = 1.959963984540054 / np.sqrt(row["n_eff"] * row["share"] * (1 - row["share"]))
    logit = np.log(row["share"] / (1 - row["share"]))
    assert row["ci_low"] == pytest.approx(1 / (1 + np.exp(-(logit - half))))
    assert row["ci_high"] == pytest.approx(1 / (1 + np.exp(-(logit + half))))


def test_equal_weights_give_the_plain_wilson_interval():
    data = synthetic_survey(seed=5, n=60, weight_sigma=0.0)
    row = sv.share_unsafe(data).table.iloc[0]
    assert row["n_eff"] == pytest.approx(row["n"])
    k = row["share"] * row["n"]
    assert k == pytest.approx(round(k))
    lo, hi = proportion_confint(round(k), row["n"], method="wilson")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))


def test_question_must_be_chosen_when_several():
    data = pd.concat(
        [hand_frame([1] * 5, [3] * 5), hand_frame([1] * 5, [3] * 5).assign(question="q2")]
    )
    with pytest.raises(ValueError, match="choose one"):
        sv.share_unsafe(data)
    assert sv.share_unsafe(data, question="q2", min_n=1).question == "q2"


# --------------------------------------------------------------------------
# small cells
# --------------------------------------------------------------------------


def test_suppress_small_cells_blanks_and_flags():
    table = pd.DataFrame(
        {
            "group": ["a", "b", "c"],
            "n": [3, 10, 40],
            "share": [0.5, 0.4, 0.3],
            "ci_low": [0.1, 0.2, 0.25],
        }
    )
    out = suppress_small_cells(table, "n")
    assert out["share"].isna().tolist() == [True, False, False]
    assert out["ci_low"].isna().tolist() == [True, False, False]
    assert out["n"].tolist() == [3, 10, 40]  # the count stays, so a reader sees why
    assert out["suppressed"].tolist() == [True, False, False]
    assert out["unreliable"].tolist() == [False, True, False]
    assert table["share"].notna().all()  # the input is not changed


def test_suppress_uses_the_smallest_of_several_counts():
    table = pd.DataFrame({"n_before": [50, 50], "n_after": [4, 50], "diff": [1.0, 2.0]})
    out = suppress_small_cells(table, ["n_before", "n_after"])
    assert out["diff"].isna().tolist() == [True, False]


def test_share_estimates_of_small_cells_are_suppressed():
    data = pd.concat(
        [hand_frame([1] * 4, [3, 3, 1, 4]), hand_frame([1] * 40, [3] * 10 + [1] * 30, "Sala")]
    )
    table = sv.share_unsafe(data).table.set_index("municipality")
    assert np.isnan(table.loc["Avesta", "share"]) and table.loc["Avesta", "suppressed"]
    assert table.loc["Sala", "share"] == pytest.approx(0.25)
    assert "suppressed" in sv.share_unsafe(data).summary()


# --------------------------------------------------------------------------
# (b) before/after change
# --------------------------------------------------------------------------


def test_change_matches_newcombe_and_woolf_from_statsmodels():
    data = synthetic_survey(seed=6, n=150)
    change = sv.share_change(data, before="2019-10-01", after="2021-10-01")
    shares = sv.share_unsafe(data).table
    for row in change.table.itertuples(index=False):
        s = shares.loc[shares["municipality"] == row.municipality].sort_values("wave")
        (p0, p1), (m0, m1) = s["share"].to_numpy(), s["n_eff"].to_numpy()
        assert row.diff_pp == pytest.approx(100 * (p1 - p0))
        lo, hi = confint_proportions_2indep(
            p1 * m1, m1, p0 * m0, m0, method="newcomb", compare="diff"
        )
        assert (row.diff_low_pp, row.diff_high_pp) == pytest.approx((100 * lo, 100 * hi))
        assert row.odds_ratio == pytest.approx((p1 / (1 - p1)) / (p0 / (1 - p0)))


def test_change_odds_ratio_equals_woolf_for_equal_weights():
    data = synthetic_survey(seed=7, n=100, weight_sigma=0.0, missing=0.0)
    row = sv.share_change(data, before="2019-10-01", after="2021-10-01", by=None).table.iloc[0]
    valid = data.assign(y=data["answer"].isin([3, 4]))
    after = valid["wave"] == pd.Timestamp("2021-10-01")
    a, b = valid.loc[after, "y"].sum(), (~valid.loc[after, "y"]).sum()
    c, d = valid.loc[~after, "y"].sum(), (~valid.loc[~after, "y"]).sum()
    table = Table2x2(np.array([[a, b], [c, d]], dtype=float))
    assert row["odds_ratio"] == pytest.approx(table.oddsratio)
    assert (row["or_low"], row["or_high"]) == pytest.approx(table.oddsratio_confint())
    assert row["p_value"] == pytest.approx(table.log_oddsratio_pvalue())


def test_change_rejects_unknown_or_overlapping_waves():
    data = synthetic_survey(seed=1, n=20)
    with pytest.raises(ValueError, match="no answers in wave"):
        sv.share_change(data, before="2018-10-01", after="2021-10-01")
    with pytest.raises(ValueError, match="both before and after"):
        sv.share_change(data, before="2019-10-01", after=["2019-10-01", "2021-10-01"])


# --------------------------------------------------------------------------
# (c) weighted logistic regression with a comparison group
# --------------------------------------------------------------------------


def test_logit_odds_ratio_matches_statsmodels_glm_and_hc1():
    data = synthetic_survey(seed=8, n=150)
    result = controlled_comparison(
        data, treated=["Avesta"], before="2019-10-01", after="2021-10-01"
    )
    frame = data.loc[data["answer"].notna()].copy()
    y = frame["answer"].isin([3, 4]).to_numpy(float)
    after = (frame["wave"] == pd.Timestamp("2021-10-01")).to_numpy(float)
    treated = (frame["municipality"] == "Avesta").to_numpy(float)
    X = np.column_stack([np.ones_like(y), treated, after, treated * after])
    w = frame["weight"].to_numpy()
    direct = sm.GLM(y, X, family=sm.families.Binomial(), var_weights=w).fit(cov_type="HC0")
    assert result.estimate == pytest.approx(np.exp(direct.params[3]), rel=1e-6)

    # The sandwich by hand: bread from the weighted Hessian, meat from weighted scores, times n/(n-k).
    mu = direct.fittedvalues
    bread = np.linalg.inv((X * (w * mu * (1 - mu))[:, None]).T @ X)
    scores = X * (w * (y - mu))[:, None]
    n, k = X.shape
    cov = bread @ scores.T @ scores @ bread * n / (n - k)
    se = np.sqrt(cov[3, 3])
    assert result.params["std_error"].iloc[3] == pytest.approx(se, rel=1e-6)
    assert result.ci_low == pytest.approx(
        np.exp(direct.params[3] - 1.959963984540054 * se), rel=1e-6
    )
    assert result.n == len(frame)
    assert "SMS level 3" in result.summary()


def test_saturated_logit_equals_ratio_of_before_after_odds_ratios():
    data = synthetic_survey(seed=9, n=150)
    # a single treated group may be given as a plain string
    result = controlled_comparison(data, treated="Avesta", before="2019-10-01", after="2021-10-01")
    change = sv.share_change(data, before="2019-10-01", after="2021-10-01").table.set_index(
        "municipality"
    )
    ratio = change.loc["Avesta", "odds_ratio"] / change.loc["Falun", "odds_ratio"]
    assert result.estimate == pytest.approx(ratio, rel=1e-6)


def test_logit_raises_when_a_cell_is_all_unsafe():
    data = pd.concat(
        [
            hand_frame([1] * 6, [3] * 6, "Avesta", "2019-10-01"),
            hand_frame([1] * 6, [1, 3, 1, 3, 1, 3], "Avesta", "2021-10-01"),
            hand_frame([1] * 6, [1, 3, 1, 3, 1, 3], "Falun", "2019-10-01"),
            hand_frame([1] * 6, [1, 3, 1, 3, 1, 3], "Falun", "2021-10-01"),
        ]
    )
    with pytest.raises(EstimationError, match="all of the 6 respondents are unsafe"):
        controlled_comparison(data, treated=["Avesta"], before="2019-10-01", after="2021-10-01")


# --------------------------------------------------------------------------
# (d) proportional odds
# --------------------------------------------------------------------------


def ordinal_inputs(data):
    frame = data.loc[data["answer"].notna()]
    after = (frame["wave"] == pd.Timestamp("2021-10-01")).to_numpy(float)
    treated = (frame["municipality"] == "Avesta").to_numpy(float)
    X = np.column_stack([treated, after, treated * after])
    return frame, frame["answer"].astype(int).to_numpy(), X


def test_ordinal_with_equal_weights_reproduces_orderedmodel():
    data = synthetic_survey(seed=10, n=120, weight_sigma=0.0)
    result = ordinal_model(
        data, treated=["Avesta"], before="2019-10-01", after="2021-10-01", cov_type="HC0"
    )
    _, endog, X = ordinal_inputs(data)
    direct = OrderedModel(endog, X, distr="logit").fit(method="bfgs", disp=False, cov_type="HC0")
    effects = result.params.iloc[:3]
    assert effects["coef"].to_numpy() == pytest.approx(direct.params[:3], abs=1e-4)
    assert effects["std_error"].to_numpy() == pytest.approx(direct.bse[:3], rel=1e-3)
    assert result.estimate == pytest.approx(np.exp(direct.params[2]), rel=1e-3)


def test_ordinal_integer_weights_reproduce_expanded_data_coefficients():
    data = synthetic_survey(seed=11, n=60, weight_sigma=0.0)
    rng = np.random.default_rng(0)
    data["weight"] = rng.integers(1, 4, len(data)).astype(float)
    result = ordinal_model(data, treated=["Avesta"], before="2019-10-01", after="2021-10-01")
    frame, endog, X = ordinal_inputs(data)
    reps = frame["weight"].astype(int).to_numpy()
    expanded = OrderedModel(np.repeat(endog, reps), np.repeat(X, reps, axis=0), distr="logit").fit(
        method="bfgs", disp=False
    )
    assert result.params["coef"].iloc[:3].to_numpy() == pytest.approx(expanded.params[:3], abs=1e-4)
    # ... but not its standard errors: the expanded fit counts Σw respondents.
    assert result.params["std_error"].iloc[2] > expanded.bse[2]


def test_ordinal_without_comparison_reports_the_period_term():
    data = synthetic_survey(seed=12, n=80)
    result = ordinal_model(data, before="2019-10-01", after="2021-10-01")
    assert result.term == "after"
    assert "SMS level 2" in result.summary()
    assert {"cut 1|2", "cut 2|3", "cut 3|4"} <= set(result.params["term"])
    assert "respondent_id" not in result.cells.columns


# --------------------------------------------------------------------------
# plot and result protocol
# --------------------------------------------------------------------------


def test_results_render_and_plot():
    data = synthetic_survey(seed=13, n=40)
    shares = sv.share_unsafe(data)
    assert isinstance(shares.summary(), str) and "<pre>" in shares._repr_html_()
    change = sv.share_change(data, before="2019-10-01", after="2021-10-01")
    assert "pp" in change.summary() and len(change.to_frame()) == 2
    fig, ax = plot_shares(shares)
    assert ax.get_legend() is not None
    plt.close(fig)
