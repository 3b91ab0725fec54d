"""Brå exports -> municipality series in series.csv, population as exposure."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import ValidationError
from pipeline.importers.bra import import_bra
from pipeline.importers.record import RECORD_FILE, write_import
from pipeline.inputs.bra import read_bra_folder
from pipeline.inputs.tables import read_table
from pipeline.run.cli import main

HEADER = "Region;Brott;År;Period;Antal;/100 000 inv\n"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "Maj", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dec"]


def export(path: Path, rows: list[tuple], year_label: str = "2016") -> Path:
    """A Brå 'Databasfil' export: Latin-1, ';', a trailing ';' on data rows."""
    lines = [HEADER]
    for region, category, month, count, rate in rows:
        lines.append(f"{region} kommun;{category};{year_label};{month};{count};{rate};\n")
    path.write_bytes("".join(lines).encode("latin-1"))
    return path


def sala_rows(year_counts=None):
    counts = year_counts or [200 + i for i in range(12)]
    rows = []
    for month, count in zip(MONTHS, counts, strict=True):
        rows.append(("Sala", "Totalt antal brott", month, count, round(count / 22845 * 1e5)))
        rows.append(("Sala", "Våldsbrott ", month, 20, round(20 / 22845 * 1e5)))
    return rows


def import_bra_command(study: Path, source: Path, *options: str) -> int:
    """``trygga import-bra`` as a user types it; its exit code."""
    return main(["import-bra", "--study", str(study), "--source", str(source), *options])


def test_a_folder_of_real_exports_becomes_series(import_study: Path, reference_dir: Path) -> None:
    source = reference_dir / "bra_monthly_2013_2016"
    code = import_bra_command(
        import_study,
        source,
        "--category",
        "Totalt antal brott=crimes_total",
        "--category",
        "Våldsbrott=crimes_violence",
        "--place",
        "sala=Sala kommun",
    )
    assert code == 0
    series = read_table(
        import_study / "series.csv",
        required=("place_id", "indicator", "period", "value", "exposure"),
    ).frame
    # 'Avesta kommun' is a place named after a municipality, but --place lists only sala.
    assert set(series["place_id"]) == {"sala"}
    assert len(series) == 2 * 48
    truth = read_bra_folder(source)
    truth = truth[(truth["municipality"] == "Sala") & (truth["category"] == "Totalt antal brott")]
    got = series[series["indicator"] == "crimes_total"]
    assert list(got["value"].astype(int)) == list(truth["count"].astype(int))
    population = got["exposure"].astype(int)
    # DOMAIN.md: Sala had 22,845 inhabitants in mid-2020; 2013-2016 was a little lower.
    assert population.between(21_000, 23_500).all()
    assert population.nunique() == 4  # one estimate per year
    record = json.loads((import_study / RECORD_FILE).read_text())["imports"][0]
    assert len(record["sources"]) == 48
    assert all(len(s["sha256"]) == 64 for s in record["sources"])
    assert any("preliminary" in note for note in record["notes"])


def test_places_named_after_municipalities_are_found(import_study: Path, tmp_path: Path) -> None:
    rows = sala_rows() + [
        ("Avesta", "Totalt antal brott", m, 150, round(150 / 23113 * 1e5)) for m in MONTHS
    ]
    source = export(tmp_path / "Databasfil2016.txt", rows)
    result = import_bra(import_study, [source], categories=[("Totalt antal brott", "crimes_total")])
    assert result.parameters["places"] == {"sala": "Sala", "avesta": "Avesta"}
    write_import(import_study, result)
    frame = pd.read_csv(import_study / "series.csv")
    assert set(frame["place_id"]) == {"sala", "avesta"}
    assert frame.loc[frame["place_id"] == "avesta", "exposure"].iloc[0] == pytest.approx(
        23113, rel=0.01
    )


def test_an_import_replaces_only_its_own_series(import_study: Path, tmp_path: Path) -> None:
    (import_study / "series.csv").write_text(
        "place_id;indicator;period;value;exposure\n"
        "sala_stationen;crimes_total;2016-01;4;31\n"
        "sala;crimes_total;2016-01;999;\n"
    )
    source = export(tmp_path / "Databasfil2016.txt", sala_rows())
    result = import_bra(
        import_study,
        [source],
        categories=[("Totalt antal brott", "crimes_total")],
        places=[("sala", "Sala")],
    )
    write_import(import_study, result)
    frame = pd.read_csv(import_study / "series.csv")
    assert len(frame) == 13
    assert frame.loc[frame["place_id"] == "sala_stationen", "value"].tolist() == [4]
    assert 999 not in frame["value"].tolist()
    assert any("replaced 1 rows" in n for n in result.notes)


def test_a_suppressed_month_is_an_error_and_nothing_is_written(
    import_study: Path, tmp_path: Path, capsys
) -> None:
    rows = sala_rows()
    rows[4] = ("Sala", "Totalt antal brott", "Mar", "..", "..")
    source = export(tmp_path / "Databasfil2016.txt", rows)
    code = import_bra_command(
        import_study,
        source,
        "--category",
        "Totalt antal brott=crimes_total",
        "--place",
        "sala=Sala",
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "2016-03" in err and "suppressed" in err
    assert sorted(p.name for p in import_study.iterdir()) == ["study.yml"]


def test_unknown_names_are_errors(import_study: Path, tmp_path: Path) -> None:
    source = export(tmp_path / "Databasfil2016.txt", sala_rows())
    with pytest.raises(ValidationError) as caught:
        import_bra(
            import_study,
            [source],
            categories=[("Rån", "crimes_total"), ("Totalt antal brott", "crimes_all")],
            places=[("sala", "Salla"), ("nowhere", "Sala")],
        )
    text = str(caught.value)
    assert "category 'Rån' is not in the export" in text
    assert "no indicator 'crimes_all'" in text
    assert "municipality 'Salla' is not in the export" in text
    assert "no place 'nowhere'" in text


def test_a_count_indicator_is_required(import_study: Path, tmp_path: Path) -> None:
    source = export(tmp_path / "Databasfil2016.txt", sala_rows())
    with pytest.raises(ValidationError, match="family proportion"):
        import_bra(import_study, [source], categories=[("Totalt antal brott", "unsafe_evening")])


def test_without_rates_no_exposure_unless_required(import_study: Path, tmp_path: Path) -> None:
    rows = [(r, c, m, n, "..") for r, c, m, n, _ in sala_rows()]
    source = export(tmp_path / "Databasfil2016.txt", rows)
    categories = [("Totalt antal brott", "crimes_total")]
    result = import_bra(import_study, [source], categories=categories)
    assert result.parameters["exposure"] == "none"
    with pytest.raises(ValidationError, match="no rates"):
        import_bra(import_study, [source], categories=categories, exposure="population")


def test_a_missing_month_is_an_error(import_study: Path, tmp_path: Path) -> None:
    rows = [r for r in sala_rows() if r[2] != "Jun"]
    source = export(tmp_path / "Databasfil2016.txt", rows)
    with pytest.raises(ValidationError, match="months missing from the exports: 2016-06"):
        import_bra(import_study, [source], categories=[("Totalt antal brott", "crimes_total")])


def test_a_bad_pair_on_the_command_line(import_study: Path, capsys) -> None:
    code = main(
        ["import-bra", "--study", str(import_study), "--source", "x", "--category", "Totalt"]
    )
    assert code == 2
    assert "not of the form LEFT=RIGHT" in capsys.readouterr().err
