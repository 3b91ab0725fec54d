"""The places' polygons kept with the processed study and drawn as a map in the municipality report."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from pipeline.errors import ValidationError
from pipeline.inputs.prepare import load_processed, prepare_study
from pipeline.inputs.study import PLACE_SHAPES_FILE
from pipeline.report.municipality import MunicipalityReport

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"

#: Sala's places as squares in SWEREF 99 TM (metres).
SALA = {
    "sala_stationen": box(597_000, 6_644_000, 597_250, 6_644_250),
    "sala_stadsparken": box(597_800, 6_644_000, 598_050, 6_644_250),
    "sala_jamforelse_vaster": box(597_000, 6_644_800, 597_250, 6_645_050),
    "sala_stationen_buffert": box(596_900, 6_643_900, 597_350, 6_644_350).difference(
        box(597_000, 6_644_000, 597_250, 6_644_250)
    ),
}


def write_places(folder: Path, shapes: dict) -> Path:
    path = folder / PLACE_SHAPES_FILE
    gpd.GeoDataFrame(
        {"place_id": list(shapes)}, geometry=list(shapes.values()), crs="EPSG:3006"
    ).to_file(path, driver="GeoJSON")
    return path


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("map")
    raw = root / "raw"
    shutil.copytree(DEMO_DIR, raw)
    write_places(raw, SALA)
    data = prepare_study(raw, root / "processed")
    assert PLACE_SHAPES_FILE in data.manifest["inputs"]
    return root / "processed"


def report(data, municipality: str, lang: str) -> MunicipalityReport:
    # The map needs the study only, not its estimates.
    return MunicipalityReport(data, municipality, lang, evaluation=None)


def test_the_map_shows_the_municipality_s_places_with_alt_text_and_caption(processed):
    data = load_processed(processed)
    assert set(data.place_shapes["place_id"]) == set(SALA)
    html = str(report(data, "Sala", "en").places_map())
    assert html.startswith('<figure><img src="data:image/png;base64,')
    assert "Target areas: Stationen, Stadsparken." in html
    assert "Buffer zones: Kvarteren runt stationen (buffertzon)." in html
    assert "Comparison areas: Västra centrum (jämförelseområde)." in html
    assert "<figcaption>" in html and "places.geojson" in html
    assert "Karta över platserna i Sala" in str(report(data, "Sala", "sv").places_map())


def test_names_in_the_alt_text_are_escaped(processed):
    data = load_processed(processed)
    places = tuple(
        p.model_copy(update={"name": 'Torget "<b>&'}) if p.id == "sala_stationen" else p
        for p in data.study.places
    )
    study = data.study.model_copy(update={"places": places})
    html = str(report(dataclasses.replace(data, study=study), "Sala", "en").places_map())
    assert "Torget &#34;&lt;b&gt;&amp;" in html or "Torget &quot;&lt;b&gt;&amp;" in html
    assert "<b>" not in html


def test_no_map_without_polygons_or_for_a_municipality_without_any(processed, demo_study):
    assert str(report(demo_study, "Sala", "en").places_map()) == ""
    assert str(report(load_processed(processed), "Avesta", "en").places_map()) == ""


def test_overlapping_polygons_are_refused_and_nothing_is_written(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(DEMO_DIR, raw)
    shapes = dict(SALA, sala_stadsparken=box(597_100, 6_644_100, 597_400, 6_644_400))
    write_places(raw, shapes)
    with pytest.raises(ValidationError, match="overlap"):
        prepare_study(raw, tmp_path / "processed")
    assert not (tmp_path / "processed").exists()
