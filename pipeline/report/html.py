"""The one path from a study's text to HTML: templates with autoescaping.

Every name, label and description a study supplies (places, municipalities,
indicators, measures) can hold markup. Report sections therefore never format
HTML by hand: they pass plain values to a fragment template in
``templates/fragments/``, which escapes everything that is not already an
:class:`Html` fragment made here. Figures are embedded as images with escaped
alternative text.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
import pandas as pd

from .style import CSS_PX_PER_INCH, smallest_text_pt

TEMPLATE_ROOT = Path(__file__).with_name("templates")
FRAGMENTS = TEMPLATE_ROOT / "fragments"
#: The nbconvert template of a report page (``templates/page``).
PAGE_TEMPLATE = "page"
#: The report pages' print stylesheet: a browser prints a page with it, and the PDF is made with it.
PRINT_STYLESHEET = TEMPLATE_ROOT / PAGE_TEMPLATE / "print.css"
#: Resolution of embedded figures: sharp on high-density screens and in print.
FIGURE_DPI = 200
#: CSS pixels per inch: a figure's natural width on screen.
CSS_DPI = CSS_PX_PER_INCH


class Html(str):
    """An HTML fragment built here: notebooks render it, templates insert it unescaped."""

    def _repr_html_(self) -> str:
        return str(self)

    def __html__(self) -> str:
        return str(self)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The fragment templates, escaping every value that is not :class:`Html`."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(FRAGMENTS),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def render(fragment: str, **values: object) -> Html:
    """Render ``templates/fragments/<fragment>.html.j2`` with ``values`` escaped."""
    return Html(environment().get_template(f"{fragment}.html.j2").render(**values).strip())


def join(parts: Iterable[Html]) -> Html:
    """Fragments one after the other (each must already be :class:`Html`)."""
    parts = list(parts)
    for part in parts:
        if not isinstance(part, Html):
            raise TypeError(f"only Html fragments can be joined, not {type(part).__name__}")
    return Html("".join(parts))


def anchor(text: str) -> str:
    """A stable, readable id for a heading: lower-case ASCII letters, digits and hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "section"


def paragraph(text: str, css: str = "") -> Html:
    return render("paragraph", text=text, css=css)


def heading(text: str, level: int = 2, anchor_id: str | None = None) -> Html:
    return render("heading", text=text, level=int(level), anchor=anchor_id or anchor(text))


def banner(text: str) -> Html:
    return render("banner", text=text)


def bullet_list(items: Sequence[str]) -> Html:
    return render("list", items=items)


def details(summary: str, *parts: Html) -> Html:
    """Parts folded under a one-line summary the reader opens when wanted."""
    return render("details", summary=summary, parts=parts)


def _is_numeric(values: pd.Series) -> bool:
    """Whether a column reads as numbers (right-aligned): every non-empty cell starts like one."""
    text = [str(v) for v in values if str(v) not in ("", "–")]
    return bool(text) and all(re.match(r"^[<>]?\s?[−+\-–]?\d", v) for v in text)


def table(frame: pd.DataFrame, *, caption: str = "", table_id: str = "") -> Html:
    """A DataFrame as a plain table: header row, one row per record, every cell escaped.

    Number-like columns are right-aligned; a wrapper scrolls a table sideways
    on a narrow screen instead of widening the page.
    """
    columns = [str(c) for c in frame.columns]
    rows = [
        ["" if pd.isna(v) else str(v) for v in record] for record in frame.itertuples(index=False)
    ]
    numeric = [_is_numeric(frame[c]) for c in frame.columns]
    return render(
        "table", columns=columns, rows=rows, numeric=numeric, caption=caption, id=table_id
    )


def figure(fig, alt: str, *, caption: str = "") -> Html:
    """A matplotlib figure embedded as PNG at :data:`FIGURE_DPI`, with alternative text; then closed.

    The figure is drawn at its own size in inches; on screen it is shown at that
    size (96 px per inch) or narrower. The image carries the size of its
    smallest text in points (``data-text-pt``), so that how legible it is at
    the width a browser shows it can be checked (:func:`.style.shown_text_px`).
    """
    if not alt.strip():
        raise ValueError("every figure needs alternative text")
    width_in, height_in = fig.get_size_inches()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    text_pt = smallest_text_pt(fig)
    plt.close(fig)
    return render(
        "figure",
        mime="image/png",
        data=base64.b64encode(buffer.getvalue()).decode("ascii"),
        alt=alt,
        caption=caption,
        width=round(width_in * CSS_DPI),
        height=round(height_in * CSS_DPI),
        text_pt=f"{text_pt:.2f}" if text_pt != float("inf") else "",
    )


def toc(
    label: str,
    entries: Sequence[tuple[str, str]],
    *,
    links_label: str = "",
    links: Sequence[tuple[str, str]] = (),
) -> Html:
    """A table of contents: ``(anchor, text)`` entries, and links to other reports."""
    return render("toc", label=label, entries=entries, links_label=links_label, links=links)


def glossary(entries: Sequence[tuple[str, str]]) -> Html:
    return render("glossary", entries=entries)
