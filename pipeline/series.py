"""The indicator series file (``series.csv``): reading and validation.

One row per place, indicator and period::

    place_id,indicator,period,value,exposure
    avesta_busstorget,crimes_total,2017-01,14,
    sala_stationen,footfall,2021-03,15230,31

Every row is checked against the study description before anything is
computed, and all problems are reported at once with file, row (the line
number an editor shows, header = 1) and column.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import Problem, ValidationError
from .study import Study

REQUIRED_COLUMNS = ("place_id", "indicator", "period", "value")
OPTIONAL_COLUMNS = ("exposure",)
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
NUMBER_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
DECIMAL_COMMA_PATTERN = r"^[+-]?\d+,\d+$"
# Enough to show the pattern of a systematic mistake without flooding the terminal.
MAX_PROBLEMS = 200


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        hint = ""
        try:
            raw.decode("latin-1")
            hint = " (it looks like Latin-1/Windows-1252: save it as UTF-8)"
        except UnicodeDecodeError:
            pass
        raise ValidationError.single(path, f"not valid UTF-8{hint}", row=row) from None


def read_series(path: str | Path, study: Study) -> pd.DataFrame:
    """Read and validate a ``series.csv`` against a study.

    Parameters
    ----------
    path
        The series file.
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
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise ValidationError.single(name, "file not found")
    text = _decode(path)
    header = text.splitlines()[0] if text else ""
    if not header.strip():
        raise ValidationError.single(name, "the file is empty", row=1)
    if ";" in header and "," not in header:
        raise ValidationError.single(
            name, "the file is separated by ';' but must be comma-separated", row=1
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+)", str(exc))
        row = int(found.group(1)) if found else None
        raise ValidationError.single(name, f"not a well-formed CSV file: {exc}", row=row) from None

    columns = [c.strip() for c in frame.columns]
    frame.columns = columns
    problems: list[Problem] = []
    for column in REQUIRED_COLUMNS:
        if column not in columns:
            problems.append(
                Problem(name, f"required column '{column}' is missing", row=1, column=column)
            )
    for column in columns:
        if column not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            problems.append(Problem(name, "unknown column", row=1, column=column))
    if problems:
        raise ValidationError(problems)
    if "exposure" not in frame:
        frame["exposure"] = ""

    frame = frame.apply(lambda s: s.str.strip())
    # Line numbers as an editor shows them: the header is line 1.
    frame["_row"] = np.arange(len(frame)) + 2
    blank = (frame[list(REQUIRED_COLUMNS)] == "").all(axis=1) & (frame["exposure"] == "")
    frame = frame.loc[~blank]

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

    for column in ("value", "exposure"):
        values = frame[column]
        comma = values.str.match(DECIMAL_COMMA_PATTERN)
        flag(comma, column, lambda r, c=column: f"decimal comma in '{r[c]}': use a decimal point")
        if column == "value":
            flag(values == "", column, "missing value")
        flag(
            (values != "") & ~comma & ~values.str.match(NUMBER_PATTERN),
            column,
            lambda r, c=column: f"'{r[c]}' is not a number",
        )

    value = pd.to_numeric(
        frame["value"].where(frame["value"].str.match(NUMBER_PATTERN)), errors="coerce"
    )
    exposure = pd.to_numeric(
        frame["exposure"].where(frame["exposure"].str.match(NUMBER_PATTERN)), errors="coerce"
    )
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

    tidy = pd.DataFrame(
        {
            "place_id": frame["place_id"].astype(str).to_numpy(),
            "indicator": frame["indicator"].astype(str).to_numpy(),
            "period": pd.PeriodIndex(frame["period"], freq="M"),
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
        if len(expected) != len(periods):
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
        if has_exposure.any() and not has_exposure.all():
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
