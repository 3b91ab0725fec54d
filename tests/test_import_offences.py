"""Geocoded offences + place polygons -> monthly counts per place, buffers, a map."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from pipeline.errors import ValidationError
from pipeline.importers.offences import import_offences, normalise_code
from pipeline.importers.places import MAP_FILE, PLACES_FILE, read_places
from pipeline.importers.record import RECORD_FILE, write_import
from pipeline.inputs.study import load_study
from pipeline.run.cli import main

# Sala's centre in SWEREF 99 TM (metres): the target, and a comparison area sharing its west edge.
TARGET = box(597_000, 6_644_000, 597_200, 6_644_200)
CONTROL = box(596_800, 6_644_000, 597_000, 6_644_200)


def places_file(path: Path, geometries: dict[str, object], crs: str = "EPSG:3006") -> Path:
    frame = gpd.GeoDataFrame(
        {"place_id": list(geometries), "namn": ["x"] * len(geometries)},
        geometry=list(geometries.values()),
        crs="EPSG:3006",
    ).to_crs(crs)
    driver = "GPKG" if path.suffix == ".gpkg" else "GeoJSON"
    frame.to_file(path, driver=driver)
    return path


def codes_file(path: Path) -> Path:
    # Offence codes as the police write them; a category name too.
    path.write_text(
        "offence;indicator\n"
        "0375;crimes_violence\n"
        "0375;crimes_total\n"
        "9301;crimes_total\n"
        "Skadegörelse;crimes_total\n",
        encoding="cp1252",
    )
    return path


def offences_file(path: Path, rows: list[tuple[str, str, float, float]]) -> Path:
    """Swedish Excel: ';', decimal commas, northing before easting, Windows-1252."""
    lines = ["date;offence;northing;easting"]
    for date, code, e, n in rows:
        lines.append(f"{date};{code};{str(n).replace('.', ',')};{str(e).replace('.', ',')}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


OFFENCES = [
    ("2021-01-05", "375", 597_100.5, 6_644_100.0),  # target; leading zero lost by Excel
    ("2021-01-20 22:15", "9301", 597_150.0, 6_644_050.0),  # target, with a time
    ("2021-03-02", "Skadegörelse", 596_900.0, 6_644_100.0),  # control
    ("2021-03-03", "0375", 597_000.0, 6_644_100.0),  # on the target-control boundary
    ("2021-03-04", "9301", 597_200.0, 6_644_150.0),  # on the target-buffer boundary
    ("2021-02-10", "9301", 597_250.0, 6_644_100.0),  # in the 100 m buffer ring
    ("2021-02-11", "9301", 598_500.0, 6_645_000.0),  # outside every place
]


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    return {
        "offences": offences_file(tmp_path / "brott.csv", OFFENCES),
        "codes": codes_file(tmp_path / "koder.csv"),
        "places": places_file(
            tmp_path / "platser.geojson", {"sala_stationen": TARGET, "sala_vaster": CONTROL}
        ),
    }


def run(study: Path, sources: dict[str, Path], *extra: str) -> int:
    return main(
        [
            "import-offences",
            "--study",
            str(study),
            "--offences",
            str(sources["offences"]),
            "--codes",
            str(sources["codes"]),
            "--places",
            str(sources["places"]),
            *extra,
        ]
    )


def counts(study: Path) -> pd.DataFrame:
    frame = pd.read_csv(study / "series.csv")
    return frame.pivot_table(index=["place_id", "period"], columns="indicator", values="value")


def test_offences_are_counted_per_place_and_month(import_study: Path, sources) -> None:
    assert run(import_study, sources, "--buffer-width", "100") == 0
    table = counts(import_study)
    total = table["crimes_total"]
    # Boundary offences go to the target: before the control and before the buffer.
    assert total.loc["sala_stationen"].tolist() == [2, 0, 2]
    assert total.loc["sala_vaster"].tolist() == [0, 0, 1]
    assert total.loc["sala_stationen_buffert"].tolist() == [0, 1, 0]
    assert table["crimes_violence"].loc["sala_stationen"].tolist() == [1, 0, 1]
    series = pd.read_csv(import_study / "series.csv")
    assert series.groupby("period")["exposure"].first().tolist() == [31, 28, 31]
    record = json.loads((import_study / RECORD_FILE).read_text())["imports"][0]
    notes = " | ".join(record["notes"])
    assert "1 offences outside every place" in notes
    assert "2 offences on a boundary shared by places" in notes
    assert {s["path"].rsplit("/", 1)[-1] for s in record["sources"]} == {
        "brott.csv",
        "koder.csv",
        "platser.geojson",
    }
    assert record["parameters"]["buffer_width_m"] == 100
    png = (import_study / MAP_FILE).read_bytes()
    assert png.startswith(b"\x89PNG")


def test_the_buffer_ring_leaves_out_the_target_and_other_places(
    import_study: Path, sources
) -> None:
    study = load_study(import_study)
    places = read_places(sources["places"], study, buffer_width=100)
    assert list(places["place_id"]) == ["sala_stationen", "sala_stationen_buffert", "sala_vaster"]
    ring = places.geometry.iloc[1]
    assert ring.intersection(TARGET).area == pytest.approx(0, abs=1e-6)
    assert ring.intersection(CONTROL).area == pytest.approx(0, abs=1e-6)
    assert ring.contains(Point(597_250, 6_644_100))
    assert not ring.contains(Point(596_750, 6_644_100))  # beyond the control, not around it


def test_the_places_file_written_is_in_sweref(import_study: Path, sources) -> None:
    assert run(import_study, sources, "--buffer-width", "100") == 0
    places = gpd.read_file(import_study / PLACES_FILE)
    assert places.crs.to_epsg() == 3006
    assert dict(zip(places["place_id"], places["role"], strict=True)) == {
        "sala_stationen": "target",
        "sala_stationen_buffert": "buffer",
        "sala_vaster": "control",
    }


def test_a_geopackage_in_wgs84_counts_every_offence_once(
    import_study: Path, sources, tmp_path
) -> None:
    sources["places"] = places_file(
        tmp_path / "platser.gpkg",
        {
            "sala_stationen": TARGET,
            "sala_vaster": CONTROL,
            "sala_stationen_buffert": TARGET.buffer(100).difference(TARGET.union(CONTROL)),
        },
        crs="EPSG:4326",
    )
    assert run(import_study, sources) == 0
    total = counts(import_study)["crimes_total"]
    # Reprojected twice, a point exactly on a shared boundary may fall a hair either side;
    # every offence inside the places is still counted exactly once.
    assert total.sum() == 6
    assert total.loc["sala_stationen"].tolist()[:2] == [2, 0]
    assert total.loc["sala_stationen_buffert"].tolist() == [0, 1, 0]


def test_offences_in_wgs84(import_study: Path, sources, tmp_path) -> None:
    import pyproj

    to_wgs = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
    lines = ["date,offence,longitude,latitude"]
    for date, code, e, n in OFFENCES:
        lon, lat = to_wgs.transform(e, n)
        lines.append(f"{date[:10]},{code},{lon:.9f},{lat:.9f}")
    sources["offences"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run(import_study, sources, "--buffer-width", "100") == 0
    total = counts(import_study)["crimes_total"]
    # Points exactly on a boundary may fall a hair either side after the projection.
    assert total.sum() == 6
    assert total.loc["sala_stationen_buffert"].tolist()[:2] == [0, 1]
    assert total.loc["sala_stationen"].tolist()[:2] == [2, 0]


def test_a_file_whose_coordinates_do_not_fit_its_system(
    import_study: Path, sources, tmp_path, capsys
) -> None:
    # GeoJSON without a 'crs' member is WGS 84; these numbers are SWEREF 99 TM metres.
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"place_id": "sala_stationen"},
                "geometry": json.loads(gpd.GeoSeries([TARGET]).to_json())["features"][0][
                    "geometry"
                ],
            }
        ],
    }
    sources["places"] = tmp_path / "utan_crs.geojson"
    sources["places"].write_text(json.dumps(geojson))
    assert run(import_study, sources, "--buffer-width", "100") == 2
    err = capsys.readouterr().err
    assert "do not lie in Sweden" in err and "WGS 84" in err and "look like SWEREF 99 TM" in err
    assert sorted(p.name for p in import_study.iterdir()) == ["study.yml"]


def test_offence_coordinates_in_the_wrong_system(import_study: Path, sources) -> None:
    text = sources["offences"].read_text(encoding="cp1252")
    sources["offences"].write_text(
        text.replace("northing;easting", "latitude;longitude"), encoding="cp1252"
    )
    with pytest.raises(ValidationError, match="look like SWEREF 99 TM"):
        import_offences(
            import_study, sources["offences"], sources["codes"], sources["places"], buffer_width=100
        )
    sources["offences"].write_text(text.replace("northing;easting", "x;y"), encoding="cp1252")
    with pytest.raises(ValidationError, match="'x' and 'y' are ambiguous"):
        import_offences(
            import_study, sources["offences"], sources["codes"], sources["places"], buffer_width=100
        )
    sources["offences"].write_text(
        text.replace("northing;easting", "easting;northing"), encoding="cp1252"
    )
    with pytest.raises(ValidationError, match="look swapped"):
        import_offences(
            import_study, sources["offences"], sources["codes"], sources["places"], buffer_width=100
        )


def test_unknown_offence_codes_are_named_by_row(import_study: Path, sources, capsys) -> None:
    rows = [*OFFENCES, ("2021-02-12", "0866", 597_100.0, 6_644_100.0)]
    offences_file(sources["offences"], rows)
    assert run(import_study, sources, "--buffer-width", "100") == 2
    err = capsys.readouterr().err
    assert "row 9, column 'offence': offence '0866' is not in koder.csv" in err
    assert sorted(p.name for p in import_study.iterdir()) == ["study.yml"]


def test_overlapping_places_are_an_error(import_study: Path, sources, tmp_path) -> None:
    sources["places"] = places_file(
        tmp_path / "overlap.geojson",
        {"sala_stationen": TARGET, "sala_vaster": box(596_800, 6_644_000, 597_050, 6_644_200)},
    )
    with pytest.raises(
        ValidationError, match="sala_stationen and sala_vaster overlap \\(10,000 m²\\)"
    ):
        import_offences(
            import_study, sources["offences"], sources["codes"], sources["places"], buffer_width=100
        )


def test_place_file_problems(import_study: Path, sources, tmp_path) -> None:
    sources["places"] = places_file(
        tmp_path / "p.geojson",
        {"sala_stationen": TARGET, "torget": box(598_000, 6_644_000, 598_100, 6_644_100)},
    )
    with pytest.raises(ValidationError) as caught:
        import_offences(import_study, sources["offences"], sources["codes"], sources["places"])
    assert any("unknown place_id 'torget'" in p.message for p in caught.value.problems)
    sources["places"] = places_file(tmp_path / "q.geojson", {"sala_stationen": TARGET})
    with pytest.raises(
        ValidationError, match="no polygon for it: draw one, or give --buffer-width"
    ):
        import_offences(import_study, sources["offences"], sources["codes"], sources["places"])


def test_codes_are_matched_as_excel_leaves_them() -> None:
    assert normalise_code("0375") == normalise_code("375") == "375"
    assert normalise_code(" Skadegörelse ") == normalise_code("skadegörelse")


def test_months_can_be_chosen(import_study: Path, sources) -> None:
    result = import_offences(
        import_study,
        sources["offences"],
        sources["codes"],
        sources["places"],
        buffer_width=100,
        first_month="2020-12",
        last_month="2021-02",
    )
    write_import(import_study, result)
    periods = sorted(set(pd.read_csv(import_study / "series.csv")["period"]))
    assert periods == ["2020-12", "2021-01", "2021-02"]
    assert any("3 offences outside 2020-12 to 2021-02" in n for n in result.notes)
