"""What the funder's final report is computed from, read and checked.

The processed study, the study-level step's ``effects.csv`` and
``pooled_effects.csv``, the run status and the project's own texts
(:mod:`.final_texts`), in one language; :mod:`.final_report` computes the
report's content from them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import PipelineError
from ..inputs.prepare import StudyData, load_processed
from ..inputs.study import Study
from ..outputs import read_csv
from ..run.paths import EFFECTS_FILE, POOLED_FILE, RUN_STATUS_FILE, StudyPaths
from .final_texts import ReportTexts, read_texts
from .i18n import check_language


def final_report_stem(lang: str) -> str:
    """The file name, without suffix, of the final report in ``lang``."""
    return f"final_report.{check_language(lang)}"


@dataclass(frozen=True)
class FinalReportInputs:
    """Everything the final report is computed from."""

    paths: StudyPaths
    data: StudyData
    effects: pd.DataFrame
    pooled: pd.DataFrame
    status: list[dict]
    texts: ReportTexts
    lang: str

    @property
    def study(self) -> Study:
        return self.data.study

    @property
    def input_files(self) -> dict[str, Path]:
        """The files read besides the processed data, by label (for provenance)."""
        reports = self.paths.reports_dir
        return {
            EFFECTS_FILE: reports / EFFECTS_FILE,
            POOLED_FILE: reports / POOLED_FILE,
            RUN_STATUS_FILE: reports / RUN_STATUS_FILE,
            self.texts.path.name: self.texts.path,
        }


def load_inputs(paths: StudyPaths, lang: str) -> FinalReportInputs:
    """Read the processed study, its results and the project's texts.

    Raises
    ------
    PipelineError
        When the study has no ``report`` section or its results are missing.
    ValidationError
        When the texts file is missing or malformed.
    """
    check_language(lang)
    data = load_processed(paths.processed_dir)
    info = data.study.report
    if info is None:
        raise PipelineError(
            f"{paths.study_dir / 'study.yml'}: no 'report' section; the final report needs its "
            "authors, date, funder, coordinator and project period (see the README)"
        )
    if lang not in info.texts:
        raise PipelineError(
            f"{paths.study_dir / 'study.yml'}: report.texts names no file for language '{lang}'"
        )
    reports = paths.reports_dir
    for name in (EFFECTS_FILE, POOLED_FILE, RUN_STATUS_FILE):
        if not (reports / name).is_file():
            raise PipelineError(f"{reports / name} is missing: run 'make report' (or report) first")
    texts = read_texts(paths.study_dir / info.texts[lang], lang)
    status = json.loads((reports / RUN_STATUS_FILE).read_text("utf-8"))["municipalities"]
    return FinalReportInputs(
        paths=paths,
        data=data,
        effects=read_csv(reports / EFFECTS_FILE),
        pooled=read_csv(reports / POOLED_FILE),
        status=status,
        texts=texts,
        lang=lang,
    )
