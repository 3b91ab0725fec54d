"""Footfall counter exports → monthly series with the days counted as exposure.

A counter export is a CSV file (read by the study rule, :mod:`pipeline.inputs.tables`)
with one row per counter and day or hour: ``counter``, ``time``
(``YYYY-MM-DD`` for daily counts, ``YYYY-MM-DD HH:MM`` for hourly ones) and
``count`` (a whole number; a blank cell is a missing count, never zero).

Rules:

- A **day is counted** when its count is there: for daily data the day's row,
  for hourly data all 24 hours (23 on the day clocks go forward to summer time,
  the last Sunday of March, when 02:00 does not exist; on the last Sunday of
  October 02:00 comes twice, and its two rows are added). A day with hours
  missing is left out entirely, its counts as well as its day, so the monthly
  rate per day is never pulled down by a partial day.
- A place with several counters counts a day only when every one of its
  counters counted it; the value is their sum.
- The **month's value** is the sum over its counted days and its
  **exposure** the number of counted days, so the series compares footfall per
  day counted. Months with fewer counted days than calendar days are listed in
  the import notes; nothing is filled in.
- A month without a single counted day, between the first and the last month
  of a place, is an error: the study contract allows no gap in a series, and
  filling it would invent data. Shorten the series or find the counts.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import Problem, ValidationError
from pipeline.inputs.study import STUDY_FILE, load_study
from pipeline.inputs.tables import LINE, read_table

from .record import ImportResult, merged_series

IMPORTER = "import-footfall"
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}):(\d{2})(?::\d{2})?)?$")


def _spring_forward(day: pd.Timestamp) -> bool:
    """Whether Swedish clocks go forward on this day (the last Sunday of March)."""
    return day.month == 3 and day.weekday() == 6 and day.day >= 25


def _fall_back(days: pd.Series) -> pd.Series:
    """Whether Swedish clocks go back on each day (the last Sunday of October)."""
    return (days.dt.month == 10) & (days.dt.day_of_week == 6) & (days.dt.day >= 25)


def read_counts(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Read a counter export.

    Parameters
    ----------
    path : str or Path
        The CSV file.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``counter``, ``day`` (Timestamp), ``hour`` (Int64, missing for
        daily data), ``count`` (float, NaN where blank) and ``_line``.
    resolution : {"day", "hour"}

    Raises
    ------
    ValidationError
        Unreadable times or counts, daily and hourly rows mixed, duplicates.
    """
    table = read_table(path, required=("counter", "time", "count"))
    file = table.file
    frame = table.frame
    problems = list(table.problems)
    parts = frame["time"].str.extract(_TIME)
    days = pd.to_datetime(parts[0], format="%Y-%m-%d", errors="coerce")
    hours = pd.to_numeric(parts[1], errors="coerce")
    minutes = pd.to_numeric(parts[2], errors="coerce")
    bad_time = days.isna() | (hours > 23) | (minutes.notna() & (minutes != 0))
    for _, row in frame[bad_time].head(50).iterrows():
        problems.append(
            Problem(
                file,
                f"cannot read time '{row['time']}': write YYYY-MM-DD for daily counts or "
                "YYYY-MM-DD HH:00 for hourly ones",
                int(row[LINE]),
                "time",
            )
        )
    count = table.parse_numbers(frame["count"])
    bad_count = (frame["count"] != "") & (count.isna() | (count < 0) | (count % 1 != 0))
    for _, row in frame[bad_count].head(50).iterrows():
        problems.append(
            Problem(
                file,
                f"'{row['count']}' is not a count (a whole number, or blank when missing)"
                f"{table.number_hint(row['count'])}",
                int(row[LINE]),
                "count",
            )
        )
    blank_counter = frame["counter"] == ""
    for line in frame.loc[blank_counter, LINE].head(50):
        problems.append(Problem(file, "counter is blank", int(line), "counter"))
    hourly = hours.notna()
    resolution = "hour" if hourly.any() else "day"
    if hourly.any() and not hourly[~bad_time].all():
        first = int(frame.loc[~hourly & ~bad_time, LINE].iloc[0])
        problems.append(
            Problem(
                file,
                "daily and hourly rows are mixed: give every row a time (HH:00), or none",
                first,
                "time",
            )
        )
    if problems:
        raise ValidationError(problems)
    out = pd.DataFrame(
        {
            "counter": frame["counter"],
            "day": days,
            "hour": pd.array(hours, dtype="Int64") if resolution == "hour" else pd.NA,
            "count": count,
            LINE: frame[LINE],
        }
    )
    key = ["counter", "day", "hour"] if resolution == "hour" else ["counter", "day"]
    dup = out.duplicated(key, keep="first")
    if resolution == "hour":
        # 02:00 happens twice the night clocks go back: two rows for it are two hours.
        twice = (
            _fall_back(out["day"])
            & (out["hour"] == 2).fillna(False).astype(bool)
            & (out.groupby(key)["counter"].transform("size") == 2)
        )
        dup &= ~twice
    for _, row in out[dup].head(50).iterrows():
        first = out.loc[
            (out["counter"] == row["counter"])
            & (out["day"] == row["day"])
            & ((out["hour"] == row["hour"]) if resolution == "hour" else True),
            LINE,
        ].min()
        problems.append(
            Problem(
                file,
                f"duplicate of row {int(first)} ({row['counter']}, {row['day']:%Y-%m-%d})",
                int(row[LINE]),
                "time",
            )
        )
    if problems:
        raise ValidationError(problems)
    return out, resolution


def daily_counts(frame: pd.DataFrame, resolution: str) -> pd.DataFrame:
    """One row per counter and day counted, with the days left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``counter``, ``day``, ``count`` (NaN where the day is not
        counted) and ``complete`` (bool), for every calendar day from each
        counter's first to its last.
    """
    if resolution == "hour":
        present = frame.dropna(subset=["count"])
        by_day = present.groupby(["counter", "day"]).agg(
            count=("count", "sum"), hours=("hour", "nunique")
        )
        needed = np.where(
            [_spring_forward(d) for d in by_day.index.get_level_values("day")], 23, 24
        )
        by_day["complete"] = by_day["hours"].to_numpy() >= needed
    else:
        by_day = frame.groupby(["counter", "day"]).agg(count=("count", "first"))
        by_day["complete"] = by_day["count"].notna()
    pieces = []
    for counter, group in by_day.reset_index().groupby("counter", sort=True):
        calendar = pd.date_range(group["day"].min(), group["day"].max(), freq="D")
        full = group.set_index("day").reindex(calendar)
        full.index.name = "day"
        full["counter"] = counter
        full["complete"] = full["complete"].fillna(False).astype(bool)
        full.loc[~full["complete"], "count"] = np.nan
        pieces.append(full.reset_index()[["counter", "day", "count", "complete"]])
    return pd.concat(pieces, ignore_index=True)


def import_footfall(
    study_dir: str | Path,
    counts: str | Path,
    *,
    indicator: str,
    counters: list[tuple[str, str]] | None = None,
) -> ImportResult:
    """Monthly footfall series per place, merged into the study's ``series.csv``.

    Parameters
    ----------
    study_dir : str or Path
        The study folder.
    counts : str or Path
        The counter export.
    indicator : str
        The study's footfall indicator (family ``count``).
    counters : list of (str, str), optional
        Counter -> place id. A counter not listed must be named after a place.

    Returns
    -------
    ImportResult
        The new ``series.csv``; its notes list every month with days not
        counted.

    Raises
    ------
    ValidationError
        A bad export, an unknown counter, place or indicator, or a month
        without any counted day inside a series.
    """
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    yml = str(study_dir / STUDY_FILE)
    counts = Path(counts)
    frame, resolution = read_counts(counts)
    problems: list[Problem] = []
    indicators = {i.id: i for i in study.indicators}
    if indicator not in indicators:
        problems.append(Problem(yml, f"no indicator '{indicator}' (--indicator)"))
    elif indicators[indicator].family != "count":
        problems.append(
            Problem(
                yml,
                f"indicator '{indicator}' has family {indicators[indicator].family}; "
                "footfall is a count",
            )
        )
    places = {p.id for p in study.places}
    mapping = dict(counters or [])
    for counter, place in mapping.items():
        if place not in places:
            problems.append(Problem(yml, f"no place '{place}' (--counter {counter}={place})"))
    for counter in sorted(set(frame["counter"]) - set(mapping)):
        if counter in places:
            mapping[counter] = counter
        else:
            line = int(frame.loc[frame["counter"] == counter, LINE].iloc[0])
            problems.append(
                Problem(
                    str(counts),
                    f"counter '{counter}' is not a place of study.yml; map it with "
                    f"--counter '{counter}=PLACE_ID'",
                    line,
                    "counter",
                )
            )
    if problems:
        raise ValidationError(problems)

    days = daily_counts(frame, resolution)
    days["place_id"] = days["counter"].map(mapping)
    notes: list[str] = []
    rows = []
    for place_id, group in days.groupby("place_id", sort=True):
        n_counters = group["counter"].nunique()
        per_day = group.groupby("day").agg(
            count=("count", "sum"), complete=("complete", "sum"), counters=("counter", "nunique")
        )
        # A day counts only when every counter of the place counted it.
        per_day["counted"] = per_day["complete"] == n_counters
        per_day.loc[~per_day["counted"], "count"] = 0.0
        first, last = per_day.index.min(), per_day.index.max()
        calendar = pd.date_range(first, last, freq="D")
        per_day = per_day.reindex(calendar, fill_value=0)
        per_day["counted"] = per_day["counted"].astype(bool)
        month = per_day.index.to_period("M")
        monthly = per_day.groupby(month).agg(value=("count", "sum"), exposure=("counted", "sum"))
        empty = monthly.index[monthly["exposure"] == 0]
        if len(empty):
            problems.append(
                Problem(
                    str(counts),
                    f"place {place_id}: no counted day in {', '.join(str(p) for p in empty)}; "
                    "a series cannot have a gap (shorten it, or find the counts)",
                    column="count",
                )
            )
            continue
        notes += _gap_notes(place_id, per_day, first, last)
        rows.append(
            pd.DataFrame(
                {
                    "place_id": place_id,
                    "indicator": indicator,
                    "period": monthly.index.astype(str),
                    "value": monthly["value"].to_numpy(),
                    "exposure": monthly["exposure"].astype(float).to_numpy(),
                }
            )
        )
    if problems:
        raise ValidationError(problems)
    new = pd.concat(rows, ignore_index=True)
    content, replaced = merged_series(study_dir, new)
    if replaced:
        notes.append(f"replaced {replaced} rows of series.csv for the same places and indicator")
    return ImportResult(
        importer=IMPORTER,
        outputs={"series.csv": content},
        sources=(counts,),
        parameters={"indicator": indicator, "counters": mapping, "resolution": resolution},
        notes=tuple(notes),
    )


def _gap_notes(place_id: str, per_day: pd.DataFrame, first, last) -> list[str]:
    """Each run of days not counted, and partial first and last months."""
    notes = []
    missing = ~per_day["counted"]
    runs = (missing != missing.shift()).cumsum()[missing]
    for _, run in runs.groupby(runs):
        start, end = run.index.min(), run.index.max()
        span = f"{start:%Y-%m-%d}" if start == end else f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
        notes.append(
            f"place {place_id}: {len(run)} day{'s' if len(run) > 1 else ''} not counted ({span}); "
            "left out of the value and the exposure"
        )
    if first.day != 1:
        notes.append(f"place {place_id}: first month {first:%Y-%m} counted from day {first.day}")
    if last != last + pd.offsets.MonthEnd(0):
        notes.append(f"place {place_id}: last month {last:%Y-%m} counted up to day {last.day}")
    return notes
