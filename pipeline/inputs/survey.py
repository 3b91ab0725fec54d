"""Reading ``survey.csv``: perceived-safety survey microdata, one row per respondent and question.

File ``survey.csv`` holds one row per respondent and question:

=============  ==========  =====================================================
column         type        meaning
=============  ==========  =====================================================
respondent_id  text        the respondent's pseudonymous id
municipality   text        one of the study's municipalities
place_id       text        the place the question is about; may be blank
wave           ISO date    the survey wave (``YYYY-MM-DD``)
question       text        the question's code
answer         integer     1 very safe, 2 fairly safe, 3 fairly unsafe,
                           4 very unsafe, 5 don't go out / no answer (missing)
weight         number > 0  the respondent's survey weight (decimal comma allowed)
=============  ==========  =====================================================

Survey microdata is personal data: it is read here, kept in ``data/processed/``
and only ever reported as aggregates (:mod:`pipeline.methods.survey`).

The file is read by the rule every study CSV follows (:mod:`pipeline.inputs.tables`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import pandas as pd

from .tables import canonical, place_lookup, read_table

ANSWER_SCALE = {
    1: "very safe",
    2: "fairly safe",
    3: "fairly unsafe",
    4: "very unsafe",
    5: "don't go out / no answer",
}


MISSING_ANSWER = 5


def read_survey(
    path: str | Path,
    *,
    municipalities: Iterable[str],
    places: Iterable[str] | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read and validate ``survey.csv``.

    The file is read by the study rule (:mod:`pipeline.inputs.tables`): UTF-8, UTF-16
    with BOM or Windows-1252, separated by ``;``, ``,`` or tabs, with decimal
    commas except in a ``,``-separated file. Municipality names are matched regardless of case and returned in
    the spelling given in `municipalities`.

    Parameters
    ----------
    path : str or Path
        The file.
    municipalities : iterable of str
        The study's municipalities; any other value is an error.
    places : iterable of str or mapping of str to str, optional
        Known place ids. A mapping ``place_id -> municipality`` also checks
        that each row's place lies in the row's municipality. A blank
        ``place_id`` is always allowed.

    Returns
    -------
    pandas.DataFrame
        One row per respondent and question, in file order, with columns
        ``respondent_id``, ``municipality``, ``place_id`` (missing when blank),
        ``wave`` (datetime64), ``question``, ``answer_code`` (Int64, 1-5 as in
        the file), ``answer`` (Int64, 1-4; missing where the code is 5) and
        ``weight`` (float).

    Raises
    ------
    pipeline.errors.ValidationError
        Listing every problem found, each with file, line and column: unknown
        municipality or place, a date that is not ``YYYY-MM-DD``, an answer
        outside 1-5, a weight that is not a positive number, a respondent who
        answers the same question twice in one wave, or a respondent whose
        municipality or weight changes within a wave.

    Notes
    -----
    The duplicate key is respondent x wave x question, not respondent x
    question, because panel surveys reuse respondent ids across waves.
    """
    table = read_table(
        path,
        required=("respondent_id", "municipality", "wave", "question", "answer", "weight"),
        optional=("place_id",),
    )
    known = canonical(municipalities)
    known_places = place_lookup(places)
    out: list[dict[str, object]] = []
    first_seen: dict[tuple[str, date, str], int] = {}
    respondent: dict[tuple[str, date], tuple[int, str, float]] = {}

    for row in table.rows():
        line = row.line
        rid = row.text("respondent_id")
        municipality, place_id = row.municipality_and_place(known, known_places)
        wave = row.date("wave")
        question = row.text("question")
        code = table.parse_int(row["answer"])
        if code is None or not 1 <= code <= MISSING_ANSWER:
            row.problem(
                "answer",
                f"answer {row['answer'] or '(blank)'} is not a code on the scale 1-5 (1 very "
                "safe ... 4 very unsafe, 5 don't go out / no answer)",
            )
        weight = row.positive_number("weight")
        if not row.ok:
            continue
        first = first_seen.setdefault((rid, wave, question), line)
        if first != line:
            row.problem(
                "respondent_id",
                f"respondent {rid} answers question {question} in wave {wave} twice "
                f"(first on line {first})",
            )
            continue
        earlier = respondent.setdefault((rid, wave), (line, municipality, weight))
        if earlier[1] != municipality:
            row.problem(
                "municipality",
                f"respondent {rid} is in {earlier[1]} on line {earlier[0]} but in "
                f"{municipality} here (same wave)",
            )
        if not math.isclose(earlier[2], weight, rel_tol=1e-9):
            row.problem(
                "weight",
                f"respondent {rid} has weight {earlier[2]:g} on line {earlier[0]} but "
                f"{weight:g} here (a weight belongs to the respondent and wave)",
            )
        out.append(
            {
                "respondent_id": rid,
                "municipality": municipality,
                "place_id": place_id,
                "wave": wave,
                "question": question,
                "answer_code": code,
                "weight": weight,
            }
        )
    table.raise_problems()

    frame = pd.DataFrame(out)
    frame["wave"] = pd.to_datetime(frame["wave"])
    frame["answer_code"] = frame["answer_code"].astype("Int64")
    frame["answer"] = frame["answer_code"].where(frame["answer_code"] != MISSING_ANSWER)
    frame["weight"] = frame["weight"].astype(float)
    return frame[
        [
            "respondent_id",
            "municipality",
            "place_id",
            "wave",
            "question",
            "answer_code",
            "answer",
            "weight",
        ]
    ]
