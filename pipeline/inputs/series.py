"""The indicator series file (``series.csv``): reading and validation.

One row per place, indicator and period::

    place_id,indicator,period,value,exposure
    avesta_busstorget,crimes_total,2017-01,14,
    sala_stationen,footfall,2021-03,15230,31

The file is read by the rule every study CSV follows (:mod:`pipeline.inputs.tables`):
UTF-8, UTF-16 with BOM or Windows-1252; ``;``, tab or ``,`` separated; decimal
commas except in a ``,``-separated file. Every row is checked against the study
description before anything is computed, and all problems are reported at once
with file, row (the line number an editor shows, header = 1) and column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Problem, ValidationError
from .study import Study
from .tables import LINE, read_table

#: Largest plausible monthly value at one place, by indicator family.
MAX_VALUE = {"count": 1e7, "other": 1e12}
#: Largest plausible exposure (a population, a number of days or visits).
MAX_EXPOSURE = 1e10
REQUIRED_COLUMNS = ("place_id", "indicator", "period", "value")
OPTIONAL_COLUMNS = ("exposure",)
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
# Enough to show the pattern of a systematic mistake without flooding the terminal.
MAX_PROBLEMS = 200


def read_series(path: str | Path, study: Study) -> pd.DataFrame:
    """Read and validate a ``series.csv`` against a study.

    Parameters
    ----------
    path
        The series file, read by the study rule (:mod:`pipeline.inputs.tables`).
    study
        The validated study description it belongs to.

    Returns
    -------
    pandas.DataFrame
        Columns ``place_id``, ``indicator``, ``period`` (monthly Period),
        ``value`` and ``exposure`` (float, NaN where not given), sorted by
        place, indicator and period.

    Raises
    ------
    ValidationError
        Listing every problem found, each with file, row and column.
    """
    table = read_table(
        path, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS, other_columns="error"
    )
    name = table.file
    problems: list[Problem] = list(table.problems)
    frame = table.frame.rename(columns={LINE: "_row"})

    def flag(mask: pd.Series, column: str, message) -> None:
        for _, row in frame.loc[mask].head(MAX_PROBLEMS).iterrows():
            text = message(row) if callable(message) else message
            problems.append(Problem(name, text, row=int(row["_row"]), column=column))

    places = {p.id for p in study.places}
    indicators = {i.id: i for i in study.indicators}
    flag(frame["place_id"] == "", "place_id", "empty place_id")
    flag(
        (frame["place_id"] != "") & ~frame["place_id"].isin(places),
        "place_id",
        lambda r: f"unknown place '{r['place_id']}' (not in study.yml)",
    )
    flag(
        ~frame["indicator"].isin(indicators),
        "indicator",
        lambda r: f"unknown indicator '{r['indicator']}' (not in study.yml)",
    )
    bad_period = ~frame["period"].str.match(PERIOD_PATTERN)
    flag(
        bad_period,
        "period",
        lambda r: f"cannot read period '{r['period']}': write year-month as YYYY-MM, e.g. 2021-03",
    )

    # A month that is not over yet has an incomplete count, which would read as a drop.
    last_complete = last_complete_month()
    flag(
        ~bad_period & (frame["period"].str.slice(0, 7) > str(last_complete)),
        "period",
        lambda r: (
            f"month {r['period']} is not over yet (the last complete month is "
            f"{last_complete}): leave out months that are incomplete or in the future"
        ),
    )

    numbers = {column: table.parse_numbers(frame[column]) for column in ("value", "exposure")}
    for column, parsed in numbers.items():
        cells = frame[column]
        if column == "value":
            flag(cells == "", column, "missing value")
        flag(
            (cells != "") & parsed.isna(),
            column,
            lambda r, c=column: f"'{r[c]}' is not a number{table.number_hint(r[c])}",
        )
    value, exposure = numbers["value"], numbers["exposure"]
    family = frame["indicator"].map({k: v.family for k, v in indicators.items()})
    flag(value < 0, "value", lambda r: f"negative value {r['value']}")
    is_count = family == "count"
    flag(
        is_count & value.notna() & (value % 1 != 0),
        "value",
        lambda r: f"count {r['value']} is not a whole number",
    )
    flag(
        (family == "proportion") & (value > 1),
        "value",
        lambda r: f"proportion {r['value']} is above 1 (write shares as 0-1, not per cent)",
    )
    flag(exposure <= 0, "exposure", lambda r: f"exposure must be positive, got {r['exposure']}")
    # A typo of a few digits (or a cell pasted from elsewhere) would overflow the models.
    limit = family.map(MAX_VALUE).fillna(MAX_VALUE["other"])
    flag(
        value.abs() > limit,
        "value",
        lambda r: (
            f"implausibly large value {r['value']} for a month at one place "
            f"(above {limit[r.name]:,.0f})"
        ),
    )
    flag(
        exposure > MAX_EXPOSURE,
        "exposure",
        lambda r: f"implausibly large exposure {r['exposure']} (above {MAX_EXPOSURE:,.0f})",
    )

    key = ["place_id", "indicator", "period"]
    duplicated = frame.duplicated(key, keep=False) & ~bad_period
    if duplicated.any():
        first_row = frame.loc[duplicated].groupby(key)["_row"].transform("min")
        dup_later = frame.loc[duplicated].assign(_first=first_row)
        dup_later = dup_later[dup_later["_row"] != dup_later["_first"]]
        for _, row in dup_later.head(MAX_PROBLEMS).iterrows():
            problems.append(
                Problem(
                    name,
                    f"duplicate of row {int(row['_first'])} "
                    f"({row['place_id']}, {row['indicator']}, {row['period']})",
                    row=int(row["_row"]),
                    column="period",
                )
            )
    if problems:
        raise ValidationError(problems)

    # Few distinct months among many rows: parse each once (parsing every cell
    # as a Period dominated the time to read the file).
    codes, months = pd.factorize(frame["period"])
    tidy = pd.DataFrame(
        {
            "place_id": frame["place_id"].astype(str).to_numpy(),
            "indicator": frame["indicator"].astype(str).to_numpy(),
            "period": pd.PeriodIndex(months, freq="M")[codes],
            "value": value.to_numpy(dtype=float),
            "exposure": exposure.to_numpy(dtype=float),
            "_row": frame["_row"].to_numpy(),
        }
    ).sort_values(["place_id", "indicator", "period"], ignore_index=True)

    problems.extend(_check_series_shape(tidy, study, name))
    if problems:
        raise ValidationError(problems)
    return tidy.drop(columns="_row")


def _check_series_shape(tidy: pd.DataFrame, study: Study, name: str) -> list[Problem]:
    """Gaps, partial exposure, and whether each target's series brackets its intervention."""
    problems: list[Problem] = []
    spans: dict[tuple[str, str], tuple[pd.Period, pd.Period]] = {}
    first_rows: dict[tuple[str, str], int] = {}
    for (place_id, indicator), group in tidy.groupby(["place_id", "indicator"], sort=False):
        periods = group["period"]
        first, last = periods.iloc[0], periods.iloc[-1]
        spans[(place_id, indicator)] = (first, last)
        first_rows[(place_id, indicator)] = int(group["_row"].min())
        expected = pd.period_range(first, last, freq="M")
        proportion = study.indicator(indicator).family == "proportion"
        if proportion and len(periods) > 1:
            # A share may be counted at a fixed interval (a yearly inventory of premises).
            ordinals = np.array([p.ordinal for p in periods])
            expected = expected[:: int(np.diff(ordinals).min())]
        if len(expected) != len(periods) or not (expected == pd.PeriodIndex(periods)).all():
            missing = expected.difference(pd.PeriodIndex(periods))
            shown = ", ".join(str(p) for p in missing[:6]) + (" ..." if len(missing) > 6 else "")
            # The missing month has no line; point at the line where the series resumes.
            resumes = int(group.loc[group["period"] > missing[0], "_row"].iloc[0])
            problems.append(
                Problem(
                    name,
                    f"gap in the series of {place_id} / {indicator}: no row for {shown} "
                    f"(the series resumes at row {resumes})",
                    row=resumes,
                    column="period",
                )
            )
        has_exposure = group["exposure"].notna()
        if proportion and not has_exposure.all():
            row = int(group.loc[~has_exposure, "_row"].iloc[0])
            problems.append(
                Problem(
                    name,
                    f"{place_id} / {indicator} is a proportion: give as exposure the number "
                    "the share is of (visitors counted, premises inventoried) in every period",
                    row=row,
                    column="exposure",
                )
            )
        elif has_exposure.any() and not has_exposure.all():
            row = int(group.loc[~has_exposure, "_row"].iloc[0])
            problems.append(
                Problem(
                    name,
                    f"exposure is given for some but not all periods of {place_id} / {indicator}",
                    row=row,
                    column="exposure",
                )
            )

    for target in study.targets():
        start = pd.Period(target.intervention_start, freq="M")
        indicators = [ind for (pid, ind) in spans if pid == target.id]
        if not indicators:
            problems.append(Problem(name, f"target '{target.id}' has no rows", column="place_id"))
        for indicator in indicators:
            first, last = spans[(target.id, indicator)]
            if not first < start <= last:
                problems.append(
                    Problem(
                        name,
                        f"the series of {target.id} / {indicator} ({first} to {last}) does not have "
                        f"periods both before and after its intervention start {start}",
                        row=first_rows[(target.id, indicator)],
                        column="period",
                    )
                )
            for other in (*target.controls, *([target.buffer] if target.buffer else [])):
                if (other, indicator) not in spans:
                    problems.append(
                        Problem(
                            name,
                            f"target '{target.id}' is compared with '{other}', which has no "
                            f"rows for indicator '{indicator}'",
                            column="place_id",
                        )
                    )
    return problems


def last_complete_month(today: dt.date | None = None) -> pd.Period:
    """The month before ``today`` (default: the current date): the last one that is over."""
    today = today or dt.date.today()
    return pd.Period(today, freq="M") - 1
