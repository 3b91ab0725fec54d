"""From a raw study folder to validated, processed data (and back).

``prepare_study`` validates everything first and only then writes
``data/processed/<study>/`` in one step (a temporary folder renamed into
place), so a failed validation leaves no half-written output behind. Raw files
are only ever read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .provenance import provenance_record
from .series import read_series
from .study import SERIES_FILE, STUDY_FILE, Study, load_study

MANIFEST_FILE = "manifest.json"
PROCESSED_SERIES = "series.parquet"
PROCESSED_STUDY = "study.json"


@dataclass(frozen=True)
class StudyData:
    """A validated study: its description, its series and the manifest of its inputs."""

    study: Study
    series: pd.DataFrame
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest["study_name"]


def validate_study(study_dir: str | Path) -> tuple[Study, pd.DataFrame]:
    """Validate a raw study folder without writing anything."""
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    series = read_series(study_dir / SERIES_FILE, study)
    return study, series


def prepare_study(study_dir: str | Path, processed_dir: str | Path) -> StudyData:
    """Validate a raw study and write its processed form.

    Parameters
    ----------
    study_dir
        The raw study folder (``study.yml``, ``series.csv``).
    processed_dir
        Where the processed study goes, e.g. ``data/processed/<study>``.
        Replaced as a whole only once validation has passed.

    Returns
    -------
    StudyData
    """
    study_dir = Path(study_dir)
    processed_dir = Path(processed_dir)
    study, series = validate_study(study_dir)
    inputs = {STUDY_FILE: study_dir / STUDY_FILE, SERIES_FILE: study_dir / SERIES_FILE}
    manifest = {
        "study_name": study_dir.resolve().name,
        "study_dir": str(study_dir.resolve()),
        "title": study.title,
        "synthetic": study.synthetic,
        "n_rows": len(series),
        **provenance_record(inputs),
    }

    processed_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{processed_dir.name}-", dir=processed_dir.parent))
    try:
        stored = series.assign(period=series["period"].astype(str))
        stored.to_parquet(staging / PROCESSED_SERIES, index=False)
        (staging / PROCESSED_STUDY).write_text(
            json.dumps(study.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        (staging / MANIFEST_FILE).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
        if processed_dir.exists():
            shutil.rmtree(processed_dir)
        staging.rename(processed_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StudyData(study, series, manifest)


def load_processed(processed_dir: str | Path) -> StudyData:
    """Read a study written by :func:`prepare_study`."""
    processed_dir = Path(processed_dir)
    study = Study.model_validate(json.loads((processed_dir / PROCESSED_STUDY).read_text("utf-8")))
    series = pd.read_parquet(processed_dir / PROCESSED_SERIES)
    series["period"] = pd.PeriodIndex(series["period"], freq="M")
    manifest = json.loads((processed_dir / MANIFEST_FILE).read_text("utf-8"))
    return StudyData(study, series, manifest)
