"""Geocoded offences and place polygons → monthly counts per place.

Inputs:

- **offences**: a CSV file (read by the study rule, :mod:`pipeline.inputs.tables`)
  with ``date`` (``YYYY-MM-DD``, a time after it is ignored), ``offence`` (the
  police's offence code or a category name) and the coordinates, whose column
  names say their system: ``easting`` and ``northing`` (or ``e``, ``n``) in
  SWEREF 99 TM (EPSG:3006), or ``longitude`` and ``latitude`` (or ``lon``,
  ``lat``) in WGS 84 (EPSG:4326). ``x`` and ``y`` are refused: Swedish
  surveying calls the northing x, so they are ambiguous. Coordinates must lie
  in Sweden in the declared system.
- **codes**: a CSV file with ``offence`` and ``indicator``: which offences each
  indicator counts (an offence may count for several). Digits-only codes match
  without their leading zeros (Excel drops them). An offence in the extract
  that the file does not list is an error, so nothing is silently left out.
- **places**: polygons read and checked by :mod:`pipeline.importers.places`
  (coordinate system from the file, no overlaps, buffer rings on request).

Rules:

- **An offence on a boundary is counted once**: a place covers its boundary,
  and an offence covered by several places (only possible on a shared
  boundary) is counted in the first of them in the order target, buffer,
  control, and within a role the order of ``study.yml``.
- Offences outside every place are not counted; their number is in the notes.
- Every place of the file gets a row for every indicator and month from the
  first to the last month of the extract (or the months given): a month
  without offences is a zero, as the extract covers the whole area. The
  exposure is the number of days in the month.

Besides ``series.csv`` the importer writes ``places.geojson`` (every place with
its role, buffers included, in SWEREF 99 TM) and ``places_map.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import Problem, ValidationError
from pipeline.inputs.study import Study, load_study
from pipeline.inputs.tables import LINE, read_table

from .places import (
    MAP_FILE,
    PLACES_FILE,
    SWEREF99TM,
    WGS84,
    crs_name,
    in_sweden,
    map_png,
    places_geojson,
    read_places,
)
from .record import ImportResult, merged_series

IMPORTER = "import-offences"
_COORDINATES = {
    SWEREF99TM: (("easting", "e"), ("northing", "n")),
    WGS84: (("longitude", "lon"), ("latitude", "lat")),
}


# --------------------------------------------------------------------------- offences


def read_offences(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Read the geocoded offences.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``month`` (Period), ``offence``, ``x``, ``y`` (in the file's
        system) and ``_line``.
    crs : str
        ``"EPSG:3006"`` or ``"EPSG:4326"``, from the column names.

    Raises
    ------
    ValidationError
        No or ambiguous coordinate columns, unreadable dates or coordinates,
        coordinates outside Sweden in the file's system.
    """
    file = str(path)
    probe = read_table(path, required=("date", "offence"))
    header = set(probe.header)
    found = {
        crs: tuple(next((n for n in names if n in header), None) for names in pair)
        for crs, pair in _COORDINATES.items()
    }
    complete = [crs for crs, cols in found.items() if None not in cols]
    if len(complete) != 1:
        hint = ""
        if {"x", "y"} & header:
            hint = (
                "; 'x' and 'y' are ambiguous (Swedish surveying calls the northing x): "
                "rename them 'easting' and 'northing' (SWEREF 99 TM) or 'longitude' and "
                "'latitude' (WGS 84)"
            )
        what = "both" if len(complete) > 1 else "no"
        raise ValidationError.single(
            file,
            f"{what} coordinate columns: expected easting and northing (SWEREF 99 TM) or "
            f"longitude and latitude (WGS 84){hint}",
            row=probe.header_line,
        )
    crs = complete[0]
    x_name, y_name = found[crs]
    table = read_table(path, required=("date", "offence", x_name, y_name))
    frame = table.frame
    problems = list(table.problems)
    dates = pd.to_datetime(frame["date"].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    bad_date = dates.isna() | ~frame["date"].str.match(r"^\d{4}-\d{2}-\d{2}([ T].*)?$")
    for _, row in frame[bad_date].head(50).iterrows():
        problems.append(
            Problem(
                file, f"cannot read date '{row['date']}': write YYYY-MM-DD", int(row[LINE]), "date"
            )
        )
    for _, row in frame[frame["offence"] == ""].head(50).iterrows():
        problems.append(Problem(file, "offence is blank", int(row[LINE]), "offence"))
    x = table.parse_numbers(frame[x_name])
    y = table.parse_numbers(frame[y_name])
    for name, values in ((x_name, x), (y_name, y)):
        for _, row in frame[values.isna()].head(50).iterrows():
            problems.append(
                Problem(
                    file,
                    f"'{row[name]}' is not a coordinate{table.number_hint(row[name])}",
                    int(row[LINE]),
                    name,
                )
            )
    readable = x.notna() & y.notna()
    outside = readable & ~in_sweden(x.to_numpy(), y.to_numpy(), crs)
    if outside.any():
        problems.append(_outside_problem(file, frame, x, y, outside, crs, x_name, y_name))
    if problems:
        raise ValidationError(problems)
    out = pd.DataFrame(
        {
            "month": dates.dt.to_period("M"),
            "offence": frame["offence"],
            "x": x.to_numpy(),
            "y": y.to_numpy(),
            LINE: frame[LINE],
        }
    )
    return out, crs


def _outside_problem(file, frame, x, y, outside, crs, x_name, y_name) -> Problem:
    first = np.flatnonzero(outside.to_numpy())[0]
    line = int(frame[LINE].iloc[first])
    other = WGS84 if crs == SWEREF99TM else SWEREF99TM
    xs, ys = x[outside].to_numpy(), y[outside].to_numpy()
    looks_other = in_sweden(xs, ys, other).mean() > 0.5
    swapped = in_sweden(ys, xs, crs).mean() > 0.5
    hint = ""
    if swapped:
        hint = f"; '{x_name}' and '{y_name}' look swapped"
    elif looks_other:
        hint = f"; the numbers look like {crs_name(other)}: name the columns for that system"
    return Problem(
        file,
        f"{int(outside.sum())} offences lie outside Sweden in {crs_name(crs)} "
        f"(the system the column names declare), the first ({xs[0]:g}, {ys[0]:g}){hint}",
        line,
        x_name,
    )


def read_codes(path: str | Path, study: Study) -> dict[str, list[str]]:
    """Offence (normalised) -> the indicators it counts for.

    Raises
    ------
    ValidationError
        Unknown indicators, or indicators that are not counts.
    """
    table = read_table(path, required=("offence", "indicator"))
    file = table.file
    problems = list(table.problems)
    families = {i.id: i.family for i in study.indicators}
    mapping: dict[str, list[str]] = {}
    for _, row in table.frame.iterrows():
        line = int(row[LINE])
        if row["offence"] == "":
            problems.append(Problem(file, "offence is blank", line, "offence"))
            continue
        indicator = row["indicator"]
        if indicator not in families:
            problems.append(
                Problem(
                    file, f"unknown indicator '{indicator}' (not in study.yml)", line, "indicator"
                )
            )
            continue
        if families[indicator] != "count":
            problems.append(
                Problem(
                    file,
                    f"indicator '{indicator}' is a {families[indicator]}, not a count",
                    line,
                    "indicator",
                )
            )
            continue
        targets = mapping.setdefault(normalise_code(row["offence"]), [])
        if indicator not in targets:
            targets.append(indicator)
    if problems:
        raise ValidationError(problems)
    return mapping


def normalise_code(code: str) -> str:
    """An offence code or category as matched: case-folded, digits without leading zeros."""
    code = " ".join(code.split()).casefold()
    return code.lstrip("0") or "0" if code.isdigit() else code


# --------------------------------------------------------------------------- counting


def assign_offences(points_x, points_y, places) -> tuple[np.ndarray, np.ndarray]:
    """The place each offence is counted in, by the boundary rule.

    Parameters
    ----------
    points_x, points_y : array-like
        Coordinates in SWEREF 99 TM.
    places : geopandas.GeoDataFrame
        From :func:`read_places`, in counting order.

    Returns
    -------
    place_index : numpy.ndarray of int
        Row of `places` each offence is counted in, -1 outside every place.
    n_places : numpy.ndarray of int
        How many places cover each offence (2 or more: on a shared boundary).
    """
    import shapely

    points = shapely.points(np.asarray(points_x, float), np.asarray(points_y, float))
    # 'intersects' counts a point on the boundary, unlike 'within'.
    point_idx, place_idx = places.sindex.query(points, predicate="intersects")
    n_points = len(points)
    n_places = np.bincount(point_idx, minlength=n_points)
    chosen = np.full(n_points, -1, dtype=np.int64)
    # Places are in counting order: the smallest row covering a point wins.
    order = np.lexsort((place_idx, point_idx))
    point_idx, place_idx = point_idx[order], place_idx[order]
    first = np.r_[True, point_idx[1:] != point_idx[:-1]] if len(point_idx) else np.array([], bool)
    chosen[point_idx[first]] = place_idx[first]
    return chosen, n_places


def import_offences(
    study_dir: str | Path,
    offences: str | Path,
    codes: str | Path,
    places: str | Path,
    *,
    layer: str | None = None,
    buffer_width: float | None = None,
    first_month: str | None = None,
    last_month: str | None = None,
) -> ImportResult:
    """Monthly offence counts per place, merged into ``series.csv``, with the places and a map.

    Parameters
    ----------
    study_dir : str or Path
        The study folder.
    offences, codes, places : str or Path
        The geocoded offences, the offence-to-indicator table and the place
        polygons (see the module docstring).
    layer : str, optional
        The GeoPackage layer holding the places.
    buffer_width : float, optional
        Width in metres of the buffer rings made for targets whose buffer has
        no polygon.
    first_month, last_month : str, optional
        ``YYYY-MM``: the months to count (default: those of the extract).
        Offences outside them are left out and noted.

    Returns
    -------
    ImportResult
        ``series.csv``, ``places.geojson`` and ``places_map.png``.

    Raises
    ------
    ValidationError
        Any problem of the three files, unknown offence codes (each row
        named), or an empty month range.
    """
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    offences, codes, places_path = Path(offences), Path(codes), Path(places)
    if buffer_width is not None and not buffer_width > 0:
        raise ValidationError.single(
            "--buffer-width", f"must be positive metres, got {buffer_width}"
        )
    problems: list[Problem] = []
    results = {}
    for key, reader in (
        ("offences", lambda: read_offences(offences)),
        ("codes", lambda: read_codes(codes, study)),
        ("places", lambda: read_places(places_path, study, layer=layer, buffer_width=buffer_width)),
    ):
        try:
            results[key] = reader()
        except ValidationError as exc:
            problems += exc.problems
    if problems:
        raise ValidationError(problems)
    (frame, crs), mapping, polygons = results["offences"], results["codes"], results["places"]

    normalised = frame["offence"].map(normalise_code)
    unknown = ~normalised.isin(mapping)
    if unknown.any():
        listed = sorted(set(frame.loc[unknown, "offence"]))
        for _, row in frame[unknown].head(50).iterrows():
            problems.append(
                Problem(
                    str(offences),
                    f"offence '{row['offence']}' is not in {codes.name}; add it with the indicator "
                    "it counts for",
                    int(row[LINE]),
                    "offence",
                )
            )
        problems.append(
            Problem(
                str(offences),
                f"{int(unknown.sum())} offences with codes not in "
                f"{codes.name}: {', '.join(listed[:20])}",
                column="offence",
            )
        )
        raise ValidationError(problems)

    months = _month_range(frame["month"], first_month, last_month)
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    if crs != SWEREF99TM:
        import pyproj

        x, y = pyproj.Transformer.from_crs(crs, SWEREF99TM, always_xy=True).transform(x, y)
    chosen, n_cover = assign_offences(x, y, polygons)
    in_range = frame["month"].isin(months).to_numpy()
    notes = [f"{len(frame)} offences read ({crs_name(crs)})"]
    if (~in_range).any():
        notes.append(
            f"{int((~in_range).sum())} offences outside {months[0]} to {months[-1]} not counted"
        )
    outside = (chosen < 0) & in_range
    notes.append(f"{int(outside.sum())} offences outside every place not counted")
    on_shared = (n_cover > 1) & in_range
    if on_shared.any():
        notes.append(
            f"{int(on_shared.sum())} offences on a boundary shared by places, each counted once "
            "(target before buffer before control)"
        )
    counted = pd.DataFrame(
        {
            "place_id": polygons["place_id"].to_numpy()[chosen[(chosen >= 0) & in_range]],
            "offence": normalised.to_numpy()[(chosen >= 0) & in_range],
            "month": frame["month"].to_numpy()[(chosen >= 0) & in_range],
        }
    )
    per_place = counted.groupby("place_id").size()
    counted["indicator"] = counted["offence"].map(mapping)
    counted = counted.explode("indicator")
    indicators = sorted({i for targets in mapping.values() for i in targets})
    grid = pd.MultiIndex.from_product(
        [list(polygons["place_id"]), indicators, months], names=["place_id", "indicator", "month"]
    )
    totals = counted.groupby(["place_id", "indicator", "month"]).size().reindex(grid, fill_value=0)
    new = totals.rename("value").reset_index()
    new["period"] = new["month"].astype(str)
    new["exposure"] = new["month"].map(lambda p: p.days_in_month).astype(float)
    content, replaced = merged_series(study_dir, new)
    if replaced:
        notes.append(f"replaced {replaced} rows of series.csv for the same places and indicators")
    missing = [p.id for p in study.places if p.id not in set(polygons["place_id"])]
    if missing:
        notes.append(
            f"places of study.yml without a polygon (not counted here): {', '.join(missing)}"
        )
    notes += [
        f"{place}: {int(per_place.get(place, 0))} offences counted"
        for place in polygons["place_id"]
    ]
    outputs = {
        "series.csv": content,
        PLACES_FILE: places_geojson(polygons),
        MAP_FILE: map_png(polygons, title=study.title),
    }
    return ImportResult(
        importer=IMPORTER,
        outputs=outputs,
        sources=(offences, codes, places_path),
        parameters={
            "offence_crs": crs,
            "places_crs": SWEREF99TM,
            "buffer_width_m": buffer_width,
            "months": [str(months[0]), str(months[-1])],
            "layer": layer,
            "boundary_rule": "a place covers its boundary; an offence covered by several places is "
            "counted in the first by role (target, buffer, control), then by study.yml order",
        },
        notes=tuple(notes),
    )


def _month_range(months: pd.Series, first: str | None, last: str | None) -> pd.PeriodIndex:
    try:
        start = pd.Period(first, freq="M") if first else months.min()
        end = pd.Period(last, freq="M") if last else months.max()
    except ValueError as exc:
        raise ValidationError.single(
            "--first-month/--last-month", f"not a month YYYY-MM: {exc}"
        ) from None
    if end < start:
        raise ValidationError.single("--first-month/--last-month", f"{end} is before {start}")
    return pd.period_range(start, end, freq="M")
