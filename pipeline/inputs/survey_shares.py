"""Reading ``survey_shares.csv``: perceived safety as the shares a survey report gives.

When a survey company delivers a report rather than microdata, the study has,
per area, wave and question, the weighted share who feel unsafe and how many
answered. File ``survey_shares.csv`` holds one row per area, wave and question:

=============  ============  ====================================================
column         type          meaning
=============  ============  ====================================================
municipality   text          one of the study's municipalities
place_id       text          the area (a target or comparison place)
wave           ISO date      the survey wave (``YYYY-MM-DD``)
question       text          the question's code
share_unsafe   number 0-1    the weighted share feeling unsafe (34 % is ``0,34``)
respondents    integer > 0   the number who answered the question (unweighted)
design_effect  number > 0    optional: the design effect of the weights (Kish's
                             ``n / n_eff``); blank when the report does not give it
weighted_base  number > 0    optional: the sum of the respondents' weights; areas
                             are pooled by it, or by ``respondents`` when blank
=============  ============  ====================================================

What counts as unsafe is whatever the report counted (usually *fairly* and
*very unsafe*); ``survey.unsafe_answers`` in ``study.yml`` applies to
microdata only. A study gives either ``survey.csv`` or this file.

The file is read by the rule every study CSV follows (:mod:`pipeline.inputs.tables`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from .tables import canonical, place_lookup, read_table

COLUMNS = (
    "municipality",
    "place_id",
    "wave",
    "question",
    "share_unsafe",
    "respondents",
    "design_effect",
    "weighted_base",
)


def read_survey_shares(
    path: str | Path,
    *,
    municipalities: Iterable[str],
    places: Iterable[str] | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read and validate ``survey_shares.csv``.

    Parameters
    ----------
    path : str or Path
        The file.
    municipalities : iterable of str
        The study's municipalities; any other value is an error.
    places : iterable of str or mapping of str to str, optional
        Known place ids; a mapping ``place_id -> municipality`` also checks
        that each row's place lies in the row's municipality.

    Returns
    -------
    pandas.DataFrame
        One row per area, wave and question, in file order, with columns
        ``municipality``, ``place_id``, ``wave`` (datetime64), ``question``,
        ``share_unsafe``, ``respondents`` (int), ``design_effect`` and
        ``weighted_base`` (float, missing when blank).

    Raises
    ------
    pipeline.errors.ValidationError
        Listing every problem found, each with file, line and column: unknown
        or blank municipality or area, a date that is not ``YYYY-MM-DD``, a
        share outside 0-1 (a percentage is named as such), a number of
        respondents that is not a positive whole number, a design effect or
        weighted base that is not a positive number, and an area, wave and
        question given twice.
    """
    table = read_table(
        path,
        required=COLUMNS[:6],
        optional=COLUMNS[6:],
    )
    known = canonical(municipalities)
    known_places = place_lookup(places)
    out: list[dict[str, object]] = []
    first_seen: dict[tuple[str, object, str], int] = {}

    for row in table.rows():
        municipality, place_id = row.municipality_and_place(known, known_places)
        if place_id is None and row["municipality"]:
            row.problem("place_id", "place_id is blank: a share belongs to an area")
        wave = row.date("wave")
        question = row.text("question")
        text = row["share_unsafe"]
        share = table.parse_number(text)
        if share is None or not 0 <= share <= 1:
            if share is not None and 1 < share <= 100:
                why = (
                    f"share_unsafe {text} is above 1: write a percentage as a share (34 % is 0,34)"
                )
            else:
                hint = table.number_hint(text) if share is None else ""
                why = f"share_unsafe '{text}' is not a share between 0 and 1{hint}"
            row.problem("share_unsafe", why)
        respondents = table.parse_int(row["respondents"])
        if respondents is None or respondents < 1:
            row.problem(
                "respondents",
                f"respondents '{row['respondents']}' is not a positive whole number",
            )
        design_effect = row.positive_number("design_effect", optional=True)
        weighted_base = row.positive_number("weighted_base", optional=True)
        if not row.ok:
            continue
        first = first_seen.setdefault((place_id, wave, question), row.line)
        if first != row.line:
            row.problem(
                "place_id",
                f"area {place_id}, wave {wave}, question {question} is given twice "
                f"(first on line {first})",
            )
            continue
        out.append(
            {
                "municipality": municipality,
                "place_id": place_id,
                "wave": wave,
                "question": question,
                "share_unsafe": share,
                "respondents": respondents,
                "design_effect": design_effect,
                "weighted_base": weighted_base,
            }
        )
    table.raise_problems()
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    frame["wave"] = pd.to_datetime(frame["wave"])
    frame["respondents"] = frame["respondents"].astype(int)
    for column in ("share_unsafe", "design_effect", "weighted_base"):
        frame[column] = frame[column].astype(float)
    return frame


def shares_from_microdata(survey: pd.DataFrame, unsafe: Iterable[int] = (3, 4)) -> pd.DataFrame:
    """The shares a survey report would give, computed from microdata.

    Parameters
    ----------
    survey : pandas.DataFrame
        As returned by :func:`~pipeline.inputs.survey.read_survey`; answers
        coded 5 (don't go out / no answer) are left out, as the estimates do.
    unsafe : iterable of int, default (3, 4)
        Answer codes counted as unsafe.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`read_survey_shares`, one row per municipality,
        area, wave and question with respondents (rows without an area are
        left out): the weighted share, the respondents, Kish's design effect
        and the weighted base.
    """
    valid = survey[survey["answer"].notna() & survey["place_id"].notna()]
    w = valid["weight"].astype(float)
    work = valid[["municipality", "place_id", "wave", "question"]].assign(
        respondents=1,
        weighted_base=w,
        w2=w**2,
        wy=w * valid["answer"].isin(list(unsafe)),
    )
    cells = work.groupby(["municipality", "place_id", "wave", "question"], sort=True).sum()
    cells = cells.reset_index()
    cells["share_unsafe"] = cells["wy"] / cells["weighted_base"]
    cells["design_effect"] = cells["respondents"] * cells["w2"] / cells["weighted_base"] ** 2
    cells["respondents"] = cells["respondents"].astype(int)
    return cells[list(COLUMNS)]
