"""Reading ``inspections.csv``: safety inspection scores (trygghetsbesiktning).

File ``inspections.csv`` holds one row per place, aspect and inspection date:

========  ========  ===========================================================
column    type      meaning
========  ========  ===========================================================
place_id  text      the place
aspect    text      the aspect of the physical environment scored
date      ISO date  the day of the inspection (``YYYY-MM-DD``)
score     integer   0-20, higher is safer
========  ========  ===========================================================

Scores are banded red, yellow and green (:data:`BANDS`); the reader adds each
score's band and checks that every inspection scores every aspect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..errors import Problem
from .tables import canonical, read_table

SCORE_MIN, SCORE_MAX = 0, 20


N_ASPECTS = 9


#: Band cut-offs: (name, lowest score, highest score), covering 0-20 without gaps.
#: These are the method's defaults; every function that bands scores takes a
#: ``bands`` argument, so a study can pass its own cut-offs instead.
BANDS: tuple[tuple[str, int, int], ...] = (("red", 0, 6), ("yellow", 7, 13), ("green", 14, 20))


def _check_bands(bands: Sequence[tuple[str, int, int]]) -> None:
    expected = SCORE_MIN
    for name, low, high in bands:
        if low != expected or high < low:
            raise ValueError(
                f"bands must cover {SCORE_MIN}-{SCORE_MAX} in order without gaps; {name!r} starts at {low}"
            )
        expected = high + 1
    if expected != SCORE_MAX + 1:
        raise ValueError(f"bands must end at {SCORE_MAX}")


def score_band(score: float, *, bands: Sequence[tuple[str, int, int]] = BANDS) -> str:
    """The band of a score.

    Parameters
    ----------
    score : float
        A score between 0 and 20.
    bands : sequence of (name, low, high), default BANDS
        Inclusive integer cut-offs.

    Returns
    -------
    str
        The band's name.
    """
    _check_bands(bands)
    for name, _, high in bands:
        if score <= high:
            return name
    raise ValueError(f"score {score} is above {SCORE_MAX}")


def read_inspections(
    path: str | Path,
    *,
    places: Iterable[str] | Mapping[str, str] | None = None,
    aspects: Iterable[str] | None = None,
    n_aspects: int | None = N_ASPECTS,
    bands: Sequence[tuple[str, int, int]] = BANDS,
) -> pd.DataFrame:
    """Read and validate ``inspections.csv``.

    Parameters
    ----------
    path : str or Path
        The file, read by the study rule (:mod:`pipeline.inputs.tables`): UTF-8,
        UTF-16 or Windows-1252; ``;``, ``,`` or tab separated.
    places : iterable of str or mapping, optional
        Known place ids (a mapping's keys are used).
    aspects : iterable of str, optional
        The allowed aspect names, matched regardless of case and returned in
        this spelling. By default any name is accepted, as long as every
        inspection of a place scores the same aspects.
    n_aspects : int or None, default 9
        How many aspects each inspection must score; None to skip the check.
    bands : sequence of (name, low, high), default BANDS
        Cut-offs for the ``band`` column.

    Returns
    -------
    pandas.DataFrame
        Columns ``place_id``, ``aspect``, ``date`` (datetime64), ``score``
        (int) and ``band``, in file order.

    Raises
    ------
    pipeline.errors.ValidationError
        Listing every problem with file, line and column: blank or unknown
        place or aspect, a date that is not ``YYYY-MM-DD``, a score that is not
        an integer 0-20, an aspect scored twice in one inspection, an
        inspection without `n_aspects` aspects, or inspections of one place
        that score different aspects (before and after cannot then be paired).
    """
    _check_bands(bands)
    table = read_table(path, required=("place_id", "aspect", "date", "score"))
    known_places = None if places is None else {str(p).strip() for p in places}
    known_aspects = None if aspects is None else canonical(aspects)
    rows: list[dict[str, object]] = []
    first_seen: dict[tuple[str, object, str], int] = {}

    for row in table.rows():
        place = row.text("place_id")
        if place is not None and known_places is not None and place not in known_places:
            row.problem("place_id", f"unknown place_id '{place}'")
        aspect = row.text("aspect")
        if aspect is not None and known_aspects is not None:
            if aspect.casefold() in known_aspects:
                aspect = known_aspects[aspect.casefold()]
            else:
                row.problem(
                    "aspect",
                    f"unknown aspect '{aspect}' (expected one of: {', '.join(known_aspects.values())})",
                )
        when = row.date("date")
        score = table.parse_int(row["score"])
        if score is None or not SCORE_MIN <= score <= SCORE_MAX:
            hint = table.number_hint(row["score"]) if score is None else ""
            row.problem(
                "score",
                f"score {row['score'] or '(blank)'} is not a whole number from {SCORE_MIN} to "
                f"{SCORE_MAX}{hint}",
            )
        if not row.ok:
            continue
        first = first_seen.setdefault((place, when, aspect.casefold()), row.line)
        if first != row.line:
            row.problem(
                "aspect",
                f"aspect '{aspect}' of {place} is scored twice on {when} (first on line {first})",
            )
            continue
        rows.append(
            {"place_id": place, "aspect": aspect, "date": when, "score": score, "_line": row.line}
        )

    frame = pd.DataFrame(rows, columns=["place_id", "aspect", "date", "score", "_line"])
    if not table.problems:  # a rejected row would otherwise also show up as a missing aspect
        table.problems.extend(_completeness_problems(table.file, frame, n_aspects))
    table.raise_problems()
    frame["date"] = pd.to_datetime(frame["date"])
    frame["score"] = frame["score"].astype(int)
    frame["band"] = [score_band(s, bands=bands) for s in frame["score"]]
    return frame.drop(columns="_line").reset_index(drop=True)


def _completeness_problems(file: str, frame: pd.DataFrame, n_aspects: int | None) -> list[Problem]:
    """Each inspection scores `n_aspects` aspects, and a place's inspections the same ones."""
    problems = []
    for place, of_place in frame.groupby("place_id", sort=False):
        sets = {}
        for when, inspection in of_place.groupby("date", sort=True):
            first_line = int(inspection["_line"].min())
            sets[when] = (first_line, set(inspection["aspect"]))
            if n_aspects is not None and len(inspection) != n_aspects:
                problems.append(
                    Problem(
                        file,
                        f"the inspection of {place} on {when} scores {len(inspection)} aspects; "
                        f"the method scores {n_aspects}",
                        first_line,
                        "aspect",
                    )
                )
        all_aspects = set().union(*(s for _, s in sets.values()))
        for when, (first_line, present) in sets.items():
            if absent := sorted(all_aspects - present):
                problems.append(
                    Problem(
                        file,
                        f"the inspection of {place} on {when} lacks aspect(s) {absent} that other "
                        "inspections of the place score, so they cannot be paired",
                        first_line,
                        "aspect",
                    )
                )
    return problems
