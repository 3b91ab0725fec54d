"""Read Brå statistics-database exports ("Databasfil") of reported crimes.

Brå's statistics database exports one table per download as a
semicolon-separated text file. The quirks this reader copes with:

- encoding ISO-8859-1 (Latin-1); a file re-saved as UTF-8 is also accepted;
- header ``Region;Brott;År;Period;Antal;/100 000 inv``, while every data row
  ends with an extra ``;`` (one field more than the header);
- years such as ``2016 prel.`` for preliminary figures;
- Swedish month abbreviations (``Maj``, ``Okt``);
- categories with trailing spaces (``Våldsbrott ``);
- ``..`` for suppressed or not applicable values, read as missing, never zero;
- regions named ``<name> kommun``;
- a municipality listed twice in one file, the second block all zeros
  (Heby in the 2013–2016 exports: it moved from Västmanland to Uppsala county
  in 2007 and the region list still carries the old entry). The empty block is
  dropped; any other repeated row that disagrees is an error.

Rates are "per 100 000 inhabitants" for the period of the row (a month is not
annualised), so ``population ≈ Antal / rate × 100 000``.

One module (just over 500 lines): each quirk above is handled where the
export's rows are parsed, and the messages that name a file, row and column
need that parse's line numbers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Problem, ValidationError

log = logging.getLogger(__name__)

HEADER = ("Region", "Brott", "År", "Period", "Antal", "/100 000 inv")
MUNICIPALITY_SUFFIX = " kommun"
MISSING = ".."
MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "maj": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "okt": 10,
    "nov": 11,
    "dec": 12,
}
COLUMNS = ["municipality", "category", "period", "count", "rate_per_100k", "preliminary"]
KEY = ["municipality", "category", "period"]
TOTAL = "Totalt antal brott"

_YEAR = re.compile(r"(\d{4})(\s+prel\.?)?")
_COUNT = re.compile(r"\d+")
_RATE = re.compile(r"\d+(?:[.,]\d+)?")
# Brå never uses thousand separators in these exports, but a file passed
# through a spreadsheet may have gained (non-breaking) spaces.
_SPACES = re.compile(r"[\s\u00a0\u202f]")


@dataclass(frozen=True, eq=False)
class _Parsed:
    """One file's rows with the line each came from (for later messages)."""

    frame: pd.DataFrame
    lines: np.ndarray


def read_bra_export(path: str | Path, *, encoding: str | None = None) -> pd.DataFrame:
    """Read one Brå "Databasfil" export.

    Parameters
    ----------
    path : str or Path
        The exported text file.
    encoding : str, optional
        Force an encoding. By default the file is read as UTF-8 when it is
        valid UTF-8 and as Latin-1 (what Brå writes) otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per municipality, category and month, in file order, with
        columns ``municipality`` (name without " kommun"), ``category``
        (stripped), ``period`` (monthly ``pandas.Period``), ``count``
        (``Int64``; ``<NA>`` where Brå wrote ``..``), ``rate_per_100k``
        (float, per month; NaN for ``..``) and ``preliminary`` (bool).

    Raises
    ------
    ValidationError
        When the header is not Brå's, a row has the wrong number of fields,
        or a year, month, count or rate cannot be read. Every bad cell is
        listed with its line number and column.
    """
    return _read(Path(path), encoding).frame


def read_bra_folder(
    folder: str | Path, pattern: str = "Databasfil*.txt", *, encoding: str | None = None
) -> pd.DataFrame:
    """Read and combine every Brå export in a folder.

    Parameters
    ----------
    folder : str or Path
        Folder holding the exports.
    pattern : str, default "Databasfil*.txt"
        Glob pattern of the files to read.
    encoding : str, optional
        Passed to :func:`read_bra_export`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`read_bra_export`, sorted by municipality,
        category and period, one row per key.

    Raises
    ------
    ValidationError
        When no file matches, a file is bad, or two files give different
        values for the same municipality, category and month. The one
        exception: when one file has the final figure and another the
        preliminary one, the final figure is kept.
    """
    folder = Path(folder)
    paths = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not paths:
        raise ValidationError.single(folder, f"no files matching '{pattern}'")
    parsed = [_read(p, encoding) for p in paths]
    frame = pd.concat(
        [
            p.frame.assign(_file=str(path), _line=p.lines)
            for p, path in zip(parsed, paths, strict=True)
        ],
        ignore_index=True,
    )
    frame = _resolve_duplicates_between_files(frame)
    frame = frame.sort_values(KEY, kind="stable").reset_index(drop=True)
    return frame[COLUMNS]


def population_from_rates(df: pd.DataFrame, category: str | None = TOTAL) -> pd.DataFrame:
    """Estimate each municipality's population per year from counts and rates.

    The estimate is ``count / rate_per_100k × 100 000``, the median over the
    months of the year, rounded to whole persons. It is approximate: Brå
    rounds the rate to whole numbers, so a month with rate r carries a
    relative error of up to 0.5 / r (about 0.1 % for total crime in a typical
    municipality, far more for rare categories), and Brå's population base is
    its own choice of reference date. Use SCB's population tables where an
    exact denominator matters.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`read_bra_export` or :func:`read_bra_folder`.
    category : str or None, default "Totalt antal brott"
        Category to use; the largest counts give the most precise rates.
        None uses every category.

    Returns
    -------
    pandas.DataFrame
        Columns ``municipality``, ``year``, ``population`` (``Int64``) and
        ``n_months`` (the months with a usable count and rate).
    """
    rows = df if category is None else df[df["category"] == category]
    count = rows["count"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    rate = rows["rate_per_100k"].to_numpy(dtype=float)
    # A zero count or rate says nothing about the population.
    usable = np.isfinite(count) & np.isfinite(rate) & (count > 0) & (rate > 0)
    est = pd.DataFrame(
        {
            "municipality": rows["municipality"].to_numpy()[usable],
            "year": rows["period"].dt.year.to_numpy()[usable],
            "month": rows["period"].to_numpy()[usable],
            "population": count[usable] / rate[usable] * 100_000.0,
        }
    )
    out = (
        est.groupby(["municipality", "year"], sort=True)
        .agg(population=("population", "median"), n_months=("month", "nunique"))
        .reset_index()
    )
    out["population"] = out["population"].round().astype("Int64")
    return out


def monthly_series(df: pd.DataFrame, category: str = TOTAL) -> dict[str, pd.DataFrame]:
    """Each municipality's monthly counts as a series of the study's form.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`read_bra_export` or :func:`read_bra_folder`.
    category : str, default "Totalt antal brott"

    Returns
    -------
    dict of str to pandas.DataFrame
        Per municipality, in name order: ``value`` (the count) and ``exposure``
        (1), indexed by month. A municipality with a missing month is left out.
    """
    rows = df[df["category"] == category]
    series = {}
    for name, group in rows.groupby("municipality", sort=True):
        counts = group["count"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        if np.isfinite(counts).all():
            index = pd.PeriodIndex(group["period"], freq="M")
            series[str(name)] = pd.DataFrame({"value": counts, "exposure": 1.0}, index=index)
    return series


# --------------------------------------------------------------------------- parsing


def _decode(path: Path, raw: bytes, encoding: str | None) -> str:
    if encoding is not None:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ValidationError.single(
                path, f"cannot be read as {encoding}: {exc.reason} at byte {exc.start}"
            ) from None
    try:
        # Latin-1 bytes for å, ä, ö are almost never valid UTF-8, so valid
        # UTF-8 means the file was re-saved by some other program.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read(path: Path, encoding: str | None) -> _Parsed:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError.single(path, f"cannot be read: {exc.strerror}") from None
    # Not str.splitlines: it also breaks at U+0085, which is what Latin-1 byte
    # 0x85 decodes to, and that would shift every line number after it.
    lines = _decode(path, raw, encoding).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or not lines[0].strip():
        raise ValidationError.single(path, "the file is empty; expected Brå's header", row=1)
    header = lines[0].split(";")
    if header[-1] == "":
        header = header[:-1]
    if tuple(h.strip() for h in header) != HEADER:
        raise ValidationError.single(
            path,
            f"header is '{lines[0]}', expected '{';'.join(HEADER)}' (a Brå 'Databasfil' export)",
            row=1,
        )

    n = len(HEADER)
    body = lines[1:]
    split = [t.split(";") for t in body]
    blank = np.fromiter((not t.strip() for t in body), dtype=bool, count=len(body))
    n_fields = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
    # Brå ends data rows with ';' (one field more than the header); accept
    # rows without it too.
    trailing = np.fromiter((p[-1].strip() == "" for p in split), dtype=bool, count=len(split))
    ok = (n_fields == n) | ((n_fields == n + 1) & trailing)
    bad = np.flatnonzero(~ok & ~blank)
    if bad.size:
        raise ValidationError(
            [
                Problem(
                    str(path),
                    f"has {n_fields[k]} fields, expected {n} (or {n + 1} with an empty last one)",
                    int(k) + 2,
                )
                for k in bad
            ]
        )
    rows = np.flatnonzero(~blank)
    lines_arr = rows.astype(np.int64) + 2
    if rows.size == 0:
        return _Parsed(_empty(), lines_arr)
    # zip stops at the shortest row, which drops the empty trailing field.
    cols = list(zip(*(split[k] for k in rows), strict=False))[:n]
    problems: list[Problem] = []
    raw_frame = pd.DataFrame(dict(zip(HEADER, cols, strict=True)), dtype=object)

    region, bad = _map_unique(raw_frame["Region"], _parse_region, object)
    problems += _problems(path, lines_arr, raw_frame["Region"], bad, "Region", _REGION_MSG)
    category = raw_frame["Brott"].str.strip()
    empty_cat = (category == "").to_numpy()
    problems += _problems(path, lines_arr, raw_frame["Brott"], empty_cat, "Brott", "is empty")
    year, bad = _map_unique(raw_frame["År"], _parse_year, float)
    problems += _problems(path, lines_arr, raw_frame["År"], bad, "År", _YEAR_MSG)
    prelim, _ = _map_unique(raw_frame["År"], _is_preliminary, bool)
    month, bad = _map_unique(raw_frame["Period"], _parse_month, float)
    problems += _problems(path, lines_arr, raw_frame["Period"], bad, "Period", _MONTH_MSG)
    count, bad = _map_unique(raw_frame["Antal"], _parse_count, float)
    problems += _problems(path, lines_arr, raw_frame["Antal"], bad, "Antal", _COUNT_MSG)
    rate, bad = _map_unique(raw_frame["/100 000 inv"], _parse_rate, float)
    problems += _problems(
        path, lines_arr, raw_frame["/100 000 inv"], bad, "/100 000 inv", _RATE_MSG
    )
    if problems:
        raise ValidationError(problems)

    period = pd.PeriodIndex.from_fields(
        year=year.astype(np.int64), month=month.astype(np.int64), freq="M"
    )
    count_arr = pd.array(count, dtype="Float64")
    count_arr[np.isnan(count)] = pd.NA
    frame = pd.DataFrame(
        {
            "municipality": region,
            "category": category.to_numpy(),
            "period": period,
            "count": count_arr.astype("Int64"),
            "rate_per_100k": rate,
            "preliminary": prelim,
        }
    )
    frame, lines_arr = _resolve_duplicates_in_file(path, frame, lines_arr)
    return _Parsed(frame, lines_arr)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "municipality": pd.Series(dtype=object),
            "category": pd.Series(dtype=object),
            "period": pd.Series(dtype="period[M]"),
            "count": pd.Series(dtype="Int64"),
            "rate_per_100k": pd.Series(dtype=float),
            "preliminary": pd.Series(dtype=bool),
        }
    )


_INVALID = object()
_REGION_MSG = "'{}' is not a municipality: expected a name ending in ' kommun'"
_YEAR_MSG = "'{}' is not a year (expected e.g. '2016' or '2016 prel.')"
_MONTH_MSG = (
    "'{}' is not a Swedish month abbreviation (Jan Feb Mar Apr Maj Jun Jul Aug Sep Okt Nov Dec)"
)
_COUNT_MSG = "'{}' is not a count (a whole number, or '..' for missing)"
_RATE_MSG = "'{}' is not a rate (a number, or '..' for missing)"


def _map_unique(values: pd.Series, parse, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Parse each distinct value once; a file has few distinct values per column.

    Returns the parsed values as an array of ``dtype`` and a mask of the rows
    that could not be parsed.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    parsed = [parse(u) for u in uniques]
    bad_u = np.array([p is _INVALID for p in parsed], dtype=bool)
    fill = None if dtype is object else (False if dtype is bool else np.nan)
    clean = np.array([fill if b else p for p, b in zip(parsed, bad_u, strict=True)], dtype=dtype)
    return clean[codes], bad_u[codes]


def _problems(path, lines, raw: pd.Series, bad: np.ndarray, column: str, msg: str) -> list[Problem]:
    idx = np.flatnonzero(bad)
    return [Problem(str(path), msg.format(raw.iloc[k]), int(lines[k]), column) for k in idx]


def _parse_region(text: str):
    name = text.strip()
    if not name.endswith(MUNICIPALITY_SUFFIX) or len(name) == len(MUNICIPALITY_SUFFIX):
        return _INVALID
    return name[: -len(MUNICIPALITY_SUFFIX)].strip()


def _parse_year(text: str):
    m = _YEAR.fullmatch(text.strip())
    return _INVALID if m is None else int(m.group(1))


def _is_preliminary(text: str) -> bool:
    m = _YEAR.fullmatch(text.strip())
    return m is not None and m.group(2) is not None


def _parse_month(text: str):
    return MONTHS.get(text.strip().lower(), _INVALID)


def _parse_count(text: str):
    t = _SPACES.sub("", text)
    if t == MISSING:
        return np.nan
    if not _COUNT.fullmatch(t):
        return _INVALID
    return int(t)


def _parse_rate(text: str):
    t = _SPACES.sub("", text)
    if t == MISSING:
        return np.nan
    if not _RATE.fullmatch(t):
        return _INVALID
    return float(t.replace(",", "."))


# --------------------------------------------------------------------------- duplicates


def _same_values(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Row-wise equality of count and rate, missing equal to missing."""
    ca = a["count"].to_numpy(dtype=float, na_value=np.nan)
    cb = b["count"].to_numpy(dtype=float, na_value=np.nan)
    ra = a["rate_per_100k"].to_numpy(dtype=float)
    rb = b["rate_per_100k"].to_numpy(dtype=float)
    eq_c = (ca == cb) | (np.isnan(ca) & np.isnan(cb))
    eq_r = (ra == rb) | (np.isnan(ra) & np.isnan(rb))
    return eq_c & eq_r


def _resolve_duplicates_in_file(
    path: Path, frame: pd.DataFrame, lines: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    dup = frame.duplicated(KEY, keep=False).to_numpy()
    if not dup.any():
        return frame, lines
    occurrence = frame.groupby(KEY, sort=False).cumcount().to_numpy()
    counts = frame["count"].to_numpy(dtype=float, na_value=np.nan)
    drop = np.zeros(len(frame), dtype=bool)
    problems: list[Problem] = []
    for muni in pd.unique(frame.loc[dup, "municipality"]):
        in_muni = (frame["municipality"] == muni).to_numpy() & dup
        blocks = sorted(set(occurrence[in_muni].tolist()))
        empty = [
            bool(np.all(np.nan_to_num(counts[in_muni & (occurrence == k)]) == 0)) for k in blocks
        ]
        if 0 < sum(empty) < len(blocks):
            # The region list carries a stale, empty entry: keep the real one.
            for k, is_empty in zip(blocks, empty, strict=True):
                if is_empty:
                    drop |= in_muni & (occurrence == k)
            log.info("%s: dropped an all-zero repeated block for %s", path, muni)
            continue
        rows = frame[in_muni]
        row_lines = lines[in_muni]
        first = rows[occurrence[in_muni] == 0].set_index(KEY)[["count", "rate_per_100k"]]
        ref = rows[KEY].join(first, on=KEY)
        same = _same_values(rows, ref)
        if same.all():
            drop |= in_muni & (occurrence > 0)
            continue
        for k in np.flatnonzero(~same):
            problems.append(
                Problem(
                    str(path),
                    f"repeats {muni} / {rows['category'].iloc[k]} / {rows['period'].iloc[k]} "
                    "with a different value",
                    int(row_lines[k]),
                    "Antal",
                )
            )
    if problems:
        raise ValidationError(problems)
    keep = ~drop
    return frame[keep].reset_index(drop=True), lines[keep]


def _resolve_duplicates_between_files(frame: pd.DataFrame) -> pd.DataFrame:
    dup = frame.duplicated(KEY, keep=False).to_numpy()
    if not dup.any():
        return frame
    rows = frame[dup]
    # Final figures replace preliminary ones; among equals the first file wins.
    best = rows.sort_values("preliminary", kind="stable").groupby(KEY, sort=False).head(1)
    kept = best.set_index(KEY)[["count", "rate_per_100k", "preliminary", "_file", "_line"]]
    joined = rows.join(kept.add_suffix("_kept"), on=KEY)
    # A preliminary figure that lost to a final one may differ; equals may not.
    rivals = joined[joined["preliminary"] == joined["preliminary_kept"]]
    ref = rivals[["count_kept", "rate_per_100k_kept"]].set_axis(["count", "rate_per_100k"], axis=1)
    differs = ~_same_values(rivals, ref)
    problems = [
        Problem(
            r["_file"],
            f"{r['municipality']} / {r['category']} / {r['period']} is "
            f"{_fmt(r['count'])} ({_fmt(r['rate_per_100k'])} per 100 000) here but "
            f"{_fmt(r['count_kept'])} ({_fmt(r['rate_per_100k_kept'])} per 100 000) "
            f"in {r['_file_kept']}, line {r['_line_kept']}",
            int(r["_line"]),
            "Antal" if not _eq(r["count"], r["count_kept"]) else "/100 000 inv",
        )
        for _, r in rivals[differs].iterrows()
    ]
    if problems:
        raise ValidationError(problems)
    return pd.concat([frame[~dup], best], ignore_index=True)


def _fmt(value) -> str:
    if pd.isna(value):
        return ".."
    return f"{value:g}" if isinstance(value, float) else str(value)


def _eq(a, b) -> bool:
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    return bool(a == b)
