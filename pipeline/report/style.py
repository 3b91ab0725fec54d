"""One plotting style for every figure.

The palette is Okabe-Ito: distinguishable for colour-blind readers and, paired
with the line styles below, still readable when printed in grey.

Figure texts are plain text: a study's names reach titles, labels and legends,
and a ``$`` in a place name must print as a dollar sign, not start mathtext
(which fails on unbalanced dollars). :func:`use_report_style` sets this for
every figure drawn afterwards; the reports call it once before drawing.
"""

from __future__ import annotations

import matplotlib

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

#: Matplotlib settings every report figure is drawn with.
RC_PARAMS = {"text.usetex": False, "text.parse_math": False}


def use_report_style() -> None:
    """Apply :data:`RC_PARAMS` to every figure created from now on in this process."""
    matplotlib.rcParams.update(RC_PARAMS)
