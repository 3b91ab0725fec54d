"""Excel workbooks → ``survey.csv`` or ``survey_shares.csv``, ``inspections.csv``, ``actions.csv``
(and ``series.csv``).

A partnership keeps its survey answers, inspection protocols and action plan
in Excel, and sometimes a series typed by hand. The importer reads each sheet
of a workbook that holds one of these tables (named as in the study's
template workbook: ``Serier``, ``Enkät``, ``Enkätandelar``, ``Besiktningar``, ``Åtgärder``,
or ``series``, ``survey``, ``survey_shares``, ``inspections``, ``actions``),
turns its cells into the text a study CSV holds, and checks it with the same
reader ``validate`` uses (:func:`pipeline.inputs.survey.read_survey` and the others).
Every problem is mapped back to the cell as Excel shows it
(``Åtgärder!C14``), and nothing is written unless every sheet passed.

How cells become text (the quirks of workbooks saved by Swedish Excel):

- a date cell is written ``YYYY-MM-DD``; in the ``period`` column a date on
  the first of a month is ``YYYY-MM`` (Excel turns a typed ``2021-03`` into
  1 March 2021);
- a whole number stored as a decimal (``7.0``) is written ``7``;
- text cells are kept as typed, so a decimal comma (``11,5``) or digits
  grouped by a space (``1 200``) are read by the study rule;
- the header is the first row that is not empty; empty rows are skipped but
  keep their Excel row number in messages;
- formulas are read through the value Excel last calculated; a formula that
  was never calculated (no cached value) is an error.

The ``Serier`` sheet's rows replace the same places' and indicators' rows in
``series.csv`` (as the other series importers do); each series is checked on
its own there (gaps, partial exposure), and how targets, controls and buffers
fit together is checked by ``validate`` once every series is in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.errors import Problem, ValidationError
from pipeline.inputs.study import SERIES_FILE, Study, load_study

from .record import ImportResult, merged_series
from .scaffold import SURVEY, SURVEY_SHARES, WORKBOOK_SHEETS, Sheet

IMPORTER = "import-excel"
#: Sheet names accepted for each table file (matched regardless of case).
SHEET_NAMES = {
    "series.csv": ("serier", "series"),
    "survey.csv": ("enkät", "survey"),
    "survey_shares.csv": ("enkätandelar", "survey_shares"),
    "inspections.csv": ("besiktningar", "inspections"),
    "actions.csv": ("åtgärder", "actions", "action_plan"),
}
_ROW_IN_MESSAGE = re.compile(r"\b(?:rows?|lines?) (\d+)")


@dataclass(frozen=True)
class SheetText:
    """One sheet written as study CSV text, with the way back to its cells.

    Attributes
    ----------
    sheet : str
        The sheet's name in the workbook.
    text : str
        The sheet as a ``;``-separated CSV, header first.
    rows : dict of int to int
        CSV line number -> Excel row number.
    columns : dict of str to str
        Normalised column name -> Excel column letter.
    problems : list of Problem
        Cells that cannot become text (a formula without a value).
    """

    sheet: str
    text: str
    rows: dict[int, int]
    columns: dict[str, str]
    problems: list[Problem]

    @property
    def has_rows(self) -> bool:
        """Whether the sheet holds anything below its header."""
        return len(self.text.splitlines()) > 1


def cell_text(value: object, column: str = "") -> str:
    """A cell's value as the text a study CSV holds.

    Parameters
    ----------
    value : object
        What openpyxl read (str, int, float, bool, datetime, date, time or None).
    column : str, default ""
        The column's normalised name; ``period`` writes a date as a month.

    Returns
    -------
    str
    """
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if column == "period" and value.day == 1 and value.time() == dt.time():
            return f"{value:%Y-%m}"
        if value.time() == dt.time():
            return f"{value:%Y-%m-%d}"
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date):
        return f"{value:%Y-%m}" if column == "period" and value.day == 1 else value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def sheet_text(ws, file: str, formulas=None) -> SheetText:
    """Write one worksheet as study CSV text, keeping each line's Excel row.

    Parameters
    ----------
    ws : openpyxl worksheet
        Opened with ``data_only=True``: formulas read as the value Excel last
        calculated (None when it never did).
    file : str
        The workbook's path, for problems.
    formulas : openpyxl worksheet, optional
        The same sheet opened with ``data_only=False``, to tell an empty cell
        from a formula without a calculated value.

    Returns
    -------
    SheetText
    """
    from openpyxl.utils import get_column_letter

    from pipeline.inputs.tables import normalise_column

    rows = list(ws.iter_rows())
    header_index = next(
        (i for i, row in enumerate(rows) if any(_filled(c.value) for c in row)), None
    )
    if header_index is None:
        return SheetText(ws.title, "", {}, {}, [])
    header_row = rows[header_index]
    names = [normalise_column(cell_text(c.value)) for c in header_row]
    while names and not names[-1]:
        names.pop()
    columns = {
        name: get_column_letter(header_row[i].column) for i, name in enumerate(names) if name
    }
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    line = 1
    mapping: dict[int, int] = {}
    problems: list[Problem] = []
    for row in rows[header_index:]:
        excel_row = row[0].row if row else None
        cells = []
        for i in range(len(names)):
            cell = row[i] if i < len(row) else None
            value = None if cell is None else cell.value
            formula = (
                formulas[cell.coordinate].value
                if value is None and cell is not None and formulas is not None
                else None
            )
            if isinstance(formula, str) and formula.startswith("="):
                problems.append(
                    Problem(
                        file,
                        f"{ws.title}!{cell.coordinate}: the formula '{formula}' has no calculated "
                        "value; open the workbook in Excel, save it, and import again",
                        excel_row,
                        names[i],
                    )
                )
            cells.append(cell_text(value, names[i]) if i < len(names) else "")
        before = buffer.tell()
        writer.writerow(cells if any(cells) else [])
        mapping[line] = excel_row
        line += buffer.getvalue()[before:].count("\n")
    return SheetText(ws.title, buffer.getvalue(), mapping, columns, problems)


def _filled(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def map_problem(problem: Problem, sheet: SheetText, file: str) -> Problem:
    """A problem found in a sheet's CSV text, told as the Excel cell it comes from.

    Parameters
    ----------
    problem : Problem
        From a study reader, naming the temporary CSV's line and column.
    sheet : SheetText
        The sheet the CSV was written from.
    file : str
        The workbook's path.

    Returns
    -------
    Problem
        Naming the workbook, the Excel row and column, with the cell
        (``Åtgärder!C14``) at the start of the message.
    """
    row = sheet.rows.get(problem.row) if problem.row is not None else None
    letter = sheet.columns.get(problem.column) if problem.column is not None else None
    if row is not None and letter is not None:
        where = f"{sheet.sheet}!{letter}{row}"
    elif row is not None:
        where = f"{sheet.sheet}, row {row}"
    elif letter is not None:
        where = f"{sheet.sheet}, column {letter}"
    else:
        where = f"sheet {sheet.sheet}"
    # Readers name other rows by their CSV line ("duplicate of row 7"): tell them as Excel rows.
    message = _ROW_IN_MESSAGE.sub(
        lambda m: f"row {sheet.rows.get(int(m.group(1)), m.group(1))}", problem.message
    )
    return Problem(file, f"{where}: {message}", row, problem.column)


def _readers(study: Study) -> dict[str, Callable[[Path], pd.DataFrame]]:
    """The reader ``validate`` uses for each table file, with the study's names."""
    from pipeline.inputs.actions import read_actions
    from pipeline.inputs.inspections import read_inspections
    from pipeline.inputs.prepare import _check_survey, check_survey_shares
    from pipeline.inputs.series import read_series
    from pipeline.inputs.survey import read_survey
    from pipeline.inputs.survey_shares import read_survey_shares

    municipalities = study.municipality_names
    places = {p.id: p.municipality for p in study.places}
    return {
        "series.csv": lambda path: read_series(path, _each_series_alone(study)),
        "survey.csv": lambda path: _check_survey(
            study,
            read_survey(path, municipalities=municipalities, places=places),
            str(path),
        ),
        "survey_shares.csv": lambda path: check_survey_shares(
            study,
            read_survey_shares(path, municipalities=municipalities, places=places),
            str(path),
        ),
        "inspections.csv": lambda path: read_inspections(path, places=places),
        "actions.csv": lambda path: read_actions(
            path, municipalities=municipalities, places=places
        ),
    }


def _each_series_alone(study: Study) -> Study:
    """The study without targets, so the series reader checks each series on its own.

    A sheet of series may hold some of the study's series, the rest coming
    from other importers: whether targets, controls and buffers fit together
    is for ``validate`` to check once everything is in ``series.csv``.
    """
    alone = {
        "role": "control",
        "intervention_start": None,
        "controls": (),
        "buffer": None,
        "buffer_controls": (),
        "co_interventions": (),
    }
    return study.model_copy(
        update={"places": tuple(p.model_copy(update=alone) for p in study.places)}
    )


def import_workbook(study_dir: str | Path, workbook: str | Path) -> ImportResult:
    """Read a workbook's survey, inspection and action-plan sheets into contract CSVs.

    Parameters
    ----------
    study_dir : str or Path
        The study folder; its ``study.yml`` must be complete, with a section
        for every table the workbook fills.
    workbook : str or Path
        The ``.xlsx`` file.

    Returns
    -------
    ImportResult
        The CSV files of the sheets that hold rows.

    Raises
    ------
    ValidationError
        Every problem of every sheet, named by its Excel cell; when the
        workbook cannot be opened, holds none of the sheets, or fills a table
        whose section ``study.yml`` lacks.
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    study_dir = Path(study_dir)
    workbook = Path(workbook)
    file = str(workbook)
    study = load_study(study_dir)
    if not workbook.is_file():
        raise ValidationError.single(file, "file not found")
    try:
        book = load_workbook(workbook, data_only=True)
        formulas = load_workbook(workbook, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise ValidationError.single(
            file, f"cannot be opened as an Excel workbook (.xlsx): {exc}"
        ) from None
    by_name = {ws.title.strip().casefold(): ws for ws in book.worksheets}
    readers = _readers(study)
    problems: list[Problem] = []
    outputs: dict[str, bytes] = {}
    notes: list[str] = []
    found_any = False
    for spec in WORKBOOK_SHEETS:
        ws = next((by_name[n] for n in SHEET_NAMES[spec.file] if n in by_name), None)
        if ws is None:
            continue
        found_any = True
        sheet = sheet_text(ws, file, formulas[ws.title])
        if not sheet.has_rows and not sheet.problems:
            notes.append(f"sheet {ws.title} is empty: {spec.file} left as it was")
            continue
        if spec.section is not None and getattr(study, spec.section) is None:
            problems.append(
                Problem(
                    file,
                    f"sheet {ws.title} holds rows but {study_dir / 'study.yml'} has no "
                    f"'{spec.section}' section; add it first",
                )
            )
            continue
        if sheet.problems:
            # Values still to be calculated: the sheet is checked once Excel has saved them.
            problems.extend(sheet.problems)
            continue
        checked = _check_sheet(sheet, spec, readers[spec.file], file)
        if isinstance(checked, list):
            problems.extend(checked)
            continue
        if spec.file == SERIES_FILE:
            outputs[spec.file], replaced = merged_series(
                study_dir, checked.assign(period=checked["period"].astype(str))
            )
            if replaced:
                notes.append(
                    f"replaced {replaced} rows of series.csv for the same places and indicators"
                )
        else:
            outputs[spec.file] = _contract_csv(sheet.text)
        notes.append(f"sheet {ws.title}: {len(checked)} rows -> {spec.file}")
    if {"survey.csv", "survey_shares.csv"} <= set(outputs):
        problems.append(
            Problem(
                file,
                f"sheets {SURVEY.sheet} and {SURVEY_SHARES.sheet} both hold rows: a study gives "
                "the survey's answers or a report's shares, not both; empty one of them",
            )
        )
    if not found_any:
        expected = ", ".join(spec.sheet for spec in WORKBOOK_SHEETS)
        raise ValidationError.single(
            file,
            f"holds none of the sheets {expected} (sheets found: "
            f"{', '.join(ws.title for ws in book.worksheets)})",
        )
    if problems:
        raise ValidationError(problems)
    if not outputs:
        raise ValidationError.single(file, "every sheet is empty: nothing to import")
    return ImportResult(
        importer=IMPORTER,
        outputs=outputs,
        sources=(workbook,),
        parameters={"workbook": workbook.name},
        notes=tuple(notes),
    )


def _check_sheet(sheet: SheetText, spec: Sheet, reader, file: str) -> pd.DataFrame | list[Problem]:
    """What the reader read, or its problems told as Excel cells."""
    with tempfile.TemporaryDirectory(prefix="trygga-excel-") as folder:
        path = Path(folder) / spec.file
        path.write_text(sheet.text, encoding="utf-8")
        try:
            frame = reader(path)
        except ValidationError as exc:
            return [map_problem(p, sheet, file) for p in exc.problems]
    return frame


def _contract_csv(text: str) -> bytes:
    """The sheet's CSV text without its empty rows."""
    records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=";") if r]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=";", lineterminator="\n").writerows(records)
    return buffer.getvalue().encode("utf-8")
