"""A new study folder, and what it still lacks.

:func:`new_study` writes a commented ``study.yml`` whose blanks are marked
``<fyll i | fill in: …>``, the contract CSV files with their header only, one
Excel workbook with a sheet per input (series, survey, inspections, action
plan) and a sheet explaining every column in Swedish and English, and a README with the steps. :func:`missing_steps` reads a study
folder and lists, first thing first, what is still to do; ``validate`` prints
that list instead of a wall of errors while the study is unfinished.

Most of its length (over 500 lines) is the declarative description of every template's
columns in Swedish and English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ValidationError
from pipeline.inputs.study import (
    ACTIONS_FILE,
    INSPECTIONS_FILE,
    SERIES_FILE,
    STUDY_FILE,
    SURVEY_FILE,
    SURVEY_SHARES_FILE,
)

WORKBOOK_FILE = "indata.xlsx"
README_FILE = "README.md"
PLACEHOLDER = re.compile(r"<fyll i \| fill in:[^>]*>")


@dataclass(frozen=True)
class Column:
    """One column of a study table, explained in both languages."""

    name: str
    sv: str
    en: str
    example: str


@dataclass(frozen=True)
class Sheet:
    """A study table as a CSV file, a workbook sheet and a ``study.yml`` section."""

    file: str
    sheet: str
    section: str | None
    columns: tuple[Column, ...]


SERIES = Sheet(
    SERIES_FILE,
    "Serier",
    None,
    (
        Column(
            "place_id", "platsens id i study.yml", "the place's id in study.yml", "sala_stationen"
        ),
        Column(
            "indicator",
            "indikatorns id i study.yml",
            "the indicator's id in study.yml",
            "crimes_total",
        ),
        Column("period", "månaden, ÅÅÅÅ-MM", "the month, YYYY-MM", "2021-03"),
        Column(
            "value",
            "värdet: ett antal, eller en andel 0–1",
            "the value: a count, or a share 0-1",
            "14",
        ),
        Column(
            "exposure",
            "valfri exponering: befolkning, dagar räknade … (för alla månader eller ingen)",
            "optional exposure: population, days counted … (for every month or none)",
            "31",
        ),
    ),
)
SURVEY = Sheet(
    SURVEY_FILE,
    "Enkät",
    "survey",
    (
        Column(
            "respondent_id",
            "pseudonymt id för den svarande",
            "pseudonymous respondent id",
            "SA-2019-0001",
        ),
        Column(
            "municipality", "kommunen, som i study.yml", "the municipality, as in study.yml", "Sala"
        ),
        Column(
            "place_id",
            "området den svarande bor i (målområde eller jämförelseområde); får vara tomt",
            "the area the respondent lives in (target or comparison area); may be blank",
            "sala_stationen",
        ),
        Column(
            "wave", "enkätomgångens datum, ÅÅÅÅ-MM-DD", "the survey wave, YYYY-MM-DD", "2019-10-15"
        ),
        Column("question", "frågans kod", "the question code", "otrygg_kvall"),
        Column(
            "answer",
            "1 mycket trygg, 2 ganska trygg, 3 ganska otrygg, 4 mycket otrygg, 5 går inte ut / inget svar",
            "1 very safe, 2 fairly safe, 3 fairly unsafe, 4 very unsafe, 5 don't go out / no answer",
            "2",
        ),
        Column("weight", "vikt, positiv", "survey weight, positive", "11,5"),
    ),
)
SURVEY_SHARES = Sheet(
    SURVEY_SHARES_FILE,
    "Enkätandelar",
    "survey",
    (
        Column(
            "municipality", "kommunen, som i study.yml", "the municipality, as in study.yml", "Sala"
        ),
        Column(
            "place_id",
            "området (målområde eller jämförelseområde)",
            "the area (target or comparison area)",
            "sala_stationen",
        ),
        Column(
            "wave", "enkätomgångens datum, ÅÅÅÅ-MM-DD", "the survey wave, YYYY-MM-DD", "2019-10-15"
        ),
        Column("question", "frågans kod", "the question code", "otrygg_kvall"),
        Column(
            "share_unsafe",
            "den viktade andelen otrygga enligt rapporten, 0–1 (34 % skrivs 0,34)",
            "the report's weighted share feeling unsafe, 0-1 (34 % is 0.34)",
            "0,34",
        ),
        Column(
            "respondents",
            "antal som besvarat frågan (ovägt)",
            "the number who answered the question (unweighted)",
            "212",
        ),
        Column(
            "design_effect",
            "valfri: viktningens designeffekt; tom om rapporten inte anger den",
            "optional: the design effect of the weights; blank when the report does not give it",
            "1,3",
        ),
        Column(
            "weighted_base",
            "valfri: summan av de svarandes vikter (vägd bas)",
            "optional: the sum of the respondents' weights (weighted base)",
            "2480",
        ),
    ),
)
INSPECTIONS = Sheet(
    INSPECTIONS_FILE,
    "Besiktningar",
    "inspections",
    (
        Column(
            "place_id", "platsens id i study.yml", "the place's id in study.yml", "sala_stationen"
        ),
        Column(
            "aspect",
            "aspekten (samma nio vid varje besiktning)",
            "the aspect (the same nine at every inspection)",
            "Belysning",
        ),
        Column(
            "date",
            "besiktningens datum, ÅÅÅÅ-MM-DD",
            "the inspection date, YYYY-MM-DD",
            "2020-08-18",
        ),
        Column(
            "score",
            "poäng 0–20 (röd 0–6, gul 7–13, grön 14–20)",
            "score 0-20 (red 0-6, yellow 7-13, green 14-20)",
            "7",
        ),
    ),
)
ACTIONS = Sheet(
    ACTIONS_FILE,
    "Åtgärder",
    "action_plan",
    (
        Column(
            "municipality", "kommunen, som i study.yml", "the municipality, as in study.yml", "Sala"
        ),
        Column(
            "place_id",
            "platsens id; tomt för åtgärder i hela kommunen",
            "the place's id; blank for municipality-wide measures",
            "sala_stationen",
        ),
        Column(
            "measure_id",
            "åtgärdens id, unikt i kommunen",
            "the measure's id, unique in the municipality",
            "SA-01",
        ),
        Column(
            "description", "vad åtgärden är", "what the measure is", "Ny belysning i gångtunneln"
        ),
        Column(
            "category",
            "lighting, vegetation, cleaning, guards, cameras, events, redesign eller other",
            "lighting, vegetation, cleaning, guards, cameras, events, redesign or other",
            "lighting",
        ),
        Column(
            "planned_start", "planerad start, ÅÅÅÅ-MM-DD", "planned start, YYYY-MM-DD", "2020-11-01"
        ),
        Column(
            "followup_date",
            "uppföljningens datum, ÅÅÅÅ-MM-DD",
            "the follow-up date, YYYY-MM-DD",
            "2021-04-01",
        ),
        Column(
            "status",
            "planned, started, done eller cancelled vid uppföljningen",
            "planned, started, done or cancelled at the follow-up",
            "started",
        ),
    ),
)
#: Every contract table, in the order a study is filled in.
SHEETS = (SERIES, SURVEY, SURVEY_SHARES, INSPECTIONS, ACTIONS)
#: Tables that are alternatives: a study gives one of them (the survey's microdata or a
#: report's shares).
ALTERNATIVES = {SURVEY.file: SURVEY_SHARES, SURVEY_SHARES.file: SURVEY}
#: The tables the Excel importer reads from a workbook: all of them.
WORKBOOK_SHEETS = SHEETS
EXPLANATION_SHEET = "Förklaring"

STUDY_TEMPLATE = """\
# study.yml – the description of one evaluation study (beskrivning av studien).
# Replace every <fyll i | fill in: …>; `python -m pipeline validate --study .` lists
# what is still missing, first thing first. The README of the pipeline ("The study:
# data contract") explains every field.
title: "<fyll i | fill in: the study's title, e.g. Trygga Platser – Sala>"
synthetic: false                  # true only for made-up data: every report then says so

municipalities:
  # kommunkod: SCB's four-digit code, in quotes; population: the exposure of
  # municipality-wide series (SCB table BE0101N1).
  - name: "<fyll i | fill in: municipality, e.g. Sala>"
    kommunkod: "<fyll i | fill in: four digits, e.g. 1981>"
    county: "<fyll i | fill in: county, e.g. Västmanland>"

places:
  # role: target (the measures' place) | control (a comparison area without the
  # measures) | buffer (the area around a target, for displacement).
  # ids: lower-case letters, digits and _. The place polygons file (import-offences)
  # uses the same ids.
  - id: "<fyll i | fill in: the target's id, e.g. sala_stationen>"
    name: "<fyll i | fill in: the target's name, e.g. Stationen>"
    municipality: "<fyll i | fill in: the municipality above>"
    role: target
    intervention_start: "<fyll i | fill in: when the measures started, YYYY-MM-DD>"
    controls: ["<fyll i | fill in: the comparison area's id, e.g. sala_vaster>"]
    # buffer: sala_stationen_buffert        # optional: a place with role buffer
    # co_interventions:                     # optional: other measures later at the place
    #   - {start: 2023-11-01, description: Police camera surveillance}
  - id: "<fyll i | fill in: the comparison area's id, e.g. sala_vaster>"
    name: "<fyll i | fill in: the comparison area's name>"
    municipality: "<fyll i | fill in: the municipality above>"
    role: control
  # - {id: sala_stationen_buffert, name: Kvarteren runt stationen, municipality: Sala, role: buffer}

indicators:
  # family: count | proportion | ordinal | score | continuous; better: lower | higher.
  - id: crimes_total
    label_sv: Anmälda brott, totalt
    label_en: Reported crimes, total
    family: count
    better: lower
    unit: anmälda brott per månad
  # - {id: footfall, label_sv: Besökare, label_en: Footfall, family: count, better: higher,
  #    unit: besökare per dag}

shocks:                           # common disturbances a model without controls adjusts for
  - {id: covid19, label_sv: covid-19-pandemin, label_en: COVID-19 pandemic, start: 2020-03-01, end: 2022-02-28}

donor_pool: []                    # optional: control places compared with every target

# With survey.csv (perceived safety, one row per answer; import-excel reads it from
# indata.xlsx), or survey_shares.csv when only a survey report's shares per area and
# wave are at hand (sheet Enkätandelar):
# survey:
#   indicator: unsafe_evening     # an indicator of family proportion
#   question: otrygg_kvall        # the question code in survey.csv or survey_shares.csv
#   unsafe_answers: [3, 4]        # microdata only: a report's shares are as it counted them
#   before: [2019-10-15]
#   after: [2022-04-15]
#   problems_index:               # optional, survey.csv only: the local problems index,
#     indicator: local_problems   # an indicator of family continuous, better: lower
#     questions: [problem_nedskrapning, problem_klotter, problem_belysning]
# With inspections.csv (trygghetsbesiktning):
# inspections: {indicator: inspection_score}   # an indicator of family score
# With actions.csv (the action plan):
# action_plan: {project_start: 2020-04-01, horizons_months: [12, 24]}
"""

README_TEMPLATE = """\
# {title}

A study folder for the Trygga Platser evaluation pipeline, started with
`python -m pipeline new`. Raw files here are only ever read by the evaluation.

## Steps (`python -m pipeline validate --study {folder}` says which is next)

1. **study.yml**: replace every `<fyll i | fill in: …>`: the municipality, the places
   (targets, comparison areas, buffers) and the indicators.
2. **series.csv**: one row per place, indicator and month. Write it with the importers
   rather than by hand:
   - `python -m pipeline import-bra --study {folder} --source <Databasfil export or folder>
     --category "Totalt antal brott=crimes_total" --place <place_id>=<Municipality>`
     (municipality-wide series from Brå's statistics database);
   - `python -m pipeline import-offences --study {folder} --offences <offences.csv>
     --codes <offence_codes.csv> --places <places.geojson or .gpkg> [--buffer-width 200]`
     (the police's geocoded offences counted per place and month, with a map);
   - `python -m pipeline import-footfall --study {folder} --counts <counter export.csv>
     --indicator footfall --counter <counter>=<place_id>` (footfall per month, days counted
     as exposure);
   - or type them in the sheet *Serier* of `{workbook}` and run import-excel (step 3).
3. **survey.csv or survey_shares.csv, inspections.csv, actions.csv** (optional): add the
   matching section to study.yml, fill in the sheets of
   `{workbook}` (the sheet *Förklaring* explains every column in Swedish and English), then
   `python -m pipeline import-excel --study {folder} {workbook}`. The survey is either
   microdata (sheet *Enkät*, one row per answer) or, when a survey company delivered a
   report, its shares per area and wave (sheet *Enkätandelar*); from shares the pipeline
   estimates the difference-in-differences and the before/after change but not the
   ordinal model. Delete the CSV file of a table the study does not have.
4. `make report STUDY={folder}`.

Every import is recorded in `imports.json`: the source files with their SHA-256, the files
written, the choices made and what was noticed (gaps, offences outside every place).

Survey microdata is personal data: keep this folder where only the people who may see it can.
"""


def new_study(folder: str | Path) -> list[Path]:
    """Write a new study folder with templates of every input.

    Parameters
    ----------
    folder : str or Path
        The folder to create. It must not exist, or be empty.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ValidationError
        When the folder exists and holds anything, or is a file.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "is a file" if not folder.is_dir() else "already exists and is not empty"
        raise ValidationError.single(
            folder, f"{what}: a new study needs a new (or empty) folder, nothing was written"
        )
    from .record import csv_bytes

    files: dict[str, bytes] = {STUDY_FILE: STUDY_TEMPLATE.encode("utf-8")}
    for sheet in SHEETS:
        files[sheet.file] = csv_bytes([c.name for c in sheet.columns], [])
    files[README_FILE] = README_TEMPLATE.format(
        title=folder.name, folder=folder, workbook=WORKBOOK_FILE
    ).encode("utf-8")
    files[WORKBOOK_FILE] = workbook_template()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content)
        written.append(path)
    return written


def workbook_template() -> bytes:
    """The Excel workbook: one sheet per input and a sheet explaining the columns.

    Returns
    -------
    bytes
        The ``.xlsx`` file.
    """
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for sheet in WORKBOOK_SHEETS:
        ws = book.create_sheet(sheet.sheet)
        ws.append([c.name for c in sheet.columns])
        for i, column in enumerate(sheet.columns, start=1):
            ws.cell(row=1, column=i).font = bold
            ws.column_dimensions[get_column_letter(i)].width = max(14, len(column.example) + 4)
            # Dates and ids typed into a text column stay as typed (Excel would
            # otherwise turn 2021-03 into a date and drop leading zeros).
            ws.column_dimensions[get_column_letter(i)].number_format = "@"
        ws.freeze_panes = "A2"
    ws = book.create_sheet(EXPLANATION_SHEET)
    ws.append(["flik / sheet", "kolumn / column", "betydelse", "meaning", "exempel / example"])
    for cell in ws[1]:
        cell.font = bold
    for sheet in WORKBOOK_SHEETS:
        for column in sheet.columns:
            ws.append([sheet.sheet, column.name, column.sv, column.en, column.example])
    ws.append([])
    ws.append(
        [
            "",
            "",
            "Första raden på varje flik är rubrikraden; en rad per svar, besiktad aspekt eller "
            "åtgärd och uppföljning. Datum skrivs ÅÅÅÅ-MM-DD.",
            "The first row of each sheet is the header; one row per answer, inspected aspect or "
            "measure and follow-up. Dates are written YYYY-MM-DD.",
        ]
    )
    for letter, width in zip("ABCDE", (14, 16, 60, 60, 24), strict=True):
        ws.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- what is missing


def missing_steps(folder: str | Path) -> list[str]:
    """What a study folder still lacks, first thing to fill in first.

    Only an unfinished study has missing steps: a ``study.yml`` holding
    ``<fyll i | fill in: …>`` blanks, no ``series.csv`` or one with only its
    header, or an optional table that is still a bare header. A study that
    lacks none of these gets an empty list and is validated as usual.

    Parameters
    ----------
    folder : str or Path
        The study folder.

    Returns
    -------
    list of str
        One line per step, in the order to do them.
    """
    folder = Path(folder)
    steps: list[str] = []
    study_path = folder / STUDY_FILE
    if not study_path.is_file():
        steps.append(
            f"{study_path}: file not found; start a study with `python -m pipeline new {folder}`"
        )
    else:
        text = study_path.read_text("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if line.lstrip().startswith("#"):
                continue
            for match in PLACEHOLDER.finditer(line):
                key = line.split(":", 1)[0].strip(" -")
                blank = match.group(0)[len("<fyll i | fill in:") : -1].strip()
                steps.append(f"{study_path}, row {number}: {key}: fill in {blank}")
    series = folder / SERIES_FILE
    if not series.is_file() or _bare_header(series):
        steps.append(
            f"{series}: no rows yet; write them with import-bra, import-offences or "
            f"import-footfall, or fill in the sheet '{SERIES.sheet}' of {WORKBOOK_FILE} and run "
            "import-excel (see the study's README.md)"
        )
    section_set = _sections(study_path)
    for sheet in (SURVEY, SURVEY_SHARES, INSPECTIONS, ACTIONS):
        path = folder / sheet.file
        if path.is_file() and _bare_header(path):
            other = ALTERNATIVES.get(sheet.file)
            if other is not None and (folder / other.file).is_file():
                if not _bare_header(folder / other.file):
                    continue  # the study gives the other one: this template stays unused
                if sheet.section in section_set:
                    if sheet is SURVEY:
                        steps.append(
                            f"{path} or {folder / other.file}: no rows yet; fill in the sheet "
                            f"'{sheet.sheet}' (answers) or '{other.sheet}' (a report's shares) of "
                            f"{WORKBOOK_FILE} and run import-excel"
                        )
                    continue
            if sheet.section in section_set:
                steps.append(
                    f"{path}: no rows yet; fill in the sheet '{sheet.sheet}' of {WORKBOOK_FILE} "
                    "and run import-excel"
                )
            else:
                steps.append(
                    f"{path}: still an empty template; add the '{sheet.section}' section to "
                    f"{STUDY_FILE}, fill in the sheet '{sheet.sheet}' of {WORKBOOK_FILE} and run "
                    f"import-excel, or delete {sheet.file} if the study has no such data"
                )
    return steps


def _bare_header(path: Path) -> bool:
    """Whether a CSV file holds no more than its header line (and blank lines)."""
    try:
        with path.open("rb") as handle:
            lines = [line for line in handle.read(1 << 16).splitlines() if line.strip(b' ;,\t\r"')]
    except OSError:
        return False
    return len(lines) <= 1


def _sections(study_path: Path) -> set[str]:
    """The top-level keys of study.yml that are set, read leniently (the study may be unfinished)."""
    if not study_path.is_file():
        return set()
    keys = set()
    for line in study_path.read_text("utf-8", errors="replace").splitlines():
        match = re.match(r"^([a-z_]+):", line)
        if match:
            keys.add(match.group(1))
    return keys
