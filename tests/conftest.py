"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import Problem

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"
DEMO_DIR = REPO_ROOT / "data" / "raw" / "trygga_platser_demo"


def only_problem(err: pytest.ExceptionInfo) -> Problem:
    """The one problem of a refused input (the test fails if there are others)."""
    problems = err.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def assert_located(
    err: pytest.ExceptionInfo, problem: Problem, path: Path, row: int | None, column: str | None
) -> None:
    """The problem names the file, row and column, and the error message shows them."""
    assert problem.file == str(path)
    assert problem.row == row
    assert problem.column == column
    message = str(err.value)
    assert str(problem) in message
    assert str(path) in message
    if row is not None:
        assert f"row {row}" in message
    if column is not None:
        assert f"column '{column}'" in message


def pytest_configure(config):
    # The tests run the designs as a run's workers do: one BLAS thread per process.
    from pipeline.run.orchestrate import one_blas_thread

    one_blas_thread()


@pytest.fixture(scope="session")
def demo_study():
    """The committed demo study as validation reads it: series, survey, inspections and actions."""
    from pipeline.inputs.prepare import read_study

    return read_study(DEMO_DIR)


@pytest.fixture(scope="session")
def demo_data(demo_study):
    """The demo study's description and series only, without survey, inspections or actions."""
    from pipeline.inputs.prepare import StudyData

    return StudyData(
        demo_study.study, demo_study.series, {"study_name": DEMO_DIR.name, "inputs": {}}
    )


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The public reference data sets beside the repository; tests skip without them."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE_DIR}")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def bra_total_series(reference_dir) -> dict:
    """Brå's real monthly totals per municipality, 2013-2016, as the calibration harness takes them."""
    from pipeline.inputs.bra import TOTAL, read_bra_folder

    frame = read_bra_folder(reference_dir / "bra_monthly_2013_2016")
    rows = frame[frame["category"] == TOTAL]
    return {
        n: g[["period", "count"]].reset_index(drop=True) for n, g in rows.groupby("municipality")
    }


@pytest.fixture(scope="session")
def demo_reports(tmp_path_factory):
    """The demo study run end to end, once per language for the whole session.

    Returns a function of the language giving ``(root, reports)``: the folder holding
    ``processed/`` and ``reports/``, and that language's reports folder. Tests read
    these outputs and write their own elsewhere.
    """
    from pipeline.run.cli import main

    built: dict[str, tuple[Path, Path]] = {}

    def build(lang: str) -> tuple[Path, Path]:
        if lang not in built:
            root = tmp_path_factory.mktemp(f"demo-{lang}")
            code = main(
                [
                    "run",
                    "--study",
                    str(DEMO_DIR),
                    "--processed-root",
                    str(root / "processed"),
                    "--reports-root",
                    str(root / "reports"),
                    "--lang",
                    lang,
                    "--jobs",
                    "2",
                ]
            )
            assert code == 0
            built[lang] = (root, root / "reports" / DEMO_DIR.name / lang)
        return built[lang]

    return build


IMPORT_STUDY_YML = """\
title: Importers test study
synthetic: true
municipalities:
  - {name: Sala, kommunkod: "1981", population: 22845, county: Västmanland}
  - {name: Avesta, kommunkod: "2084", county: Dalarna}
places:
  - id: sala_stationen
    name: Stationen
    municipality: Sala
    role: target
    intervention_start: 2020-08-01
    controls: [sala_vaster]
    buffer: sala_stationen_buffert
  - {id: sala_vaster, name: Västra centrum, municipality: Sala, role: control}
  - {id: sala_stationen_buffert, name: Runt stationen, municipality: Sala, role: buffer}
  - {id: sala, name: Sala, municipality: Sala, role: control}
  - {id: avesta, name: Avesta kommun, municipality: Avesta, role: control}
indicators:
  - {id: crimes_total, label_sv: Brott, label_en: Crimes, family: count, better: lower, unit: brott}
  - {id: crimes_violence, label_sv: Våld, label_en: Violence, family: count, better: lower, unit: brott}
  - {id: footfall, label_sv: Besökare, label_en: Footfall, family: count, better: higher, unit: besökare}
  - {id: unsafe_evening, label_sv: Otrygga, label_en: Unsafe, family: proportion, better: lower, unit: andel}
  - {id: inspection_score, label_sv: Besiktning, label_en: Inspection, family: score, better: higher, unit: poäng}
survey: {indicator: unsafe_evening, question: otrygg_kvall, before: [2019-10-15], after: [2022-04-15]}
inspections: {indicator: inspection_score}
action_plan: {project_start: 2020-04-01}
"""


@pytest.fixture
def import_study(tmp_path: Path) -> Path:
    """A small complete study.yml (no data files yet) for the importers' tests."""
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "study.yml").write_text(IMPORT_STUDY_YML, encoding="utf-8")
    return folder
