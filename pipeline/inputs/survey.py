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

from ..errors import Problem, ValidationError
from .tables import (
    LINE,
    canonical,
    check_municipality_and_place,
    parse_date,
    place_lookup,
    read_table,
)

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
    file, problems = table.file, table.problems
    known = canonical(municipalities)
    known_places = place_lookup(places)
    out: list[dict[str, object]] = []
    first_seen: dict[tuple[str, date, str], int] = {}
    respondent: dict[tuple[str, date], tuple[int, str, float]] = {}

    for row in table.frame.to_dict("records"):
        line = int(row[LINE])
        ok = True
        rid = str(row["respondent_id"])
        if not rid:
            problems.append(Problem(file, "respondent_id is blank", line, "respondent_id"))
            ok = False
        municipality, place_id, place_ok = check_municipality_and_place(
            file,
            line,
            str(row["municipality"]),
            str(row["place_id"]),
            known,
            known_places,
            problems,
        )
        ok &= place_ok
        wave = parse_date(str(row["wave"]))
        if wave is None:
            problems.append(
                Problem(file, f"'{row['wave']}' is not a date written YYYY-MM-DD", line, "wave")
            )
            ok = False
        question = str(row["question"])
        if not question:
            problems.append(Problem(file, "question is blank", line, "question"))
            ok = False
        code = table.parse_int(str(row["answer"]))
        if code is None or not 1 <= code <= MISSING_ANSWER:
            shown = row["answer"] or "(blank)"
            problems.append(
                Problem(
                    file,
                    f"answer {shown} is not a code on the scale 1-5 (1 very safe ... 4 very "
                    "unsafe, 5 don't go out / no answer)",
                    line,
                    "answer",
                )
            )
            ok = False
        weight = table.parse_number(str(row["weight"]))
        if weight is None or weight <= 0:
            hint = table.number_hint(str(row["weight"])) if weight is None else ""
            problems.append(
                Problem(
                    file, f"weight '{row['weight']}' is not a positive number{hint}", line, "weight"
                )
            )
            ok = False
        if not ok:
            continue
        key = (rid, wave, question)
        if key in first_seen:
            problems.append(
                Problem(
                    file,
                    f"respondent {rid} answers question {question} in wave {wave} twice "
                    f"(first on line {first_seen[key]})",
                    line,
                    "respondent_id",
                )
            )
            continue
        first_seen[key] = line
        earlier = respondent.setdefault((rid, wave), (line, municipality, weight))
        if earlier[1] != municipality:
            problems.append(
                Problem(
                    file,
                    f"respondent {rid} is in {earlier[1]} on line {earlier[0]} but in "
                    f"{municipality} here (same wave)",
                    line,
                    "municipality",
                )
            )
        if not math.isclose(earlier[2], weight, rel_tol=1e-9):
            problems.append(
                Problem(
                    file,
                    f"respondent {rid} has weight {earlier[2]:g} on line {earlier[0]} but "
                    f"{weight:g} here (a weight belongs to the respondent and wave)",
                    line,
                    "weight",
                )
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
    if problems:
        raise ValidationError(problems)

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
