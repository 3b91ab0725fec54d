"""Every text of a study reaches a report's HTML escaped, through one path."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from pipeline.report.html import Html, anchor, figure, heading, join, paragraph, table, toc
from pipeline.run.paths import DEFAULT_STUDY

HOSTILE = "<img src=x onerror=alert(1)>"


class _Elements(HTMLParser):
    """Collects every start tag and its attributes, as a browser would parse them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parsed(html: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(html)
    return parser.tags


def _assert_inert(html: str) -> None:
    """No element carries the hostile markup: no <img src=x>, no event-handler attribute."""
    for tag, attrs in _parsed(html):
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not (tag == "img" and attrs.get("src") == "x"), (tag, attrs)
    assert "<img src=x" not in html


def test_fragments_escape_text_and_keep_their_own_markup():
    frame = pd.DataFrame({HOSTILE: [HOSTILE, "12,5 %"], "n": ["3", "< 5"]})
    parts = join(
        [
            heading(HOSTILE),
            paragraph(HOSTILE),
            table(frame, caption=HOSTILE),
            toc(HOSTILE, [("a", HOSTILE)], links_label=HOSTILE, links=[("b.html", HOSTILE)]),
        ]
    )
    _assert_inert(parts)
    assert parts.count("&lt;img src=x onerror=alert(1)&gt;") >= 6
    assert "<table>" in parts and "<h2 " in parts  # the fragments' own markup stays markup


def test_only_fragments_can_be_joined():
    with pytest.raises(TypeError):
        join([Html("<p>x</p>"), "<p>raw</p>"])


def test_figures_need_alternative_text_and_escape_it():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    html = figure(fig, HOSTILE + '" onload="alert(2)')
    _assert_inert(html)
    (img,) = [attrs for tag, attrs in _parsed(html) if tag == "img"]
    assert img["alt"].startswith(HOSTILE)
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="alternative text"):
        figure(fig, "  ")
    plt.close("all")


def test_anchors_are_plain_ascii():
    assert anchor("Åtgärdsplanen: genomförande") == "atgardsplanen-genomforande"
    assert anchor(HOSTILE) == "img-src-x-onerror-alert-1"
    assert anchor("!!!") == "section"


@pytest.mark.slow
def test_hostile_names_in_a_study_reach_the_reports_escaped(tmp_path):
    """Place, municipality and indicator names holding markup are shown as text."""
    from pipeline.inputs.prepare import prepare_study
    from pipeline.report.municipality import MunicipalityReport

    study = tmp_path / "hostile"
    shutil.copytree(DEFAULT_STUDY, study)
    municipality = f"Sala{HOSTILE}"
    for path in study.iterdir():
        if path.suffix in (".yml", ".csv"):
            text = path.read_text("utf-8")
            text = re.sub(r"\bSala\b", municipality, text)
            text = text.replace("name: Stationen", f"name: Stationen {HOSTILE}")
            text = text.replace("label_sv: Anmälda brott, totalt", f"label_sv: Brott {HOSTILE}")
            path.write_text(text, "utf-8")
    prepare_study(study, tmp_path / "processed")
    report = MunicipalityReport.build(str(tmp_path / "processed"), municipality, "sv")
    sections = [
        report.header(),
        report.reading_guide(),
        table(report.places_table()),
        table(report.results_table()),
        *report.figures(),
        *report.perceived_safety(),
        *report.inspections(),
        *report.action_plan(),
        report.displacement(),
        report.skipped_table(),
        report.methods(),
    ]
    html = join(sections)
    _assert_inert(html)
    assert "Stationen &lt;img src=x onerror=alert(1)&gt;" in html
    assert "Brott &lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html
