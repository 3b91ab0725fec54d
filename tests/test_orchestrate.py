"""Orchestration: the parameter contract, and the demo study end to end."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import nbformat
import pandas as pd
import papermill
import pytest

from pipeline.errors import ParameterError, PipelineError
from pipeline.run import orchestrate
from pipeline.run.cli import main
from pipeline.run.paths import DEFAULT_STUDY, EFFECTS_FILE, REPO_ROOT, RUN_STATUS_FILE, StudyPaths

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


def _key_findings(html: str) -> list[str]:
    """The list items of a page's key-findings box."""
    box = re.search(r'<section[^>]*class="key-findings"[^>]*>.*?</section>', html, re.S)
    assert box, "no key findings"
    return re.findall(r"<li>(.*?)</li>", box.group(0), re.S)


def _html_tables(path) -> list[list[dict[str, str]]]:
    """Every table of a page as its rows, each a mapping of column name to cell text."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text("utf-8"), "html.parser")
    tables = []
    for element in soup.find_all("table"):
        columns = [th.get_text(" ", strip=True) for th in element.find_all("th")]
        rows = [
            dict(
                zip(
                    columns, [td.get_text(" ", strip=True) for td in tr.find_all("td")], strict=True
                )
            )
            for tr in element.find_all("tr")
            if tr.find("td")
        ]
        tables.append(rows)
    return tables


def _assert_tables_agree_with_the_comparative_report(reports, municipalities, lang="sv"):
    """Every row of the comparative report's table (each primary or tested estimate, with its
    family, adjusted p and certainty word) appears word for word in its municipality's table
    of every estimate, and each primary estimate of a municipality's results table has the
    adjusted p and certainty word the comparative report gives it."""
    from pipeline.report.i18n import t

    where, certainty = t("col_municipality", lang), t("col_certainty", lang)
    same = [t(c, lang) for c in ("col_place", "col_indicator", "col_change", "col_p_adjusted")]
    comparative = [
        row
        for rows in _html_tables(reports / "comparative_report.html")
        for row in rows
        if where in row and certainty in row
    ]
    for municipality in municipalities:
        expected = [
            {k: v for k, v in row.items() if k != where}
            for row in comparative
            if row[where] == municipality
        ]
        assert expected, municipality
        tables = [
            rows
            for rows in _html_tables(reports / municipality / "evaluation.html")
            if rows and certainty in rows[0]
        ]
        everything = max(tables, key=len)  # the table of every design
        for row in expected:
            assert row in everything, (municipality, row)
        words = {tuple(row[c] for c in [*same, certainty]) for row in expected}
        primary = tables[0]  # the results section's primary estimates
        assert primary
        for row in primary:
            assert tuple(row[c] for c in [*same, certainty]) in words, (municipality, row)


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
    reports = tmp_path / "reports" / "trygga_platser_demo" / "sv"
    for municipality in ("Avesta", "Falun", "Hallstahammar", "Sala"):
        folder = reports / municipality
        html = _html_text(folder / "evaluation.html")
        assert "Syntetiska demonstrationsdata" in html
        assert f"<title>Utvärdering av trygghetsinsatser: {municipality}</title>" in html
        assert '<html lang="sv">' in html
        assert "Det viktigaste" in html and 'href="../comparative_report.html"' in html
        assert "<script" not in html
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
    assert '<html lang="sv">' in comparative and "<script" not in comparative
    municipalities = ["Avesta", "Falun", "Hallstahammar", "Sala"]
    _assert_tables_agree_with_the_comparative_report(reports, municipalities)
    # The same place gets the same words in its municipality's report and the comparative one.
    key_findings = _key_findings(comparative)
    every_item = re.findall(r"<li>(.*?)</li>", comparative, re.S)
    for municipality in ("Avesta", "Falun", "Hallstahammar", "Sala"):
        own = _key_findings(_html_text(reports / municipality / "evaluation.html"))
        survey = [item for item in own if item.startswith("Upplevd trygghet:")]
        assert len(survey) == 1, municipality  # perceived safety: the municipality's own report
        own = [item for item in own if item not in survey]
        assert own and set(own) <= set(key_findings), municipality
        # ... with the same shares and the same word as the comparative report's summary.
        word, shares = re.search(
            r'(<span class="verdict">.*?</span>) (<span class="numbers">.*?</span>)', survey[0]
        ).groups()
        assert any(word in item and shares in item for item in every_item), municipality
    for link in re.findall(r'href="([^"#]+)"', comparative):
        assert (reports / link).is_file(), link
    assert comparative.count("data:image/png;base64") >= 1
    for section in ("Sammanvägning över kommunerna", "Genomförande och effekt", "I² ="):
        assert section in comparative
    _assert_no_survey_microdata(reports)
    pooled = pd.read_csv(reports / "pooled_effects.csv")
    assert {"meta_random", "meta_fixed", "panel", "panel_nested"} == set(pooled["design"])
    assert set(pooled.loc[pooled["design"] == "panel", "k"]) == {10}
    # Odds ratios and inspection points are never pooled together.
    assert pooled.groupby(["indicator", "design"])["estimand"].nunique().max() == 1
    effects = pd.read_csv(reports / EFFECTS_FILE)
    survey_rows = effects[effects["indicator"] == "unsafe_evening"]
    assert set(survey_rows["design"]) == {
        "survey_did",
        "survey_did_odds",
        "survey_prepost",
        "survey_ordinal",
    }
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
    tested = effects[effects["family"].isin(["confirmatory", "gatekept", "secondary"])]
    assert (tested["p_adjusted"] >= tested["p_value"]).all()
    assert effects.loc[effects["family"] == "descriptive", "p_adjusted"].isna().all()
    confirmatory = effects[effects["family"] == "confirmatory"]
    assert sorted(confirmatory["municipality"]) == ["Avesta", "Falun", "Hallstahammar", "Sala"]
    assert (pooled.loc[pooled["family"] == "confirmatory", "design"] == "panel").all()
    # Each municipality's own effects.csv carries the study's families and adjusted p-values.
    sala = pd.read_csv(reports / "Sala" / EFFECTS_FILE)
    pd.testing.assert_frame_equal(
        sala, effects[effects["municipality"] == "Sala"].reset_index(drop=True)
    )
    sidecar = json.loads((reports / "effects.provenance.json").read_text("utf-8"))
    assert sidecar["code"]["package_version"]
    # No page shows a path of the machine it was made on.
    pages = list(reports.rglob("*.html"))
    assert len(pages) >= 5
    assert all(str(tmp_path) not in page.read_text("utf-8") for page in pages)
    # Nor does an executed notebook, and it carries no clock times.
    notebooks = list(reports.rglob("*.ipynb"))
    assert len(notebooks) == 5
    for notebook in notebooks:
        text = notebook.read_text("utf-8")
        assert str(tmp_path) not in text and '"start_time"' not in text, notebook

    first = pd.read_csv(reports / EFFECTS_FILE).drop(columns="p_adjusted")
    first = first[first["municipality"] == "Sala"].reset_index(drop=True)

    # Unchanged inputs, parameters and code: nothing is run again and the results stand.
    def mtimes(name):
        return {m: (reports / m / name).stat().st_mtime_ns for m in municipalities}

    before = mtimes(EFFECTS_FILE)
    computed_at = mtimes("evaluation.pickle")
    assert main(["evaluate", *_args(tmp_path, "--jobs", "2")]) == 0
    status = json.loads((reports / RUN_STATUS_FILE).read_text("utf-8"))["municipalities"]
    assert all(r["reused"] and r["status"] == "ok" for r in status)
    assert all(not r["html"].startswith("/") for r in status)  # no machine paths
    assert before == mtimes(EFFECTS_FILE)
    assert (reports / "comparative_report.html").is_file()  # still describes these results

    # One municipality's series changes: its evaluation alone is computed again. The study
    # level follows, and every municipality whose adjusted rows moved (Holm's adjustment spans
    # every municipality's primary outcome) has its notebook run again from its stored
    # evaluation; the others keep theirs.
    adjusted = pd.read_csv(reports / EFFECTS_FILE)
    changed = tmp_path / "edited" / DEMO.name
    shutil.copytree(DEMO, changed)
    series = pd.read_csv(changed / "series.csv", dtype=str)
    # Sala's crimes double after 2021: a change that moves its primary estimate's p-value.
    rows = series.index[
        series["place_id"].isin(["sala_stationen", "sala_stadsparken"])  # Sala's targets
        & series["indicator"].str.startswith("crimes_")
        & (series["period"] >= "2021-06")
    ]
    series.loc[rows, "value"] = (2 * series.loc[rows, "value"].astype(int)).astype(str)
    series.to_csv(changed / "series.csv", index=False)
    edited = ["--study", str(changed), *_args(tmp_path)[2:]]
    assert main(["validate", *edited]) == 0
    html_at = mtimes("evaluation.html")
    assert main(["run", *edited, "--jobs", "2"]) == 0
    status = {
        r["municipality"]: r
        for r in json.loads((reports / RUN_STATUS_FILE).read_text("utf-8"))["municipalities"]
    }
    assert {m for m, r in status.items() if r["computed"]} == {"Sala"}
    assert computed_at["Avesta"] == mtimes("evaluation.pickle")["Avesta"]
    new = pd.read_csv(reports / EFFECTS_FILE)
    for municipality in municipalities:
        old_rows = adjusted[adjusted["municipality"] == municipality].reset_index(drop=True)
        new_rows = new[new["municipality"] == municipality].reset_index(drop=True)
        moved = municipality == "Sala" or not old_rows.equals(new_rows)
        assert status[municipality]["reused"] == (not moved), municipality
        rendered = mtimes("evaluation.html")[municipality] != html_at[municipality]
        assert rendered == moved, municipality
    assert any(not status[m]["reused"] for m in municipalities if m != "Sala"), (
        "the change moved no other municipality's adjusted p-values"
    )
    _assert_tables_agree_with_the_comparative_report(reports, municipalities)
    assert main(["validate", *_args(tmp_path)]) == 0  # back to the demo's own series

    # Same inputs, same numbers. A new evaluation drops the comparative outputs,
    # which described the earlier results, and keeps the other municipalities.
    assert (
        main(["evaluate", *_args(tmp_path, "--jobs", "2", "--municipality", "Sala", "--force")])
        == 0
    )
    assert not (reports / "comparative_report.html").exists()
    assert (reports / EFFECTS_FILE).is_file()  # the study level of the new results
    assert (reports / "Avesta" / "evaluation.html").is_file()
    again = pd.read_csv(reports / "Sala" / EFFECTS_FILE).drop(columns="p_adjusted")
    pd.testing.assert_frame_equal(again.drop(columns="notes"), first.drop(columns="notes"))


@pytest.mark.integration
@pytest.mark.slow
def test_a_failing_municipality_does_not_stop_the_others(tmp_path, monkeypatch):
    """A notebook that fails for one municipality: the rest finish, the report lists it, exit 1.

    A failing computation is tested in ``test_a_failing_computation_does_not_stop_the_others``.
    """
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
    reports = tmp_path / "reports" / "trygga_platser_demo" / "en"
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
    # Its statistics were computed before its notebook failed: the study level keeps them,
    # so a report that cannot be drawn changes no other municipality's adjusted p-values.
    assert status["Falun"]["stage"] == "notebook"
    effects = pd.read_csv(reports / EFFECTS_FILE)
    assert "Falun" in set(effects["municipality"])
    assert main(["status", *_args(tmp_path)[:6], "--lang", "en"]) == 1


def test_an_unknown_language_is_refused_at_once(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", *_args(tmp_path, "--lang", "de")])
    assert exit_.value.code == 2
    assert "invalid choice: 'de'" in capsys.readouterr().err
    with pytest.raises(PipelineError, match="unknown report language 'de'"):
        StudyPaths.for_study(DEMO, tmp_path, tmp_path, "de")
    assert not (tmp_path / "reports").exists()


def test_each_language_has_its_own_reports(tmp_path):
    swedish = StudyPaths.for_study(DEMO, tmp_path / "p", tmp_path / "r", "sv")
    english = StudyPaths.for_study(DEMO, tmp_path / "p", tmp_path / "r", "en")
    assert swedish.processed_dir == english.processed_dir
    assert swedish.reports_dir.name == "sv" and english.reports_dir.name == "en"
    assert swedish.reports_dir.parent == english.reports_dir.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_refuses_an_unknown_language_and_rebuilds_for_another():
    """Regression: `make report REPORT_LANG=en` after a Swedish run did nothing and exited 0,
    and REPORT_LANG=de was accepted until something rebuilt."""
    root = REPO_ROOT
    bad = subprocess.run(
        ["make", "-n", "report", "REPORT_LANG=de"], cwd=root, capture_output=True, text=True
    )
    assert bad.returncode != 0
    assert "REPORT_LANG=de is not a report language" in bad.stderr
    dry = subprocess.run(
        ["make", "-n", "-p", "report", "REPORT_LANG=en"], cwd=root, capture_output=True, text=True
    )
    # The English reports are targets of their own, so a Swedish build never stands for them.
    assert "\nreports/trygga_platser_demo/en/run_status.json:" in dry.stdout
    assert "reports/" not in dry.stderr


def test_a_missing_kernel_is_registered_for_this_interpreter():
    """An environment made without `make env` (conda, plain pip) had no kernel to run notebooks."""
    import sys
    from pathlib import Path

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = "trygga-platser-test-registration"
    manager = KernelSpecManager()
    with pytest.raises(NoSuchKernel):
        manager.get_kernel_spec(name)
    try:
        assert orchestrate.ensure_kernel(name) == name
        spec = KernelSpecManager().get_kernel_spec(name)
        assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    finally:
        KernelSpecManager().remove_kernel_spec(name)


# --------------------------------------------------------------------------
# The run's phases, with the notebooks and the expensive parts left out
# --------------------------------------------------------------------------


_COMPUTE_PART = orchestrate.compute_part


def _quick_run(monkeypatch, fail_for: str | None = None):
    """Evaluations of the survey and the inspections only (cheap, and tested across the study
    by Benjamini-Hochberg), in threads, with notebooks that write a page of their inputs."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.evaluation.municipality import Part

    def compute_part(processed_dir, municipality, part):
        if municipality == fail_for and part.kind == "survey":
            raise RuntimeError("simulated failure")
        return _COMPUTE_PART(processed_dir, municipality, part)

    def execute(label, template, output_dir, stem, parameters, kernel_name, *, title=""):
        (output_dir / f"{stem}.ipynb").write_text("{}", "utf-8")
        (output_dir / f"{stem}.html").write_text(
            (output_dir / EFFECTS_FILE).read_text("utf-8"), "utf-8"
        )
        return orchestrate.NotebookRun(
            label, "ok", str(output_dir / f"{stem}.ipynb"), str(output_dir / f"{stem}.html"), 0.1
        )

    monkeypatch.setattr(orchestrate, "ProcessPoolExecutor", ThreadPoolExecutor)
    monkeypatch.setattr(
        orchestrate, "evaluation_parts", lambda data, name: (Part("survey"), Part("inspection"))
    )
    monkeypatch.setattr(orchestrate, "compute_part", compute_part)
    monkeypatch.setattr(orchestrate, "execute_notebook", execute)


def _status(paths):
    records = json.loads((paths.reports_dir / RUN_STATUS_FILE).read_text("utf-8"))
    return {r["municipality"]: r for r in records["municipalities"]}


def test_a_failing_computation_does_not_stop_the_others(tmp_path, monkeypatch):
    paths = _paths(tmp_path)
    orchestrate.prepare(paths)
    _quick_run(monkeypatch, fail_for="Falun")
    runs = orchestrate.evaluate(paths, jobs=2)
    assert [r.status for r in runs] == ["ok", "failed", "ok", "ok"]
    status = _status(paths)
    assert status["Falun"]["stage"] == "computation"
    assert "simulated failure" in status["Falun"]["error"]
    assert not (paths.reports_dir / "Falun").exists()  # no results stand for a failed one
    effects = pd.read_csv(paths.reports_dir / EFFECTS_FILE)
    assert set(effects["municipality"]) == {"Avesta", "Hallstahammar", "Sala"}
    for municipality in ("Avesta", "Hallstahammar", "Sala"):
        folder = paths.reports_dir / municipality
        assert status[municipality]["computed"] and status[municipality]["status"] == "ok"
        assert (folder / "evaluation.pickle").is_file() and (folder / "evaluation.html").is_file()
        own = pd.read_csv(folder / EFFECTS_FILE)
        assert own["p_adjusted"].notna().any()  # the study level adjusted its rows
    provenance = json.loads((paths.reports_dir / "effects.provenance.json").read_text("utf-8"))
    assert any("Falun: the evaluation failed" in p for p in provenance["problems"])

    # The next run tries the failed municipality again and computes nothing else.
    _quick_run(monkeypatch)
    orchestrate.evaluate(paths, jobs=2)
    status = _status(paths)
    assert {m for m, r in status.items() if r["computed"]} == {"Falun"}
    assert all(r["status"] == "ok" for r in status.values())


def test_a_notebook_runs_again_exactly_when_what_it_displays_changed(tmp_path, monkeypatch):
    """One municipality's survey changes: it alone is computed again; the study level's
    Benjamini-Hochberg adjustment spans every municipality, so each municipality whose
    adjusted rows moved has its notebook run again, and only those."""
    paths = _paths(tmp_path)
    orchestrate.prepare(paths)
    _quick_run(monkeypatch)
    orchestrate.evaluate(paths, jobs=2)
    before = pd.read_csv(paths.reports_dir / EFFECTS_FILE)
    pages = {
        m: (paths.reports_dir / m / "evaluation.html").read_text("utf-8") for m in _status(paths)
    }

    study = tmp_path / "edited" / DEMO.name
    shutil.copytree(DEMO, study)
    survey = pd.read_csv(study / "survey.csv", dtype=str)
    sala = survey.index[survey["municipality"] == "Sala"]
    survey.loc[sala[: len(sala) // 2], "answer"] = "1"
    survey.to_csv(study / "survey.csv", index=False)
    edited = StudyPaths.for_study(study, tmp_path / "processed", tmp_path / "reports")
    orchestrate.prepare(edited)
    orchestrate.evaluate(edited, jobs=2)

    status = _status(edited)
    assert {m for m, r in status.items() if r["computed"]} == {"Sala"}
    after = pd.read_csv(edited.reports_dir / EFFECTS_FILE)
    moved = set()
    for municipality in status:
        old = before[before["municipality"] == municipality].reset_index(drop=True)
        new = after[after["municipality"] == municipality].reset_index(drop=True)
        if municipality == "Sala" or not old.equals(new):
            moved.add(municipality)
        page = (edited.reports_dir / municipality / "evaluation.html").read_text("utf-8")
        # Each page shows its municipality's rows as the study level now has them.
        assert page == (edited.reports_dir / municipality / EFFECTS_FILE).read_text("utf-8")
        assert (page != pages[municipality]) == (municipality in moved)
    assert moved - {"Sala"}, "the change moved no other municipality's adjusted p-values"
    assert {m for m, r in status.items() if not r["reused"]} == moved


def test_a_changed_row_computes_again_only_the_parts_that_read_it(tmp_path, monkeypatch):
    """One row of a target's total crime changes: of its municipality's parts, the total-crime
    one and the survey (keyed on the whole municipality) are computed again, the theft one is
    taken from the last evaluation, and the stored evaluation is the one computed afresh."""
    import pickle

    from pipeline.evaluation.municipality import Part, assemble, evaluate_part
    from pipeline.inputs.prepare import load_processed

    def parts(data, name):
        target = data.study.targets(name)[0].id
        return (
            Part("target", target, "crimes_total"),
            Part("target", target, "crimes_theft"),
            Part("survey"),
        )

    paths = _paths(tmp_path)
    orchestrate.prepare(paths)
    _quick_run(monkeypatch)
    monkeypatch.setattr(orchestrate, "evaluation_parts", parts)
    computed = []
    quick = orchestrate.compute_part

    def counting(processed_dir, municipality, part):
        computed.append((municipality, part))
        return quick(processed_dir, municipality, part)

    monkeypatch.setattr(orchestrate, "compute_part", counting)
    orchestrate.evaluate(paths, jobs=2)
    assert len(computed) == 12

    study = tmp_path / "edited" / DEMO.name
    shutil.copytree(DEMO, study)
    series = pd.read_csv(study / "series.csv", dtype=str)
    rows = (series["place_id"] == "avesta_busstorget") & (series["indicator"] == "crimes_total")
    row = series.index[rows][0]
    series.loc[row, "value"] = str(int(series.loc[row, "value"]) + 1)
    series.to_csv(study / "series.csv", index=False)
    edited = StudyPaths.for_study(study, tmp_path / "processed", tmp_path / "reports")
    orchestrate.prepare(edited)
    computed.clear()
    orchestrate.evaluate(edited, jobs=2)
    assert set(computed) == {
        ("Avesta", Part("target", "avesta_busstorget", "crimes_total")),
        ("Avesta", Part("survey")),
    }
    assert len(computed) == 2
    data = load_processed(edited.processed_dir)
    fresh = assemble("Avesta", [evaluate_part(data, "Avesta", p) for p in parts(data, "Avesta")])
    stored = pickle.loads((edited.reports_dir / "Avesta" / "evaluation.pickle").read_bytes())
    assert stored.to_frame().equals(fresh.to_frame())
    assert stored.skipped == fresh.skipped

    # Forced, every part is computed again.
    computed.clear()
    orchestrate.evaluate(edited, jobs=2, force=True)
    assert len(computed) == 12


def test_a_notebook_in_a_warm_kernel_runs_every_cell_as_in_a_fresh_one(tmp_path):
    """The comparative report's kernel is started ahead of it with its imports run silently:
    papermill then runs every cell in that kernel, counted from 1, with the outputs a new
    kernel gives, and the kernel is shut down afterwards."""
    from pipeline.run.notebooks import WarmKernel, execute_notebook

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": orchestrate.KERNEL_NAME,
        "display_name": "Python",
        "language": "python",
    }
    notebook.cells = [
        nbformat.v4.new_code_cell('lang = "sv"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import statistics\nprint(statistics.median([3, 1, 2]), lang)"),
        nbformat.v4.new_code_cell(
            "print('warm' if 'pipeline.report.html' in sys.modules else 'new')"
        ),
    ]
    notebook.cells.insert(1, nbformat.v4.new_code_cell("import sys"))
    template = tmp_path / "probe.ipynb"
    nbformat.write(notebook, template)

    def run(folder, kernel=None):
        result = execute_notebook(
            "probe",
            template,
            tmp_path / folder,
            "probe",
            {"lang": "en"},
            title="probe",
            kernel=kernel,
        )
        assert result.status == "ok", result.error
        executed = nbformat.read(tmp_path / folder / "probe.ipynb", as_version=4)
        return [
            (cell.execution_count, [o.get("text") for o in cell.outputs])
            for cell in executed.cells
            if cell.cell_type == "code"
        ]

    orchestrate.ensure_kernel()
    kernel = WarmKernel(orchestrate.KERNEL_NAME, "import pipeline.report.html")
    warm = run("warm", kernel)
    assert not kernel.manager.has_kernel
    fresh = run("fresh")
    assert [count for count, _ in warm] == [count for count, _ in fresh] == [1, 2, 3, 4, 5]
    assert warm[-1][1] == ["warm\n"] and fresh[-1][1] == ["new\n"]
    assert warm[:-1] == fresh[:-1]
    assert warm[3][1] == ["2 en\n"]
    # A warm kernel that died is left aside: the notebook gets a new one.
    dead = WarmKernel(orchestrate.KERNEL_NAME, "import pipeline.report.html")
    dead.manager.shutdown_kernel(now=True)
    assert run("dead", dead) == fresh


def test_an_executed_notebook_is_made_portable(tmp_path):
    from pipeline.run.notebooks import make_portable

    study = tmp_path / "out" / "study"
    parameters = {"processed_dir": str(tmp_path / "out"), "reports_dir": str(study), "lang": "sv"}
    cell = nbformat.v4.new_code_cell(
        f'processed_dir = "{tmp_path / "out"}"\nreports_dir = "{study}"\nlang = "sv"\n'
    )
    cell.metadata.update(
        tags=["injected-parameters"],
        execution={"iopub.execute_input": "2026-11-30T20:00:00Z"},
        papermill={"start_time": "x", "end_time": "y", "duration": 1.5, "status": "completed"},
    )
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["papermill"] = {
        "parameters": parameters,
        "start_time": "x",
        "end_time": "y",
        "duration": 3.0,
        "input_path": str(tmp_path / "template.ipynb"),
        "output_path": str(tmp_path / "scratch" / "evaluation.ipynb"),
    }
    path = tmp_path / "evaluation.ipynb"
    nbformat.write(notebook, path)
    make_portable(path, parameters, study / "evaluation.ipynb")
    text = path.read_text("utf-8")
    assert str(tmp_path) not in text
    assert '"start_time"' not in text and '"duration"' not in text and "iopub" not in text
    written = nbformat.read(path, as_version=4)
    # The folder inside the other is named whole, not as the outer one's name plus a tail.
    assert written.cells[0].source.splitlines()[1] == 'reports_dir = "out/study"'
    assert written.metadata["papermill"]["output_path"] == "study/evaluation.ipynb"
    assert written.cells[0].metadata["papermill"] == {"status": "completed"}


def test_a_blas_thread_count_the_user_set_is_kept(monkeypatch):
    calls = []
    monkeypatch.setattr(orchestrate, "threadpool_limits", lambda **kw: calls.append(kw))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    orchestrate.one_blas_thread.__wrapped__()
    assert calls == [] and orchestrate.os.environ["OPENBLAS_NUM_THREADS"] == "4"
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    orchestrate.one_blas_thread.__wrapped__()
    assert calls == [{"limits": 1, "user_api": "blas"}]
    assert orchestrate.os.environ["OPENBLAS_NUM_THREADS"] == "1"
