"""The demo's HTML reports as a reader's browser shows them (headless Chromium).

Each page, in Swedish and English, at 1,280 and 400 px: nothing wider than the
window, every image with meaningful alternative text, every figure's smallest
text at least 9 CSS px high at the width the browser shows it, the key findings
on the first screen, the contents' links pointing at headings, no script, the
page's language and title set. A screenshot of each page, and of each page's
first figure at 400 px, is kept in the test's temporary folder. Skipped, with
the reason, when Chromium, its driver or selenium is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.report.html import FIGURE_DPI
from pipeline.report.i18n import t
from pipeline.report.style import MIN_TEXT_PX, shown_text_px

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
WIDTHS = (1280, 400)
FIRST_SCREEN = 900  # px: the height of one screen on a laptop
_VERDICTS = ("clear_decrease", "likely_decrease", "none", "likely_increase", "clear_increase")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _browser():
    """A headless Chromium driven by selenium, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).is_file():
            pytest.skip(f"no browser: {program} not found (Debian: chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    try:
        return webdriver.Chrome(options=options, service=service)
    except Exception as exc:  # a browser that cannot start is a missing browser
        pytest.skip(f"Chromium did not start: {exc}")


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module", params=["sv", "en"])
def reports(request, demo_reports):
    """The demo study's reports in one language."""
    return request.param, demo_reports(request.param)[1]


# Elements that stick out of the window, unless a scrolling container holds them.
_OVERFLOWING = """
const width = document.documentElement.clientWidth;
function scrolls(el) {
  for (let p = el.parentElement; p; p = p.parentElement) {
    const s = getComputedStyle(p).overflowX;
    if ((s === 'auto' || s === 'scroll') && p.getBoundingClientRect().right <= width + 1) return true;
  }
  return false;
}
const wide = [];
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if ((r.right > width + 1 || r.left < -1) && r.width > 0 && !scrolls(el)) {
    wide.push(el.tagName + (el.id ? '#' + el.id : '') + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
  }
}
return {width: width, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 10)};
"""

_IMAGES = """
return Array.from(document.images).map(i => ({
  alt: i.getAttribute('alt'), w: i.naturalWidth, shown: i.getBoundingClientRect().width,
  pt: i.dataset.textPt === undefined ? null : parseFloat(i.dataset.textPt)}));
"""

_LINKS = """
return Array.from(document.querySelectorAll('a[href^="#"]'))
  .map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id));
"""


def _pages(folder: Path) -> list[Path]:
    return [folder / "comparative_report.html", *sorted(folder.glob("*/evaluation.html"))]


def _look(browser, page: Path, width: int):
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": FIRST_SCREEN, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    browser.get(page.as_uri())
    return browser.execute_script(_OVERFLOWING)


def _smallest_text_px(image) -> float:
    """The CSS px height of an image's smallest text as the browser shows the image."""
    width_in = image["w"] / FIGURE_DPI
    return shown_text_px(image["pt"], width_in, image["shown"])


def test_pages_fit_the_window_and_describe_their_images(browser, reports, tmp_path_factory):
    lang, folder = reports
    shots = tmp_path_factory.mktemp(f"screenshots-{lang}")
    pages = _pages(folder)
    assert len(pages) == 5
    for page in pages:
        for width in WIDTHS:
            layout = _look(browser, page, width)
            assert layout["width"] == width
            assert layout["scrollWidth"] <= width, (page, width, layout)
            assert not layout["wide"], (page, width, layout["wide"])
            name = f"{page.parent.name}-{page.stem}-{width}.png"
            assert browser.save_screenshot(str(shots / name))
            for image in browser.execute_script(_IMAGES):
                # Every figure says how small its text is, and reads at this width.
                assert image["pt"] is not None, (page, image["alt"])
                assert 0 < image["shown"] <= width
                assert _smallest_text_px(image) >= MIN_TEXT_PX, (page, width, image)
        # The first figure as a phone shows it (the page is left at 400 px).
        first = browser.find_element("css selector", "figure img")
        first.location_once_scrolled_into_view  # noqa: B018 (scrolls the figure into view)
        assert first.screenshot(str(shots / f"{page.parent.name}-{page.stem}-figure-400.png"))
        images = browser.execute_script(_IMAGES)
        assert images, page
        for image in images:
            assert image["w"] > 0, page  # the image decoded
            alt = (image["alt"] or "").strip()
            assert len(alt) >= 10 and alt.lower() not in {"figure", "image", "figur"}, (page, alt)


def test_pages_open_with_the_answer_and_say_their_language(browser, reports):
    lang, folder = reports
    for page in _pages(folder):
        _look(browser, page, 1280)
        assert browser.execute_script("return document.documentElement.lang") == lang
        title = browser.title
        assert title and title != "Notebook"
        assert browser.execute_script("return document.scripts.length") == 0
        assert browser.execute_script(_LINKS) == [], page
        top = browser.execute_script(
            "return document.querySelector('.key-findings').getBoundingClientRect().top"
        )
        assert top < FIRST_SCREEN / 2, (page, top)
        if page.name == "evaluation.html":
            # Every demo municipality has a survey: its perceived safety in the key findings,
            # in percentage points in target and comparison areas, with a fixed word.
            findings = browser.execute_script(
                "return document.querySelector('.key-findings').innerText"
            )
            line = next(
                (
                    x
                    for x in findings.splitlines()
                    if x.startswith(t("finding_perceived_safety", lang))
                ),
                "",
            )
            assert t("area_target", lang) in line and t("area_comparison", lang) in line, line
            assert t("change_pp", lang, value="").strip() in line, line
            words = {t(f"verdict_{v}", lang) for v in _VERDICTS}
            assert any(word in line for word in words), line
