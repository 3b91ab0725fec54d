"""The demo study's municipalities, places and crime categories, with their true effects.

Real municipality codes and populations, places named as the pilots named them,
comparison, buffer and donor areas, each place's level of crime and the true
rate ratio after its start; read by every part of the demo generator
(:mod:`.demo`, :mod:`.demo_survey`, :mod:`.demo_inspections`,
:mod:`.demo_actions`).
"""

from __future__ import annotations

MUNICIPALITIES = [
    {"name": "Avesta", "kommunkod": "2084", "population": 23113, "county": "Dalarna"},
    {"name": "Falun", "kommunkod": "2080", "population": 59000, "county": "Dalarna"},
    {"name": "Hallstahammar", "kommunkod": "1961", "population": 16393, "county": "Västmanland"},
    {"name": "Sala", "kommunkod": "1981", "population": 22845, "county": "Västmanland"},
]

# Category shares of a central place's crimes, seasonal amplitude (log scale),
# peak month, yearly trend (log scale) and the depth of the COVID-19 dip.
CATEGORIES = {
    "crimes_violence": {"share": 0.12, "amplitude": 0.20, "peak": 7, "trend": 0.01, "covid": 0.22},
    "crimes_theft": {"share": 0.38, "amplitude": 0.10, "peak": 10, "trend": -0.02, "covid": 0.30},
    "crimes_vandalism": {"share": 0.16, "amplitude": 0.25, "peak": 6, "trend": 0.0, "covid": 0.15},
    "other": {"share": 0.34, "amplitude": 0.08, "peak": 8, "trend": 0.0, "covid": 0.12},
}

INDICATORS = [
    {
        "id": "crimes_total",
        "label_sv": "Anmälda brott, totalt",
        "label_en": "Reported crimes, total",
    },
    {"id": "crimes_violence", "label_sv": "Våldsbrott", "label_en": "Violent crimes"},
    {"id": "crimes_theft", "label_sv": "Stöldbrott", "label_en": "Thefts"},
    {"id": "crimes_vandalism", "label_sv": "Skadegörelsebrott", "label_en": "Criminal damage"},
]

# level = mean crimes a month (all categories) before any effect.
# effect = true rate ratio after the intervention start (1.0 = no effect).
PLACES = [
    # Avesta
    {
        "id": "avesta_busstorget",
        "name": "Busstorget och busstationen",
        "municipality": "Avesta",
        "role": "target",
        "intervention_start": "2020-10-01",
        "controls": ["avesta_krylbo"],
        "buffer": "avesta_centrum_buffert",
        "level": 14.0,
        "effect": 0.75,
    },
    {
        "id": "avesta_gallerian",
        "name": "Gallerian och Örngränd",
        "municipality": "Avesta",
        "role": "target",
        "intervention_start": "2021-03-01",
        "controls": ["avesta_krylbo"],
        "level": 9.0,
        "effect": 0.85,
    },
    {
        "id": "avesta_krylbo",
        "name": "Krylbo centrum (jämförelseområde)",
        "municipality": "Avesta",
        "role": "control",
        "level": 12.0,
    },
    {
        "id": "avesta_centrum_buffert",
        "name": "Kvarteren runt Busstorget (buffertzon)",
        "municipality": "Avesta",
        "role": "buffer",
        "level": 10.0,
        "effect": 0.90,
    },
    # Falun
    {
        "id": "falun_knutpunkten",
        "name": "Knutpunkten (busstorget)",
        "municipality": "Falun",
        "role": "target",
        "intervention_start": "2020-09-01",
        "controls": ["falun_jamforelse_norr", "falun_jamforelse_soder"],
        "level": 22.0,
        "effect": 0.80,
        "co_interventions": [
            {
                "start": "2023-11-01",
                "description": "Polisens kamerabevakning av Knutpunkten och Holmtorget",
            }
        ],
    },
    {
        "id": "falun_holmtorget",
        "name": "Holmtorget och Årummet mot torget",
        "municipality": "Falun",
        "role": "target",
        "intervention_start": "2021-05-01",
        "controls": ["falun_jamforelse_norr", "falun_jamforelse_soder"],
        "level": 16.0,
        "effect": 0.90,
        "co_interventions": [
            {
                "start": "2023-11-01",
                "description": "Polisens kamerabevakning av Knutpunkten och Holmtorget",
            }
        ],
    },
    {
        "id": "falun_resecentrum",
        "name": "Resecentrum",
        "municipality": "Falun",
        "role": "target",
        "intervention_start": "2021-09-01",
        "controls": ["falun_jamforelse_norr", "falun_jamforelse_soder"],
        "level": 12.0,
        "effect": 0.85,
    },
    {
        "id": "falun_jamforelse_norr",
        "name": "Norra centrum (jämförelseområde)",
        "municipality": "Falun",
        "role": "control",
        "level": 15.0,
    },
    {
        "id": "falun_jamforelse_soder",
        "name": "Södra centrum (jämförelseområde)",
        "municipality": "Falun",
        "role": "control",
        "level": 13.0,
    },
    # Hallstahammar
    {
        "id": "hallstahammar_centrum",
        "name": "Centrum",
        "municipality": "Hallstahammar",
        "role": "target",
        "intervention_start": "2020-11-01",
        "controls": ["hallstahammar_kolback"],
        "level": 11.0,
        "effect": 1.0,
    },
    {
        "id": "hallstahammar_stationsstraket",
        "name": "Gångstråket och grönområdet mot järnvägsstationen",
        "municipality": "Hallstahammar",
        "role": "target",
        "intervention_start": "2021-04-01",
        "controls": ["hallstahammar_kolback"],
        "level": 6.0,
        "effect": 0.80,
    },
    {
        "id": "hallstahammar_kolback",
        "name": "Kolbäcks centrum (jämförelseområde)",
        "municipality": "Hallstahammar",
        "role": "control",
        "level": 8.0,
    },
    # Sala
    {
        "id": "sala_stationen",
        "name": "Stationen",
        "municipality": "Sala",
        "role": "target",
        "intervention_start": "2020-08-01",
        "controls": ["sala_jamforelse_vaster"],
        "buffer": "sala_stationen_buffert",
        "buffer_controls": ["sala_givare_3"],
        "level": 13.0,
        "effect": 0.70,
    },
    {
        "id": "sala_stadsparken",
        "name": "Stadsparken",
        "municipality": "Sala",
        "role": "target",
        "intervention_start": "2021-06-01",
        "controls": ["sala_jamforelse_vaster"],
        "level": 8.0,
        "effect": 0.85,
    },
    {
        "id": "sala_torget",
        "name": "Torget",
        "municipality": "Sala",
        "role": "target",
        "intervention_start": "2022-01-01",
        "controls": ["sala_jamforelse_vaster"],
        "level": 10.0,
        "effect": 0.90,
    },
    {
        "id": "sala_jamforelse_vaster",
        "name": "Västra centrum (jämförelseområde)",
        "municipality": "Sala",
        "role": "control",
        "level": 12.0,
    },
    {
        "id": "sala_stationen_buffert",
        "name": "Kvarteren runt stationen (buffertzon)",
        "municipality": "Sala",
        "role": "buffer",
        "level": 9.0,
        "effect": 1.20,
    },
]

# A donor pool: five more comparison areas per municipality, not tied to any target.
DONOR_LEVELS = (6.0, 8.0, 10.0, 12.0, 15.0)
DONORS = [
    {
        "id": f"{m['name'].lower()}_givare_{i + 1}",
        "name": f"Jämförelseområde {i + 1} (givarpool)",
        "municipality": m["name"],
        "role": "control",
        "level": level,
    }
    for m in MUNICIPALITIES
    for i, level in enumerate(DONOR_LEVELS)
]
PLACES = PLACES + DONORS

# Each municipality's prefix in respondent and measure ids.
MUNICIPALITY_PREFIX = {"Avesta": "AV", "Falun": "FA", "Hallstahammar": "HA", "Sala": "SA"}


def place(place_id: str) -> dict:
    """The place with ``place_id``."""
    for candidate in PLACES:
        if candidate["id"] == place_id:
            return candidate
    raise KeyError(place_id)
