"""The demo study's raw files as a partnership would have them, to try the importers on.

:func:`write_demo_sources` turns one municipality of the demo study into the
files a place partnership really holds: the police's geocoded offences (one
row per offence, Swedish Excel style), the places drawn as polygons in a
GeoPackage in SWEREF 99 TM, a table of offence categories, the Excel
workbook of the survey, inspections and action plan (the scaffold's
``indata.xlsx`` filled in), and a ``study.yml`` for that municipality. Going
back through the importers must give the demo's own files: the README's
"Your first real study" walkthrough and the tests do exactly that.

The places are squares of :data:`SIDE` metres laid out on a grid near the
municipality's centre, far enough apart that a target's buffer ring of
:data:`BUFFER_WIDTH` metres touches no other place; each offence lies at a
uniformly drawn point of its place (for a buffer, of the ring the importer
will make) on a uniformly drawn day of its month. Seeded, so the files are the
same on every run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.inputs.study import load_study
from pipeline.run.paths import DEFAULT_STUDY

from .scaffold import WORKBOOK_FILE, workbook_template

SIDE = 250.0
SPACING = 800.0
BUFFER_WIDTH = 150.0
SEED = 20200401
#: Approximate centres of the pilot municipalities in SWEREF 99 TM (easting, northing).
CENTRES = {
    "Avesta": (585_000.0, 6_670_000.0),
    "Falun": (533_000.0, 6_720_000.0),
    "Hallstahammar": (575_000.0, 6_609_000.0),
    "Sala": (597_000.0, 6_644_000.0),
}
#: The offence category written for each demo indicator; "Övrigt" fills the total.
CATEGORIES = {
    "crimes_violence": "Misshandel",
    "crimes_theft": "Stöld",
    "crimes_vandalism": "Skadegörelse",
}
OTHER = "Övrigt"


def _squares(place_ids: list[str], centre: tuple[float, float]):
    from shapely.geometry import box

    columns = int(np.ceil(np.sqrt(len(place_ids))))
    east0, north0 = centre
    squares = {}
    for i, place_id in enumerate(place_ids):
        e = east0 + (i % columns) * SPACING
        n = north0 + (i // columns) * SPACING
        squares[place_id] = box(e, n, e + SIDE, n + SIDE)
    return squares


def _points_in(polygon, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` points drawn uniformly in a polygon (rejection from its bounding box)."""
    import shapely

    west, south, east, north = polygon.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        draw = rng.uniform((west, south), (east, north), size=(max(2 * n, 16), 2))
        inside = shapely.contains_xy(polygon, draw[:, 0], draw[:, 1])
        out = np.vstack([out, draw[inside]])
    return out[:n]


def write_demo_sources(
    out: str | Path,
    municipality: str = "Sala",
    *,
    demo: str | Path = DEFAULT_STUDY,
    seed: int = SEED,
) -> dict[str, Path]:
    """Write one demo municipality's data as a partnership's source files.

    Parameters
    ----------
    out : str or Path
        The folder to write into (created).
    municipality : str, default "Sala"
        A municipality of the demo study.
    demo : str or Path
        The demo study folder.
    seed : int
        Seed of the offences' places and days.

    Returns
    -------
    dict of str to Path
        ``study``, ``places``, ``offences``, ``codes`` and ``workbook``.
    """
    import geopandas as gpd
    from openpyxl import load_workbook
    from shapely.ops import unary_union

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    demo = Path(demo)
    study = load_study(demo)
    places = [p for p in study.places if p.municipality == municipality]
    ids = [p.id for p in places]
    buffers = {p.id: p.buffer for p in places if p.buffer}
    drawn = [p.id for p in places if p.role != "buffer"]
    squares = _squares(drawn, CENTRES[municipality])
    everything = unary_union(list(squares.values()))
    rings = {
        buffer: squares[target].buffer(BUFFER_WIDTH).difference(everything)
        for target, buffer in buffers.items()
    }
    gpd.GeoDataFrame(
        {"place_id": drawn, "namn": [study.place(i).name for i in drawn]},
        geometry=[squares[i] for i in drawn],
        crs="EPSG:3006",
    ).to_file(out / "platser.gpkg", layer="platser", driver="GPKG")

    series = pd.read_csv(demo / "series.csv")
    series = series[series["place_id"].isin(ids)]
    # Footfall, the share of women and vacant premises are kept in the workbook's sheet Serier.
    offences = series["indicator"].isin([*CATEGORIES, "crimes_total"])
    sheet_series, series = series[~offences], series[offences]
    wide = series.pivot_table(
        index=["place_id", "period"], columns="indicator", values="value", aggfunc="first"
    )
    wide[OTHER] = wide["crimes_total"] - wide[list(CATEGORIES)].sum(axis=1)
    rng = np.random.default_rng(seed)
    rows = []
    for (place_id, period), counts in wide.iterrows():
        polygon = rings.get(place_id, squares.get(place_id))
        month = pd.Period(period, freq="M")
        for column, category in [*CATEGORIES.items(), (OTHER, OTHER)]:
            n = int(counts[column])
            if n == 0:
                continue
            # Half a metre inside: coordinates written to 0.1 m stay in their place.
            points = _points_in(polygon.buffer(-0.5), n, rng)
            days = rng.integers(1, month.days_in_month + 1, size=n)
            for (e, north), day in zip(points, days, strict=True):
                rows.append((f"{month.year}-{month.month:02d}-{day:02d}", category, north, e))
    rows.sort()
    # As Swedish Excel saves it: ';', decimal commas, Windows-1252, northing first.
    lines = ["date;offence;northing;easting"]
    lines += [f"{d};{c};{n:.1f};{e:.1f}".replace(".", ",") for d, c, n, e in rows]
    (out / "brott.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    codes = ["offence;indicator"]
    for indicator, category in CATEGORIES.items():
        codes += [f"{category};{indicator}", f"{category};crimes_total"]
    codes.append(f"{OTHER};crimes_total")
    (out / "brottskoder.csv").write_text("\n".join(codes) + "\n", encoding="utf-8")

    (out / WORKBOOK_FILE).write_bytes(workbook_template())
    book = load_workbook(out / WORKBOOK_FILE)
    for sheet, file, date_columns in (
        ("Enkät", "survey.csv", ("wave",)),
        ("Besiktningar", "inspections.csv", ("date",)),
        ("Åtgärder", "actions.csv", ("planned_start", "followup_date")),
    ):
        frame = pd.read_csv(demo / file, dtype=str, keep_default_na=False)
        if "municipality" in frame:
            frame = frame[frame["municipality"] == municipality]
        else:
            frame = frame[frame["place_id"].isin(ids)]
        ws = book[sheet]
        header = [c.value for c in ws[1]]
        for record in frame[header].itertuples(index=False):
            cells = []
            for name, value in zip(header, record, strict=True):
                if name in date_columns:
                    cells.append(dt.datetime.fromisoformat(value))  # a date cell, as Excel keeps it
                elif name in ("answer", "score"):
                    cells.append(int(value))
                elif name == "weight":
                    cells.append(value.replace(".", ","))  # typed with a decimal comma
                else:
                    cells.append(value or None)
            ws.append(cells)
    ws = book["Serier"]
    for record in sheet_series.itertuples(index=False):
        value = float(record.value)
        ws.append(
            [
                record.place_id,
                record.indicator,
                record.period,  # text, as typed into a cell formatted as text
                int(value) if value.is_integer() else value,
                int(record.exposure),
            ]
        )
    book.save(out / WORKBOOK_FILE)

    (out / "study.yml").write_text(_study_yml(demo, municipality, ids), encoding="utf-8")
    return {
        "study": out / "study.yml",
        "places": out / "platser.gpkg",
        "offences": out / "brott.csv",
        "codes": out / "brottskoder.csv",
        "workbook": out / WORKBOOK_FILE,
    }


def _study_yml(demo: Path, municipality: str, ids: list[str]) -> str:
    """The demo's study.yml cut to one municipality (its places and donor-pool members)."""
    raw = yaml.safe_load((demo / "study.yml").read_text("utf-8"))
    raw["title"] = f"Trygga Platser – {municipality} (från demons källfiler)"
    raw["municipalities"] = [m for m in raw["municipalities"] if m["name"] == municipality]
    raw["places"] = [p for p in raw["places"] if p["id"] in ids]
    raw["donor_pool"] = [p for p in raw.get("donor_pool", []) if p in ids]
    # The funder's final report belongs to the programme, with texts of its own: not to one
    # municipality's walkthrough.
    raw.pop("report", None)
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
