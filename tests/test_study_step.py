"""The study-level step: declared families, their adjusted p-values, pooling and its files."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from pipeline.errors import ValidationError
from pipeline.evaluation.study import (
    Hypotheses,
    adjust,
    assign_families,
    certainty,
    run_study_step,
    study_results,
)
from pipeline.inputs.study import load_study
from pipeline.results import EFFECT_COLUMNS, POOLED_COLUMNS, Effect, effects_frame
from pipeline.run.paths import EFFECTS_FILE, POOLED_FILE, STUDY_PROVENANCE_FILE

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"

MUNICIPALITIES = ("Avesta", "Falun", "Hallstahammar", "Sala")
TARGETS = {
    "Avesta": ("avesta_busstorget", "avesta_gallerian"),
    "Falun": ("falun_knutpunkten", "falun_holmtorget", "falun_resecentrum"),
    "Hallstahammar": ("hallstahammar_centrum", "hallstahammar_stationsstraket"),
    "Sala": ("sala_stationen", "sala_stadsparken", "sala_torget"),
}


def _effect(municipality, place_id, indicator, design, p_value, **changes) -> Effect:
    values = dict(
        municipality=municipality,
        place_id=place_id,
        indicator=indicator,
        design=design,
        estimand="rate_ratio",
        estimate=0.8,
        ci_low=0.6,
        ci_high=1.05,
        p_value=p_value,
        n_pre=40,
        n_post=30,
        sms_level=3,
        method="test",
    )
    values.update(changes)
    return Effect(**values)


def _municipality(municipality: str, p_total: float, p_theft: float = 0.01) -> list[Effect]:
    """A municipality's rows as its evaluation writes them: places' designs, its panel, survey."""
    rows = []
    for indicator, p in (("crimes_total", p_total), ("crimes_theft", p_theft)):
        rows.append(_effect(municipality, "", indicator, "panel", p))
        for place in TARGETS[municipality]:
            rows.append(_effect(municipality, place, indicator, "panel", 0.5))
            rows.append(
                _effect(municipality, place, indicator, "donor_comparison", 0.2, primary=True)
            )
            rows.append(_effect(municipality, place, indicator, "its", 0.001))
    rows.append(
        _effect(
            municipality,
            "",
            "unsafe_evening",
            "survey_did",
            0.03,
            estimand="odds_ratio",
            primary=True,
        )
    )
    rows.append(
        _effect(
            municipality,
            "",
            "unsafe_evening",
            "survey_prepost",
            0.01,
            estimand="share_difference_pp",
            estimate=-3.0,
            ci_low=-6.0,
            ci_high=0.0,
        )
    )
    place = TARGETS[municipality][0]
    rows.append(
        _effect(
            municipality,
            place,
            "inspection_score",
            "inspection",
            0.004,
            estimand="mean_score_change",
            estimate=3.0,
            ci_low=1.0,
            ci_high=5.0,
            primary=True,
        )
    )
    return rows


def _study_effects(p_totals=(0.001, 0.02, 0.3, 0.04)) -> pd.DataFrame:
    rows = []
    for municipality, p in zip(MUNICIPALITIES, p_totals, strict=True):
        rows.extend(_municipality(municipality, p))
    rows.append(
        _effect(
            "Avesta", "avesta_centrum_buffert", "crimes_total", "controlled", 0.02, primary=True
        )
    )
    return effects_frame(rows)


def _fake_pool(p_value=0.01):
    def pool(data, indicator_id, targets):
        return _effect("", "", indicator_id, "panel", p_value, estimate=0.85)

    return pool


# --------------------------------------------------------------------------- declaration


def test_defaults_declare_the_confirmatory_question(demo_data):
    hypotheses = Hypotheses.of(demo_data.study)
    assert hypotheses.indicator == "crimes_total"
    assert hypotheses.subcategories == ("crimes_violence", "crimes_theft", "crimes_vandalism")
    # Perceived safety and the inspections first, then the other indicators the study follows.
    assert hypotheses.secondary[:2] == ("unsafe_evening", "inspection_score")
    assert "footfall" not in hypotheses.subcategories
    assert hypotheses.programme and hypotheses.alpha == 0.05
    assert hypotheses.buffers == {"avesta_centrum_buffert", "sala_stationen_buffert"}


def _study_with(tmp_path, analysis: str):
    shutil.copy(DEMO_DIR / "study.yml", tmp_path / "study.yml")
    with open(tmp_path / "study.yml", "a", encoding="utf-8") as handle:
        handle.write(analysis)
    return load_study(tmp_path)


def test_study_chooses_another_confirmatory_question(tmp_path):
    study = _study_with(
        tmp_path,
        "analysis:\n  confirmatory:\n    indicator: crimes_theft\n"
        "    subcategories: [crimes_vandalism]\n    programme: false\n    alpha: 0.1\n",
    )
    hypotheses = Hypotheses.of(study)
    assert hypotheses.indicator == "crimes_theft"
    assert hypotheses.subcategories == ("crimes_vandalism",)
    assert not hypotheses.programme and hypotheses.alpha == 0.1


@pytest.mark.parametrize(
    ("analysis", "message"),
    [
        ("analysis:\n  confirmatory:\n    indicator: unsafe_evening\n", "expected 'count'"),
        ("analysis:\n  confirmatory:\n    indicator: crimes_everything\n", "unknown indicator"),
        ("analysis:\n  confirmatory:\n    subcategories: [crimes_total]\n", "both primary"),
        ("analysis:\n  confirmatory:\n    outcome: crimes_total\n", "outcome"),
        ("analysis:\n  confirmatory:\n    alpha: 0.9\n", "alpha"),
    ],
)
def test_a_bad_declaration_is_named(tmp_path, analysis, message):
    if "both primary" in message:
        analysis = analysis.replace(
            "confirmatory:\n", "confirmatory:\n    indicator: crimes_total\n"
        )
    with pytest.raises(ValidationError, match=message) as caught:
        _study_with(tmp_path, analysis)
    assert any(str(p.file).endswith("study.yml") and p.row for p in caught.value.problems)


# --------------------------------------------------------------------------- families


def test_every_row_gets_one_family(demo_data):
    effects = assign_families(_study_effects(), demo_data.study)
    assert set(effects["family"]) <= {"confirmatory", "gatekept", "secondary", "descriptive"}
    confirmatory = effects[effects["family"] == "confirmatory"]
    # One per municipality: the panel of its targets for the primary indicator.
    assert sorted(confirmatory["municipality"]) == sorted(MUNICIPALITIES)
    assert (confirmatory["design"] == "panel").all()
    assert (confirmatory["place_id"] == "").all()
    assert (confirmatory["indicator"] == "crimes_total").all()
    gatekept = effects[effects["family"] == "gatekept"]
    assert sorted(gatekept["municipality"]) == sorted(MUNICIPALITIES)
    assert (gatekept["indicator"] == "crimes_theft").all()
    secondary = effects[effects["family"] == "secondary"]
    assert set(secondary["indicator"]) == {"unsafe_evening", "inspection_score", "crimes_total"}
    assert set(secondary.loc[secondary["indicator"] == "crimes_total", "place_id"]) == {
        "avesta_centrum_buffert"
    }
    assert secondary["primary"].all()
    # Each place's own estimates, and designs that are not primary, are descriptive.
    places = effects[effects["place_id"].isin(TARGETS["Falun"])]
    assert (
        places.loc[places["indicator"].str.startswith("crimes_"), "family"] == "descriptive"
    ).all()


def test_one_municipality_alone_gets_the_same_families(demo_data):
    study = assign_families(_study_effects(), demo_data.study)
    alone = assign_families(effects_frame(_municipality("Sala", 0.04)), demo_data.study)
    expected = study[study["municipality"] == "Sala"]["family"].tolist()
    assert alone["family"].tolist() == expected


def test_a_single_target_municipality_is_summarised_by_its_primary_design(demo_data):
    places = tuple(
        p.model_copy(update={"role": "control", "intervention_start": None, "controls": ()})
        if p.id == "hallstahammar_stationsstraket"
        else p
        for p in demo_data.study.places
    )
    study = demo_data.study.model_copy(update={"places": places})
    rows = [
        _effect(
            "Hallstahammar",
            "hallstahammar_centrum",
            "crimes_total",
            "donor_comparison",
            0.01,
            primary=True,
        ),
        _effect("Hallstahammar", "hallstahammar_centrum", "crimes_total", "its", 0.001),
    ]
    effects = assign_families(effects_frame(rows), study)
    assert effects["family"].tolist() == ["confirmatory", "descriptive"]


def test_adjusted_p_values_follow_the_families(demo_data):
    p_totals = (0.001, 0.02, 0.3, 0.04)
    effects = assign_families(_study_effects(p_totals), demo_data.study)
    pooled = pd.DataFrame(
        [
            {
                "indicator": "crimes_total",
                "design": "panel",
                "p_value": 0.01,
                "family": "confirmatory",
            },
            {"indicator": "crimes_theft", "design": "panel", "p_value": 0.2, "family": "gatekept"},
            {
                "indicator": "unsafe_evening",
                "design": "meta_random",
                "p_value": 0.04,
                "family": "secondary",
            },
        ],
        columns=POOLED_COLUMNS,
    )
    effects, pooled = adjust(effects, pooled)

    holm = multipletests([*p_totals, 0.01], method="holm")[1]
    confirmatory = effects[effects["family"] == "confirmatory"].set_index("municipality")
    np.testing.assert_allclose(confirmatory.loc[list(MUNICIPALITIES), "p_adjusted"], holm[:4])
    assert pooled.loc[0, "p_adjusted"] == pytest.approx(holm[4])

    # Gatekept: never below its primary's adjusted p, so never clear where the primary is not.
    gatekept = effects[effects["family"] == "gatekept"].set_index("municipality")
    for municipality, gate in zip(MUNICIPALITIES, holm[:4], strict=True):
        assert gatekept.loc[municipality, "p_adjusted"] == pytest.approx(max(gate, 0.01))
    assert certainty("gatekept", gatekept.loc["Avesta", "p_adjusted"]) == "clear"
    assert certainty("gatekept", gatekept.loc["Hallstahammar", "p_adjusted"]) == "uncertain"
    assert pooled.loc[1, "p_adjusted"] == pytest.approx(max(holm[4], 0.2))

    secondary = effects["family"] == "secondary"
    expected = multipletests([*effects.loc[secondary, "p_value"], 0.04], method="fdr_bh")[1]
    np.testing.assert_allclose(effects.loc[secondary, "p_adjusted"], expected[:-1])
    assert pooled.loc[2, "p_adjusted"] == pytest.approx(expected[-1])

    assert effects.loc[effects["family"] == "descriptive", "p_adjusted"].isna().all()


def test_a_gate_without_its_primary_stays_closed(demo_data):
    effects = _study_effects()
    effects = effects[
        ~(
            (effects["municipality"] == "Sala")
            & (effects["design"] == "panel")
            & (effects["place_id"] == "")
            & (effects["indicator"] == "crimes_total")
        )
    ]
    effects, _ = adjust(
        assign_families(effects, demo_data.study), pd.DataFrame(columns=POOLED_COLUMNS)
    )
    sala = effects[(effects["municipality"] == "Sala") & (effects["family"] == "gatekept")]
    assert len(sala) == 1 and sala["p_adjusted"].isna().all()
    assert certainty("gatekept", sala["p_adjusted"].iloc[0]) == "not_tested"


def test_certainty_words():
    assert certainty("confirmatory", 0.01) == "clear"
    assert certainty("confirmatory", 0.05) == "uncertain"
    assert certainty("secondary", 0.2, alpha=0.25) == "clear"
    assert certainty("descriptive", 0.0001) == "descriptive"
    assert certainty("gatekept", float("nan")) == "not_tested"


# --------------------------------------------------------------------------- pooling


def test_estimands_are_never_mixed_in_one_pool(demo_data):
    effects = _study_effects()
    # Sala has no survey comparison areas: its primary survey estimate is a pre/post difference.
    sala = (effects["municipality"] == "Sala") & (effects["indicator"] == "unsafe_evening")
    effects.loc[sala & (effects["design"] == "survey_did"), "primary"] = False
    effects.loc[sala & (effects["design"] == "survey_prepost"), "primary"] = True
    results = study_results(demo_data, effects, list(MUNICIPALITIES), pool=_fake_pool())
    survey = results.pooled[results.pooled["indicator"] == "unsafe_evening"]
    odds = survey[survey["estimand"] == "odds_ratio"]
    assert set(odds["design"]) == {"meta_random", "meta_fixed"}
    assert (odds["k"] == 3).all()
    assert (
        odds["notes"]
        .str.contains("pooled apart from the rows measured as share_difference_pp")
        .all()
    )
    points = survey[survey["estimand"] == "share_difference_pp"]
    assert len(points) == 1 and points["estimate"].isna().all()
    assert "pooling needs 2" in points["notes"].iloc[0]
    assert any("share_difference_pp" in p for p in results.problems)
    # Every pooled estimate of a ratio is a ratio: no percentage points among odds ratios.
    assert (odds["estimate"] > 0).all()


def test_count_indicators_are_pooled_through_the_programme_pool(demo_data):
    results = study_results(
        demo_data, _study_effects(), list(MUNICIPALITIES), pool=_fake_pool(0.01)
    )
    counts = results.pooled[results.pooled["indicator"].str.startswith("crimes_")]
    # Beside the confirmatory pool, the descriptive pool nested in municipalities.
    nested = counts[counts["design"] == "panel_nested"]
    assert list(nested["indicator"]) == ["crimes_total"]
    assert list(nested["family"]) == ["descriptive"]
    counts = counts[counts["design"] != "panel_nested"]
    assert set(counts["design"]) == {"panel"}
    assert (counts["k"] == 10).all()
    family = dict(zip(counts["indicator"], counts["family"], strict=True))
    assert family == {
        "crimes_total": "confirmatory",
        "crimes_violence": "gatekept",
        "crimes_theft": "gatekept",
        "crimes_vandalism": "gatekept",
    }
    assert list(results.pooled.columns) == POOLED_COLUMNS
    assert list(results.effects.columns) == EFFECT_COLUMNS


def test_a_failing_pool_is_shown_with_its_reason(demo_data):
    from pipeline.errors import EstimationError

    def failing(data, indicator_id, targets):
        raise EstimationError("the panel did not converge")

    results = study_results(demo_data, _study_effects(), list(MUNICIPALITIES), pool=failing)
    panel = results.pooled[results.pooled["design"] == "panel"]
    assert panel["estimate"].isna().all()
    assert panel["notes"].str.contains("the panel did not converge").all()
    counts = [i for i in demo_data.study.indicators if i.family == "count"]
    assert sum("the panel did not converge" in p for p in results.problems) == len(counts)
    # Without the programme's row the confirmatory family is the municipalities'.
    confirmatory = results.effects[results.effects["family"] == "confirmatory"]
    np.testing.assert_allclose(
        confirmatory["p_adjusted"], multipletests(confirmatory["p_value"], method="holm")[1]
    )


# --------------------------------------------------------------------------- the step


def test_the_step_writes_the_study_files_and_the_municipalities_columns(demo_data, tmp_path):
    effects = assign_families(_study_effects(), demo_data.study)
    status = []
    for municipality in MUNICIPALITIES:
        folder = tmp_path / municipality
        folder.mkdir()
        own = effects[effects["municipality"] == municipality].assign(p_adjusted=np.nan)
        own[EFFECT_COLUMNS].to_csv(folder / EFFECTS_FILE, index=False)
        failed = municipality == "Falun"
        status.append({"municipality": municipality, "status": "failed" if failed else "ok"})

    results = run_study_step(demo_data, tmp_path, status, pool=_fake_pool())

    written = pd.read_csv(tmp_path / EFFECTS_FILE, dtype={"place_id": str})
    assert list(written.columns) == EFFECT_COLUMNS
    assert set(written["municipality"]) == {"Avesta", "Hallstahammar", "Sala"}
    pooled = pd.read_csv(tmp_path / POOLED_FILE)
    assert list(pooled.columns) == POOLED_COLUMNS
    for municipality in ("Avesta", "Hallstahammar", "Sala"):
        own = pd.read_csv(tmp_path / municipality / EFFECTS_FILE, dtype={"place_id": str})
        study_rows = written[written["municipality"] == municipality].reset_index(drop=True)
        pd.testing.assert_frame_equal(own, study_rows)
    # Three municipalities and the programme: Holm over four.
    confirmatory = written[written["family"] == "confirmatory"]
    assert len(confirmatory) == 3
    programme = pooled[(pooled["family"] == "confirmatory")]
    expected = multipletests([*confirmatory["p_value"], *programme["p_value"]], method="holm")[1]
    np.testing.assert_allclose([*confirmatory["p_adjusted"], *programme["p_adjusted"]], expected)
    record = json.loads((tmp_path / STUDY_PROVENANCE_FILE).read_text("utf-8"))
    assert any("Falun: the evaluation failed" in p for p in record["problems"])
    assert record["problems"] == list(results.problems)
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_step_before_any_evaluation_is_a_clear_error(tmp_path, capsys):
    from pipeline.run.cli import main

    study = ["--study", str(DEMO_DIR), "--processed-root", str(tmp_path / "processed")]
    study += ["--reports-root", str(tmp_path / "reports")]
    assert main(["study", *study]) == 2
    assert "no evaluation has been run" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_the_default_pool_is_the_panel_of_every_target(demo_data):
    from pipeline.designs.panel import panel_effects
    from pipeline.evaluation.study import pool_municipalities_like_these, pool_programme

    targets = demo_data.study.targets()
    pooled = pool_programme(demo_data, "crimes_total", targets)
    assert pooled == panel_effects(demo_data, "crimes_total", targets, nested=False)[0]
    # Nested in municipalities, the same estimate answers for municipalities like these:
    # its interval is never narrower.
    nested = pool_municipalities_like_these(demo_data, "crimes_total", targets)
    assert nested.design == "panel_nested" and nested.estimate == pytest.approx(pooled.estimate)
    assert np.log(nested.ci_high / nested.ci_low) >= np.log(pooled.ci_high / pooled.ci_low)


def test_the_pool_is_the_pooled_did_where_the_panel_cannot_be_fitted(demo_data):
    """Regression: a sparse study whose panel could not be fitted got no programme-level
    count estimate. With six months before the first start the panel refuses (it needs a
    year before each target's start); the pooled difference-in-differences of every
    target takes its place and says why."""
    from dataclasses import replace

    from pipeline.designs.pooled_did import pooled_did_effect
    from pipeline.evaluation.study import pool_programme

    targets = demo_data.study.targets()
    first = min(pd.Period(p.intervention_start, freq="M") for p in targets)
    short = replace(demo_data, series=demo_data.series[demo_data.series["period"] >= first - 6])
    pooled = pool_programme(short, "crimes_total", targets)
    direct = pooled_did_effect(short, "crimes_total", targets)
    assert pooled.design == "pooled_did" and pooled.place_id == ""
    assert (pooled.estimate, pooled.ci_low, pooled.p_value) == (
        direct.estimate,
        direct.ci_low,
        direct.p_value,
    )
    assert pooled.notes[0].startswith("the panel of the targets could not be fitted: ")
    assert "12 months before" in pooled.notes[0]


# --------------------------------------------------------------------------- simulations


@functools.cache
def _pooling_summary() -> pd.DataFrame:
    """Null programmes, 3 municipalities x 2 targets sharing 20 comparison areas (seeded).

    400 replicates: the spread of the estimates is itself measured within a few per cent.
    """
    from pipeline.validation.pooling import pooling_check

    return pooling_check(400).summary().set_index("pool")


@pytest.mark.slow
def test_pooling_with_a_shared_donor_pool_holds_its_error_rate_and_standard_error():
    summary = _pooling_summary()
    assert summary.loc["panel", "false_positive_rate"] <= 0.07
    # The flat meta-analysis of the same places' estimates understates the uncertainty.
    assert summary.loc["flat_meta", "se_over_sd"] < 0.92


@pytest.mark.slow
def test_pooled_standard_error_is_within_a_tenth_of_the_spread():
    """The confirmatory pool (these places) is neither too sure nor too wide; the pool nested in
    municipalities, which also answers for municipalities like these, is wider."""
    summary = _pooling_summary()
    assert abs(summary.loc["panel", "se_over_sd"] - 1) <= 0.10
    assert summary.loc["panel_nested", "se_over_sd"] > summary.loc["panel", "se_over_sd"]
    assert summary.loc["panel_nested", "false_positive_rate"] <= 0.07


@pytest.mark.slow
def test_pooled_interval_covers_the_programme_effect_when_municipalities_differ():
    """4 municipalities whose effects differ (log-normal, SD 0.15) around a 15 % drop."""
    from pipeline.validation.pooling import pooling_check

    summary = (
        pooling_check(150, effect=0.85, municipality_effect_sd=0.15, municipalities=4)
        .summary()
        .set_index("pool")
    )
    # The nominal 95 %, within what 150 replicates can tell apart.
    assert 0.91 <= summary.loc["panel_nested", "coverage"] <= 0.99
    # The pool of these places is for their own effect, not for municipalities like these.
    assert summary.loc["panel", "coverage"] < summary.loc["panel_nested", "coverage"]
    # Places treated as independent and alike cover far less.
    assert summary.loc["flat_meta", "coverage"] < 0.9


@pytest.mark.slow
def test_demo_ground_truth_calls_are_computed_like_the_study_step():
    from pipeline.validation.demo_truth import demo_truth_calls

    calls = demo_truth_calls([7, 8])
    assert len(calls.table) == 2 * (len(MUNICIPALITIES) + 1)
    assert set(calls.table["unit"]) == {*MUNICIPALITIES, "programme"}
    assert calls.table["true_effect"].all()  # every demo municipality has a true effect
    assert (calls.table["p_adjusted"] >= calls.table["p_value"]).all()
    assert 0 <= calls.rate <= 1


def test_the_comparative_report_displays_what_the_step_wrote(demo_study):
    from pipeline.report.comparative import ComparativeReport

    effects = _study_effects()
    sala = (effects["municipality"] == "Sala") & (effects["indicator"] == "unsafe_evening")
    effects.loc[sala & (effects["design"] == "survey_did"), "primary"] = False
    effects.loc[sala & (effects["design"] == "survey_prepost"), "primary"] = True
    results = study_results(demo_study, effects, list(MUNICIPALITIES), pool=_fake_pool())
    status = pd.DataFrame({"municipality": list(MUNICIPALITIES), "status": "ok"})
    report = ComparativeReport(
        demo_study,
        "en",
        results.effects,
        status,
        pooled=results.pooled,
        problems=results.problems,
        alpha=results.alpha,
    )
    summary = str(report.summary_sentences())
    # The words of the key findings (pipeline.report.words), with the family's adjusted p.
    assert "adjusted p" in summary
    assert any(word in summary for word in ("clear", "probable", "no certain change"))
    synthesis = " ".join(str(part) for part in report.synthesis())
    assert "confirmatory (Holm)" in synthesis
    assert "not pooled (not estimated: 1 estimate(s) measured as share_difference_pp" in synthesis
    # The forest plot: each municipality's confirmatory estimate and the programme's pool,
    # described in its alternative text with the numbers the step wrote.
    figures = [str(part) for part in report.synthesis() if str(part).startswith("<figure")]
    assert len(figures) == 1
    assert "Forest plot for" in figures[0] and "The programme, 10 places 0.85 (0.60" in figures[0]
    assert all(f"{m} 0.80 (0.60–1.05)" in figures[0] for m in MUNICIPALITIES)
    assert "share_difference_pp" in str(report.problems_section())
    table = report.summary_table()
    assert {"family", "adjusted p (within its family)"} <= set(table.columns)
    # The implementation chart takes odds ratios only: Sala's percentage points stay out.
    parts = report.implementation()
    text = " ".join(str(part) for part in parts)
    assert "cannot be set beside" not in text
    assert any(str(part).startswith("<figure") for part in parts)


def test_the_forest_plot_speaks_the_report_language_and_names_who_is_missing(demo_study):
    from pipeline.report.comparative import ComparativeReport

    effects = _study_effects()
    sala = (effects["municipality"] == "Sala") & (effects["place_id"] == "")
    effects = effects[~(sala & (effects["design"] == "panel"))].reset_index(drop=True)
    results = study_results(demo_study, effects, list(MUNICIPALITIES), pool=_fake_pool())
    status = pd.DataFrame({"municipality": list(MUNICIPALITIES), "status": "ok"})
    report = ComparativeReport(
        demo_study, "sv", results.effects, status, pooled=results.pooled, alpha=results.alpha
    )
    figures = [str(part) for part in report.synthesis() if str(part).startswith("<figure")]
    assert len(figures) == 1
    assert "Skogsdiagram för" in figures[0] and "Avesta 0,80 (0,60–1,05)" in figures[0]
    assert "Sala 0,80" not in figures[0]
    assert "Inte i diagrammet: Sala (the panel of its targets was not estimated)" in figures[0]


def test_the_forest_plot_refuses_what_it_cannot_draw():
    from types import SimpleNamespace

    from pipeline.report.figures_pooling import programme_forest_plot

    pooled = SimpleNamespace(estimate=0.9, ci_low=0.8, ci_high=1.0)
    rows = pd.DataFrame({"label": ["A"], "estimate": [0.8], "ci_low": [0.0], "ci_high": [1.1]})
    with pytest.raises(ValueError, match="positive and finite"):
        programme_forest_plot(rows, pooled, xlabel="x", pooled_label="p")
    with pytest.raises(ValueError, match="at least one"):
        programme_forest_plot(rows.iloc[:0], pooled, xlabel="x", pooled_label="p")
