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

from .tables import canonical, place_lookup, read_table

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

COLUMNS = (
    "municipality",
    "place_id",
    "measure_id",
    "description",
    "category",
    "planned_start",
    "followup_date",
    "status",
)
"""The columns of ``actions.csv``, in the order the file and the read frame give them."""


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
        required=tuple(column for column in COLUMNS if column != "place_id"),
        optional=("place_id",),
    )
    known = canonical(municipalities)
    known_places = place_lookup(places)
    rows: list[dict[str, object]] = []
    first_seen: dict[tuple[str, str, date], int] = {}
    category_of: dict[tuple[str, str], tuple[int, str]] = {}

    for row in table.rows():
        municipality, place_id = row.municipality_and_place(known, known_places)
        measure = row.text("measure_id")
        description = row.text("description")
        category = row.choice("category", CATEGORIES)
        status = row.choice("status", STATUSES)
        dates = {column: row.date(column) for column in ("planned_start", "followup_date")}
        if not row.ok:
            continue
        first = first_seen.setdefault((municipality, measure, dates["followup_date"]), row.line)
        if first != row.line:
            row.problem(
                "followup_date",
                f"measure {measure} of {municipality} has two rows for the follow-up on "
                f"{dates['followup_date']} (first on line {first})",
            )
            continue
        earlier = category_of.setdefault((municipality, measure), (row.line, category))
        if earlier[1] != category:
            row.problem(
                "category",
                f"measure {measure} of {municipality} is '{earlier[1]}' on line {earlier[0]} "
                f"but '{category}' here",
            )
        rows.append(
            {
                "municipality": municipality,
                "place_id": place_id,
                "measure_id": measure,
                "description": description,
                "category": category,
                "planned_start": dates["planned_start"],
                "followup_date": dates["followup_date"],
                "status": status,
            }
        )
    table.raise_problems()
    frame = pd.DataFrame(rows)
    for column in ("planned_start", "followup_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame.sort_values(
        ["municipality", "measure_id", "followup_date"], kind="stable"
    ).reset_index(drop=True)
