"""The study scaffold (`new`) and what `validate` says is still missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from pipeline.errors import ValidationError
from pipeline.importers.scaffold import (
    EXPLANATION_SHEET,
    WORKBOOK_FILE,
    WORKBOOK_SHEETS,
    missing_steps,
    new_study,
)
from pipeline.run.cli import main
from pipeline.run.paths import DEFAULT_STUDY


def test_new_writes_every_template(tmp_path: Path) -> None:
    folder = tmp_path / "sala"
    assert main(["new", str(folder)]) == 0
    names = {p.name for p in folder.iterdir()}
    assert names == {
        "study.yml",
        "series.csv",
        "survey.csv",
        "survey_shares.csv",
        "inspections.csv",
        "actions.csv",
        WORKBOOK_FILE,
        "README.md",
    }
    assert (folder / "series.csv").read_text() == "place_id,indicator,period,value,exposure\n"
    assert "import-bra" in (folder / "README.md").read_text()


def test_the_workbook_has_a_sheet_per_table_and_explains_every_column(tmp_path: Path) -> None:
    new_study(tmp_path / "s")
    book = load_workbook(tmp_path / "s" / WORKBOOK_FILE)
    assert book.sheetnames == [*(s.sheet for s in WORKBOOK_SHEETS), EXPLANATION_SHEET]
    explained = {
        (row[0], row[1]): row
        for row in book[EXPLANATION_SHEET].iter_rows(min_row=2, values_only=True)
    }
    for spec in WORKBOOK_SHEETS:
        header = [c.value for c in book[spec.sheet][1]]
        assert header == [c.name for c in spec.columns]
        for column in spec.columns:
            sheet, name, sv, en, example = explained[(spec.sheet, column.name)]
            assert sv and en and sv != en and example


def test_new_refuses_a_folder_with_files(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert main(["new", str(folder)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    with pytest.raises(ValidationError):
        new_study(folder / "notes.txt")


def test_validate_lists_what_is_missing_first_thing_first(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "s"
    new_study(folder)
    capsys.readouterr()
    processed = tmp_path / "processed"
    assert main(["validate", "--study", str(folder), "--processed-root", str(processed)]) == 2
    err = capsys.readouterr().err
    steps = [line.strip() for line in err.splitlines() if line.strip()[:1].isdigit()]
    assert "study.yml, row 5: title" in steps[0]
    first_series = next(i for i, s in enumerate(steps) if "series.csv" in s)
    assert all("study.yml" in s for s in steps[:first_series])
    assert "survey.csv" in steps[first_series + 1]
    assert not processed.exists()


def test_a_filled_study_yml_leaves_the_data_steps(tmp_path: Path, import_study: Path) -> None:
    folder = tmp_path / "s"
    new_study(folder)
    shutil.copy(import_study / "study.yml", folder / "study.yml")
    steps = missing_steps(folder)
    assert "series.csv" in steps[0]
    # The sections are set, so the templates only lack their rows.
    assert "no rows yet" in steps[1] and "Enkät" in steps[1]
    (folder / "survey.csv").unlink()
    assert not any("survey.csv" in s for s in missing_steps(folder))


def test_a_complete_study_lacks_nothing(tmp_path: Path) -> None:
    assert missing_steps(DEFAULT_STUDY) == []
    copy = tmp_path / "demo"
    shutil.copytree(DEFAULT_STUDY, copy)
    (copy / "series.csv").write_text("place_id;indicator;period;value\n\n")
    assert len(missing_steps(copy)) == 1
