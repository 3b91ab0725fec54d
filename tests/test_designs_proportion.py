"""Proportion indicators: the binomial designs against a known truth, the contract, the demo.

The simulation draws a target and a comparison area whose shares move
together month by month (a common shock on the log-odds scale, as the pandemic
moved the share of women among visitors everywhere), with beta-binomial
overdispersion, and a known odds ratio at the target from the start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_DIR

from pipeline.designs import DESIGNS, DesignData
from pipeline.designs.proportion import ProportionComparison, ProportionPrePost
from pipeline.errors import EstimationError, ValidationError
from pipeline.inputs.series import read_series
from pipeline.inputs.study import Indicator, Place
from pipeline.report.findings import effect_finding
from pipeline.report.i18n import t

PLACE = Place(
    id="t",
    name="Torget",
    municipality="Sala",
    role="target",
    intervention_start="2020-09-01",
    controls=["c"],
)
SHARE = Indicator(
    id="women_share",
    label_sv="Andel kvinnor",
    label_en="Share of women",
    family="proportion",
    better="higher",
    unit="andel",
)
PROGRAMME_INDICATORS = ("footfall", "women_share", "vacant_premises")


def _draw(
    rng, log_odds_ratio, *, months=60, start=30, counted=300, common_sd=0.15, rho=200.0, shift=0.0
):
    """A target and a comparison area's monthly shares with a known odds ratio from ``start``."""
    periods = pd.period_range("2018-03", periods=months, freq="M")
    after = np.arange(months) >= start
    common = rng.normal(0, common_sd, months) + shift * after  # a town-wide change

    def area(level, effect):
        p = 1 / (1 + np.exp(-(level + common + effect * after)))
        p = rng.beta(p * rho, (1 - p) * rho)
        n = rng.poisson(counted, months)
        return pd.DataFrame(
            {"value": rng.binomial(n, p) / n, "exposure": n.astype(float)}, index=periods
        )

    return DesignData(
        municipality="Sala",
        place=PLACE,
        indicator=SHARE,
        start=periods[start],
        target=area(-0.2, log_odds_ratio),
        controls={"c": area(-0.1, 0.0)},
    )


def _replicate(design, log_odds_ratio, replicates, seed, **draw):
    rng = np.random.default_rng(seed)
    covered = rejected = 0
    for _ in range(replicates):
        effect = design.estimate(_draw(rng, log_odds_ratio, **draw))
        covered += effect.ci_low <= np.exp(log_odds_ratio) <= effect.ci_high
        rejected += effect.p_value < 0.05
    return covered / replicates, rejected / replicates


@pytest.mark.slow
def test_comparison_holds_its_error_rate_and_covers_a_known_effect():
    """Common monthly shocks cancel; beta-binomial noise is absorbed by the dispersion."""
    coverage, false_positives = _replicate(ProportionComparison(), 0.0, 200, seed=11)
    assert false_positives <= 0.085  # 5 % nominal; 200 draws put 8.5 % beyond 2.5 se
    assert coverage >= 0.915
    coverage, power = _replicate(ProportionComparison(), 0.3, 200, seed=12)
    assert coverage >= 0.915
    assert power >= 0.5


def test_prepost_covers_without_a_town_wide_change_and_fails_with_one():
    """Without a comparison a town-wide change at the start is read as an effect: the
    design cannot know better, which is why it is never primary when comparison areas exist."""
    coverage, false_positives = _replicate(ProportionPrePost(), 0.0, 150, seed=13)
    assert coverage >= 0.9
    assert false_positives <= 0.1
    _, false_positives = _replicate(ProportionPrePost(), 0.0, 60, seed=14, shift=0.3)
    assert false_positives > 0.5
    _, false_positives = _replicate(ProportionComparison(), 0.0, 60, seed=14, shift=0.3)
    assert false_positives <= 0.12


def test_designs_apply_only_to_proportions_and_the_comparison_needs_controls():
    data = _draw(np.random.default_rng(1), 0.0)
    applying = [d.name for d in DESIGNS if d.applies(data)]
    assert applying == ["proportion_did", "proportion_prepost"]
    alone = DesignData(
        municipality="Sala", place=PLACE, indicator=SHARE, start=data.start, target=data.target
    )
    assert [d.name for d in DESIGNS if d.applies(alone)] == ["proportion_prepost"]


def test_a_share_without_counted_periods_after_the_start_is_not_estimated():
    data = _draw(np.random.default_rng(2), 0.0)
    before = data.target[data.target.index < data.start]
    with pytest.raises(EstimationError):
        ProportionPrePost().estimate(DesignData(**{**data.__dict__, "target": before}))


# -- the contract ------------------------------------------------------------------------


def _study_with_shares(tmp_path):
    from pipeline.inputs.study import load_study

    (tmp_path / "study.yml").write_text(
        """\
title: Shares
synthetic: true
municipalities:
  - {name: Sala, kommunkod: "1981", county: Västmanland}
places:
  - {id: t, name: Torget, municipality: Sala, role: target, intervention_start: 2020-09-01, controls: [c]}
  - {id: c, name: Väster, municipality: Sala, role: control}
indicators:
  - {id: vacant_premises, label_sv: Tomma lokaler, label_en: Vacant premises, family: proportion, better: lower, unit: andel}
""",
        encoding="utf-8",
    )
    return load_study(tmp_path)


def _write(tmp_path, rows):
    path = tmp_path / "series.csv"
    path.write_text(
        "place_id,indicator,period,value,exposure\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    return path


def _yearly(place, years, exposure="80"):
    return [f"{place},vacant_premises,{y}-09,0.125,{exposure}" for y in years]


def test_a_yearly_share_is_a_series_without_gaps(tmp_path):
    study = _study_with_shares(tmp_path)
    years = range(2017, 2024)
    series = read_series(_write(tmp_path, _yearly("t", years) + _yearly("c", years)), study)
    assert len(series) == 14
    assert series["exposure"].eq(80).all()


def test_a_missing_inventory_year_is_a_gap(tmp_path):
    study = _study_with_shares(tmp_path)
    years = [2017, 2018, 2019, 2021, 2022, 2023]
    with pytest.raises(
        ValidationError, match="gap in the series of t / vacant_premises: no row for 2020-09"
    ):
        read_series(_write(tmp_path, _yearly("t", years) + _yearly("c", range(2017, 2024))), study)


def test_a_share_needs_the_number_it_is_a_share_of(tmp_path):
    study = _study_with_shares(tmp_path)
    years = range(2017, 2024)
    rows = _yearly("t", years, exposure="") + _yearly("c", years)
    with pytest.raises(ValidationError, match="is a proportion: give as exposure the number"):
        read_series(_write(tmp_path, rows), study)


# -- the demo ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def programme_effects(demo_data):
    from pipeline.evaluation.municipality import _Frames, evaluate_target

    frames = _Frames(demo_data.series)
    rows = []
    for place in demo_data.study.targets():
        for indicator in PROGRAMME_INDICATORS:
            found, _ = evaluate_target(demo_data, place, indicator, frames=frames)
            rows.extend(e for e in found if e.place_id == place.id)
    return rows


@pytest.mark.slow
def test_demo_primary_estimates_cover_the_true_effects(programme_effects):
    truth = pd.read_csv(DEMO_DIR / "ground_truth_indicators.csv").set_index(
        ["place_id", "indicator"]
    )["true_effect"]
    primary = [e for e in programme_effects if e.primary]
    assert len(primary) == 30  # ten targets, three indicators
    for effect in primary:
        expected = "proportion_did" if effect.indicator != "footfall" else None
        if expected:
            assert effect.design == expected and effect.estimand == "odds_ratio"
    covered = [e.ci_low <= truth[(e.place_id, e.indicator)] <= e.ci_high for e in primary]
    assert np.mean(covered) >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_reports_call_a_rise_in_footfall_or_womens_share_and_a_fall_in_vacancy_better(
    demo_data, programme_effects, lang
):
    """The words follow each indicator's ``better``: every demo estimate whose interval
    excludes no change is called better exactly when it moved the good way."""
    judged = {indicator: [] for indicator in PROGRAMME_INDICATORS}
    for effect in programme_effects:
        if effect.estimand not in ("rate_ratio", "odds_ratio") or (
            effect.ci_low <= 1 <= effect.ci_high
        ):
            continue
        better = demo_data.study.indicator(effect.indicator).better
        finding = effect_finding(
            effect.place_id,
            estimand=effect.estimand,
            estimate=effect.estimate,
            ci_low=effect.ci_low,
            ci_high=effect.ci_high,
            p_adjusted=effect.p_value,
            lang=lang,
            better=better,
        )
        rose = effect.estimate > 1
        judged[effect.indicator].append((rose, finding.note))
    expected = {"footfall": True, "women_share": True, "vacant_premises": False}
    for indicator, rose_is_better in expected.items():
        # Each indicator has a certain change in the demo, in the direction of its true effect.
        assert any(rose == rose_is_better for rose, _ in judged[indicator]), indicator
        for rose, note in judged[indicator]:
            assert note == t("better" if rose == rose_is_better else "worse", lang)
