"""One plotting style for every figure.

The palette is Okabe-Ito: distinguishable for colour-blind readers and, paired
with the line styles below, still readable when printed in grey.

Figure texts are plain text: a study's names reach titles, labels and legends,
and a ``$`` in a place name must print as a dollar sign, not start mathtext
(which fails on unbalanced dollars). :func:`use_report_style` sets this for
every figure drawn afterwards; the reports call it once before drawing.

Legible on a phone. A report page shows a figure at its drawn width (96 CSS px
per inch) or, on a narrow screen, at the width of the text column; its text
shrinks with it. Every figure is therefore drawn :data:`FIGURE_WIDTH_IN` wide
with type no smaller than :data:`SMALLEST_TEXT_PT`, so that on a 400 px screen
its smallest text is still at least :data:`MIN_TEXT_PX` CSS pixels high
(:func:`shown_text_px` computes it; the tests check every figure of the demo's
reports with it, in a real browser too).
"""

from __future__ import annotations

import matplotlib
from matplotlib.text import Text

PALETTE = {
    "observed": "#000000",
    "target": "#0072B2",
    "control": "#E69F00",
    "buffer": "#009E73",
    "counterfactual": "#D55E00",
    "fitted": "#56B4E9",
    "neutral": "#999999",
    "better": "#009E73",
    "worse": "#D55E00",
    "highlight": "#CC79A7",
    "warning": "#F0E442",
}

LINESTYLES = {
    "observed": "-",
    "fitted": "-",
    "counterfactual": "--",
    "control": ":",
    "buffer": "-.",
}

SHADE = {"intervention": "#0072B2", "covid": "#999999"}
SHADE_ALPHA = 0.12

#: CSS pixels per inch: the width a browser gives a figure of one inch.
CSS_PX_PER_INCH = 96
#: The text column of a report page on a 400 px wide screen: 400 px less the
#: page's padding on a narrow screen (``report.css``: 0.6 rem of 15 px each side).
PHONE_COLUMN_PX = 382
#: The smallest text a reader should have to read, in CSS pixels.
MIN_TEXT_PX = 9.0
#: The width every report figure is drawn at, in inches (480 CSS px on a wide screen).
FIGURE_WIDTH_IN = 5.0
#: Base type size; the smallest text a figure uses ("small") is 5/6 of it.
BASE_TEXT_PT = 11.0
SMALLEST_TEXT_PT = BASE_TEXT_PT * 5 / 6

#: Type sizes of every report figure (sections apply them to each drawing too).
TEXT_SIZES = {
    "font.size": BASE_TEXT_PT,
    "axes.titlesize": BASE_TEXT_PT + 1,
    "axes.labelsize": BASE_TEXT_PT,
    "xtick.labelsize": BASE_TEXT_PT - 1,
    "ytick.labelsize": BASE_TEXT_PT - 1,
    "legend.fontsize": BASE_TEXT_PT - 1,
    "legend.title_fontsize": BASE_TEXT_PT - 1,
}

#: Matplotlib settings every report figure is drawn with.
RC_PARAMS = {"text.usetex": False, "text.parse_math": False, **TEXT_SIZES}


def use_report_style() -> None:
    """Apply :data:`RC_PARAMS` to every figure created from now on in this process."""
    matplotlib.rcParams.update(RC_PARAMS)


def smallest_text_pt(fig) -> float:
    """The size in points of the smallest visible text in a drawn figure (inf without text).

    Tick labels exist only once a figure is drawn; call this after drawing or
    saving it.
    """
    sizes = [
        text.get_fontsize()
        for text in fig.findobj(Text)
        if text.get_visible() and text.get_text().strip() and text.figure is not None
    ]
    return min(sizes, default=float("inf"))


def shown_text_px(size_pt: float, figure_width_in: float, column_px: float) -> float:
    """How high, in CSS pixels, text of ``size_pt`` points reads in a figure ``figure_width_in``
    inches wide, shown in a text column ``column_px`` wide.

    The page shows the figure at its drawn width or the column's, whichever is
    smaller, and the text scales with it.
    """
    drawn_px = figure_width_in * CSS_PX_PER_INCH
    shown_px = min(drawn_px, column_px)
    return size_pt / 72 * CSS_PX_PER_INCH * shown_px / drawn_px
