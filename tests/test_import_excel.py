"""Excel workbooks -> survey.csv, inspections.csv, actions.csv, errors named by Excel cell."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from pipeline.errors import ValidationError
from pipeline.importers.excel import cell_text, import_workbook
from pipeline.importers.record import RECORD_FILE
from pipeline.importers.scaffold import WORKBOOK_FILE, new_study
from pipeline.inputs.actions import read_actions
from pipeline.inputs.inspections import read_inspections
from pipeline.inputs.survey import read_survey
from pipeline.inputs.survey_shares import read_survey_shares
from pipeline.run.cli import main

ASPECTS = [
    "Belysning",
    "Siktlinjer",
    "Vegetation",
    "Skötsel",
    "Orienterbarhet",
    "Folkliv",
    "Tillgänglighet",
    "Trafik",
    "Platsens identitet",
]


def filled_workbook(tmp_path: Path) -> Path:
    """The scaffold's workbook filled in the way Swedish Excel saves it."""
    new_study(tmp_path / "template")
    book = load_workbook(tmp_path / "template" / WORKBOOK_FILE)
    survey = book["Enkät"]
    respondent = 0
    for wave in (dt.datetime(2019, 10, 15), dt.datetime(2022, 4, 15)):
        for place in ("sala_stationen", "sala_vaster"):
            for answer in (1, 2, 3, 4, 2, 3):
                respondent += 1
                # Weights typed as text with a decimal comma; answers stored as decimals.
                survey.append(
                    [
                        f"R{respondent:03d}",
                        "sala",
                        place,
                        wave,
                        "otrygg_kvall",
                        float(answer),
                        "11,5",
                    ]
                )
    inspections = book["Besiktningar"]
    for date, base in ((dt.datetime(2020, 8, 18), 6), (dt.datetime(2022, 5, 2), 10)):
        for i, aspect in enumerate(ASPECTS):
            inspections.append(["sala_stationen", aspect, date, float(base + i % 3)])
    actions = book["Åtgärder"]
    actions.append([])  # an empty row the user left under the header
    actions.append(
        [
            "Sala",
            "sala_stationen",
            "SA-01",
            "Ny belysning;\ni gångtunneln",
            "lighting",
            dt.datetime(2020, 11, 1),
            dt.datetime(2021, 4, 1),
            "started",
        ]
    )
    actions.append(
        ["Sala", None, "SA-02", "Trygghetsvandring", "events", "2020-09-01", "2021-04-01", "done"]
    )
    path = tmp_path / "indata.xlsx"
    book.save(path)
    return path


def test_cell_text_follows_the_study_rule() -> None:
    assert cell_text(7.0) == "7"
    assert cell_text(20.36) == "20.36"
    assert cell_text(dt.datetime(2021, 3, 1)) == "2021-03-01"
    assert cell_text(dt.datetime(2021, 3, 1), "period") == "2021-03"
    assert cell_text(dt.datetime(2021, 3, 1, 14, 0)) == "2021-03-01 14:00"
    assert cell_text(" 11,5 ") == "11,5"
    assert cell_text(None) == ""


def test_a_filled_workbook_becomes_the_contract_csvs(import_study: Path, tmp_path: Path) -> None:
    workbook = filled_workbook(tmp_path)
    assert main(["import-excel", "--study", str(import_study), str(workbook)]) == 0
    places = {"sala_stationen": "Sala", "sala_vaster": "Sala"}
    survey = read_survey(
        import_study / "survey.csv", municipalities=["Sala", "Avesta"], places=places
    )
    assert len(survey) == 24 and set(survey["weight"]) == {11.5}
    assert set(survey["municipality"]) == {"Sala"}
    inspections = read_inspections(import_study / "inspections.csv", places=places)
    assert len(inspections) == 18
    actions = read_actions(import_study / "actions.csv", municipalities=["Sala"], places=places)
    assert list(actions["measure_id"]) == ["SA-01", "SA-02"]
    assert actions["description"].iloc[0] == "Ny belysning;\ni gångtunneln"
    record = json.loads((import_study / RECORD_FILE).read_text())["imports"][0]
    assert record["importer"] == "import-excel"
    assert record["sources"][0]["path"].endswith("indata.xlsx")
    assert len(record["sources"][0]["sha256"]) == 64
    assert set(record["outputs"]) == {"survey.csv", "inspections.csv", "actions.csv"}


def test_errors_name_the_excel_cell(import_study: Path, tmp_path: Path, capsys) -> None:
    workbook = filled_workbook(tmp_path)
    book = load_workbook(workbook)
    actions = book["Åtgärder"]
    actions["E3"] = "belysning"  # row 3: the first measure (row 2 is the empty one)
    actions["H4"] = "klar"
    book["Enkät"]["F7"] = 7
    book.save(workbook)
    before = sorted(p.name for p in import_study.iterdir())
    assert main(["import-excel", "--study", str(import_study), str(workbook)]) == 2
    err = capsys.readouterr().err
    assert "Åtgärder!E3" in err and "belysning" in err
    assert "Åtgärder!H4" in err
    assert "Enkät!F7" in err
    assert sorted(p.name for p in import_study.iterdir()) == before


def test_a_duplicate_names_both_excel_rows(import_study: Path, tmp_path: Path) -> None:
    workbook = filled_workbook(tmp_path)
    book = load_workbook(workbook)
    actions = book["Åtgärder"]
    actions.append([c.value for c in actions[4]])
    book.save(workbook)
    with pytest.raises(ValidationError) as caught:
        import_workbook(import_study, workbook)
    (problem,) = caught.value.problems
    # The first measure's description spans two lines, so CSV lines and Excel rows differ.
    assert problem.message.startswith("Åtgärder!G5: ")
    assert "row 4" in problem.message and problem.row == 5


def test_a_sheet_without_its_study_section_is_an_error(import_study: Path, tmp_path: Path) -> None:
    workbook = filled_workbook(tmp_path)
    text = (
        (import_study / "study.yml")
        .read_text()
        .replace("inspections: {indicator: inspection_score}\n", "")
    )
    (import_study / "study.yml").write_text(text)
    with pytest.raises(ValidationError, match="Besiktningar holds rows but .* no 'inspections'"):
        import_workbook(import_study, workbook)


def test_a_workbook_without_the_sheets_or_not_a_workbook(
    import_study: Path, tmp_path: Path
) -> None:
    book = Workbook()
    book.active.title = "Blad1"
    path = tmp_path / "other.xlsx"
    book.save(path)
    with pytest.raises(ValidationError, match="none of the sheets"):
        import_workbook(import_study, path)
    fake = tmp_path / "fake.xlsx"
    fake.write_text("respondent_id;municipality\n")
    with pytest.raises(ValidationError, match="cannot be opened as an Excel workbook"):
        import_workbook(import_study, fake)


def test_an_uncalculated_formula_is_an_error(import_study: Path, tmp_path: Path) -> None:
    workbook = filled_workbook(tmp_path)
    book = load_workbook(workbook)
    book["Besiktningar"]["D3"] = "=5+2"  # saved by openpyxl: no cached value
    book.save(workbook)
    with pytest.raises(ValidationError) as caught:
        import_workbook(import_study, workbook)
    (problem,) = caught.value.problems
    assert problem.message.startswith("Besiktningar!D3: the formula '=5+2' has no calculated value")


def test_the_imported_study_validates_with_the_series(import_study: Path, tmp_path: Path) -> None:
    """The contract files written are what `validate` reads."""
    from pipeline.inputs.prepare import read_study

    workbook = filled_workbook(tmp_path)
    assert main(["import-excel", "--study", str(import_study), str(workbook)]) == 0
    months = pd.period_range("2019-01", "2021-12", freq="M").astype(str)
    rows = [
        f"{place},{ind},{m},{5 + i % 4}"
        for place in ("sala_stationen", "sala_vaster", "sala_stationen_buffert")
        for ind in ("crimes_total",)
        for i, m in enumerate(months)
    ]
    (import_study / "series.csv").write_text(
        "place_id,indicator,period,value\n" + "\n".join(rows) + "\n"
    )
    data = read_study(import_study)
    assert len(data.survey) == 24 and len(data.actions) == 2


def test_the_series_sheet_merges_into_series_csv(import_study: Path, tmp_path: Path) -> None:
    """Excel turns a typed 2021-03 into a date; a series sheet may hold some series only."""
    (import_study / "series.csv").write_text(
        "place_id,indicator,period,value,exposure\nsala,crimes_total,2021-01,200,22845\n"
    )
    new_study(tmp_path / "template")
    book = load_workbook(tmp_path / "template" / WORKBOOK_FILE)
    sheet = book["Serier"]
    for month in (1, 2, 3):
        sheet.append(
            ["sala_stationen", "footfall", dt.datetime(2021, month, 1), 15230.0 + month, "31"]
        )
    path = tmp_path / "serier.xlsx"
    book.save(path)
    result = import_workbook(import_study, path)
    assert set(result.outputs) == {"series.csv"}
    text = result.outputs["series.csv"].decode()
    assert "sala,crimes_total,2021-01,200,22845" in text
    assert "sala_stationen,footfall,2021-03,15233,31" in text
    # A gap inside the sheet's series is named by the row where it resumes.
    sheet.delete_rows(3)
    book.save(path)
    with pytest.raises(ValidationError) as caught:
        import_workbook(import_study, path)
    (problem,) = caught.value.problems
    assert problem.message.startswith("Serier!C3: gap in the series of sala_stationen / footfall")


def shares_workbook(tmp_path: Path) -> tuple[Path, object]:
    """The scaffold's workbook with a survey report's shares typed in, percentages as shares."""
    new_study(tmp_path / "template")
    book = load_workbook(tmp_path / "template" / WORKBOOK_FILE)
    sheet = book["Enkätandelar"]
    for wave in (dt.datetime(2019, 10, 15), dt.datetime(2022, 4, 15)):
        for place, share in (("sala_stationen", "0,34"), ("sala_vaster", 0.21)):
            sheet.append(["Sala", place, wave, "otrygg_kvall", share, 212.0, "1,3", None])
    return tmp_path / "indata.xlsx", book


def test_a_report_s_shares_become_survey_shares_csv(import_study: Path, tmp_path: Path) -> None:
    workbook, book = shares_workbook(tmp_path)
    book.save(workbook)
    assert main(["import-excel", "--study", str(import_study), str(workbook)]) == 0
    assert not (import_study / "survey.csv").exists()
    shares = read_survey_shares(
        import_study / "survey_shares.csv",
        municipalities=["Sala"],
        places=["sala_stationen", "sala_vaster"],
    )
    assert shares["share_unsafe"].tolist() == [0.34, 0.21, 0.34, 0.21]
    assert set(shares["respondents"]) == {212} and set(shares["design_effect"]) == {1.3}


def test_a_share_written_as_a_percentage_is_named_by_its_cell(
    import_study: Path, tmp_path: Path, capsys
) -> None:
    workbook, book = shares_workbook(tmp_path)
    book["Enkätandelar"]["E3"] = 21
    book.save(workbook)
    assert main(["import-excel", "--study", str(import_study), str(workbook)]) == 2
    err = capsys.readouterr().err
    assert "Enkätandelar!E3" in err and "as a share" in err
    assert not (import_study / "survey_shares.csv").exists()


def test_answers_and_shares_together_are_refused(
    import_study: Path, tmp_path: Path, capsys
) -> None:
    filled = load_workbook(filled_workbook(tmp_path / "answers"))
    workbook, book = shares_workbook(tmp_path)
    for row in filled["Enkät"].iter_rows(min_row=2, values_only=True):
        book["Enkät"].append(list(row))
    book.save(workbook)
    assert main(["import-excel", "--study", str(import_study), str(workbook)]) == 2
    assert "not both" in capsys.readouterr().err
    assert not (import_study / "survey.csv").exists()
