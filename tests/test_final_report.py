"""The funder's final report: its texts file, its content, its PDF, and the tables beside it.

The demo's results are computed here without notebooks (the evaluation and the
comparative pooling in-process), so the PDF tests take seconds, not minutes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.__main__ import main
from pipeline.errors import PipelineError, ValidationError
from pipeline.report.final_texts import read_texts, render_markdown, section_title, sections_for
from pipeline.report.words import goal_judgement
from pipeline.run.paths import RUN_STATUS_FILE, StudyPaths

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "data" / "raw" / "trygga_platser_demo"
A4 = (595.28, 841.89)  # points
SIDE_MARGIN = 20 / 25.4 * 72  # the print stylesheet's left and right page margins, in points
# No glyph of the report's font is narrower than this share of the font size: text
# at least this wide must still end inside the margins.
NARROWEST_GLYPH_EM = 0.27


# ---------------------------------------------------------------------------
# The texts file
# ---------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "final_report.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sections_are_found_by_their_printed_titles_in_any_case(tmp_path):
    path = _write(
        tmp_path,
        "## Sammanfattning\nKort.\n\n## SUMMARY\nShort.\n\n## bakgrund\nVarför.\n",
    )
    texts = read_texts(path, "sv")
    assert set(texts.html) == {"summary", "english_summary", "background"}
    assert "Short." in texts.html["english_summary"]
    assert "aims" in texts.missing("sv") and "summary" not in texts.missing("sv")


def test_an_english_report_has_no_separate_english_summary():
    assert "english_summary" not in sections_for("en")
    assert section_title("summary", "en") == "Summary"
    assert section_title("english_summary", "sv") == "Summary"


@pytest.mark.parametrize(
    ("text", "row", "message"),
    [
        ("## Sammanfattning\nx\n\n## Bakgrunden\ny\n", 4, "unknown section '## Bakgrunden'"),
        ("## Bakgrund\nx\n## Bakgrund\ny\n", 3, "appears twice (first on line 1)"),
        ("Inledning utan rubrik\n## Bakgrund\nx\n", 1, "text before the first section heading"),
    ],
)
def test_a_malformed_texts_file_names_the_file_and_row(tmp_path, text, row, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValidationError) as info:
        read_texts(path, "sv")
    problem = info.value.problems[0]
    assert problem.file == str(path)
    assert problem.row == row
    assert message in problem.message


def test_a_missing_or_non_utf8_texts_file_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError, match="file not found"):
        read_texts(tmp_path / "final_report.md", "sv")
    path = tmp_path / "final_report.md"
    path.write_bytes("## Bakgrund\nÅtgärder\n".encode("cp1252"))
    with pytest.raises(ValidationError, match="UTF-8") as info:
        read_texts(path, "sv")
    assert info.value.problems[0].row == 2


def test_a_heading_inside_a_code_block_is_text(tmp_path):
    path = _write(tmp_path, "## Bakgrund\n```\n## Not a section\n```\n")
    assert "## Not a section" in read_texts(path, "sv").html["background"]


def test_raw_html_and_harmful_links_in_the_texts_are_disarmed():
    html = render_markdown(
        "Hej <script>alert(1)</script> <img src=x onerror=alert(1)> "
        "[klick](javascript:alert(1))\n\n<div onclick='x()'>block</div>\n\n# Rubrik\n"
    )
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "<div" not in html
    assert "javascript:" not in html
    # Headings inside a section start below the report's own levels.
    assert "<h3" in html and "<h1" not in html


# ---------------------------------------------------------------------------
# Plain words and the goal
# ---------------------------------------------------------------------------


def test_goal_is_more_than_half_and_says_how_sure():
    # The demo's Hallstahammar: 8 of 15, Wilson 30-75 %.
    assert goal_judgement(8 / 15, 0.301, 0.752, 0.5) == "met_uncertain"
    assert goal_judgement(22 / 28, 0.605, 0.898, 0.5) == "met"
    assert goal_judgement(0.5, 0.3, 0.7, 0.5) == "not_met"  # exactly half is not more than half
    assert goal_judgement(float("nan"), float("nan"), float("nan"), 0.5) == "unknown"


# ---------------------------------------------------------------------------
# The demo's final report, built from results computed in-process
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory) -> StudyPaths:
    """The demo validated, evaluated and pooled as the pipeline does, without notebooks."""
    from pipeline.evaluation.municipality import evaluate_municipality
    from pipeline.evaluation.study import run_study_step
    from pipeline.inputs.prepare import prepare_study

    root = tmp_path_factory.mktemp("final")
    paths = StudyPaths.for_study(DEMO, root / "processed", root / "reports")
    data = prepare_study(paths.study_dir, paths.processed_dir)
    runs = []
    for municipality in data.study.municipality_names:
        folder = paths.municipality_dir(municipality)
        folder.mkdir(parents=True)
        evaluate_municipality(data, municipality).to_frame().to_csv(
            folder / "effects.csv", index=False
        )
        runs.append({"municipality": municipality, "status": "ok"})
    (paths.reports_dir / RUN_STATUS_FILE).write_text(
        json.dumps({"study": DEMO.name, "municipalities": runs}), encoding="utf-8"
    )
    run_study_step(data, paths.reports_dir, runs)
    return paths


def _copy_results(demo_results: StudyPaths, tmp_path: Path, study_dir: Path) -> StudyPaths:
    """The fixture's results in a reports folder of their own, for a copy of the demo study."""
    # reports/<study>/<lang>/: each language has its own reports folder.
    reports = tmp_path / "reports" / study_dir.name / "sv"
    reports.mkdir(parents=True)
    for name in ("effects.csv", "pooled_effects.csv", RUN_STATUS_FILE):
        shutil.copy(demo_results.reports_dir / name, reports / name)
    return StudyPaths(study_dir, demo_results.processed_dir, reports)


def _pdf_pages(path: Path):
    from pypdf import PdfReader

    return PdfReader(path).pages


def _text_positions(page) -> list[tuple[str, float, float, float]]:
    """Every piece of text on a page with its start point and font size, in page space."""
    found = []

    def visit(text, cm, tm, _font, size):
        if text.strip():
            # Text space to page space: the text matrix, then the current transformation.
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            scale = (tm[0] ** 2 + tm[1] ** 2) ** 0.5 * (cm[0] ** 2 + cm[1] ** 2) ** 0.5
            found.append((text, x, y, size * scale))

    page.extract_text(visitor_text=visit)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_demo_final_report_pdf(demo_results, lang):
    from pipeline.report.final_build import build_final_report

    written = build_final_report(demo_results, lang)
    pdf = demo_results.reports_dir / f"final_report.{lang}.pdf"
    assert pdf in written
    pages = _pdf_pages(pdf)
    assert 8 <= len(pages) <= 30
    for page in pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width, 1), round(height, 1)) == (round(A4[0], 1), round(A4[1], 1))
        for text, x, y, size in _text_positions(page):
            # Every line starts and ends inside the print area (nothing cut off at the edge).
            assert 0 <= y <= height, text
            assert SIDE_MARGIN - 1 <= x, text
            end = x + NARROWEST_GLYPH_EM * size * len(text.rstrip())
            assert end <= width - SIDE_MARGIN + 1, text
    text = " ".join(page.extract_text() for page in pages).replace("\xa0", " ")
    text = " ".join(text.split())
    for section in sections_for(lang):
        assert section_title(section, lang) in text, section
    if lang == "sv":
        assert "Syntetiska demonstrationsdata" in text
        assert "Hallstahammar: 8 av 15 åtgärder" in text
        assert "53 % (95 %-intervall 30 % till 75 %): målet nått, men osäkert" in text
        for word in ("tydlig minskning", "ingen säker förändring", "Diarienummer"):
            assert word in text
    else:
        assert "Hallstahammar: 8 of 15 measures" in text
        assert "53 % (95 % interval 30 % to 75 %): goal reached, but uncertain" in text
        assert "Registration number" in text
    # Running header: the report's title on every page after the cover.
    title = "Trygga Platser – platssamverkan med BID-inspiration (demonstration)"
    assert all(title in p.extract_text().replace("\n", " ") for p in pages[1:])


@pytest.mark.slow
def test_final_report_html_is_one_language_and_self_contained(demo_results):
    from pipeline.report.final_build import build_final_report

    build_final_report(demo_results, "en", pdf=False)
    html = (demo_results.reports_dir / "final_report.en.html").read_text("utf-8")
    assert '<html lang="en">' in html
    assert "<title>Trygga Platser" in html and "Final report</title>" in html
    assert "<script" not in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from outside
    assert "data:image/svg+xml;base64," in html  # vector figures, sharp in print
    for swedish in ("Sammanfattning", "målet nått", "tydlig minskning", "procentenheter"):
        assert swedish not in html
    provenance = json.loads(
        (demo_results.reports_dir / "final_report.en.provenance.json").read_text("utf-8")
    )
    assert {"effects.csv", "pooled_effects.csv", "final_report.en.md"} <= set(provenance["inputs"])
    assert "weasyprint" in provenance["packages"]


@pytest.mark.slow
def test_hostile_texts_are_escaped_and_nothing_is_fetched(demo_results, tmp_path):
    study = tmp_path / DEMO.name
    shutil.copytree(DEMO, study)
    (study / "final_report.md").write_text(
        "## Sammanfattning\n<script>alert('x')</script> ![bild](http://example.invalid/x.png) "
        "![lokal](../../etc/passwd)\n\n## Bakgrund\n<iframe src='http://example.invalid'></iframe>\n",
        encoding="utf-8",
    )
    paths = _copy_results(demo_results, tmp_path, study)
    from pipeline.report.final_build import build_final_report

    build_final_report(paths, "sv")
    html = (paths.reports_dir / "final_report.sv.html").read_text("utf-8")
    assert "<script" not in html and "<iframe" not in html
    assert "&lt;script&gt;" in html
    assert _pdf_pages(paths.reports_dir / "final_report.sv.pdf")  # printed all the same


@pytest.mark.slow
def test_a_bad_texts_file_exits_2_and_writes_nothing(demo_results, tmp_path, capsys):
    study = tmp_path / DEMO.name
    shutil.copytree(DEMO, study)
    (study / "final_report.md").write_text("## Bakgrund\nx\n## Resultat\ny\n", encoding="utf-8")
    paths = _copy_results(demo_results, tmp_path, study)
    args = ["--study", str(study), "--processed-root", str(paths.processed_dir.parent)]
    args += ["--reports-root", str(tmp_path / "reports"), "--lang", "sv"]
    assert main(["final-report", *args]) == 2
    err = capsys.readouterr().err
    assert "final_report.md, row 3" in err and "unknown section '## Resultat'" in err
    assert not list(paths.reports_dir.glob("final_report.*"))


@pytest.mark.slow
def test_implementation_csv_and_workbook(demo_results):
    from openpyxl import load_workbook

    from pipeline.report.final_build import build_tables

    written = build_tables(demo_results, "sv")
    table = pd.read_csv(demo_results.reports_dir / "implementation.csv")
    row = table[(table["municipality"] == "Hallstahammar") & (table["horizon_months"] == 24)]
    row = row.iloc[0]
    assert (row["k"], row["n"]) == (8, 15)
    assert round(row["share"], 3) == 0.533
    assert (round(row["wilson_lower"], 2), round(row["wilson_upper"], 2)) == (0.30, 0.75)
    assert bool(row["goal_met"]) and row["goal_share"] == 0.5
    assert set(table["municipality"]) == {"Avesta", "Falun", "Hallstahammar", "Sala", "All"}

    book = load_workbook(demo_results.reports_dir / "results.sv.xlsx")
    assert book.sheetnames == ["Skattningar", "Sammanvägt", "Genomförande", "Kolumner"]
    sheet = book["Skattningar"]
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Kommun", "Plats-id", "Indikator"]
    estimate = header.index("Skattning") + 1
    assert isinstance(sheet.cell(row=2, column=estimate).value, float)  # a number, not text
    assert sheet.max_row == len(pd.read_csv(demo_results.reports_dir / "effects.csv")) + 1
    assert demo_results.reports_dir / "results.sv.xlsx" in written

    build_tables(demo_results, "en")
    english = load_workbook(demo_results.reports_dir / "results.en.xlsx")
    assert english.sheetnames == ["Estimates", "Pooled", "Implementation", "Columns"]
    assert english["Implementation"]["G1"].value == "Done or started"


def test_final_report_without_results_is_a_clear_error(tmp_path):
    from pipeline.inputs.prepare import prepare_study
    from pipeline.report.final_inputs import load_inputs

    paths = StudyPaths.for_study(DEMO, tmp_path / "processed", tmp_path / "reports")
    prepare_study(paths.study_dir, paths.processed_dir)
    with pytest.raises(PipelineError, match="effects.csv is missing"):
        load_inputs(paths, "sv")


# ---------------------------------------------------------------------------
# study.yml's report section, and the texts checked before anything runs
# ---------------------------------------------------------------------------


def _demo_copy(tmp_path: Path, old: str = "", new: str = "") -> Path:
    study = tmp_path / DEMO.name
    shutil.copytree(DEMO, study)
    if old:
        path = study / "study.yml"
        text = path.read_text("utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return study


def _line_of(study: Path, snippet: str) -> int:
    lines = (study / "study.yml").read_text("utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if snippet in line)


def test_the_demo_report_section_is_read():
    from pipeline.inputs.study import load_study

    info = load_study(DEMO).report
    assert info.funder == "Vinnova" and info.goal_share == 0.5
    assert info.texts == {"sv": "final_report.md", "en": "final_report.en.md"}
    assert str(info.project_period.start) == "2020-04-01"


@pytest.mark.parametrize(
    ("old", "new", "snippet", "message"),
    [
        ("  funder: Vinnova", "  funder: Vinnova\n  diarienumer: x", "diarienumer", "Extra inputs"),
        ("    end: '2022-06-30'", "    end: '2019-06-30'", "end: '2019", "ends before it starts"),
        ("  funder: Vinnova", "  funder: Vinnova\n  texts: {sv: ../x.md}", "texts:", ".md file"),
        (
            "  funder: Vinnova",
            "  funder: Vinnova\n  headline_indicator: crimes",
            "headline_indicator",
            "unknown indicator 'crimes'",
        ),
    ],
)
def test_report_section_errors_name_the_row(tmp_path, old, new, snippet, message):
    from pipeline.inputs.study import load_study

    study = _demo_copy(tmp_path, old, new)
    with pytest.raises(ValidationError) as info:
        load_study(study)
    problem = info.value.problems[0]
    assert message in problem.message
    assert problem.row == _line_of(study, snippet)


def test_validate_checks_the_texts_before_anything_is_written(tmp_path, capsys):
    study = _demo_copy(tmp_path)
    (study / "final_report.en.md").write_text("## Summary\nx\n## Results\ny\n", encoding="utf-8")
    processed = tmp_path / "processed"
    args = ["--study", str(study), "--processed-root", str(processed)]
    args += ["--reports-root", str(tmp_path / "reports")]
    assert main(["validate", *args]) == 2
    err = capsys.readouterr().err
    assert "final_report.en.md, row 3" in err and "unknown section '## Results'" in err
    assert not processed.exists()


def test_a_report_section_needs_a_texts_file(tmp_path):
    from pipeline.report.final_texts import check_report_texts

    study = _demo_copy(tmp_path)
    (study / "final_report.md").unlink()
    check_report_texts(study)  # the English texts are enough
    (study / "final_report.en.md").unlink()
    with pytest.raises(ValidationError, match="none of the final report's texts files exists"):
        check_report_texts(study)


@pytest.mark.slow
def test_a_screen_report_prints_on_a4_landscape_within_the_margins(tmp_path):
    """A report made for the screen, with a 13-column table, printed through the print stylesheet."""
    from pipeline.report.final_build import print_html_report

    header = "".join(f"<th>Kolumn {i}</th>" for i in range(13))
    row = "".join(f"<td>Hallstahammar {i} 0,82 (0,72–0,94)</td>" for i in range(13))
    body = f"<h1>Jämförande rapport</h1><table><thead><tr>{header}</tr></thead>"
    body += f"<tbody>{f'<tr>{row}</tr>' * 40}</tbody>"
    html = tmp_path / "comparative_report.html"
    html.write_text(f"<!DOCTYPE html><html><body>{body}</table></body></html>", encoding="utf-8")
    pages = _pdf_pages(print_html_report(html, tmp_path))
    margin = 14 / 25.4 * 72
    assert len(pages) >= 2
    for page in pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width, 1), round(height, 1)) == (round(A4[1], 1), round(A4[0], 1))
        for text, x, _y, size in _text_positions(page):
            assert margin - 1 <= x, text
            assert x + NARROWEST_GLYPH_EM * size * len(text.rstrip()) <= width - margin + 1, text
    assert "Kolumn 12" in pages[1].extract_text()  # the header repeats on every page


def test_changes_read_as_what_they_are():
    """An interval bound just below no change reads −0,2 %, not ±0 %; an odds ratio stays one."""
    from pipeline.report.final_wording import change_and_interval

    change, interval = change_and_interval("rate_ratio", 0.88, 0.78, 0.998, "sv")
    assert (change, interval) == ("−12\xa0%", "−22\xa0% till −0,2\xa0%")
    assert change_and_interval("rate_ratio", 1.0, 0.9, 1.12, "en")[0] == "±0\xa0%"
    odds = change_and_interval("odds_ratio", 0.43, 0.19, 0.94, "sv")
    assert odds == ("oddskvot 0,43", "0,19 till 0,94")
    points = change_and_interval("share_difference_pp", -5.1, -12.0, 1.8, "sv")
    assert points == ("−5,1 procentenheter", "−12,0 till +1,8")
