"""Tests of the action-plan reader, implementation shares and charts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.errors import ValidationError
from pipeline.inputs.actions import CATEGORIES, COLUMNS, read_actions
from pipeline.methods import implementation as act
from pipeline.methods.proportions import clopper_pearson_interval
from pipeline.report.figures_outcomes import plot_action_timeline

MUNICIPALITIES = ("Avesta", "Falun", "Hallstahammar", "Sala")
START = "2020-04-01"


def plan(
    municipality,
    prefix,
    statuses,
    followup,
    planned_start="2020-06-01",
    first_followup="2020-10-01",
):
    """One 'planned' follow-up for every measure, then the given statuses at `followup`."""
    rows = []
    for i, status in enumerate(statuses):
        measure = f"{prefix}{i + 1:02d}"
        category = CATEGORIES[i % len(CATEGORIES)]
        common = (municipality, "", measure, f"measure {measure}", category, planned_start)
        rows.append((*common, first_followup, "planned"))
        rows.append((*common, followup, status))
    return rows


def avesta_rows():
    # DOMAIN.md: Avesta, 22 of 28 points done or started.
    statuses = ["done"] * 15 + ["started"] * 7 + ["planned"] * 5 + ["cancelled"]
    return plan("Avesta", "A", statuses, "2022-03-01")


def sala_rows():
    # DOMAIN.md: Sala, 17 of 19 proposed activities worked on.
    statuses = ["done"] * 10 + ["started"] * 7 + ["planned"] * 2
    return plan("Sala", "S", statuses, "2021-03-15", planned_start="2020-09-01")


def write_csv(tmp_path, rows, name="actions.csv", sep=","):
    path = tmp_path / name
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(path, index=False, sep=sep)
    return path


@pytest.fixture
def actions(tmp_path):
    path = write_csv(tmp_path, avesta_rows() + sala_rows())
    return read_actions(path, municipalities=MUNICIPALITIES)


# --------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------


def test_read_actions_types_and_order(actions):
    assert list(actions.columns) == list(COLUMNS)
    assert len(actions) == 2 * (28 + 19)
    assert actions["followup_date"].dtype.kind == "M"
    assert set(actions["status"]) == {"planned", "started", "done", "cancelled"}
    assert actions["place_id"].isna().all()


def test_read_actions_reports_file_row_and_column(tmp_path):
    rows = [
        (
            "Avesta",
            "",
            "A01",
            "lighting at the bus square",
            "lighting",
            "2020-06-01",
            "2021-03-01",
            "done",
        ),
        ("Avesta", "", "A02", "pruning", "trees", "2020-06-01", "2021-03-01", "done"),  # line 3
        ("Avesta", "", "A03", "cleaning", "cleaning", "2020-06-31", "2021-03-01", "done"),  # line 4
        ("Avesta", "", "A04", "guards", "guards", "2020-06-01", "2021-03-01", "finished"),  # line 5
        ("Mora", "", "M01", "events", "events", "2020-06-01", "2021-03-01", "done"),  # line 6
        (
            "Avesta",
            "",
            "A01",
            "lighting again",
            "lighting",
            "2020-06-01",
            "2021-03-01",
            "done",
        ),  # line 7
        ("Avesta", "", "A05", "", "other", "2020-06-01", "2021-03-01", "done"),  # line 8
        ("Avesta", "", "A06", "cameras", "cameras", "2020-06-01", "2021-03-01", "done"),  # line 9
        ("Avesta", "", "A06", "cameras", "redesign", "2020-06-01", "2021-09-01", "done"),  # line 10
    ]
    path = write_csv(tmp_path, rows, sep=";")
    with pytest.raises(ValidationError) as info:
        read_actions(path, municipalities=MUNICIPALITIES)
    message = str(info.value)
    for row, column in [
        (3, "category"),
        (4, "planned_start"),
        (5, "status"),
        (6, "municipality"),
        (7, "followup_date"),
        (8, "description"),
        (10, "category"),
    ]:
        assert f"{path}, row {row}, column '{column}'" in message
    assert len(info.value.problems) == 7


def test_read_actions_unknown_place(tmp_path):
    rows = [
        ("Falun", "Holmtorget", "F01", "lights", "lighting", "2020-06-01", "2021-03-01", "done")
    ]
    path = write_csv(tmp_path, rows)
    with pytest.raises(ValidationError) as info:
        read_actions(path, municipalities=MUNICIPALITIES, places={"Knutpunkten": "Falun"})
    assert f"{path}, row 2, column 'place_id'" in str(info.value)


# --------------------------------------------------------------------------
# implementation share
# --------------------------------------------------------------------------


def test_avesta_22_of_28_with_wilson_and_clopper_pearson(actions):
    shares = act.implementation_shares(actions, project_start=START)
    row = shares.table.set_index(["municipality", "horizon_months"]).loc[("Avesta", 24)]
    assert (row["k"], row["n"]) == (22, 28)
    assert round(row["share"], 3) == 0.786
    wilson = stats.binomtest(22, 28).proportion_ci(0.95, method="wilson")
    exact = stats.binomtest(22, 28).proportion_ci(0.95, method="exact")
    assert (row["wilson_lower"], row["wilson_upper"]) == pytest.approx((wilson.low, wilson.high))
    assert (row["cp_lower"], row["cp_upper"]) == pytest.approx((exact.low, exact.high))
    # by hand: centre (p + z²/2n)/(1 + z²/n) = 0.7512, half-width 0.1466
    assert (row["wilson_lower"], row["wilson_upper"]) == pytest.approx((0.6046, 0.8978), abs=5e-4)
    assert row["n_cancelled"] == 1 and row["n_done"] == 15 and row["n_started"] == 7


def test_sala_17_of_19_and_total(actions):
    table = act.implementation_shares(actions, project_start=START).table
    sala = table.set_index(["municipality", "horizon_months"]).loc[("Sala", 12)]
    assert (sala["k"], sala["n"]) == (17, 19)
    total = table.set_index(["municipality", "horizon_months"]).loc[(act.TOTAL, 24)]
    assert (total["k"], total["n"]) == (22 + 17, 28 + 19)


def test_status_is_taken_at_the_latest_followup_on_or_before_the_horizon(actions):
    table = act.implementation_shares(actions, project_start=START).table.set_index(
        ["municipality", "horizon_months"]
    )
    # At 12 months (2021-04-01) Avesta's last follow-up (2020-10-01) said 'planned' for all.
    avesta_12 = table.loc[("Avesta", 12)]
    assert (avesta_12["k"], avesta_12["n"]) == (0, 28)
    assert avesta_12["horizon_date"] == pd.Timestamp("2021-04-01")
    assert avesta_12["cp_lower"] == 0.0
    # A follow-up exactly on the horizon counts.
    on_horizon = actions.assign(
        followup_date=actions["followup_date"].replace(
            pd.Timestamp("2022-03-01"), pd.Timestamp("2022-04-01")
        )
    )
    row = (
        act.implementation_shares(on_horizon, project_start=START)
        .table.set_index(["municipality", "horizon_months"])
        .loc[("Avesta", 24)]
    )
    assert row["k"] == 22


def test_measures_not_followed_up_are_excluded_or_counted(tmp_path):
    rows = plan("Falun", "F", ["done", "started", "planned"], "2021-02-01")
    rows += [("Falun", "", "F04", "late", "events", "2021-01-01", "2021-08-01", "done")]
    data = read_actions(write_csv(tmp_path, rows), municipalities=MUNICIPALITIES)
    excluded = act.implementation_shares(
        data, project_start=START, horizons_months=[12]
    ).table.iloc[0]
    assert (excluded["k"], excluded["n"], excluded["n_not_followed_up"]) == (2, 3, 1)
    counted = act.implementation_shares(
        data, project_start=START, horizons_months=[12], unknown="not_implemented"
    ).table.iloc[0]
    assert (counted["k"], counted["n"]) == (2, 4)
    assert "not followed up" in act.implementation_shares(data, project_start=START).summary()


def test_status_at():
    data = pd.DataFrame(
        {
            "municipality": ["Sala"] * 3,
            "measure_id": ["S1"] * 3,
            "category": ["lighting"] * 3,
            "planned_start": pd.to_datetime(["2020-06-01"] * 3),
            "followup_date": pd.to_datetime(["2020-10-01", "2021-03-01", "2021-09-01"]),
            "status": ["planned", "started", "done"],
        }
    )
    assert act.status_at(data, "2021-06-01")["status"].iloc[0] == "started"
    assert act.status_at(data, "2021-09-01")["status"].iloc[0] == "done"
    assert pd.isna(act.status_at(data, "2020-09-01")["status"].iloc[0])


def test_clopper_pearson_edges():
    lower, upper = clopper_pearson_interval([0, 5, 5], [5, 5, 0])
    assert lower[0] == 0.0 and upper[1] == 1.0
    assert np.isnan(lower[2]) and np.isnan(upper[2])
    assert upper[0] == pytest.approx(1 - 0.025 ** (1 / 5))  # the 'rule of three' family, exact form


# --------------------------------------------------------------------------
# charts and implementation against effect
# --------------------------------------------------------------------------


def test_timeline_chart(actions):
    fig, ax = plot_action_timeline(actions, project_start=START)
    assert len(ax.get_yticklabels()) == 28 + 19
    assert ax.get_legend() is not None
    plt.close(fig)
    fig, ax = plot_action_timeline(actions, municipality="Sala")
    assert len(ax.get_yticklabels()) == 19
    plt.close(fig)


def test_implementation_vs_effect_fits_no_slope(tmp_path):
    rows = avesta_rows() + sala_rows()
    rows += plan("Falun", "F", ["done"] * 12 + ["planned"] * 18, "2022-01-15")
    rows += plan(
        "Hallstahammar", "H", ["done"] * 8 + ["started"] * 4 + ["planned"] * 3, "2021-12-01"
    )
    data = read_actions(write_csv(tmp_path, rows), municipalities=MUNICIPALITIES)
    shares = act.implementation_shares(data, project_start=START)
    effects = pd.DataFrame(
        {
            "municipality": ["Avesta", "Falun", "Hallstahammar", "Sala"],
            "estimate": [-4.0, -1.0, -2.5, -6.0],
            "ci_low": [-9.0, -5.0, -8.0, -12.0],
            "ci_high": [1.0, 3.0, 3.0, 0.5],
        }
    )
    result = act.implementation_vs_effect(
        shares, effects, effect_label="change in share unsafe (pp)"
    )
    assert "No line or slope is fitted" in result.text
    assert "0.95" in result.text  # the critical correlation for four points
    assert "slope" not in result.table.columns
    assert result.table["municipality"].tolist() == [
        "Sala",
        "Hallstahammar",
        "Avesta",
        "Falun",
    ]  # 89 %, 80 %, 79 %, 40 %
    fig, ax = result.plot()
    vertical = []
    for line in ax.get_lines():
        # only the no-effect line (horizontal) and the 50 % goal line (vertical) are drawn as
        # lines; points and bars are not fitted lines
        if line.get_linestyle() not in ("None", "none", ""):
            xs = set(np.asarray(line.get_xdata(), float))
            ys = set(np.asarray(line.get_ydata(), float))
            assert len(ys) == 1 or len(xs) == 1
            if len(xs) == 1:
                vertical.append(xs.pop())
    assert vertical == [50.0]
    plt.close(fig)
    assert result.summary() == result.text and "<pre>" in result._repr_html_()


def test_implementation_vs_effect_lists_unmatched_municipalities(actions):
    shares = act.implementation_shares(actions, project_start=START)
    effects = pd.DataFrame({"municipality": ["Avesta", "Falun"], "estimate": [0.9, 1.1]})
    result = act.implementation_vs_effect(
        shares, effects, null=1.0, effect_label="relative effect size"
    )
    assert "No effect estimate for: Sala" in result.text
    assert "No implementation share for: Falun" in result.text
    assert len(result.table) == 1
