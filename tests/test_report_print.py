"""The comparative report printed: to PDF with WeasyPrint, and from headless Chromium.

Both prints of the demo's comparative report, in Swedish and English: A4
landscape on every page, a page count within bounds, every heading of the page
in the extracted text, no text outside the page's margins, and no table cut
(every column's heading printed; folded details are left out of print, as they
are folded on screen). The PDFs are kept in the tests' temporary
folder. Chromium's print is skipped, with the reason, when Chromium, its driver
or selenium is missing.
"""

from __future__ import annotations

import base64
import html
import re
import shutil
import unicodedata
from pathlib import Path

import pytest

from tests.conftest import DEMO_DIR
from tests.test_final_report import A4, NARROWEST_GLYPH_EM, _pdf_pages, _text_positions

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The print stylesheet's page margins (templates/page/print.css), in points.
SIDE_MARGIN = 14 / 25.4 * 72
#: The demo's comparative report fills a few pages; a report of one page or of dozens has
#: lost its tables or split them badly.
PAGES = (2, 20)


@pytest.fixture(scope="module", params=["sv", "en"])
def comparative(request, demo_reports, tmp_path_factory):
    """The demo's comparative report in one language, copied to a folder of its own."""
    lang = request.param
    folder = tmp_path_factory.mktemp(f"print-{lang}")
    page = folder / "comparative_report.html"
    shutil.copy(demo_reports(lang)[1] / page.name, page)
    return lang, page


def _plain(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _headings(page: Path) -> list[str]:
    text = page.read_text("utf-8")
    return [_plain(h) for h in re.findall(r"<h[12][^>]*>(.*?)</h[12]>", text, flags=re.S)]


def _column_headings(page: Path) -> set[str]:
    """The column headings of the tables a print shows (folded details stay folded)."""
    text = re.sub(r"<details>.*?</details>", "", page.read_text("utf-8"), flags=re.S)
    return {_plain(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", text, flags=re.S)} - {""}


def _check_print(pdf: Path, page: Path) -> None:
    pages = _pdf_pages(pdf)
    assert PAGES[0] <= len(pages) <= PAGES[1], len(pages)
    for number, sheet in enumerate(pages, start=1):
        width, height = float(sheet.mediabox.width), float(sheet.mediabox.height)
        # A4 landscape, to the point.
        assert (round(width), round(height)) == (round(A4[1]), round(A4[0])), number
        for text, x, y, size in _text_positions(sheet):
            assert 0 <= y <= height, (number, text)
            assert SIDE_MARGIN - 1 <= x, (number, text)
            end = x + NARROWEST_GLYPH_EM * size * len(text.rstrip())
            assert end <= width - SIDE_MARGIN + 1, (number, text)
    printed = " ".join(" ".join(sheet.extract_text().split()) for sheet in pages)
    # NFKC: a browser's PDF writes "ff" and "fi" as ligatures, and no-break spaces as spaces.
    printed = unicodedata.normalize("NFKC", printed)
    headings = _headings(page)
    assert len(headings) >= 5
    for heading in headings:
        assert unicodedata.normalize("NFKC", heading) in printed, heading
    columns = _column_headings(page)
    assert columns
    for column in columns:
        # A column's heading may be broken over lines inside its cell.
        words = unicodedata.normalize("NFKC", column).split()
        assert all(word in printed for word in words), column


def test_comparative_report_pdf(comparative):
    """WeasyPrint's PDF, as ``make report`` writes it beside the page."""
    from pipeline.report.final_build import print_html_report

    lang, page = comparative
    pdf = print_html_report(page, DEMO_DIR)
    assert pdf == page.with_suffix(".pdf")
    _check_print(pdf, page)


def test_comparative_report_prints_on_a4_from_chromium(comparative):
    """A reader's print from the browser: the page's own print stylesheet decides the paper."""
    from tests.test_browser import _browser

    lang, page = comparative
    browser = _browser()
    try:
        browser.get(page.as_uri())
        assert browser.execute_script("return document.documentElement.lang") == lang
        printed = browser.execute_cdp_cmd(
            "Page.printToPDF",
            {"preferCSSPageSize": True, "printBackground": True, "displayHeaderFooter": False},
        )
    finally:
        browser.quit()
    pdf = page.with_name(f"comparative_report.chromium.{lang}.pdf")
    pdf.write_bytes(base64.b64decode(printed["data"]))
    _check_print(pdf, page)
