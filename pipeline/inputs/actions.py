"""Reading ``actions.csv``: the measures of each municipality's action plan and their follow-ups.

File ``actions.csv`` holds one row per measure and follow-up:

=============  ========  ========================================================
column         type      meaning
=============  ========  ========================================================
municipality   text      one of the study's municipalities
place_id       text      the place the measure concerns; may be blank
measure_id     text      the measure's id, unique within the municipality
description    text      what the measure is
category       text      lighting, vegetation, cleaning, guards, cameras,
                         events, redesign or other
planned_start  ISO date  when the plan says the measure starts (``YYYY-MM-DD``)
followup_date  ISO date  the follow-up this row reports
status         text      planned, started, done or cancelled at that follow-up
=============  ========  ========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import pandas as pd

from ..errors import Problem, ValidationError
from .tables import (
    LINE,
    canonical,
    check_municipality_and_place,
    parse_date,
    place_lookup,
    read_table,
)

CATEGORIES = (
    "lighting",
    "vegetation",
    "cleaning",
    "guards",
    "cameras",
    "events",
    "redesign",
    "other",
)


STATUSES = ("planned", "started", "done", "cancelled")


def read_actions(
    path: str | Path,
    *,
    municipalities: Iterable[str],
    places: Iterable[str] | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read and validate ``actions.csv``.

    Parameters
    ----------
    path : str or Path
        The file, read by the study rule (:mod:`pipeline.inputs.tables`): UTF-8,
        UTF-16 or Windows-1252; ``;``, ``,`` or tab separated.
    municipalities : iterable of str
        The study's municipalities; matched regardless of case.
    places : iterable of str or mapping of str to str, optional
        Known place ids; a mapping ``place_id -> municipality`` also checks
        that the place lies in the row's municipality.

    Returns
    -------
    pandas.DataFrame
        Columns ``municipality``, ``place_id`` (missing when blank),
        ``measure_id``, ``description``, ``category``, ``planned_start`` and
        ``followup_date`` (datetime64), ``status``; sorted by municipality,
        measure and follow-up date.

    Raises
    ------
    pipeline.errors.ValidationError
        Listing every problem with file, line and column: unknown
        municipality, place, category or status, blank id or description, a
        date that is not ``YYYY-MM-DD``, two rows for the same measure and
        follow-up date, or one measure given different categories.
    """
    table = read_table(
        path,
        required=(
            "municipality",
            "measure_id",
            "description",
            "category",
            "planned_start",
            "followup_date",
            "status",
        ),
        optional=("place_id",),
    )
    file, problems = table.file, table.problems
    known = canonical(municipalities)
    known_places = place_lookup(places)
    rows: list[dict[str, object]] = []
    first_seen: dict[tuple[str, str, date], int] = {}
    category_of: dict[tuple[str, str], tuple[int, str]] = {}

    for row in table.frame.to_dict("records"):
        line = int(row[LINE])
        municipality, place_id, ok = check_municipality_and_place(
            file,
            line,
            str(row["municipality"]),
            str(row["place_id"]),
            known,
            known_places,
            problems,
        )
        measure = str(row["measure_id"])
        if not measure:
            problems.append(Problem(file, "measure_id is blank", line, "measure_id"))
            ok = False
        if not row["description"]:
            problems.append(Problem(file, "description is blank", line, "description"))
            ok = False
        category = str(row["category"]).casefold()
        if category not in CATEGORIES:
            problems.append(
                Problem(
                    file,
                    f"unknown category '{row['category']}' (expected one of: {', '.join(CATEGORIES)})",
                    line,
                    "category",
                )
            )
            ok = False
        status = str(row["status"]).casefold()
        if status not in STATUSES:
            problems.append(
                Problem(
                    file,
                    f"unknown status '{row['status']}' (expected one of: {', '.join(STATUSES)})",
                    line,
                    "status",
                )
            )
            ok = False
        dates = {}
        for column in ("planned_start", "followup_date"):
            dates[column] = parse_date(str(row[column]))
            if dates[column] is None:
                problems.append(
                    Problem(file, f"'{row[column]}' is not a date written YYYY-MM-DD", line, column)
                )
                ok = False
        if not ok:
            continue
        key = (municipality, measure, dates["followup_date"])
        if key in first_seen:
            problems.append(
                Problem(
                    file,
                    f"measure {measure} of {municipality} has two rows for the follow-up on "
                    f"{dates['followup_date']} (first on line {first_seen[key]})",
                    line,
                    "followup_date",
                )
            )
            continue
        first_seen[key] = line
        earlier = category_of.setdefault((municipality, measure), (line, category))
        if earlier[1] != category:
            problems.append(
                Problem(
                    file,
                    f"measure {measure} of {municipality} is '{earlier[1]}' on line {earlier[0]} "
                    f"but '{category}' here",
                    line,
                    "category",
                )
            )
        rows.append(
            {
                "municipality": municipality,
                "place_id": place_id,
                "measure_id": measure,
                "description": str(row["description"]),
                "category": category,
                "planned_start": dates["planned_start"],
                "followup_date": dates["followup_date"],
                "status": status,
            }
        )
    if problems:
        raise ValidationError(problems)
    frame = pd.DataFrame(rows)
    for column in ("planned_start", "followup_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame.sort_values(
        ["municipality", "measure_id", "followup_date"], kind="stable"
    ).reset_index(drop=True)
