"""Write the final report and the tables for the next tool, with provenance.

Called by ``python -m pipeline final-report`` and ``python -m pipeline
tables`` once the comparative report has written ``effects.csv`` and
``pooled_effects.csv``. Every file is written atomically: a failure leaves the
previous version (or nothing), never half a file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import PipelineError
from ..inputs.prepare import load_processed
from ..outputs import read_csv, write_text
from ..run.paths import EFFECTS_FILE, POOLED_FILE, StudyPaths
from .exports import write_implementation_csv, write_workbook
from .final_inputs import final_report_stem, load_inputs
from .final_report import FinalReport
from .html import PRINT_STYLESHEET
from .pdf import html_to_pdf
from .style import use_report_style

COMPARATIVE_HTML = "comparative_report.html"


def build_final_report(paths: StudyPaths, lang: str, *, pdf: bool = True) -> list[Path]:
    """Write ``final_report.<lang>.html``, ``.pdf`` and ``.provenance.json`` in the reports folder.

    With ``pdf``, the comparative report (``comparative_report.html``), when it
    exists, is printed beside it too (``comparative_report.pdf``).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    use_report_style()
    report = FinalReport(load_inputs(paths, lang))
    missing = report.inputs.texts.missing(lang)
    if missing:
        print(
            f"warning: {report.inputs.texts.path}: no text for {', '.join(missing)}; "
            "the report marks them as missing",
            file=sys.stderr,
        )
    stem = final_report_stem(lang)
    out = paths.reports_dir
    html = report.html()
    written = [write_text(html, out / f"{stem}.html")]
    if pdf:
        written.append(html_to_pdf(html, out / f"{stem}.pdf", base_dir=paths.study_dir))
    record = report.provenance()
    record["outputs"] = [p.name for p in written]
    written.append(write_text(json.dumps(record, indent=2) + "\n", out / f"{stem}.provenance.json"))
    comparative = out / COMPARATIVE_HTML
    if pdf and comparative.is_file():
        written.append(print_html_report(comparative, paths.study_dir))
    return written


def print_html_report(html_path: str | Path, base_dir: str | Path) -> Path:
    """Print an HTML report made for the screen (e.g. ``comparative_report.html``) to PDF beside it.

    The report's own styles stay; a print stylesheet laid over them sets A4
    landscape (for the wide tables), page numbers, and keeps figures and
    captions whole.
    """
    html_path = Path(html_path)
    if not html_path.is_file():
        raise PipelineError(f"{html_path} is missing: run the report step first")
    return html_to_pdf(
        html_path.read_text("utf-8"),
        html_path.with_suffix(".pdf"),
        base_dir=base_dir,
        stylesheets=(PRINT_STYLESHEET.read_text("utf-8"),),
    )


def build_tables(paths: StudyPaths, lang: str) -> list[Path]:
    """Write ``implementation.csv`` and ``results.<lang>.xlsx`` beside ``effects.csv``."""
    reports = paths.reports_dir
    for name in (EFFECTS_FILE, POOLED_FILE):
        if not (reports / name).is_file():
            raise PipelineError(f"{reports / name} is missing: run the report step first")
    data = load_processed(paths.processed_dir)
    written = []
    implementation = write_implementation_csv(data, reports)
    if implementation is not None:
        written.append(implementation)
    written.append(
        write_workbook(
            data,
            read_csv(reports / EFFECTS_FILE),
            read_csv(reports / POOLED_FILE),
            reports,
            lang,
        )
    )
    return written
