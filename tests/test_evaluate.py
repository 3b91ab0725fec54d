"""Evaluating the demo study: primary designs, coverage of the known effects, co-interventions."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.data import StudyData, validate_study
from pipeline.evaluate import design_data, evaluate_municipality
from pipeline.provenance import REPO_ROOT
from pipeline.results import EFFECT_COLUMNS

DEMO_DIR = REPO_ROOT / "data" / "raw" / "trygga_platser_demo"


@pytest.fixture(scope="module")
def demo_data() -> StudyData:
    study, series = validate_study(DEMO_DIR)
    return StudyData(study, series, {"study_name": "trygga_platser_demo", "inputs": {}})


@pytest.fixture(scope="module")
def effects(demo_data) -> pd.DataFrame:
    frames = [
        evaluate_municipality(demo_data, m).to_frame() for m in demo_data.study.municipality_names
    ]
    return pd.concat(frames, ignore_index=True)


def test_every_target_and_indicator_has_one_primary_estimate(effects, demo_data):
    primary = effects[effects["primary"]]
    n_targets = len(demo_data.study.targets())
    assert len(primary) == n_targets * len(demo_data.study.indicators)
    assert not primary.duplicated(["place_id", "indicator"]).any()
    assert list(effects.columns) == EFFECT_COLUMNS


def test_primary_is_the_controlled_comparison_when_controls_exist(effects):
    primary = effects[effects["primary"]]
    assert set(primary["design"]) == {"controlled"}
    assert set(primary["sms_level"]) == {3}
    assert (effects.loc[effects["design"] == "its", "sms_level"] == 2).all()
    assert (effects["estimand"] == "rate_ratio").all()


def test_primary_estimates_cover_the_known_effects(effects):
    truth = pd.read_csv(DEMO_DIR / "ground_truth.csv")
    merged = effects[effects["primary"]].merge(truth, on=["place_id", "indicator"])
    covered = (merged["ci_low"] <= merged["true_rate_ratio"]) & (
        merged["true_rate_ratio"] <= merged["ci_high"]
    )
    # The headline indicator covers the truth at every target ...
    total = covered[merged["indicator"] == "crimes_total"]
    assert total.all(), merged.loc[
        ~covered, ["place_id", "indicator", "estimate", "true_rate_ratio"]
    ]
    # ... and across all 40 estimates coverage is near the nominal 95 %.
    assert covered.mean() >= 0.9


def test_no_effect_place_is_not_called_significant(effects):
    row = effects[
        (effects["place_id"] == "hallstahammar_centrum")
        & (effects["indicator"] == "crimes_total")
        & effects["primary"]
    ].iloc[0]
    assert row["ci_low"] < 1 < row["ci_high"]


def test_series_is_cut_before_a_co_intervention(demo_data):
    place = demo_data.study.place("falun_knutpunkten")
    inputs = design_data(demo_data, place, "crimes_total")
    assert str(inputs.periods.max()) == "2023-10"
    assert any("co-intervention" in note for note in inputs.notes)
    unaffected = design_data(demo_data, demo_data.study.place("sala_torget"), "crimes_total")
    assert str(unaffected.periods.max()) == "2023-12"


def test_unknown_municipality_is_an_error(demo_data):
    with pytest.raises(KeyError, match="Stockholm"):
        evaluate_municipality(demo_data, "Stockholm")
