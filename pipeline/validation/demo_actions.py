"""The demo study's action plans: every measure's status at 12 and 24 months after the start.

As the pilots reported them (Avesta 22 of 28 measures done or started, Sala 17
of 19), each measure with a category, a description and a place or the whole
municipality.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..inputs.actions import COLUMNS
from .demo_places import MUNICIPALITIES, MUNICIPALITY_PREFIX, PLACES

PROJECT_START = "2020-04-01"
ACTION_HORIZONS = (12, 24)
ACTION_FOLLOWUPS = ("2021-04-01", "2022-04-01")  # 12 and 24 months after the start
# Each plan as paths of status (at 12 months, at 24 months) and how many measures took
# each, mirroring the follow-ups: Avesta 22 of 28 done or started, Sala 17 of 19.
ACTION_PLANS = {
    "Avesta": {
        ("done", "done"): 5,
        ("started", "done"): 6,
        ("planned", "done"): 3,
        ("started", "started"): 2,
        ("planned", "started"): 6,
        ("cancelled", "cancelled"): 1,
        ("planned", "cancelled"): 1,
        ("planned", "planned"): 4,
    },
    "Falun": {
        ("done", "done"): 3,
        ("started", "done"): 5,
        ("planned", "done"): 2,
        ("started", "started"): 2,
        ("planned", "started"): 6,
        ("cancelled", "cancelled"): 1,
        ("planned", "cancelled"): 2,
        ("planned", "planned"): 9,
    },
    "Hallstahammar": {
        ("done", "done"): 1,
        ("started", "done"): 2,
        ("planned", "done"): 2,
        ("started", "started"): 1,
        ("planned", "started"): 2,
        ("cancelled", "cancelled"): 1,
        ("planned", "cancelled"): 1,
        ("planned", "planned"): 5,
    },
    "Sala": {
        ("done", "done"): 6,
        ("started", "done"): 4,
        ("planned", "done"): 2,
        ("started", "started"): 2,
        ("planned", "started"): 3,
        ("planned", "cancelled"): 1,
        ("planned", "planned"): 1,
    },
}
# Planned start (first and last month) by status at 12 months: measures under way by
# then were planned early; those still only planned at 24 months were planned late.
PLANNED_START_RANGE = {
    ("done", None): ("2020-05", "2020-12"),
    ("started", None): ("2020-06", "2021-02"),
    ("cancelled", None): ("2020-06", "2021-03"),
    ("planned", "planned"): ("2021-09", "2022-12"),
    ("planned", None): ("2020-11", "2021-12"),
}
# Category: how common it is in the plans, and the chance a measure covers the whole
# municipality rather than one place.
ACTION_CATEGORIES = {
    "lighting": (0.20, 0.05),
    "vegetation": (0.11, 0.0),
    "cleaning": (0.14, 0.05),
    "guards": (0.10, 0.20),
    "cameras": (0.06, 0.0),
    "events": (0.12, 0.30),
    "redesign": (0.15, 0.0),
    "other": (0.12, 0.50),
}
ACTION_DESCRIPTIONS = {
    "lighting": (
        "Byta till LED-belysning längs gångstråket",
        "Ny belysning vid busshållplatserna",
        "Belysa entréer, passager och cykelparkering",
        "Effektbelysning av träd och fasader",
        "Laga trasiga armaturer och korta tiden till reparation",
        "Jämnare belysning utan mörka partier mellan stolparna",
        "Belysning i gång- och cykeltunneln",
        "Ljussättning av trappor och sittplatser",
    ),
    "vegetation": (
        "Beskära buskage för fri sikt längs gångvägen",
        "Glesa ut trädridån mot parkeringen",
        "Ta bort täta häckar vid entréerna",
        "Stamma upp träd så att sikten under kronorna blir fri",
        "Ersätta höga buskar med lågväxande planteringar",
        "Ny skötselplan för grönytorna",
    ),
    "cleaning": (
        "Tätare städning och tömning av papperskorgar",
        "Klottersanering inom 24 timmar",
        "Fler papperskorgar och askkoppar",
        "Städrunda före helger och evenemang",
        "Felanmälan via app med snabbare åtgärd",
        "Renovera slitna bänkar och räcken",
    ),
    "guards": (
        "Ordningsvakter fredag och lördag kväll",
        "Trygghetsvärdar i samarbete med fastighetsägarna",
        "Nattvandrare med stöd från kommunen",
        "Ansöka om förordnande för ordningsvakter i området",
        "Gemensam rondering med polis och bevakningsföretag",
        "Fältassistenter kvällstid",
    ),
    "cameras": (
        "Kamerabevakning av entré och varumottagning",
        "Utreda kamerabevakning tillsammans med polisen",
        "Skyltning om kamerabevakning",
        "Uppgradera befintliga kameror",
    ),
    "events": (
        "Sommaraktiviteter för unga på platsen",
        "Julmarknad och ljusfest",
        "Torghandel och matmarknad på lördagar",
        "Trygghetsvandring med boende och näringsidkare",
        "Musik och kultur under sommarkvällar",
        "Lördagsöppet med aktiviteter för barnfamiljer",
    ),
    "redesign": (
        "Flytta busshållplatsen närmare entréerna",
        "Ny möblering och fler sittplatser",
        "Ta bort skymmande skyltar och reklampelare",
        "Bredda gångstråket och öppna upp hörnet",
        "Ny lekplats och mötesplats",
        "Bättre orienterbarhet med skyltning och vägvisning",
        "Tillfällig verksamhet och skyltfönster i tomma lokaler",
    ),
    "other": (
        "Platssamverkan med fastighetsägare och handlare",
        "Gemensam lägesbild med polisen varje månad",
        "Utbildning i trygghetsskapande arbete för personal",
        "Trygghetsmätning bland besökare och näringsidkare",
        "Informationskampanj om trygghetsarbetet",
        "Dialog med hyresgäster om trygghet i fastigheterna",
    ),
}


def _month(rng: np.random.Generator, first: str, last: str) -> str:
    months = pd.period_range(first, last, freq="M")
    return f"{months[rng.integers(len(months))]}-01"


def demo_actions(rng: np.random.Generator) -> pd.DataFrame:
    """Draw the demo's action plans and their follow-ups, as ``actions.csv`` holds them.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random stream; the demo uses ``default_rng([seed, ACTION_STREAM])``.

    Returns
    -------
    pandas.DataFrame
        One row per measure and follow-up: ``municipality``, ``place_id`` (blank for
        the whole municipality), ``measure_id``, ``description``, ``category``,
        ``planned_start``, ``followup_date`` and ``status``.
    """
    categories = list(ACTION_CATEGORIES)
    weights = np.array([ACTION_CATEGORIES[c][0] for c in categories])
    rows = []
    for municipality in MUNICIPALITIES:
        name = municipality["name"]
        targets = [p["id"] for p in PLACES if p["municipality"] == name and p["role"] == "target"]
        paths = [path for path, count in ACTION_PLANS[name].items() for _ in range(count)]
        paths = [paths[i] for i in rng.permutation(len(paths))]
        measures, used = [], set()
        for at_12, at_24 in paths:
            category = categories[rng.choice(len(categories), p=weights / weights.sum())]
            wide = rng.random() < ACTION_CATEGORIES[category][1]
            place = "" if wide else targets[rng.integers(len(targets))]
            # A place that has every description of a category repeats one (only other seeds
            # than the demo's reach this).
            pool = [d for d in ACTION_DESCRIPTIONS[category] if (d, place) not in used] or list(
                ACTION_DESCRIPTIONS[category]
            )
            description = pool[rng.integers(len(pool))]
            used.add((description, place))
            key = (at_12, at_24) if (at_12, at_24) in PLANNED_START_RANGE else (at_12, None)
            start = _month(rng, *PLANNED_START_RANGE[key])
            measures.append((place, start, description, category, at_12, at_24))
        # A plan lists its measures place by place (the whole municipality last), by start.
        order = {p: i for i, p in enumerate([*targets, ""])}
        measures.sort(key=lambda m: (order[m[0]], m[1], m[2]))
        for number, (place, start, description, category, *statuses) in enumerate(measures, 1):
            for followup, status in zip(ACTION_FOLLOWUPS, statuses, strict=True):
                rows.append(
                    (
                        name,
                        place,
                        f"{MUNICIPALITY_PREFIX[name]}-{number:02d}",
                        description,
                        category,
                        start,
                        followup,
                        status,
                    )
                )
    return pd.DataFrame(rows, columns=list(COLUMNS))
