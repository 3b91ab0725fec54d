"""Where a study's raw data, processed data and reports live (no heavy imports)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STUDY = REPO_ROOT / "data" / "raw" / "trygga_platser_demo"
RUN_STATUS_FILE = "run_status.json"
EFFECTS_FILE = "effects.csv"
POOLED_FILE = "pooled_effects.csv"
PROVENANCE_FILE = "provenance.json"
STUDY_PROVENANCE_FILE = "effects.provenance.json"


class StatusError(PipelineError):
    """No run status exists yet for a study."""


@dataclass(frozen=True)
class StudyPaths:
    """Where a study's raw data, processed data and reports live."""

    study_dir: Path
    processed_dir: Path
    reports_dir: Path

    @classmethod
    def for_study(
        cls,
        study_dir: str | Path = DEFAULT_STUDY,
        processed_root: str | Path = REPO_ROOT / "data" / "processed",
        reports_root: str | Path = REPO_ROOT / "reports",
    ) -> StudyPaths:
        study_dir = Path(study_dir).resolve()
        return cls(
            study_dir,
            Path(processed_root).resolve() / study_dir.name,
            Path(reports_root).resolve() / study_dir.name,
        )

    def municipality_dir(self, municipality: str) -> Path:
        return self.reports_dir / municipality


def read_status(paths: StudyPaths) -> list[dict]:
    """The municipalities of the last evaluation run and how each ended."""
    target = paths.reports_dir / RUN_STATUS_FILE
    if not target.is_file():
        raise StatusError(
            f"no evaluation has been run for {paths.study_dir.name} ({target} is missing)"
        )
    return json.loads(target.read_text("utf-8"))["municipalities"]
