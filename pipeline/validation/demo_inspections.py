"""The demo study's safety inspections: nine aspects of every target scored before and after.

Each aspect is scored 0-20 before the measures (2020) and in spring 2022,
rounded; each place's true mean change per aspect is known (0 at Hallstahammar
centrum).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INSPECTION_INDICATOR = {
    "id": "inspection_score",
    "label_sv": "Trygghetsbesiktning, poäng per aspekt (0–20)",
    "label_en": "Safety inspection, score per aspect (0–20)",
    "family": "score",
    "better": "higher",
    "unit": "poäng",
}
# Nine aspects of the physical environment, with how far each typically lies from the
# place's level (lighting and sight lines are what the safety analyses flagged most).
INSPECTION_ASPECTS = {
    "Belysning": -2.5,
    "Siktlinjer och överblickbarhet": -1.5,
    "Vegetation": -1.0,
    "Skötsel och underhåll": 0.5,
    "Klotter och skadegörelse": 0.0,
    "Orienterbarhet och skyltning": 1.0,
    "Folkliv och naturlig övervakning": -0.5,
    "Gångstråk och tillgänglighet": 1.5,
    "Entréer och lokaler i bottenvåningen": 0.5,
}
# Each target place: inspection before (2020, ahead of its measures) and after (spring
# 2022), its level before, and the true mean change per aspect (0 where nothing worked).
INSPECTIONS = {
    "avesta_busstorget": {
        "before": "2020-08-18",
        "after": "2022-05-10",
        "level": 8.0,
        "change": 4.0,
    },
    "avesta_gallerian": {
        "before": "2020-09-22",
        "after": "2022-05-11",
        "level": 9.5,
        "change": 3.0,
    },
    "falun_knutpunkten": {
        "before": "2020-06-30",
        "after": "2022-04-26",
        "level": 7.5,
        "change": 4.5,
    },
    "falun_holmtorget": {
        "before": "2020-10-06",
        "after": "2022-04-26",
        "level": 9.0,
        "change": 3.5,
    },
    "falun_resecentrum": {
        "before": "2020-10-07",
        "after": "2022-04-27",
        "level": 9.5,
        "change": 3.0,
    },
    "hallstahammar_centrum": {
        "before": "2020-09-15",
        "after": "2022-05-17",
        "level": 8.5,
        "change": 0.0,
    },
    "hallstahammar_stationsstraket": {
        "before": "2020-09-15",
        "after": "2022-05-17",
        "level": 7.0,
        "change": 3.5,
    },
    "sala_stationen": {"before": "2020-06-09", "after": "2022-05-03", "level": 7.5, "change": 5.0},
    "sala_stadsparken": {
        "before": "2020-10-13",
        "after": "2022-05-03",
        "level": 8.5,
        "change": 4.0,
    },
    "sala_torget": {"before": "2020-10-14", "after": "2022-05-04", "level": 10.0, "change": 3.0},
}
ASPECT_SD = 1.5  # spread of the aspects' levels around the place's level
CHANGE_SD = 1.2  # how much the true change differs between the aspects of a place
INSPECTOR_SD = 0.8  # the inspector's own error at each inspection, before rounding


def demo_inspections(rng: np.random.Generator) -> pd.DataFrame:
    """Draw the demo's safety inspections, as ``inspections.csv`` holds them.

    Each aspect's score is ``round(level + aspect offset + place-aspect deviation +
    inspector error)`` before, plus the place's true change and the aspect's own
    deviation from it after, clipped to 0-20.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random stream; the demo uses ``default_rng([seed, INSPECTION_STREAM])``.

    Returns
    -------
    pandas.DataFrame
        Columns ``place_id``, ``aspect``, ``date`` and ``score``.
    """
    aspects = list(INSPECTION_ASPECTS)
    offsets = np.array(list(INSPECTION_ASPECTS.values()))
    rows = []
    for place_id, spec in INSPECTIONS.items():
        k = len(aspects)
        level = spec["level"] + offsets + rng.normal(0, ASPECT_SD, k)
        change = spec["change"] + rng.normal(0, CHANGE_SD, k)
        before = level + rng.normal(0, INSPECTOR_SD, k)
        after = level + change + rng.normal(0, INSPECTOR_SD, k)
        for date, scores in ((spec["before"], before), (spec["after"], after)):
            scores = np.clip(np.rint(scores), 0, 20).astype(int)
            rows.extend((place_id, a, date, int(s)) for a, s in zip(aspects, scores, strict=True))
    return pd.DataFrame(rows, columns=["place_id", "aspect", "date", "score"])


def inspection_truth() -> pd.DataFrame:
    """Each place's true mean change (``ground_truth_inspections.csv``)."""
    frame = pd.DataFrame(
        {
            "place_id": list(INSPECTIONS),
            "true_mean_change": [spec["change"] for spec in INSPECTIONS.values()],
        }
    )
    return frame
