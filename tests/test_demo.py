"""The embedded demo study: reproducible, realistic, with a ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data import validate_study
from pipeline.demo import DEMO_SEED, PLACES, covid_factor, generate_demo
from pipeline.provenance import REPO_ROOT

DEMO_DIR = REPO_ROOT / "data" / "raw" / "trygga_platser_demo"


@pytest.fixture(scope="module")
def demo():
    return validate_study(DEMO_DIR)


def test_regenerating_gives_the_committed_files(tmp_path):
    generate_demo(DEMO_SEED).write(tmp_path)
    for name in ("study.yml", "series.csv", "ground_truth.csv", "README.md"):
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
    assert series.groupby(["place_id", "indicator"]).size().eq(84).all()


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
