"""The fixed words of the key findings, and the findings built from them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from pipeline.report.findings import (
    change_words,
    confirmatory_indicator,
    confirmatory_rows,
    effect_finding,
    implementation_finding,
    municipality_findings,
    settled_without_adjustment,
    survey_finding,
)
from pipeline.report.i18n import catalogue, t
from pipeline.report.words import STRENGTHS, Verdict, goal_reached, verdict
from pipeline.run.paths import DEFAULT_STUDY


@pytest.mark.parametrize(
    ("low", "high", "p_adjusted", "expected"),
    [
        (0.6, 0.9, 0.01, Verdict("clear", "decrease")),
        (0.6, 0.9, 0.20, Verdict("likely", "decrease")),  # interval excludes 1, adjustment does not
        (1.1, 1.4, 0.001, Verdict("clear", "increase")),
        (0.8, 1.2, 0.001, Verdict("none", None)),  # an interval holding 1 is never a change
        (0.6, 0.9, math.nan, Verdict("likely", "decrease")),
        (math.nan, 0.9, 0.01, Verdict("none", None)),
    ],
)
def test_verdict_rules(low, high, p_adjusted, expected):
    assert verdict(ci_low=low, ci_high=high, p_adjusted=p_adjusted, null=1.0) == expected


def test_verdict_on_differences_uses_zero():
    assert verdict(ci_low=-3.0, ci_high=-0.5, p_adjusted=0.01, null=0.0).direction == "decrease"
    assert verdict(ci_low=-3.0, ci_high=0.5, p_adjusted=0.01, null=0.0).strength == "none"


def test_better_or_worse_follows_the_indicator():
    decrease = Verdict("clear", "decrease")
    assert decrease.better("lower") is True
    assert decrease.better("higher") is False
    assert Verdict("none", None).better("lower") is None


def test_every_verdict_has_words_in_both_languages():
    keys = {Verdict(s, d).key for s in STRENGTHS for d in ("decrease", "increase")}
    assert keys == {
        "verdict_clear_decrease",
        "verdict_likely_decrease",
        "verdict_none",
        "verdict_likely_increase",
        "verdict_clear_increase",
    }
    for key in keys:
        assert set(catalogue()[key]) == {"sv", "en"}


def test_goal_is_more_than_half():
    assert goal_reached(16, 30)
    assert not goal_reached(15, 30)  # exactly half is not more than half
    with pytest.raises(ValueError):
        goal_reached(0, 0)


def test_effect_finding_in_words_then_numbers():
    finding = effect_finding(
        "Stationen",
        estimand="rate_ratio",
        estimate=0.82,
        ci_low=0.70,
        ci_high=0.95,
        p_adjusted=0.004,
        lang="sv",
    )
    assert finding.words == "tydlig minskning"
    numbers = finding.numbers.replace("\u00a0", " ")
    assert numbers.startswith("−18 %; 95 % konfidensintervall −30 till −5 %")
    assert "justerat p = 0,004" in numbers
    assert "p\u00a0=\u00a00,004" in finding.numbers  # never broken across lines
    english = effect_finding(
        "Station",
        estimand="rate_ratio",
        estimate=0.82,
        ci_low=0.70,
        ci_high=0.95,
        p_adjusted=0.2,
        lang="en",
    )
    assert english.words == "probable decrease"


def test_odds_ratios_are_judged_against_one_and_inspections_called_better():
    odds = effect_finding(
        "Sala",
        estimand="odds_ratio",
        estimate=0.5,
        ci_low=0.3,
        ci_high=0.8,
        p_adjusted=0.01,
        lang="en",
    )
    assert odds.words == "clear decrease"
    inspection = effect_finding(
        "Torget",
        estimand="mean_score_change",
        estimate=2.3,
        ci_low=1.0,
        ci_high=3.5,
        p_adjusted=0.3,
        lang="sv",
        better="higher",
    )
    assert inspection.words == "troligen ökning"
    assert inspection.note == t("better", "sv")
    assert change_words("share_difference_pp", -5.1, "sv") == "−5,1 procentenheter"
    assert change_words("share_difference_pp", 0.04, "sv") == "0,0 procentenheter"


def test_perceived_safety_reads_as_shares_first_then_the_model():
    """The survey finding: percentage points in target and comparison areas first, the model's
    estimate with its p after them, and the word from the model's interval and p."""
    model = effect_finding(
        t("finding_perceived_safety", "sv"),
        estimand="share_difference_pp",
        estimate=-8.1,
        ci_low=-15.8,
        ci_high=-0.4,
        p_adjusted=0.108,
        lang="sv",
        p_key="p_adjusted_text",
    )
    shares = (
        "Insatsområden: 35,8 % otrygga före, 24,8 % efter, −11,1 procentenheter. "
        "Jämförelseområden: 25,0 % otrygga före, 22,0 % efter, −3,0 procentenheter."
    )
    finding = survey_finding(model, shares, "sv")
    assert finding.label == "Upplevd trygghet" and finding.words == "troligen minskning"
    numbers = finding.numbers.replace("\u00a0", " ")
    assert numbers.startswith("Insatsområden: 35,8 % otrygga före") and not numbers.endswith(".")
    note = finding.note.replace("\u00a0", " ")
    assert note.startswith("Modellens skattning mot jämförelseområdena: −8,1 procentenheter;")
    assert "justerat p = 0,108" in note and note.endswith(t("better", "sv"))
    assert survey_finding(model, "", "sv") == model  # no shares (suppressed): the model alone
    # In the key findings it comes after the places and before the action plan.
    family = pd.DataFrame(
        {
            "municipality": ["Falun"],
            "place_id": ["falun_resecentrum"],
            "estimand": ["rate_ratio"],
            "estimate": [0.8],
            "ci_low": [0.67],
            "ci_high": [0.96],
            "p_family": [0.048],
        }
    )
    implementation = pd.DataFrame(
        {
            "municipality": ["Falun"],
            "horizon_months": [24],
            "k": [18],
            "n": [30],
            "share": [0.6],
            "wilson_lower": [0.42],
            "wilson_upper": [0.75],
        }
    )
    labels = [
        f.label
        for f in municipality_findings(
            "Falun", family, implementation, str, "sv", perceived_safety=finding
        )
    ]
    assert labels == ["falun_resecentrum", "Upplevd trygghet", "Åtgärdsplanen"]


@pytest.mark.parametrize(
    ("estimand", "low", "high", "p", "settled"),
    [
        ("share_difference_pp", -30.8, 0.5, 0.053, True),  # interval holds no change: none
        ("share_difference_pp", -15.8, -0.4, 0.044, False),  # clear unadjusted: family decides
        ("share_difference_pp", -15.8, -0.4, 0.05, True),  # probable whatever the adjustment
        ("odds_ratio", 0.3, 0.8, 0.01, False),
        ("odds_ratio", 0.8, 1.3, 0.01, True),
        ("rate_ratio", 0.7, 0.9, 0.2, True),
    ],
)
def test_a_word_is_settled_without_the_adjustment_unless_clear_before_it(
    estimand, low, high, p, settled
):
    assert settled_without_adjustment(estimand, low, high, p) is settled


def test_implementation_finding_against_the_goal():
    row = SimpleNamespace(
        k=16, n=30, share=16 / 30, horizon_months=24, wilson_lower=0.36, wilson_upper=0.70
    )
    finding = implementation_finding(row, "sv")
    assert finding.words == "målet nått"
    assert "16 av 30" in finding.numbers and "53\u00a0%" in finding.numbers


def test_findings_take_the_confirmatory_family_the_study_level_step_adjusted():
    """The key findings read the family and adjusted p-value of evaluation/study.py; they
    compute no adjustment of their own (one definition of the confirmatory family)."""
    from pipeline.inputs.study import load_study

    study = load_study(DEFAULT_STUDY)
    assert confirmatory_indicator(study) == "crimes_total"
    rows = pd.DataFrame(
        {
            "place_id": ["", "sala_stationen", "sala_stationen"],
            "indicator": ["crimes_total", "crimes_total", "crimes_theft"],
            "family": ["confirmatory", "descriptive", "gatekept"],
            "p_value": [0.01, 0.02, 0.001],
            "p_adjusted": [0.05, float("nan"), 0.05],
        }
    )
    family = confirmatory_rows(rows)
    assert list(family["family"]) == ["confirmatory"]
    assert family["p_family"].tolist() == [0.05]
