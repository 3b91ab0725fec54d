"""Tables for the next tool: ``implementation.csv`` and an Excel workbook of the results.

``effects.csv`` and ``implementation.csv`` are the machine-readable tables
(comma-separated, decimal point, UTF-8, one tidy row per estimate or share).
Swedish Excel reads a comma-separated file as one column, so Excel users get
``results.<lang>.xlsx``: the same tables as typed numbers (no decimal separator
to misread) under headers in the report's language, with a sheet explaining
the columns. The workbook's properties and zip entries carry
:func:`~pipeline.outputs.output_timestamp`, not the time of the run, so the
same results give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pandas as pd

from ..inputs.prepare import StudyData
from ..methods.implementation import implementation_shares
from ..outputs import neutralise_frame, output_timestamp, write_atomically, write_csv
from .i18n import catalogue, check_language, t

IMPLEMENTATION_FILE = "implementation.csv"
IMPLEMENTATION_COLUMNS = [
    "municipality",
    "horizon_months",
    "horizon_date",
    "n_measures",
    "n_not_followed_up",
    "n",
    "k",
    "n_done",
    "n_started",
    "n_cancelled",
    "share",
    "wilson_lower",
    "wilson_upper",
    "cp_lower",
    "cp_upper",
    "goal_share",
    "goal_met",
]


def workbook_name(lang: str) -> str:
    return f"results.{check_language(lang)}.xlsx"


def implementation_frame(data: StudyData) -> pd.DataFrame | None:
    """Share of each action plan done or started per municipality (and ``All``) and horizon.

    ``goal_met`` is True when the share exceeds the study's goal
    (``report.goal_share``, default 0.5); the intervals say how sure that is.
    """
    settings = data.study.action_plan
    if data.actions is None or settings is None:
        return None
    table = implementation_shares(
        data.actions,
        project_start=settings.project_start,
        horizons_months=settings.horizons_months,
    ).table
    goal = data.study.report.goal_share if data.study.report is not None else 0.5
    table = table.assign(
        horizon_date=pd.to_datetime(table["horizon_date"]).dt.date.astype(str),
        goal_share=goal,
        goal_met=(table["share"] > goal).where(table["share"].notna()),
    )
    return table[IMPLEMENTATION_COLUMNS]


def write_implementation_csv(data: StudyData, reports_dir: str | Path) -> Path | None:
    """Write ``implementation.csv`` beside ``effects.csv`` (nothing without action plans)."""
    frame = implementation_frame(data)
    if frame is None:
        return None
    return write_csv(frame, Path(reports_dir) / IMPLEMENTATION_FILE)


def _key(kind: str, column: str) -> str:
    # A column name can mean different things on different sheets ("k": places
    # pooled, or measures done); such columns have a text of their own per sheet.
    return f"{kind}_{column}" if f"xlsx_col_{kind}_{column}" in catalogue() else column


def write_workbook(
    data: StudyData,
    effects: pd.DataFrame,
    pooled: pd.DataFrame,
    reports_dir: str | Path,
    lang: str,
) -> Path:
    """Write ``results.<lang>.xlsx``: effects, pooled effects, implementation and a column key.

    Numbers are stored as numbers, so Excel shows them with the reader's own
    decimal separator; headers are in ``lang``.
    """
    from openpyxl.utils import get_column_letter

    tables = [("effects", effects), ("pooled", pooled)]
    implementation = implementation_frame(data)
    if implementation is not None:
        tables.append(("implementation", implementation))
    sheets: list[tuple[str, pd.DataFrame]] = []
    key_rows = []
    for kind, frame in tables:
        sheet = t(f"xlsx_sheet_{kind}", lang)
        keys = [_key(kind, c) for c in frame.columns]
        for column, k in zip(frame.columns, keys, strict=True):
            key_rows.append(
                {
                    t("xlsx_key_sheet", lang): sheet,
                    t("xlsx_key_column", lang): t(f"xlsx_col_{k}", lang),
                    t("xlsx_key_name", lang): column,
                    t("xlsx_key_meaning", lang): t(f"xlsx_means_{k}", lang),
                }
            )
        sheets.append((sheet, frame.set_axis([t(f"xlsx_col_{k}", lang) for k in keys], axis=1)))
    sheets.append((t("xlsx_sheet_key", lang), pd.DataFrame(key_rows)))
    # A study's names reach the cells; a text starting with '=' would be a live formula.
    sheets = [(sheet, neutralise_frame(out)) for sheet, out in sheets]

    def write(tmp: Path) -> None:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            for sheet, out in sheets:
                out.to_excel(writer, sheet_name=sheet, index=False, freeze_panes=(1, 0))
                sheet_obj = writer.sheets[sheet]
                for i, column in enumerate(out.columns, start=1):
                    width = max([len(str(column)), *(len(str(v)) for v in out[column].head(200))])
                    sheet_obj.column_dimensions[get_column_letter(i)].width = min(60, width + 2)
        _pin_dates(tmp, output_timestamp())

    return write_atomically(Path(reports_dir) / workbook_name(lang), write)


#: The earliest date a zip entry can carry.
_ZIP_EPOCH = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)


def _pin_dates(path: Path, when: dt.datetime) -> None:
    """Rewrite the workbook at ``path`` with ``when`` as every date it stores.

    openpyxl stamps the save time into the document properties (``modified``)
    and into every zip entry; both are replaced here, entries in their order.
    """
    from openpyxl.packaging.core import DocumentProperties
    from openpyxl.xml.functions import fromstring, tostring

    utc = when.astimezone(dt.UTC)
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    stamp = max(utc, _ZIP_EPOCH).timetuple()[:6]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                properties = DocumentProperties.from_tree(fromstring(data))
                # openpyxl reads and writes these as naive UTC.
                properties.created = properties.modified = utc.replace(tzinfo=None)
                data = tostring(properties.to_tree())
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            target.writestr(entry, data)
