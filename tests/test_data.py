"""Tests of ``prepare_study`` and ``load_processed``: validate first, write all or nothing.

Each test works on a copy of the demo study in a temporary folder; the raw files
must come out of every run byte for byte as they went in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import ValidationError
from pipeline.inputs.prepare import (
    MANIFEST_FILE,
    OPTIONAL_FILES,
    PROCESSED_SERIES,
    PROCESSED_STUDY,
    StudyData,
    load_processed,
    prepare_study,
    validate_study,
)
from pipeline.inputs.study import SERIES_FILE, STUDY_FILE

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"
STUDY_NAME = DEMO_DIR.name
# Rows of the demo series.csv: crimes by category, then footfall, women's share and vacant premises.
DEMO_ROWS = 15582


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (relative path) with its hash."""
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A copy of the demo study under ``tmp_path/raw``."""
    folder = tmp_path / "raw" / STUDY_NAME
    shutil.copytree(DEMO_DIR, folder)
    return folder


@pytest.fixture
def processed(tmp_path: Path) -> Path:
    return tmp_path / "processed" / STUDY_NAME


def break_series(raw: Path) -> None:
    """Make one value of series.csv negative."""
    path = raw / SERIES_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[5].split(",")
    cells[3] = "-1"
    lines[5] = ",".join(cells)
    path.write_text("".join(lines), encoding="utf-8")


def break_study(raw: Path) -> None:
    """Misspell a key in study.yml."""
    path = raw / STUDY_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  role: control", "  rol: control", 1), encoding="utf-8")


BREAKS = {"series": break_series, "study": break_study}


# --------------------------------------------------------------------------- a good run


def test_prepare_writes_the_processed_study(raw: Path, processed: Path) -> None:
    data = prepare_study(raw, processed)
    assert isinstance(data, StudyData)
    assert sorted(p.name for p in processed.iterdir()) == sorted(
        [
            PROCESSED_SERIES,
            PROCESSED_STUDY,
            MANIFEST_FILE,
            *(f for _, _, f, table in OPTIONAL_FILES if table != "survey_shares"),
        ]
    )
    # Nothing else beside it: the staging folder has been renamed into place.
    assert [p.name for p in processed.parent.iterdir()] == [STUDY_NAME]
    assert data.name == STUDY_NAME
    assert len(data.series) == DEMO_ROWS
    assert [m.kommunkod for m in data.study.municipalities] == ["2084", "2080", "1961", "1981"]

    stored = json.loads((processed / PROCESSED_STUDY).read_text(encoding="utf-8"))
    assert stored == data.study.model_dump(mode="json")
    assert pd.read_parquet(processed / PROCESSED_SERIES).shape == (DEMO_ROWS, 5)


def test_manifest_records_the_inputs(raw: Path, processed: Path) -> None:
    data = prepare_study(raw, processed)
    manifest = json.loads((processed / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest == data.manifest
    assert manifest["study_name"] == STUDY_NAME
    # No machine paths: a study outside the project is named by its folder (here the tmp copy's).
    assert manifest["study_dir"] == f"{raw.resolve().parent.name}/{raw.name}"
    assert "/tmp" not in json.dumps(manifest)
    assert manifest["title"] == data.study.title
    assert manifest["synthetic"] is True
    assert manifest["n_rows"] == DEMO_ROWS
    names = [
        STUDY_FILE,
        SERIES_FILE,
        *(f for f, _, _, table in OPTIONAL_FILES if table != "survey_shares"),
    ]
    assert set(manifest["inputs"]) == set(names)
    for name in names:
        entry = manifest["inputs"][name]
        assert entry["sha256"] == sha256(raw / name)
        assert entry["sha256"] == sha256(DEMO_DIR / name)
        assert entry["path"] == f"{raw.name}/{name}"
    assert {"code", "packages", "parameters"} <= set(manifest)
    assert manifest["packages"]["pandas"] == pd.__version__


def test_load_processed_round_trips(raw: Path, processed: Path) -> None:
    written = prepare_study(raw, processed)
    loaded = load_processed(processed)
    assert loaded.study == written.study
    assert loaded.manifest == written.manifest
    assert loaded.name == STUDY_NAME
    pd.testing.assert_frame_equal(loaded.series, written.series)
    assert loaded.series["period"].dtype == pd.PeriodDtype("M")
    # The same as validating the raw study directly.
    study, series = validate_study(raw)
    assert loaded.study == study
    pd.testing.assert_frame_equal(loaded.series, series)


def test_prepare_accepts_str_paths(raw: Path, processed: Path) -> None:
    prepare_study(str(raw), str(processed))
    assert (processed / MANIFEST_FILE).is_file()


def test_validate_study_writes_nothing(raw: Path, tmp_path: Path) -> None:
    before = tree_hashes(tmp_path)
    study, series = validate_study(raw)
    assert len(series) == DEMO_ROWS
    assert len(study.targets()) == 10
    assert tree_hashes(tmp_path) == before


def test_a_second_run_replaces_the_output(raw: Path, processed: Path) -> None:
    prepare_study(raw, processed)
    path = raw / STUDY_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title: Trygga Platser", "title: Nya Trygga Platser", 1), "utf-8")
    data = prepare_study(raw, processed)
    assert load_processed(processed).study.title.startswith("Nya Trygga Platser")
    assert data.manifest["inputs"][STUDY_FILE]["sha256"] == sha256(path)
    assert [p.name for p in processed.parent.iterdir()] == [STUDY_NAME]


def test_raw_files_unchanged_by_a_good_run(raw: Path, processed: Path) -> None:
    before = tree_hashes(raw)
    assert before == tree_hashes(DEMO_DIR)
    prepare_study(raw, processed)
    load_processed(processed)
    assert tree_hashes(raw) == before


# --------------------------------------------------------------------------- a bad run


@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_invalid_input_writes_nothing(raw: Path, processed: Path, broken: str) -> None:
    BREAKS[broken](raw)
    before = tree_hashes(raw)
    with pytest.raises(ValidationError) as err:
        prepare_study(raw, processed)
    assert err.value.problems[0].file == str(
        raw / (SERIES_FILE if broken == "series" else STUDY_FILE)
    )
    assert not processed.exists()
    assert not processed.parent.exists()
    assert tree_hashes(raw) == before


@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_invalid_input_leaves_no_temporary_folder(raw: Path, processed: Path, broken: str) -> None:
    processed.parent.mkdir(parents=True)
    (processed.parent / "other_study.txt").write_text("kept\n", encoding="utf-8")
    BREAKS[broken](raw)
    with pytest.raises(ValidationError):
        prepare_study(raw, processed)
    assert [p.name for p in processed.parent.iterdir()] == ["other_study.txt"]


@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_invalid_input_keeps_the_earlier_output(raw: Path, processed: Path, broken: str) -> None:
    prepare_study(raw, processed)
    earlier = tree_hashes(processed)
    BREAKS[broken](raw)
    before = tree_hashes(raw)
    with pytest.raises(ValidationError):
        prepare_study(raw, processed)
    assert tree_hashes(processed) == earlier
    assert [p.name for p in processed.parent.iterdir()] == [STUDY_NAME]
    assert len(load_processed(processed).series) == DEMO_ROWS
    assert tree_hashes(raw) == before


def test_missing_raw_folder(tmp_path: Path, processed: Path) -> None:
    with pytest.raises(ValidationError) as err:
        prepare_study(tmp_path / "no_such_study", processed)
    assert "not found" in str(err.value)
    assert not processed.parent.exists()


def test_failure_while_writing_keeps_the_earlier_output(
    raw: Path, processed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare_study(raw, processed)
    earlier = tree_hashes(processed)

    def full_disk(self, *args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    with pytest.raises(OSError, match="No space left"):
        prepare_study(raw, processed)
    assert tree_hashes(processed) == earlier
    # The half-written staging folder is removed.
    assert [p.name for p in processed.parent.iterdir()] == [STUDY_NAME]


# -- the optional survey, inspection and action-plan files ----------------------

OPTIONAL = [
    ("survey.csv", "survey"),
    ("inspections.csv", "inspections"),
    ("actions.csv", "action_plan"),
]


def test_optional_tables_are_processed_and_loaded(raw: Path, processed: Path) -> None:
    prepare_study(raw, processed)
    data = load_processed(processed)
    assert set(data.tables) == {"survey", "inspections", "action_plan"}
    manifest = json.loads((processed / MANIFEST_FILE).read_text("utf-8"))
    assert {"survey.csv", "inspections.csv", "actions.csv"} <= set(manifest["inputs"])
    assert len(data.survey) == len(pd.read_csv(raw / "survey.csv"))


def _drop_section(raw: Path, section: str) -> None:
    import yaml

    path = raw / STUDY_FILE
    study = yaml.safe_load(path.read_text("utf-8"))
    del study[section]
    path.write_text(yaml.safe_dump(study, allow_unicode=True, sort_keys=False), "utf-8")


@pytest.mark.parametrize(("file_name", "section"), OPTIONAL)
def test_a_file_without_its_section_is_an_error(
    raw: Path, processed: Path, file_name: str, section: str
) -> None:
    _drop_section(raw, section)
    with pytest.raises(ValidationError) as info:
        prepare_study(raw, processed)
    problem = info.value.problems[0]
    assert problem.file.endswith(file_name)
    assert f"'{section}'" in problem.message
    assert not processed.exists()


@pytest.mark.parametrize(("file_name", "section"), OPTIONAL)
def test_a_section_without_its_file_is_an_error(
    raw: Path, processed: Path, file_name: str, section: str
) -> None:
    (raw / file_name).unlink()
    with pytest.raises(ValidationError) as info:
        prepare_study(raw, processed)
    assert info.value.problems[0].file.endswith(STUDY_FILE)
    assert file_name in info.value.problems[0].message


def test_a_bad_survey_row_names_file_row_and_column(raw: Path, processed: Path) -> None:
    path = raw / "survey.csv"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    cells = lines[7].rstrip("\n").split(",")
    cells[header.index("answer")] = "7"
    lines[7] = ",".join(cells) + "\n"
    path.write_text("".join(lines), "utf-8")
    with pytest.raises(ValidationError) as info:
        prepare_study(raw, processed)
    problem = info.value.problems[0]
    assert (Path(problem.file).name, problem.row, problem.column) == ("survey.csv", 8, "answer")
    assert not processed.exists()


def test_problems_in_several_files_are_reported_together(raw: Path, processed: Path) -> None:
    break_series(raw)
    for name in ("inspections.csv", "actions.csv"):
        path = raw / name
        lines = path.read_text("utf-8").splitlines(keepends=True)
        lines[3] = "nowhere" + lines[3][lines[3].index(",") :]
        path.write_text("".join(lines), "utf-8")
    with pytest.raises(ValidationError) as info:
        prepare_study(raw, processed)
    files = {Path(p.file).name for p in info.value.problems}
    assert {"series.csv", "inspections.csv", "actions.csv"} <= files


def test_the_configured_survey_question_must_be_in_the_file(raw: Path, processed: Path) -> None:
    path = raw / STUDY_FILE
    path.write_text(
        path.read_text("utf-8").replace("question: otrygg_kvall", "question: q9"), "utf-8"
    )
    with pytest.raises(ValidationError, match="no answers to question 'q9'"):
        prepare_study(raw, processed)
