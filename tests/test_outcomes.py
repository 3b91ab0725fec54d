"""Perceived safety and inspections as effects: the demo's truths recovered, privacy kept."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.designs.inspection import inspection_effects
from pipeline.designs.survey import ALL_TARGETS, survey_areas, survey_effects
from pipeline.evaluation.municipality import evaluate_municipality
from pipeline.report.municipality import MunicipalityReport

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"
MUNICIPALITIES = ("Avesta", "Falun", "Hallstahammar", "Sala")
SURVEY_DESIGNS = {"survey_did", "survey_did_odds", "survey_prepost", "survey_ordinal"}


@pytest.mark.parametrize("municipality", MUNICIPALITIES)
def test_survey_did_covers_the_true_odds_ratio(demo_study, municipality):
    truth = pd.read_csv(DEMO_DIR / "ground_truth_survey.csv").set_index("municipality")
    effects, skipped = survey_effects(demo_study, municipality)
    assert not skipped
    odds = next(e for e in effects if e.design == "survey_did_odds")
    true_or = np.exp(truth.loc[municipality, "true_log_odds_ratio"])
    assert odds.estimand == "odds_ratio" and odds.ci_low < true_or < odds.ci_high
    did = next(e for e in effects if e.design == "survey_did")
    assert did.estimand == "share_difference_pp"
    assert did.primary and did.sms_level == 3 and did.place_id == ALL_TARGETS
    assert did.ci_low < did.estimate < did.ci_high and np.isfinite(did.p_value)
    assert {e.design for e in effects} == SURVEY_DESIGNS
    assert sum(e.primary for e in effects) == 1


def test_survey_did_notes_carry_both_arms_shares_and_changes(demo_study):
    """The report's sentence "in the target areas it fell from … to … (… points); in the
    comparison areas …" is in the headline estimate's notes."""
    effects, _ = survey_effects(demo_study, "Falun")
    did = next(e for e in effects if e.design == "survey_did")
    target = next(n for n in did.notes if n.startswith("target areas:"))
    comparison = next(n for n in did.notes if n.startswith("comparison areas:"))
    changes = [
        float(re.search(r"\(([-+][0-9.]+) points\)", n).group(1)) for n in (target, comparison)
    ]
    assert did.estimate == pytest.approx(changes[0] - changes[1], abs=0.11)
    assert "t on 3 degrees of freedom" in did.method  # Falun: 3 target and 2 comparison areas
    ordinal = next(e for e in effects if e.design == "survey_ordinal")
    assert any("proportional odds" in n for n in ordinal.notes)


def test_one_area_per_arm_gives_no_interval_and_says_why(demo_study):
    targets = [p.id for p in demo_study.study.targets("Falun")]
    survey = demo_study.survey[
        ~demo_study.survey["place_id"].isin(targets[1:] + ["falun_jamforelse_soder"])
    ]
    effects, skipped = survey_effects(replace(demo_study, survey=survey), "Falun")
    assert not skipped
    for design in ("survey_did", "survey_did_odds", "survey_ordinal"):
        effect = next(e for e in effects if e.design == design)
        assert np.isfinite(effect.estimate)
        assert np.isnan(effect.ci_low) and np.isnan(effect.p_value)
        assert any("cannot be estimated" in n for n in effect.notes)


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
