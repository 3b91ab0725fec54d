"""The workbook and printed reports are the same bytes from run to run."""

from __future__ import annotations

import datetime as dt
import time
import zipfile
from types import SimpleNamespace

import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.outputs import FIXED_TIMESTAMP, output_timestamp
from pipeline.report.exports import write_workbook
from pipeline.report.pdf import html_to_pdf

#: A study without action plans: the workbook has no implementation sheet.
NO_ACTION_PLANS = SimpleNamespace(study=SimpleNamespace(action_plan=None), actions=None)
EFFECTS = pd.DataFrame(
    {
        "municipality": ["Sala", "Falun"],
        "indicator": ["violence", "=1+1"],
        "estimate": [0.81, 1.02],
        "ci_low": [0.62, 0.77],
        "ci_high": [1.05, 1.35],
        "p_value": [0.11, 0.88],
    }
)
POOLED = EFFECTS.iloc[:1].assign(municipality="All")
PAGE = "<html><head><title>Rapport</title></head><body><h1>Trygghet</h1><p>åäö</p></body></html>"


def _outputs(folder):
    """One run's workbook and PDF, as bytes."""
    book = write_workbook(NO_ACTION_PLANS, EFFECTS, POOLED, folder, "sv")
    pdf = html_to_pdf(PAGE, folder / "report.pdf", base_dir=folder)
    return book.read_bytes(), pdf.read_bytes()


def test_two_runs_write_the_same_bytes(tmp_path, monkeypatch):
    """Regression: openpyxl stamped the save time into the workbook's ``modified``
    property and into every zip entry, so each run wrote a different workbook."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = _outputs(tmp_path / "first")
    time.sleep(2.1)  # zip entries keep the time to two seconds, the properties to one
    second = _outputs(tmp_path / "second")
    assert first[0] == second[0], "workbook"
    assert first[1] == second[1], "PDF"


def test_workbook_dates_are_the_source_date_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    from openpyxl import load_workbook

    path = write_workbook(NO_ACTION_PLANS, EFFECTS, POOLED, tmp_path, "en")
    when = dt.datetime(2023, 11, 14, 22, 13, 20)
    properties = load_workbook(path).properties
    assert (properties.created, properties.modified) == (when, when)
    with zipfile.ZipFile(path) as archive:
        assert {info.date_time for info in archive.infolist()} == {when.timetuple()[:6]}
        assert archive.testzip() is None


def test_workbook_dates_default_to_the_fixed_epoch(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    from openpyxl import load_workbook

    path = write_workbook(NO_ACTION_PLANS, EFFECTS, POOLED, tmp_path, "sv")
    fixed = FIXED_TIMESTAMP.replace(tzinfo=None)
    assert load_workbook(path).properties.modified == fixed
    with zipfile.ZipFile(path) as archive:
        assert {info.date_time for info in archive.infolist()} == {fixed.timetuple()[:6]}
    # The cells are untouched by the rewrite: numbers stay numbers, formulas stay text.
    sheet = load_workbook(path).worksheets[0]
    assert sheet.cell(row=2, column=3).value == 0.81
    assert sheet.cell(row=3, column=2).value == "'=1+1"


def test_a_date_before_zip_dates_begin_is_kept_in_the_properties(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    from openpyxl import load_workbook

    path = write_workbook(NO_ACTION_PLANS, EFFECTS, POOLED, tmp_path, "sv")
    assert load_workbook(path).properties.created == dt.datetime(1970, 1, 1)
    with zipfile.ZipFile(path) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("text", ["yesterday", "1.5e9", "99999999999999999999"])
def test_a_malformed_source_date_epoch_is_named(monkeypatch, text):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", text)
    with pytest.raises(PipelineError, match="SOURCE_DATE_EPOCH"):
        output_timestamp()
