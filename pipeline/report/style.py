"""One plotting style for every figure.

The palette is Okabe-Ito: distinguishable for colour-blind readers and, paired
with the line styles below, still readable when printed in grey.
"""

from __future__ import annotations

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
