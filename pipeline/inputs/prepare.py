"""From a raw study folder to validated, processed data (and back).

``prepare_study`` validates everything first and only then writes
``data/processed/<study>/`` in one step (a temporary folder renamed into
place), so a failed validation leaves no half-written output behind. Raw files
are only ever read.

Besides ``series.csv`` a study may hold ``survey.csv`` (or, when only a survey
report's shares are at hand, ``survey_shares.csv``), ``inspections.csv`` and
``actions.csv``; each goes with its section in ``study.yml`` (``survey``,
``inspections``, ``action_plan``), and one without the other is an error.
Survey microdata is copied to ``data/processed`` for the notebooks, which
publish aggregates only. The places' polygons (``places.geojson``, written by
``import-offences``) are checked and kept for the reports' map when the study has them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputWarning, Problem, ValidationError
from ..run.provenance import portable_path, provenance_record
from .actions import read_actions
from .inspections import read_inspections
from .series import read_series
from .study import (
    ACTIONS_FILE,
    INSPECTIONS_FILE,
    PLACE_SHAPES_FILE,
    SERIES_FILE,
    STUDY_FILE,
    SURVEY_FILE,
    SURVEY_SHARES_FILE,
    Study,
    load_study,
)
from .survey import read_survey
from .survey_shares import read_survey_shares

MANIFEST_FILE = "manifest.json"
PROCESSED_SERIES = "series.parquet"
PROCESSED_STUDY = "study.json"

#: Largest plausible survey weight (residents a respondent stands for).
MAX_SURVEY_WEIGHT = 1e7
#: Optional study files: (file name, study.yml section, processed file, table name).
#: A section with two files takes either, never both.
OPTIONAL_FILES = (
    (SURVEY_FILE, "survey", "survey.parquet", "survey"),
    (SURVEY_SHARES_FILE, "survey", "survey_shares.parquet", "survey_shares"),
    (INSPECTIONS_FILE, "inspections", "inspections.parquet", "inspections"),
    (ACTIONS_FILE, "action_plan", "actions.parquet", "action_plan"),
)
PROCESSED_SHAPES = "place_shapes.parquet"


@dataclass(frozen=True)
class StudyData:
    """A validated study: its description, its series and the manifest of its inputs."""

    study: Study
    series: pd.DataFrame
    manifest: dict
    survey: pd.DataFrame | None = None
    inspections: pd.DataFrame | None = None
    actions: pd.DataFrame | None = None
    survey_shares: pd.DataFrame | None = None
    place_shapes: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        return self.manifest["study_name"]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The optional tables the study has, by table name."""
        found = {
            "survey": self.survey,
            "survey_shares": self.survey_shares,
            "inspections": self.inspections,
            "action_plan": self.actions,
            "place_shapes": self.place_shapes,
        }
        return {k: v for k, v in found.items() if v is not None}


def _read_optional(study: Study, path: Path, table: str) -> pd.DataFrame:
    place_municipality = {p.id: p.municipality for p in study.places}
    if table == "survey":
        frame = read_survey(
            path, municipalities=study.municipality_names, places=place_municipality
        )
        return _check_survey(study, frame, str(path))
    if table == "survey_shares":
        frame = read_survey_shares(
            path, municipalities=study.municipality_names, places=place_municipality
        )
        return check_survey_shares(study, frame, str(path))
    if table == "inspections":
        return read_inspections(path, places=place_municipality)
    return read_actions(path, municipalities=study.municipality_names, places=place_municipality)


def _check_survey(study: Study, frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """The configured question and waves must be in the file."""
    settings = study.survey
    problems = []
    if not (frame["question"] == settings.question).any():
        problems.append(
            Problem(
                file,
                f"no answers to question '{settings.question}' (study.yml survey.question)",
                column="question",
            )
        )
    # A weight is how many residents a respondent stands for; a typo of a few digits
    # would let one answer outweigh the rest without a word.
    heavy = frame.loc[frame["weight"] > MAX_SURVEY_WEIGHT, ["respondent_id", "weight"]]
    for respondent, weight in heavy.drop_duplicates().head(10).itertuples(index=False):
        problems.append(
            Problem(
                file,
                f"respondent '{respondent}': implausibly large weight {weight:g} "
                f"(above {MAX_SURVEY_WEIGHT:,.0f})",
                column="weight",
            )
        )
    waves = set(frame["wave"].dt.date)
    for wave in (*settings.before, *settings.after):
        if wave not in waves:
            problems.append(
                Problem(file, f"no respondents in wave {wave} named in study.yml", column="wave")
            )
    if settings.problems_index is not None:
        asked = set(frame["question"])
        for question in settings.problems_index.questions:
            if question not in asked:
                problems.append(
                    Problem(
                        file,
                        f"no answers to question '{question}' (study.yml survey.problems_index)",
                        column="question",
                    )
                )
    if problems:
        raise ValidationError(problems)
    return frame


def check_survey_shares(study: Study, frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """The configured question must be in the file, with shares in the configured waves."""
    settings = study.survey
    problems = []
    if settings.problems_index is not None:
        problems.append(
            Problem(
                file,
                "study.yml sets survey.problems_index, which needs every respondent's answers "
                "(survey.csv); a report's shares cannot give it",
            )
        )
    asked = frame[frame["question"] == settings.question]
    if asked.empty:
        problems.append(
            Problem(
                file,
                f"no shares for question '{settings.question}' (study.yml survey.question)",
                column="question",
            )
        )
    else:
        waves = set(asked["wave"].dt.date)
        for wave in (*settings.before, *settings.after):
            if wave not in waves:
                problems.append(
                    Problem(
                        file,
                        f"no shares for question '{settings.question}' in wave {wave} named in "
                        "study.yml",
                        column="wave",
                    )
                )
    if problems:
        raise ValidationError(problems)
    return frame


def validate_study(study_dir: str | Path) -> tuple[Study, pd.DataFrame]:
    """Validate a raw study folder without writing anything; return its study and series."""
    data = read_study(study_dir)
    return data.study, data.series


#: Date columns of the optional tables that record what happened, so cannot lie ahead.
PAST_DATES = {
    "survey": ("wave",),
    "survey_shares": ("wave",),
    "inspections": ("date",),
    "action_plan": ("followup_date",),
}


def _future_dates(table: str, frame: pd.DataFrame, file: str) -> list[Problem]:
    """Survey waves, inspections and follow-ups dated after today: typos, never data."""
    today = pd.Timestamp(dt.date.today())
    problems = []
    for column in PAST_DATES[table]:
        for value in sorted(set(frame.loc[frame[column] > today, column]))[:10]:
            problems.append(
                Problem(
                    file,
                    f"date {value.date()} is in the future (today is {today.date()})",
                    column=column,
                )
            )
    return problems


def _validated(
    study_dir: Path,
) -> tuple[Study, pd.DataFrame, dict[str, pd.DataFrame], list[str]]:
    """The study, its series, its optional tables by section name, and the warnings.

    Every file is checked, and all their problems are raised together. The
    warnings (:class:`~pipeline.errors.InputWarning`) are things used as they
    are but which must be stated, such as an ignored column.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        study, series, tables = _read_all(Path(study_dir))
    stated = [str(w.message) for w in caught if issubclass(w.category, InputWarning)]
    for w in caught:
        if not issubclass(w.category, InputWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return study, series, tables, list(dict.fromkeys(stated))


def _read_all(study_dir: Path) -> tuple[Study, pd.DataFrame, dict[str, pd.DataFrame]]:
    study = load_study(study_dir)
    problems: list[Problem] = []
    series = None
    try:
        series = read_series(study_dir / SERIES_FILE, study)
    except ValidationError as exc:
        problems.extend(exc.problems)
    tables: dict[str, pd.DataFrame] = {}
    for section in dict.fromkeys(entry[1] for entry in OPTIONAL_FILES):
        files = [(f, table) for f, s, _, table in OPTIONAL_FILES if s == section]
        present = [(f, table) for f, table in files if (study_dir / f).is_file()]
        if len(present) > 1:
            # The scaffold writes a template of each; the one left empty is not given.
            present = [(f, t) for f, t in present if _holds_rows(study_dir / f)] or present[:1]
        configured = getattr(study, section) is not None
        if present and not configured:
            problems.extend(
                Problem(
                    str(study_dir / f), f"study.yml has no '{section}' section to go with this file"
                )
                for f, _ in present
            )
        elif configured and not present:
            names = " or ".join(f for f, _ in files)
            problems.append(
                Problem(str(study_dir / STUDY_FILE), f"'{section}' is set but {names} is missing")
            )
        elif len(present) > 1:
            problems.append(
                Problem(
                    str(study_dir / present[1][0]),
                    f"the study also has {present[0][0]}: give the '{section}' section one of "
                    "them (delete the other)",
                )
            )
        elif configured:
            file_name, table = present[0]
            path = study_dir / file_name
            try:
                tables[table] = _read_optional(study, path, table)
            except ValidationError as exc:
                problems.extend(exc.problems)
            else:
                problems.extend(_future_dates(table, tables[table], str(path)))
    if (study_dir / PLACE_SHAPES_FILE).is_file():
        try:
            tables["place_shapes"] = _read_place_shapes(study_dir / PLACE_SHAPES_FILE, study)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
    return study, series, tables


def _read_place_shapes(path: Path, study: Study) -> pd.DataFrame:
    """The places' polygons as ``place_id``, ``role`` and ``geometry`` (WKT, SWEREF 99 TM).

    Read by the rules of ``import-offences`` (coordinate system, known ids, no overlaps).
    """
    from ..importers.places import read_places

    places = read_places(path, study)
    return pd.DataFrame(
        {
            "place_id": places["place_id"].astype(str),
            "role": places["role"].astype(str),
            "geometry": places.geometry.to_wkt(),
        }
    )


def _holds_rows(path: Path) -> bool:
    """Whether a CSV file holds more than its header line (and blank lines)."""
    with path.open("rb") as handle:
        lines = [line for line in handle.read(1 << 16).splitlines() if line.strip(b' ;,\t\r"')]
    return len(lines) > 1


def read_study(study_dir: str | Path) -> StudyData:
    """Validate a raw study folder and return it in memory, without writing anything."""
    study_dir = Path(study_dir)
    study, series, tables, stated = _validated(study_dir)
    manifest = {"study_name": study_dir.resolve().name, "inputs": {}, "warnings": stated}
    return _study_data(study, series, manifest, tables)


def _study_data(study: Study, series: pd.DataFrame, manifest: dict, tables: dict) -> StudyData:
    return StudyData(
        study,
        series,
        manifest,
        survey=tables.get("survey"),
        inspections=tables.get("inspections"),
        actions=tables.get("action_plan"),
        survey_shares=tables.get("survey_shares"),
        place_shapes=tables.get("place_shapes"),
    )


def prepare_study(
    study_dir: str | Path,
    processed_dir: str | Path,
    *,
    lock: contextlib.AbstractContextManager | None = None,
) -> StudyData:
    """Validate a raw study and write its processed form.

    Parameters
    ----------
    study_dir
        The raw study folder (``study.yml``, ``series.csv``).
    processed_dir
        Where the processed study goes, e.g. ``data/processed/<study>``.
        Replaced as a whole only once validation has passed.
    lock
        Held while writing (not while validating, so an invalid study writes
        not even a lock file), e.g. :func:`pipeline.paths.study_lock`.

    Returns
    -------
    StudyData
    """
    study_dir = Path(study_dir)
    processed_dir = Path(processed_dir)
    study, series, tables, stated = _validated(study_dir)
    inputs = {STUDY_FILE: study_dir / STUDY_FILE, SERIES_FILE: study_dir / SERIES_FILE}
    for file_name, _, _, table in OPTIONAL_FILES:
        if table in tables:
            inputs[file_name] = study_dir / file_name
    if "place_shapes" in tables:
        inputs[PLACE_SHAPES_FILE] = study_dir / PLACE_SHAPES_FILE
    manifest = {
        "study_name": study_dir.resolve().name,
        "study_dir": portable_path(study_dir),
        "title": study.title,
        "synthetic": study.synthetic,
        "n_rows": len(series),
        "warnings": stated,
        **provenance_record(inputs),
    }

    with lock or contextlib.nullcontext():
        _write_processed(processed_dir, study, series, tables, manifest)
    return _study_data(study, series, manifest, tables)


def _write_processed(
    processed_dir: Path, study: Study, series: pd.DataFrame, tables: dict, manifest: dict
) -> None:
    processed_dir.parent.mkdir(parents=True, exist_ok=True)
    for leftover in processed_dir.parent.glob(f".{processed_dir.name}.staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)  # of a run that was killed while writing
    staging = Path(
        tempfile.mkdtemp(prefix=f".{processed_dir.name}.staging-", dir=processed_dir.parent)
    )
    try:
        stored = series.assign(period=series["period"].astype(str))
        stored.to_parquet(staging / PROCESSED_SERIES, index=False)
        (staging / PROCESSED_STUDY).write_text(
            json.dumps(study.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        for _, _, stored_name, table in OPTIONAL_FILES:
            if table in tables:
                tables[table].to_parquet(staging / stored_name, index=False)
        if "place_shapes" in tables:
            tables["place_shapes"].to_parquet(staging / PROCESSED_SHAPES, index=False)
        (staging / MANIFEST_FILE).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
        if processed_dir.exists():
            shutil.rmtree(processed_dir)
        staging.rename(processed_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load_processed(processed_dir: str | Path) -> StudyData:
    """Read a study written by :func:`prepare_study`."""
    processed_dir = Path(processed_dir)
    study = Study.model_validate(json.loads((processed_dir / PROCESSED_STUDY).read_text("utf-8")))
    series = pd.read_parquet(processed_dir / PROCESSED_SERIES)
    series["period"] = pd.PeriodIndex(series["period"], freq="M")
    manifest = json.loads((processed_dir / MANIFEST_FILE).read_text("utf-8"))
    tables = {
        table: pd.read_parquet(processed_dir / stored_name)
        for _, _, stored_name, table in OPTIONAL_FILES
        if (processed_dir / stored_name).is_file()
    }
    if (processed_dir / PROCESSED_SHAPES).is_file():
        tables["place_shapes"] = pd.read_parquet(processed_dir / PROCESSED_SHAPES)
    return _study_data(study, series, manifest, tables)
