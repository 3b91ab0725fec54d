"""Perceived safety and inspections as effects: the demo's truths recovered, privacy kept."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.designs.inspection import inspection_effects
from pipeline.designs.survey import ALL_TARGETS, survey_areas, survey_effects
from pipeline.evaluation.municipality import evaluate_municipality
from pipeline.report.reports import MunicipalityReport

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"
MUNICIPALITIES = ("Avesta", "Falun", "Hallstahammar", "Sala")


@pytest.mark.parametrize("municipality", MUNICIPALITIES)
def test_survey_did_covers_the_true_odds_ratio(demo_study, municipality):
    truth = pd.read_csv(DEMO_DIR / "ground_truth_survey.csv").set_index("municipality")
    effects, skipped = survey_effects(demo_study, municipality)
    assert not skipped
    did = next(e for e in effects if e.design == "survey_did")
    true_or = np.exp(truth.loc[municipality, "true_log_odds_ratio"])
    assert did.ci_low < true_or < did.ci_high
    assert did.primary and did.sms_level == 3 and did.place_id == ALL_TARGETS
    assert {e.design for e in effects} == {"survey_did", "survey_prepost", "survey_ordinal"}
    assert sum(e.primary for e in effects) == 1


@pytest.mark.parametrize("municipality", MUNICIPALITIES)
def test_inspection_change_covers_the_truth(demo_study, municipality):
    truth = pd.read_csv(DEMO_DIR / "ground_truth_inspections.csv").set_index("place_id")
    effects, skipped = inspection_effects(demo_study, municipality)
    assert not skipped and effects
    for effect in effects:
        # Rounding to whole points and clipping at 0-20 blur the truth by up to half a point.
        true = truth.loc[effect.place_id, "true_mean_change"]
        assert effect.ci_low - 0.5 <= true <= effect.ci_high + 0.5
        assert effect.estimand == "mean_score_change" and effect.primary


def test_without_comparison_areas_the_before_after_change_is_primary(demo_study):
    controls = {c for p in demo_study.study.targets("Sala") for c in p.controls}
    survey = demo_study.survey[~demo_study.survey["place_id"].isin(controls)]
    effects, _ = survey_effects(replace(demo_study, survey=survey), "Sala")
    assert {e.design for e in effects} == {"survey_prepost", "survey_ordinal"}
    primary = [e for e in effects if e.primary]
    assert [e.design for e in primary] == ["survey_prepost"] and primary[0].sms_level == 2


def test_every_indicator_reaches_the_municipality_evaluation(demo_study):
    frame = evaluate_municipality(demo_study, "Avesta").to_frame()
    primary = frame[frame["primary"]]
    assert {"unsafe_evening", "inspection_score", "crimes_total"} <= set(primary["indicator"])


def _report(data, municipality="Avesta", lang="sv"):
    return MunicipalityReport(data, municipality, lang, evaluate_municipality(data, municipality))


def test_small_survey_cells_are_suppressed_and_flagged(demo_study):
    """A comparison area with 3 respondents in a wave: share blank, size withheld; < 30 flagged."""
    survey = demo_study.survey
    targets, controls = (
        [p.id for p in demo_study.study.targets("Avesta")],
        {c for p in demo_study.study.targets("Avesta") for c in p.controls},
    )
    after = survey["wave"] == survey["wave"].max()
    is_control = survey["place_id"].isin(controls) & (survey["municipality"] == "Avesta")
    keep_control = survey[is_control & after].index[:3]
    is_target = survey["place_id"].isin(targets) & after
    keep_target = survey[is_target].index[:20]
    small = survey.drop(
        survey[(is_control & after) | is_target].index.difference(keep_control.union(keep_target))
    )
    report = _report(replace(demo_study, survey=small))
    table = report.survey_table()
    suppressed = table[table["Anmärkning"].str.startswith("dold")]
    assert len(suppressed) == 1
    assert suppressed["Svarande"].tolist() == ["< 5"]
    assert suppressed["Andel otrygga"].tolist() == ["–"]
    assert table["Anmärkning"].str.startswith("osäker").sum() == 1


def test_survey_areas_leave_out_other_places(demo_study):
    frame = survey_areas(demo_study, "Falun")
    assert set(frame["area"]) == {"target", "comparison"}
    assert not frame["place_id"].str.contains("givare").any()
