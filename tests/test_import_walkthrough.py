"""The README's "Your first real study": scaffold, importers, validate, on the demo's raw files.

Going from the demo's data, written as a partnership's source files, back
through the importers must give the demo's own series, survey, inspections and
action plan.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.importers.demo_sources import BUFFER_WIDTH, write_demo_sources
from pipeline.inputs.prepare import read_study
from pipeline.run.cli import main
from pipeline.run.paths import DEFAULT_STUDY


@pytest.mark.slow
def test_the_demo_sources_go_back_to_the_demo_files(tmp_path: Path) -> None:
    sources = write_demo_sources(tmp_path / "sources", "Sala")
    study = tmp_path / "sala"
    assert main(["new", str(study)]) == 0
    assert main(["validate", "--study", str(study), "--processed-root", str(tmp_path / "p")]) == 2
    shutil.copy(sources["study"], study / "study.yml")
    assert (
        main(
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
                "--buffer-width",
                str(BUFFER_WIDTH),
            ]
        )
        == 0
    )
    assert main(["import-excel", "--study", str(study), str(sources["workbook"])]) == 0
    assert main(["validate", "--study", str(study), "--processed-root", str(tmp_path / "p")]) == 0

    imported = read_study(study)
    demo = read_study(DEFAULT_STUDY)
    ids = {p.id for p in imported.study.places}
    key = ["place_id", "indicator", "period"]
    expected = demo.series[demo.series["place_id"].isin(ids)].sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(imported.series.sort_values(key, ignore_index=True), expected)
    for table in ("survey", "inspections", "actions"):
        got = getattr(imported, table).reset_index(drop=True)
        want = getattr(demo, table)
        column = "municipality" if "municipality" in want else "place_id"
        values = {"Sala"} if column == "municipality" else ids
        want = want[want[column].isin(values)].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
