"""Orchestration: the parameter contract, and the demo study end to end."""

from __future__ import annotations

import json
import re
import shutil

import nbformat
import pandas as pd
import papermill
import pytest

from pipeline import orchestrate
from pipeline.__main__ import main
from pipeline.errors import ParameterError
from pipeline.paths import DEFAULT_STUDY, RUN_STATUS_FILE, StudyPaths
from pipeline.report import EFFECTS_FILE

DEMO = DEFAULT_STUDY
REQUIRED_EFFECT_COLUMNS = [
    "municipality",
    "place_id",
    "indicator",
    "design",
    "estimand",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "n_pre",
    "n_post",
]


def _paths(tmp_path):
    return StudyPaths.for_study(DEMO, tmp_path / "processed", tmp_path / "reports")


def _args(tmp_path, *extra):
    return [
        "--study",
        str(DEMO),
        "--processed-root",
        str(tmp_path / "processed"),
        "--reports-root",
        str(tmp_path / "reports"),
        *extra,
    ]


def test_orchestrator_passes_exactly_the_declared_parameters(tmp_path):
    paths = _paths(tmp_path)
    declared = set(papermill.inspect_notebook(str(orchestrate.MUNICIPALITY_NOTEBOOK)))
    assert set(orchestrate.municipality_parameters(paths, "Sala", "sv")) == declared
    declared = set(papermill.inspect_notebook(str(orchestrate.COMPARATIVE_NOTEBOOK)))
    assert set(orchestrate.report_parameters(paths, "sv")) == declared


def test_unknown_or_missing_parameters_are_errors(tmp_path):
    good = orchestrate.municipality_parameters(_paths(tmp_path), "Sala", "sv")
    with pytest.raises(ParameterError, match="unknown parameters \\['langauge'\\]"):
        orchestrate.check_parameters(orchestrate.MUNICIPALITY_NOTEBOOK, {**good, "langauge": "en"})
    missing = {k: v for k, v in good.items() if k != "municipality"}
    with pytest.raises(ParameterError, match="missing parameters \\['municipality'\\]"):
        orchestrate.check_parameters(orchestrate.MUNICIPALITY_NOTEBOOK, missing)


def test_committed_notebooks_carry_no_outputs():
    assert orchestrate.notebooks_with_outputs() == []


def test_invalid_study_writes_nothing(tmp_path, capsys):
    study = tmp_path / "broken_study"
    shutil.copytree(DEMO, study)
    series = study / "series.csv"
    series.write_text(series.read_text("utf-8").replace(",2019-05,", ",2019-13,", 1), "utf-8")
    code = main(
        [
            "run",
            "--study",
            str(study),
            "--processed-root",
            str(tmp_path / "processed"),
            "--reports-root",
            str(tmp_path / "reports"),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "series.csv, row" in error and "column 'period'" in error and "2019-13" in error
    assert not (tmp_path / "processed" / "broken_study").exists()
    assert not (tmp_path / "reports").exists()


def _html_text(path):
    return path.read_text("utf-8")


def _assert_no_survey_microdata(reports):
    """No respondent's id, and no respondent-level table, in any report or executed notebook."""
    survey = pd.read_csv(DEMO / "survey.csv")
    ids = set(survey["respondent_id"])
    outputs = [*reports.rglob("*.html"), *reports.rglob("*.ipynb"), *reports.rglob("*.csv")]
    assert len(outputs) >= 9
    for path in outputs:
        text = path.read_text("utf-8")
        assert "respondent_id" not in text, path
        found = set(re.findall(r"[\w-]+", text)) & ids
        assert not found, (path, sorted(found)[:3])


@pytest.mark.integration
@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    assert main(["run", *_args(tmp_path, "--jobs", "2")]) == 0
    reports = tmp_path / "reports" / "trygga_platser_demo"
    for municipality in ("Avesta", "Falun", "Hallstahammar", "Sala"):
        folder = reports / municipality
        html = _html_text(folder / "evaluation.html")
        assert "Syntetiska demonstrationsdata" in html
        assert f"Utvärdering av trygghetsinsatser: {municipality}" in html
        assert "data:image/png;base64" in html
        assert not re.search(r"<script[^>]+src=\"https?://", html)
        assert "def " not in html and "import " not in html  # code cells are left out
        notebook = nbformat.read(folder / "evaluation.ipynb", as_version=4)
        assert notebook.metadata["papermill"]["parameters"]["municipality"] == municipality
        provenance = json.loads((folder / "provenance.json").read_text("utf-8"))
        assert set(provenance["inputs"]) == {
            "study.yml",
            "series.csv",
            "survey.csv",
            "inspections.csv",
            "actions.csv",
        }
        for section in ("Upplevd trygghet (enkät)", "Trygghetsbesiktning", "Åtgärdsplanen"):
            assert section in html
        assert len(provenance["inputs"]["series.csv"]["sha256"]) == 64

    comparative = _html_text(reports / "comparative_report.html")
    assert "Syntetiska demonstrationsdata" in comparative
    assert comparative.count("data:image/png;base64") >= 1
    for section in ("Sammanvägning över kommunerna", "Genomförande och effekt", "I² ="):
        assert section in comparative
    _assert_no_survey_microdata(reports)
    pooled = pd.read_csv(reports / "pooled_effects.csv")
    assert {"meta_random", "meta_fixed", "panel", "pooled_did"} == set(pooled["design"])
    assert set(pooled.loc[pooled["design"].isin(["panel", "pooled_did"]), "k"]) == {10}
    assert pooled[["estimate", "ci_low", "ci_high"]].notna().all().all()
    effects = pd.read_csv(reports / EFFECTS_FILE)
    survey_rows = effects[effects["indicator"] == "unsafe_evening"]
    assert set(survey_rows["design"]) == {"survey_did", "survey_prepost", "survey_ordinal"}
    assert set(effects.loc[effects["indicator"] == "inspection_score", "design"]) == {"inspection"}
    assert set(REQUIRED_EFFECT_COLUMNS) <= set(effects.columns)
    assert set(effects["municipality"]) == {"Avesta", "Falun", "Hallstahammar", "Sala"}
    count_designs = effects[
        effects["design"].isin(["donor_comparison", "controlled", "its", "prepost"])
    ]
    assert (count_designs["estimand"] == "rate_ratio").all()
    ratios = effects[effects["estimand"] == "rate_ratio"]
    assert (ratios["ci_low"] < ratios["estimate"]).all()
    assert (ratios["estimate"] < ratios["ci_high"]).all()
    primary = effects[effects["primary"]]
    assert primary["p_adjusted"].notna().all()
    assert (primary["p_adjusted"] >= primary["p_value"]).all()
    sidecar = json.loads((reports / "effects.provenance.json").read_text("utf-8"))
    assert sidecar["code"]["package_version"]

    # Same inputs, same numbers.
    assert main(["evaluate", *_args(tmp_path, "--jobs", "2", "--municipality", "Sala")]) == 0
    again = pd.read_csv(reports / "Sala" / EFFECTS_FILE).drop(columns="p_adjusted")
    first = pd.read_csv(reports / EFFECTS_FILE).drop(columns="p_adjusted")
    first = first[first["municipality"] == "Sala"].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.drop(columns="notes"), first.drop(columns="notes"))


@pytest.mark.integration
@pytest.mark.slow
def test_a_failing_municipality_does_not_stop_the_others(tmp_path, monkeypatch):
    """A notebook that fails for one municipality: the rest finish, the report lists it, exit 1."""
    broken = nbformat.read(orchestrate.MUNICIPALITY_NOTEBOOK, as_version=4)
    broken.cells.insert(
        3,
        nbformat.v4.new_code_cell(
            'if municipality == "Falun":\n    raise RuntimeError("simulated failure")'
        ),
    )
    template = tmp_path / "evaluate_municipality.ipynb"
    nbformat.write(broken, template)
    monkeypatch.setattr(orchestrate, "MUNICIPALITY_NOTEBOOK", template)

    code = main(["run", *_args(tmp_path, "--jobs", "2", "--lang", "en")])
    assert code == 1
    reports = tmp_path / "reports" / "trygga_platser_demo"
    status = {
        r["municipality"]: r
        for r in json.loads((reports / RUN_STATUS_FILE).read_text())["municipalities"]
    }
    assert status["Falun"]["status"] == "failed"
    assert "simulated failure" in status["Falun"]["error"]
    assert status["Falun"]["failed_cell"] is not None
    assert (reports / "Falun" / "evaluation.ipynb").is_file()  # the partial notebook is kept
    assert all(status[m]["status"] == "ok" for m in ("Avesta", "Hallstahammar", "Sala"))
    comparative = _html_text(reports / "comparative_report.html")
    assert "Synthetic demonstration data" in comparative
    assert "The evaluation failed for: Falun" in comparative
    effects = pd.read_csv(reports / EFFECTS_FILE)
    assert "Falun" not in set(effects["municipality"])
    assert main(["status", *_args(tmp_path)[:6]]) == 1
