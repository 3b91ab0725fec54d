"""Hostile and careless input: a corpus of broken study folders built from the demo.

Each case changes the demo study in one way and states its expected outcome:
an error naming file, row and column (exit 2, nothing written), or a run with
a stated warning. Most cases are decided at validation; one end-to-end run
puts a hostile string into every text field of the contract and checks the
outputs (escaped markup, neutralised formulas, files only inside the study's
report folder, figures that survive a ``$``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from pipeline.errors import ValidationError
from pipeline.inputs.series import last_complete_month
from pipeline.inputs.study import load_study
from pipeline.outputs import FORMULA_TRIGGERS, neutralise, read_csv, write_csv
from pipeline.run import orchestrate
from pipeline.run.cli import main
from pipeline.run.paths import (
    DEFAULT_STUDY,
    RUN_STATUS_FILE,
    StudyPaths,
    UnsafePathError,
    folder_name,
    inside,
    study_folder_name,
    study_lock,
)
from pipeline.validation.demo_survey import SURVEY_QUESTION

DEMO = DEFAULT_STUDY
NAME = "hostile_study"


# --------------------------------------------------------------------------
# Building hostile study folders
# --------------------------------------------------------------------------


def _copy_demo(tmp_path: Path) -> Path:
    study = tmp_path / NAME
    shutil.copytree(DEMO, study)
    return study


def _edit_yaml(study: Path, change) -> None:
    path = study / "study.yml"
    raw = yaml.safe_load(path.read_text("utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), "utf-8")


def _edit_text(study: Path, file: str, old: str, new: str, count: int = 1) -> None:
    path = study / file
    text = path.read_text("utf-8")
    assert old in text, (file, old)
    path.write_text(text.replace(old, new, count), "utf-8")


def _append_line(study: Path, file: str, line: str) -> None:
    with open(study / file, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _line_of(study: Path, file: str, text: str, occurrence: int = 1) -> int:
    found = [
        i
        for i, line in enumerate((study / file).read_text("utf-8").splitlines(), 1)
        if text in line
    ]
    return found[occurrence - 1]


def _billion_laughs(study: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    text = (study / "study.yml").read_text("utf-8")
    (study / "study.yml").write_text("\n".join(levels) + "\n" + text, "utf-8")


def _deep_nesting(study: Path) -> None:
    text = (study / "study.yml").read_text("utf-8")
    (study / "study.yml").write_text("x: " + "[" * 5000 + "]" * 5000 + "\n" + text, "utf-8")


def _oversized(study: Path) -> None:
    with open(study / "study.yml", "a", encoding="utf-8") as handle:
        handle.write(("# padding\n") * 300_000)


def _mixed_encoding(study: Path) -> None:
    """actions.csv with its first half in UTF-8 and the rest in Windows-1252."""
    lines = (study / "actions.csv").read_text("utf-8").splitlines(keepends=True)
    half = len(lines) // 2
    raw = "".join(lines[:half]).encode("utf-8") + "".join(lines[half:]).encode("cp1252")
    (study / "actions.csv").write_bytes(raw)


def _future_month(study: Path) -> None:
    future = last_complete_month() + 1
    _append_line(study, "series.csv", f"sala_givare_5,crimes_vandalism,{future},1,31")


def _survey_wave_in_future(study: Path) -> None:
    _edit_text(study, "survey.csv", ",2022-04-15,", ",2099-04-15,")


def _inspection_in_future(study: Path) -> None:
    text = (study / "inspections.csv").read_text("utf-8").splitlines()
    date = text[1].split(",")[2]
    _edit_text(study, "inspections.csv", f",{date},", ",2099-08-18,", count=-1)


@dataclass(frozen=True)
class Case:
    """One hostile study folder and what must come of it."""

    id: str
    change: object  # callable(study_dir)
    file: str  # the file the error (or warning) names
    message: str  # a part of the message
    column: str | None = None
    row: object = None  # an int, or callable(study_dir) -> int, or None when not checked
    warning: bool = False  # a correct run with a stated warning instead of an error


CASES = [
    Case(
        "duplicate_yaml_key_changes_a_start",
        lambda s: _edit_text(
            s,
            "study.yml",
            "  intervention_start: '2020-10-01'\n",
            "  intervention_start: '2020-10-01'\n  intervention_start: '2021-06-01'\n",
        ),
        "study.yml",
        "key 'intervention_start' appears twice",
        row=lambda s: _line_of(s, "study.yml", "intervention_start: '2021-06-01'"),
    ),
    Case(
        "duplicate_top_level_key",
        lambda s: _edit_text(
            s, "study.yml", "synthetic: true\n", "synthetic: true\nsynthetic: false\n"
        ),
        "study.yml",
        "key 'synthetic' appears twice",
        row=lambda s: _line_of(s, "study.yml", "synthetic: false"),
    ),
    Case("yaml_alias_bomb", _billion_laughs, "study.yml", "expands to"),
    Case("yaml_deep_nesting", _deep_nesting, "study.yml", "nested more than", row=1),
    Case("yaml_oversized", _oversized, "study.yml", "more than a study description needs"),
    Case(
        "control_listed_twice",
        lambda s: _edit_yaml(
            s, lambda y: y["places"][0].update(controls=["avesta_krylbo", "avesta_krylbo"])
        ),
        "study.yml",
        "'avesta_krylbo' is listed twice",
        column="controls",
    ),
    Case(
        "donor_listed_twice",
        lambda s: _edit_yaml(s, lambda y: y["donor_pool"].append(y["donor_pool"][0])),
        "study.yml",
        "donor_pool: 'avesta_krylbo' is listed twice",
        column="donor_pool",
    ),
    Case(
        "shock_id_twice",
        lambda s: _edit_yaml(s, lambda y: y["shocks"].append(dict(y["shocks"][0]))),
        "study.yml",
        "duplicate id 'covid19'",
        column="id",
    ),
    Case(
        "survey_wave_twice",
        lambda s: _edit_yaml(s, lambda y: y["survey"]["before"].append(y["survey"]["before"][0])),
        "study.yml",
        "is listed twice",
        column="before",
    ),
    Case(
        "kommunkod_twice",
        lambda s: _edit_yaml(s, lambda y: y["municipalities"][1].update(kommunkod="2084")),
        "study.yml",
        "duplicate kommunkod '2084'",
        column="kommunkod",
    ),
    Case(
        "municipality_names_share_a_folder",
        lambda s: _edit_yaml(
            s, lambda y: y["municipalities"].append({"name": "AVESTA", "kommunkod": "0114"})
        ),
        "study.yml",
        "would share one report folder",
        column="name",
    ),
    Case(
        "population_typo",
        lambda s: _edit_yaml(s, lambda y: y["municipalities"][0].update(population=23113000000)),
        "study.yml",
        "less than or equal to 50000000",
        column="population",
    ),
    Case(
        "month_not_over_yet",
        _future_month,
        "series.csv",
        "is not over yet",
        column="period",
        row=lambda s: len((s / "series.csv").read_text("utf-8").splitlines()),
    ),
    Case(
        "count_of_1e15",
        lambda s: _edit_text(
            s,
            "series.csv",
            "sala_givare_5,crimes_vandalism,2023-12,0,31",
            "sala_givare_5,crimes_vandalism,2023-12,1e15,31",
        ),
        "series.csv",
        "implausibly large value",
        column="value",
        row=lambda s: _line_of(s, "series.csv", "2023-12,1e15"),
    ),
    Case(
        "exposure_of_1e15",
        lambda s: _edit_text(
            s,
            "series.csv",
            "sala_givare_5,crimes_vandalism,2023-12,0,31",
            "sala_givare_5,crimes_vandalism,2023-12,0,1e15",
        ),
        "series.csv",
        "implausibly large exposure",
        column="exposure",
    ),
    Case(
        "misspelt_optional_column_in_survey",
        lambda s: _edit_text(s, "survey.csv", "place_id", "plats_id"),
        "survey.csv",
        "did you mean 'place_id'",
        column="plats_id",
        row=1,
    ),
    Case(
        "misspelt_exposure_in_series",
        lambda s: _edit_text(s, "series.csv", ",exposure", ",exposur"),
        "series.csv",
        "did you mean 'exposure'",
        column="exposur",
        row=1,
    ),
    Case(
        "file_mixing_utf8_and_latin1",
        _mixed_encoding,
        "actions.csv",
        "mixes encodings",
    ),
    Case(
        "survey_wave_in_the_future",
        _survey_wave_in_future,
        "survey.csv",
        "in the future",
        column="wave",
    ),
    Case(
        "inspection_in_the_future",
        _inspection_in_future,
        "inspections.csv",
        "in the future",
        column="date",
    ),
    Case(
        "survey_weight_of_1e15",
        # Every row of a weight: a respondent's weight is the same for all their questions.
        lambda s: _edit_text(s, "survey.csv", ",11.00\n", ",1e15\n", count=-1),
        "survey.csv",
        "implausibly large weight 1e+15",
        column="weight",
    ),
    Case(
        "unknown_column_is_stated",
        lambda s: _edit_text(s, "inspections.csv", "score\n", "score,kommentar\n"),
        "inspections.csv",
        "column 'kommentar': unknown column, ignored",
        warning=True,
    ),
]


def _validate(study: Path, tmp_path: Path) -> int:
    return main(
        [
            "validate",
            "--study",
            str(study),
            "--processed-root",
            str(tmp_path / "processed"),
            "--reports-root",
            str(tmp_path / "reports"),
        ]
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_study_folder(case: Case, tmp_path, capsys):
    """Each broken study ends in a located error with nothing written, or a stated warning."""
    study = _copy_demo(tmp_path)
    case.change(study)
    code = _validate(study, tmp_path)
    err = capsys.readouterr().err
    if case.warning:
        assert code == 0, err
        assert f"warning: {study / case.file}" in err and case.message in err
        manifest = json.loads((tmp_path / "processed" / NAME / "manifest.json").read_text())
        assert any(case.message in w for w in manifest["warnings"])
        return
    assert code == 2, err
    assert "Traceback" not in err
    row = case.row(study) if callable(case.row) else case.row
    parts = [f"{study / case.file}", case.message]
    parts += [f", row {row}"] if row is not None else []
    parts += [f", column '{case.column}'"] if case.column is not None else []
    assert any(all(p in line for p in parts) for line in err.splitlines()), err
    assert not (tmp_path / "processed").exists()
    assert not (tmp_path / "reports").exists()


def test_the_first_of_two_duplicate_keys_is_never_used_silently(tmp_path):
    """Regression: a second intervention_start silently replaced the first (40 of 106 estimates changed)."""
    study = _copy_demo(tmp_path)
    CASES[0].change(study)
    with pytest.raises(ValidationError, match="appears twice"):
        load_study(study)


# --------------------------------------------------------------------------
# Names are data, never paths
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sala", "Sala"),
        ("Upplands Väsby", "Upplands Väsby"),
        ("Malung-Sälen", "Malung-Sälen"),
        ("..", "1981"),
        (".", "1981"),
        ("../../../x", "x"),
        ("/etc/passwd", "etc_passwd"),
        ("C:\\Windows", "C_Windows"),
        ("<img src=x onerror=alert(1)>", "img src_x onerror_alert_1"),
        ('=HYPERLINK("http://x")', "HYPERLINK_http_x"),
        ("a\x00b\nc", "a_b_c"),
        ("", "1981"),
        ("å" * 300, "å" * 60),
    ],
)
def test_folder_names_stay_names(name, expected):
    folder = folder_name(name, fallback="1981")
    assert folder == expected
    assert "/" not in folder and "\\" not in folder and not folder.startswith(".")


def test_a_name_with_nothing_usable_and_no_fallback_is_refused():
    with pytest.raises(UnsafePathError):
        folder_name("../..")


def test_municipality_folders_stay_inside_the_study_reports(tmp_path):
    """Regression: a municipality named '..' made evaluate delete the reports root's parent."""
    paths = StudyPaths.for_study(DEMO, tmp_path / "processed", tmp_path / "reports")
    for name in ("..", "../../../x", "/tmp/evil", "~", "Sala/../../..", "\\..\\.."):
        folder = paths.municipality_dir(name, "1981")
        assert folder.parent == paths.reports_dir, name
    with pytest.raises(UnsafePathError):
        inside(tmp_path / "reports", tmp_path / "reports" / ".." / "elsewhere")
    with pytest.raises(UnsafePathError):
        inside(tmp_path / "reports", tmp_path / "reports")


def test_a_study_folder_named_like_the_root_is_refused(tmp_path):
    with pytest.raises(UnsafePathError):
        StudyPaths.for_study("/", tmp_path / "processed", tmp_path / "reports")


@pytest.mark.slow
def test_make_never_expands_study(tmp_path):
    """Regression: make report STUDY='x$(shell touch PWNED)' ran the command."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    import subprocess

    repo = Path(orchestrate.REPO_ROOT)
    marker = tmp_path / "PWNED"
    for study in (f"x$(shell touch {marker})", f"x`touch {marker}`", f"x'; touch {marker}; '"):
        result = subprocess.run(
            [
                "make",
                "-n",
                "report",
                f"STUDY={study}",
                f"JOBS=$(shell touch {marker})",
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert not marker.exists(), study
        assert '--study "$STUDY"' in result.stdout, result.stdout + result.stderr
        assert '--jobs "$JOBS"' in result.stdout and '--lang "$REPORT_LANG"' in result.stdout
    # A language is checked on its verbatim text: refused at once, nothing expanded or run.
    for language in (f"$(shell touch {marker})", f"$$(touch {marker})", f"sv`touch {marker}`"):
        result = subprocess.run(
            ["make", "-n", "report", f"REPORT_LANG={language}"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0 and "is not a report language" in result.stderr
        assert not marker.exists(), language


@pytest.mark.slow
@pytest.mark.integration
def test_make_validates_a_study_whose_path_has_spaces_quotes_and_swedish_letters(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    import subprocess

    repo = Path(orchestrate.REPO_ROOT)
    study = tmp_path / "Min studie – Västerås 'A'"
    shutil.copytree(DEMO, study)
    env = {**os.environ, "STUDY": str(study)}
    result = subprocess.run(
        ["make", "data"], cwd=repo, capture_output=True, text=True, timeout=300, env=env
    )
    processed = repo / "data" / "processed" / study_folder_name(study)
    assert processed.name == "Min_studie_Västerås_A"
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert (processed / "manifest.json").is_file()
        again = subprocess.run(
            ["make", "data"], cwd=repo, capture_output=True, text=True, timeout=300, env=env
        )
        assert "Nothing to be done" in again.stdout
    finally:
        shutil.rmtree(processed, ignore_errors=True)
        (repo / "reports" / f".{processed.name}.lock").unlink(missing_ok=True)


# --------------------------------------------------------------------------
# Outputs safe to open
# --------------------------------------------------------------------------


def test_formula_cells_are_neutralised_and_read_back(tmp_path):
    frame = pd.DataFrame(
        {
            "municipality": [
                '=HYPERLINK("https://x","klicka")',
                "+1",
                "-1+2",
                "@SUM(A1)",
                "\t=1",
                " =1",
                "'quoted",
                "＝1",
                "Sala",
            ],
            "estimate": [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        }
    )
    path = write_csv(frame, tmp_path / "effects.csv")
    written = pd.read_csv(path, dtype=str)
    for cell in written["municipality"]:
        assert cell.lstrip(" \t")[:1] not in FORMULA_TRIGGERS
        assert cell.startswith("'") or cell == "Sala"
    assert written["estimate"].iloc[0] == "-0.5"  # numbers stay numbers
    pd.testing.assert_frame_equal(read_csv(path), frame)
    assert neutralise("Sala") == "Sala"


# --------------------------------------------------------------------------
# Runs that survive faults
# --------------------------------------------------------------------------


def _fake_notebook(fail_for: str | None = None):
    def execute(label, template, output_dir, stem, parameters, kernel_name, *, title=""):
        if label == fail_for:
            raise KeyboardInterrupt  # the run is killed while this notebook runs
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / f"{stem}.ipynb").write_text("{}", "utf-8")
        (output_dir / f"{stem}.html").write_text(f"<p>{label}</p>", "utf-8")
        (output_dir / "effects.csv").write_text("estimate\n1\n", "utf-8")
        return orchestrate.NotebookRun(
            label, "ok", str(output_dir / f"{stem}.ipynb"), str(output_dir / f"{stem}.html"), 0.1
        )

    return execute


def _quick_evaluations(monkeypatch):
    """Threads instead of processes, and evaluations of the survey and inspections only."""
    from pipeline.evaluation.municipality import Part

    monkeypatch.setattr(orchestrate, "ProcessPoolExecutor", ThreadPoolExecutor)
    monkeypatch.setattr(
        orchestrate, "evaluation_parts", lambda data, name: (Part("survey"), Part("inspection"))
    )


@pytest.fixture
def prepared(tmp_path):
    paths = StudyPaths.for_study(DEMO, tmp_path / "processed", tmp_path / "reports")
    orchestrate.prepare(paths)
    return paths


def test_a_killed_run_leaves_the_previous_results_and_a_true_status(prepared, monkeypatch, capsys):
    paths = prepared
    _quick_evaluations(monkeypatch)
    monkeypatch.setattr(orchestrate, "execute_notebook", _fake_notebook())
    orchestrate.evaluate(paths, jobs=1)
    before = {
        p.relative_to(paths.reports_dir): p.read_bytes()
        for p in paths.reports_dir.rglob("*")
        if p.is_file()
    }
    monkeypatch.setattr(orchestrate, "execute_notebook", _fake_notebook(fail_for="Hallstahammar"))
    with pytest.raises(KeyboardInterrupt):
        orchestrate.evaluate(paths, jobs=1, force=True)  # unchanged inputs would not run at all
    after = {
        p.relative_to(paths.reports_dir): p.read_bytes()
        for p in paths.reports_dir.rglob("*")
        if p.is_file()
    }
    assert after == before
    assert not list(paths.reports_dir.parent.glob(f".{paths.name}.run-*"))
    args = [
        "--study",
        str(DEMO),
        "--processed-root",
        str(paths.processed_dir.parent),
        "--reports-root",
        str(paths.reports_dir.parent.parent),
    ]
    assert main(["status", *args]) == 0
    # A report that disappeared is not claimed.
    (paths.reports_dir / "Falun" / "evaluation.html").unlink()
    capsys.readouterr()
    assert main(["status", *args]) == 1
    assert "Falun: missing" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.integration
def test_a_run_killed_midway_leaves_nothing_and_status_says_so(tmp_path):
    """Regression: after a killed run, status said every municipality was ok though reports were missing."""
    import signal
    import subprocess
    import sys
    import time

    args = [
        "--study",
        str(DEMO),
        "--processed-root",
        str(tmp_path / "processed"),
        "--reports-root",
        str(tmp_path / "reports"),
    ]
    assert main(["validate", *args]) == 0
    run = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "evaluate", *args, "--jobs", "1"],
        cwd=orchestrate.REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        # Kill it once the computations are under way in the staging folder.
        staging = tmp_path / "reports" / "trygga_platser_demo"
        while not list(staging.glob(".trygga_platser_demo.run-*")):
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert not (tmp_path / "reports" / "trygga_platser_demo" / "sv").exists()
    assert main(["status", *args]) == 2


def test_leftovers_of_a_killed_run_are_cleared_by_the_next(prepared, monkeypatch):
    paths = prepared
    leftover = paths.reports_dir.parent / f".{paths.name}.run-killed"
    (leftover / "Sala").mkdir(parents=True)
    _quick_evaluations(monkeypatch)
    monkeypatch.setattr(orchestrate, "execute_notebook", _fake_notebook())
    orchestrate.evaluate(paths, jobs=1)
    assert not leftover.exists()
    status = json.loads((paths.reports_dir / RUN_STATUS_FILE).read_text())
    assert [r["municipality"] for r in status["municipalities"]] == [
        "Avesta",
        "Falun",
        "Hallstahammar",
        "Sala",
    ]
    # Paths in the status are relative to the study's reports folder (no machine paths).
    assert all((paths.reports_dir / r["html"]).is_file() for r in status["municipalities"])


def test_a_second_run_of_the_same_study_is_refused(tmp_path, capsys):
    """Regression: two runs of one study at once both wrote the same files."""
    paths = StudyPaths.for_study(DEMO, tmp_path / "processed", tmp_path / "reports")
    with study_lock(paths):
        code = _validate(DEMO, tmp_path)
    err = capsys.readouterr().err
    assert code == 2
    assert "another run of study 'trygga_platser_demo' is in progress" in err
    assert not (tmp_path / "processed" / "trygga_platser_demo").exists()
    assert _validate(DEMO, tmp_path) == 0  # the lock is released with its holder


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "processed").write_text("a file where a folder should be", "utf-8")
    code = _validate(DEMO, tmp_path)
    err = capsys.readouterr().err
    assert code == 2
    assert "error: cannot write" in err and str(tmp_path / "processed") in err
    assert "Traceback" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind the superuser")
def test_a_read_only_reports_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports").chmod(0o555)
    try:
        code = _validate(DEMO, tmp_path)
    finally:
        (tmp_path / "reports").chmod(0o755)
    assert code == 2
    assert "error: cannot write" in capsys.readouterr().err


# --------------------------------------------------------------------------
# One end-to-end run with a hostile string in every text field
# --------------------------------------------------------------------------

MARKUP = "<img src=x onerror=alert(1)>"
ATTRIBUTE = "\"'><b>"


def _hostile(field: str) -> str:
    """A text that is markup, a formula, mathtext and a path at once, tagged with its field."""
    return f"={field} {MARKUP}{ATTRIBUTE} $\\frac{{$ ../../"


def _hostile_study(tmp_path: Path) -> tuple[Path, str]:
    """The demo with a hostile string in every free-text field; returns it and Sala's new name."""
    study = _copy_demo(tmp_path)
    sala = _hostile("municipality")
    question = _hostile("question")

    def change(y):
        y["title"] = _hostile("title")
        y["description"] = _hostile("description")
        for m in y["municipalities"]:
            m["county"] = _hostile("county")
            if m["name"] == "Sala":
                m["name"] = sala
        for p in y["places"]:
            p["name"] = _hostile(f"place {p['id']}")
            p["description"] = _hostile("place description")
            if p["municipality"] == "Sala":
                p["municipality"] = sala
            for c in p.get("co_interventions", []):
                c["description"] = _hostile("co-intervention")
        for i in y["indicators"]:
            i["label_sv"] = _hostile(f"label_sv {i['id']}")
            i["label_en"] = _hostile(f"label_en {i['id']}")
            i["unit"] = _hostile("unit")
        for s in y["shocks"]:
            s["label_sv"] = _hostile("shock sv")
            s["label_en"] = _hostile("shock en")
        y["survey"]["question"] = question

    _edit_yaml(study, change)
    for file, column, value in (
        ("survey.csv", "municipality", sala),
        ("actions.csv", "municipality", sala),
    ):
        frame = pd.read_csv(study / file, dtype=str, keep_default_na=False)
        frame.loc[frame[column] == "Sala", column] = value
        if file == "survey.csv":
            # The safety question's rows; the local problems questions keep their codes.
            frame.loc[frame["question"] == SURVEY_QUESTION, "question"] = question
        else:
            frame["description"] = _hostile("action") + frame["description"]
        frame.to_csv(study / file, index=False)
    inspections = pd.read_csv(study / "inspections.csv", dtype=str, keep_default_na=False)
    inspections["aspect"] = _hostile("aspect") + inspections["aspect"]
    inspections["kommentar"] = "an unknown column, stated in every report"
    inspections.to_csv(study / "inspections.csv", index=False)
    return study, sala


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hostile_run")
    study, sala = _hostile_study(tmp_path)
    root = tmp_path / "out"
    args = [
        "--study",
        str(study),
        "--processed-root",
        str(root / "processed"),
        "--reports-root",
        str(root / "reports"),
    ]
    assert main(["validate", *args]) == 0
    codes = (
        main(["evaluate", *args, "--lang", "en", "--jobs", "1", "--municipality", sala]),
        main(["report", *args, "--lang", "en"]),
        main(["tables", *args, "--lang", "en"]),
        main(["final-report", *args, "--lang", "en", "--no-pdf"]),
    )
    return root, root / "reports" / NAME / "en", codes, sala


@pytest.mark.slow
@pytest.mark.integration
def test_hostile_names_run_and_stay_inside_the_study_folder(hostile_run):
    root, reports, codes, sala = hostile_run
    assert codes == (0, 0, 0, 0), "a '$' or markup in a name must not fail a run"
    written = [p for p in root.rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert path.resolve().is_relative_to((root / "processed" / NAME).resolve()) or (
            path.resolve().is_relative_to(reports.resolve()) or path.name == f".{NAME}.lock"
        ), path
    status = json.loads((reports / RUN_STATUS_FILE).read_text("utf-8"))
    assert [r["municipality"] for r in status["municipalities"]] == [sala]
    assert (reports / folder_name(sala, "1981") / "evaluation.html").is_file()
    # Regression: the comparative report linked to the name, not to the folder the run wrote.
    from urllib.parse import quote

    comparative = (reports / "comparative_report.html").read_text("utf-8")
    assert f'href="{quote(folder_name(sala, "1981"))}/evaluation.html"' in comparative


@pytest.mark.slow
@pytest.mark.integration
def test_stated_warnings_reach_every_report(hostile_run):
    _, reports, _, sala = hostile_run
    for report in (
        reports / folder_name(sala, "1981") / "evaluation.html",
        reports / "comparative_report.html",
    ):
        text = html.unescape(report.read_text("utf-8"))
        assert "column 'kommentar': unknown column, ignored" in text, report


@pytest.mark.slow
@pytest.mark.integration
def test_hostile_names_reach_no_workbook_as_a_live_formula(hostile_run):
    from openpyxl import load_workbook

    _, reports, _, _ = hostile_run
    workbooks = list(reports.rglob("*.xlsx"))
    assert workbooks
    for path in workbooks:
        book = load_workbook(path)
        cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
        assert any(isinstance(c.value, str) and "onerror" in c.value for c in cells), path
        for cell in cells:
            assert cell.data_type != "f", (path, cell.coordinate, cell.value)
            if isinstance(cell.value, str):
                assert cell.value.lstrip(" \u00a0")[:1] not in FORMULA_TRIGGERS, (path, cell.value)


@pytest.mark.slow
@pytest.mark.integration
def test_hostile_names_reach_no_csv_as_a_live_formula(hostile_run):
    _, reports, _, sala = hostile_run
    tables = list(reports.rglob("*.csv"))
    assert len(tables) >= 3
    for path in tables:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        cells = [*frame.columns, *frame.to_numpy().ravel()]
        for cell in cells:
            assert cell.lstrip(" \u00a0")[:1] not in FORMULA_TRIGGERS or _is_number(cell), (
                path,
                cell,
            )
    effects = read_csv(reports / "effects.csv")
    assert set(effects["municipality"]) == {sala}


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _html_outputs(reports: Path) -> list[tuple[Path, str]]:
    found = [(p, p.read_text("utf-8")) for p in reports.rglob("*.html")]
    for path in reports.rglob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                markup = output.get("data", {}).get("text/html")
                if markup:
                    found.append((path, "".join(markup)))
    return found


@pytest.mark.slow
@pytest.mark.integration
def test_hostile_names_reach_no_html_output_as_markup(hostile_run):
    _, reports, _, _ = hostile_run
    outputs = _html_outputs(reports)
    assert len(outputs) >= 4
    leaks = [
        (path.name, text[max(0, m.start() - 80) : m.end() + 20])
        for path, text in outputs
        for m in re.finditer(re.escape(MARKUP) + "|" + re.escape(ATTRIBUTE), text)
    ]
    assert not leaks, leaks[:5]
