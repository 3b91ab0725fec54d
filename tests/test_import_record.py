"""The import record and the all-or-nothing writing of an import's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.importers.record import (
    RECORD_FILE,
    ImportResult,
    format_number,
    merged_series,
    write_import,
)


def test_numbers_are_written_as_the_contract_reads_them() -> None:
    assert [format_number(v) for v in (3.0, 0.25, float("nan"), None, 22845)] == [
        "3",
        "0.25",
        "",
        "",
        "22845",
    ]


def test_kept_rows_of_a_swedish_excel_file_stay_readable(tmp_path: Path) -> None:
    (tmp_path / "series.csv").write_bytes(
        "place_id;indicator;period;value;exposure\r\n"
        "sala;andel;2021-01;0,25;22 845\r\n"
        "sala;andel;2021-02;n/a;22 845\r\n".encode("cp1252")
    )
    new = pd.DataFrame(
        {
            "place_id": ["torget"],
            "indicator": ["crimes_total"],
            "period": ["2021-01"],
            "value": [4.0],
            "exposure": [float("nan")],
        }
    )
    content, replaced = merged_series(tmp_path, new)
    assert replaced == 0
    assert content.decode().splitlines() == [
        "place_id,indicator,period,value,exposure",
        "sala,andel,2021-01,0.25,22845",
        "sala,andel,2021-02,n/a,22845",
        "torget,crimes_total,2021-01,4,",
    ]


def test_entries_accumulate_with_hashes(tmp_path: Path) -> None:
    source = tmp_path / "source.txt"
    source.write_text("x")
    for n in (1, 2):
        write_import(
            tmp_path,
            ImportResult("import-test", {"out.csv": f"a,b\n{n},2\n".encode()}, (source,), {"n": n}),
        )
    entries = json.loads((tmp_path / RECORD_FILE).read_text())["imports"]
    assert [e["parameters"]["n"] for e in entries] == [1, 2]
    assert entries[0]["sources"] == [
        {
            "path": "source.txt",
            "sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
        }
    ]
    assert entries[0]["outputs"]["out.csv"]["sha256"] != entries[1]["outputs"]["out.csv"]["sha256"]


def test_a_failed_write_leaves_the_study_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "series.csv").write_text("old\n")
    (tmp_path / "blocked").write_text("a file where a folder is needed")
    result = ImportResult("import-test", {"series.csv": b"new\n", "blocked/map.png": b"png"}, ())
    with pytest.raises(OSError):
        write_import(tmp_path, result)
    assert (tmp_path / "series.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "series.csv"]
