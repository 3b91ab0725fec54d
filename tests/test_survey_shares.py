"""Perceived safety from a survey report's shares: the reader, the designs and their error rates."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.designs.survey import NEEDS_MICRODATA, reported_area_shares, survey_effects
from pipeline.errors import ValidationError
from pipeline.importers.scaffold import missing_steps
from pipeline.inputs.prepare import load_processed, prepare_study, read_study
from pipeline.inputs.study import SURVEY_FILE, SURVEY_SHARES_FILE
from pipeline.inputs.survey_shares import read_survey_shares, shares_from_microdata
from pipeline.methods.survey import share_unsafe
from pipeline.methods.survey_areas import (
    area_difference_in_differences,
    shares_change,
    shares_difference_in_differences,
)
from pipeline.report.final_inputs import FinalReportInputs
from pipeline.report.final_report import FinalReport
from pipeline.validation.shares_simulation import shares_inference_study

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"

HEADER = (
    "municipality;place_id;wave;question;share_unsafe;respondents;design_effect;weighted_base\n"
)


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / SURVEY_SHARES_FILE
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_reads_a_report_s_shares_with_decimal_commas_and_blank_optional_cells(tmp_path):
    path = write(
        tmp_path,
        "Sala;sala_stationen;2019-10-15;otrygg_kvall;0,34;212;1,3;\n"
        "sala;sala_vaster;2019-10-15;otrygg_kvall;0,2;180;;\n",
    )
    frame = read_survey_shares(
        path, municipalities=["Sala"], places=["sala_stationen", "sala_vaster"]
    )
    assert frame["municipality"].tolist() == ["Sala", "Sala"]
    assert frame["share_unsafe"].tolist() == [0.34, 0.2]
    assert frame["respondents"].tolist() == [212, 180]
    assert frame["design_effect"].iloc[0] == 1.3 and np.isnan(frame["design_effect"].iloc[1])
    assert frame["weighted_base"].isna().all()
    assert frame["wave"].dtype.kind == "M"


def test_every_problem_is_named_by_line_and_column(tmp_path):
    path = write(
        tmp_path,
        "Sala;sala_stationen;2019-10-15;q;34;212;;\n"  # a percentage
        "Sala;nowhere;2019-10-15;q;0,3;10;;\n"
        "Sala;;2019-10-15;q;0,3;10;;\n"
        "Sala;sala_vaster;15/10/2019;q;0,3;0;abc;-2\n"
        "Sala;sala_vaster;2019-10-15;q;0,3;10;;\n"
        "Sala;sala_vaster;2019-10-15;q;0,4;12;;\n",
    )
    with pytest.raises(ValidationError) as caught:
        read_survey_shares(path, municipalities=["Sala"], places=["sala_stationen", "sala_vaster"])
    found = {(p.row, p.column): p.message for p in caught.value.problems}
    assert "write a percentage as a share" in found[(2, "share_unsafe")]
    assert "unknown place_id 'nowhere'" in found[(3, "place_id")]
    assert "a share belongs to an area" in found[(4, "place_id")]
    assert (5, "wave") in found and (5, "respondents") in found
    assert (5, "design_effect") in found and (5, "weighted_base") in found
    assert "given twice (first on line 6)" in found[(7, "place_id")]
    assert all(p.file == str(path) for p in caught.value.problems)


# --------------------------------------------------------------------------- same as microdata


@pytest.fixture(scope="module")
def demo():
    return read_study(DEMO_DIR)


def test_shares_of_the_demo_give_the_microdata_estimate(demo):
    settings = demo.study.survey
    shares = shares_from_microdata(demo.survey, settings.unsafe_answers)
    compared = 0
    for municipality in demo.study.municipality_names:
        targets = [p.id for p in demo.study.targets(municipality)]
        controls = sorted({c for p in demo.study.targets(municipality) for c in p.controls})
        common = dict(
            treated=targets,
            comparison=controls,
            before=settings.before,
            after=settings.after,
            question=settings.question,
        )
        micro = area_difference_in_differences(
            demo.survey[demo.survey["municipality"] == municipality],
            unsafe=settings.unsafe_answers,
            **common,
        )
        reported = shares_difference_in_differences(
            shares[shares["municipality"] == municipality], **common
        )
        for estimand in ("share_difference_pp", "odds_ratio"):
            assert reported.values(estimand) == pytest.approx(micro.values(estimand), rel=1e-9)
        assert reported.df == micro.df
        compared += 1
    assert compared == 4


def test_the_study_with_shares_gives_the_microdata_rows_and_refuses_the_ordinal_model(demo):
    shares = shares_from_microdata(demo.survey, demo.study.survey.unsafe_answers)
    reported = dataclasses.replace(demo, survey=None, survey_shares=shares)
    for municipality in demo.study.municipality_names:
        micro_rows, _ = survey_effects(demo, municipality)
        share_rows, skipped = survey_effects(reported, municipality)
        by_design = {e.design: e for e in micro_rows}
        assert {e.design for e in share_rows} == {"survey_did", "survey_did_odds", "survey_prepost"}
        for effect in share_rows:
            expected = by_design[effect.design]
            assert (
                effect.estimate,
                effect.ci_low,
                effect.ci_high,
                effect.p_value,
            ) == pytest.approx(
                (expected.estimate, expected.ci_low, expected.ci_high, expected.p_value),
                rel=1e-9,
                nan_ok=True,
            )
            assert effect.primary == expected.primary
        assert ("survey_ordinal", NEEDS_MICRODATA) in skipped
        # The report's table of shares per arm and wave is the microdata's.
        table = reported_area_shares(reported, municipality).table.set_index(["area", "wave"])
        frame = demo.survey[demo.survey["municipality"] == municipality]
        targets = [p.id for p in demo.study.targets(municipality)]
        frame = frame.assign(area=np.where(frame["place_id"].isin(targets), "target", "comparison"))
        frame = frame[frame["place_id"].isin(set(shares["place_id"]))]
        micro = share_unsafe(frame, question=demo.study.survey.question, by="area")
        micro = micro.table.set_index(["area", "wave"])
        assert table["share"].to_numpy() == pytest.approx(micro["share"].to_numpy(), nan_ok=True)
        assert table["ci_low"].to_numpy() == pytest.approx(micro["ci_low"].to_numpy(), nan_ok=True)


def test_without_a_design_effect_the_before_after_interval_says_it_assumes_equal_weights(demo):
    settings = demo.study.survey
    shares = shares_from_microdata(demo.survey, settings.unsafe_answers)
    targets = [p.id for p in demo.study.targets("Sala")]
    common = dict(
        areas=targets, before=settings.before, after=settings.after, question=settings.question
    )
    given, notes = shares_change(shares, **common)
    blank, blank_notes = shares_change(shares.assign(design_effect=np.nan), **common)
    assert notes == ()
    assert any("design effect 1" in n for n in blank_notes)
    width = lambda c: c.table["diff_high_pp"].iloc[0] - c.table["diff_low_pp"].iloc[0]  # noqa: E731
    assert width(blank) < width(given)
    assert blank.table["diff_pp"].iloc[0] == pytest.approx(given.table["diff_pp"].iloc[0])


# --------------------------------------------------------------------------- the study folder


@pytest.fixture
def shares_study(tmp_path: Path, demo) -> Path:
    folder = tmp_path / "shares_study"
    shutil.copytree(DEMO_DIR, folder)
    (folder / SURVEY_FILE).unlink()
    # The local problems index needs microdata: a study of shares leaves it out.
    study = folder / "study.yml"
    text = study.read_text("utf-8")
    start = text.index("  problems_index:\n")
    end = text.index("  min_answered: 2\n", start) + len("  min_answered: 2\n")
    study.write_text(text[:start] + text[end:], "utf-8")
    shares = shares_from_microdata(demo.survey, demo.study.survey.unsafe_answers)
    shares.assign(wave=shares["wave"].dt.date.astype(str)).to_csv(
        folder / SURVEY_SHARES_FILE, sep=";", index=False, decimal=","
    )
    return folder


def test_a_study_with_reported_shares_is_prepared_and_evaluated(shares_study, tmp_path):
    processed = tmp_path / "processed"
    data = prepare_study(shares_study, processed)
    assert data.survey is None and len(data.survey_shares) == 5 * 30  # 15 areas, 2 waves
    assert (processed / "survey_shares.parquet").is_file()
    assert not (processed / "survey.parquet").exists()
    assert SURVEY_SHARES_FILE in data.manifest["inputs"]
    loaded = load_processed(processed)
    rows, _ = survey_effects(loaded, "Sala")
    assert {e.design for e in rows} == {"survey_did", "survey_did_odds", "survey_prepost"}


def test_a_study_with_both_survey_files_is_refused_and_nothing_is_written(shares_study, tmp_path):
    shutil.copy(DEMO_DIR / SURVEY_FILE, shares_study / SURVEY_FILE)
    processed = tmp_path / "processed"
    with pytest.raises(ValidationError) as caught:
        prepare_study(shares_study, processed)
    assert any("give the 'survey' section one of them" in p.message for p in caught.value.problems)
    assert not processed.exists()


def test_shares_without_the_configured_wave_are_refused(shares_study):
    path = shares_study / SURVEY_SHARES_FILE
    lines = path.read_text("utf-8").splitlines()
    path.write_text("\n".join(x for x in lines if "2019-10-15" not in x) + "\n", "utf-8")
    with pytest.raises(ValidationError, match="wave 2019-10-15 named in study.yml"):
        read_study(shares_study)


# --------------------------------------------------------------------------- error rates


@pytest.mark.slow
def test_inference_from_shares_holds_its_coverage_with_design_effects():
    study = shares_inference_study(reps=300, seed=7, arms=((3, 3),), shock_sds=(0.3,))
    did = study[study["inference"].str.startswith("difference")].iloc[0]
    reported = study[study["inference"].str.contains("reported")].iloc[0]
    blank = study[study["inference"].str.contains("blank")].iloc[0]
    assert did["mean_design_effect"] > 1.3
    # Nominal 95 %: a binomial standard error of 300 replicates is about 1.3 points.
    assert abs(did["coverage"] - 0.95) < 0.04
    assert abs(reported["coverage"] - 0.95) < 0.04
    # Leaving the design effect out narrows the interval and loses coverage.
    assert blank["coverage"] < reported["coverage"]


def test_an_empty_survey_template_beside_the_shares_is_not_a_second_survey(shares_study):
    (shares_study / SURVEY_FILE).write_text(
        "respondent_id,municipality,place_id,wave,question,answer,weight\n", "utf-8"
    )
    assert missing_steps(shares_study) == []
    data = read_study(shares_study)
    assert data.survey is None and data.survey_shares is not None


def test_the_local_problems_index_needs_microdata(shares_study, tmp_path):
    shutil.copy(DEMO_DIR / "study.yml", shares_study / "study.yml")
    with pytest.raises(ValidationError, match="needs every respondent's answers"):
        read_study(shares_study)


def test_the_final_report_tables_reported_shares_as_it_tables_microdata(demo):
    shares = shares_from_microdata(demo.survey, demo.study.survey.unsafe_answers)
    reported = dataclasses.replace(demo, survey=None, survey_shares=shares)

    def survey_table(data):
        inputs = FinalReportInputs(
            paths=None,
            data=data,
            effects=pd.DataFrame(),
            pooled=pd.DataFrame(),
            status=[],
            texts=None,
            lang="en",
        )
        return FinalReport(inputs).survey_table()

    micro, table = survey_table(demo), survey_table(reported)
    assert micro is not None and table is not None
    assert len(table.rows) == 8  # four municipalities, target and comparison areas
    assert table.rows == micro.rows
