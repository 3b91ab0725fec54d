"""The embedded demonstration study: a seeded generator with known true effects.

The demo mirrors the pilot programme "Trygga Platser" (2020-2022) in Avesta,
Falun, Hallstahammar and Sala: real municipality codes and populations, places
named as the pilots named them, comparison and buffer areas, and monthly
reported crimes by category 2017-2023. The numbers are synthetic. Their model:

``count ~ NegBin(mean = base x season x trend x covid x municipal shock x drift x effect x days/30.4)``

* ``base``: the place's level per category, scaled to the municipality's size
  (Brå 2013-16: Avesta 188, Falun 392, Hallstahammar 131, Sala 215 crimes a
  month in the whole municipality; a central square has a few per cent of it).
* ``season``: one harmonic per category (violence and vandalism peak in summer).
* ``covid``: a national dip from March 2020 that recovers by spring 2022, the
  same in every area, so designs without comparison areas are tempted to read
  it as an effect.
* ``municipal shock``: AR(1) on the log scale, shared by all places of a
  municipality — the reason comparison areas in the same town help.
* ``drift``: each place's own random walk on the log scale (sd 0.01 a month),
  as real series drift apart; a comparison with one or two areas cannot tell it
  from an effect, a donor pool can measure it.
* overdispersion: a gamma-Poisson mixture (negative binomial) per place and month.
* ``effect``: a step at the intervention start, the true rate ratio written to
  ``ground_truth.csv`` — including a place with no effect (Hallstahammar
  centrum) and displacement into a buffer (Sala, around the station).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

DEMO_NAME = "trygga_platser_demo"
DEMO_SEED = 20200401
FIRST_PERIOD = "2017-01"
LAST_PERIOD = "2023-12"
COVID_START = "2020-03-01"
COVID_END = "2022-02-28"

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

OVERDISPERSION_SHAPE = 12.0  # gamma shape: variance = mu + mu^2 / shape
# Each place's level also drifts on its own (a random walk on the log scale), as real
# series do: comparisons must not take that drift for an effect.
DRIFT_SD = 0.01
SHOCK_SD = 0.07  # innovation sd of the municipal AR(1) shock (log scale)
SHOCK_AR = 0.5


@dataclass(frozen=True)
class DemoStudy:
    """The demo study's files as text, ready to write."""

    study_yml: str
    series_csv: str
    ground_truth_csv: str
    readme: str

    def write(self, folder: str | Path) -> Path:
        """Write the study into ``folder`` (created if needed) and return it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in (
            ("study.yml", self.study_yml),
            ("series.csv", self.series_csv),
            ("ground_truth.csv", self.ground_truth_csv),
            ("README.md", self.readme),
        ):
            (folder / name).write_text(text, encoding="utf-8", newline="\n")
        return folder


def covid_factor(periods: pd.PeriodIndex, depth: float) -> np.ndarray:
    """Multiplicative COVID-19 dip: sharp fall in spring 2020, recovery by spring 2022."""
    months = (periods - pd.Period("2020-03", freq="M")).map(lambda d: d.n).to_numpy()
    shape = np.zeros(len(periods))
    falling = (months >= 0) & (months < 2)
    shape[falling] = (months[falling] + 1) / 2
    recovering = (months >= 2) & (months < 24)
    shape[recovering] = 1 - (months[recovering] - 2) / 22
    return np.exp(-depth * shape)


def _municipal_shocks(rng: np.random.Generator, n: int) -> np.ndarray:
    shock = np.zeros(n)
    shock[0] = rng.normal(0, SHOCK_SD / np.sqrt(1 - SHOCK_AR**2))
    for t in range(1, n):
        shock[t] = SHOCK_AR * shock[t - 1] + rng.normal(0, SHOCK_SD)
    return np.exp(shock - shock.mean())


def place_drift(rng: np.random.Generator, n: int) -> np.ndarray:
    """A place's own slow drift: a centred random walk on the log scale."""
    walk = np.cumsum(rng.normal(0, DRIFT_SD, n))
    return np.exp(walk - walk.mean())


def expected_counts(
    place: dict, periods: pd.PeriodIndex, shocks: np.ndarray, with_effect: bool
) -> dict[str, np.ndarray]:
    """Mean monthly counts of a place per category, given its municipality's shocks."""
    month = periods.month.to_numpy()
    years = (periods.year.to_numpy() - 2017) + (month - 1) / 12
    days = periods.days_in_month.to_numpy()
    effect = np.ones(len(periods))
    if with_effect and "effect" in place:
        start = pd.Period(place.get("intervention_start") or _start_of_buffered(place), freq="M")
        effect[periods >= start] = place["effect"]
    means = {}
    for category, spec in CATEGORIES.items():
        season = np.exp(spec["amplitude"] * np.cos(2 * np.pi * (month - spec["peak"]) / 12))
        means[category] = (
            place["level"]
            * spec["share"]
            * season
            * np.exp(spec["trend"] * years)
            * covid_factor(periods, spec["covid"])
            * shocks
            * effect
            * days
            / 30.44
        )
    return means


def _start_of_buffered(buffer_place: dict) -> str:
    for place in PLACES:
        if place.get("buffer") == buffer_place["id"]:
            return place["intervention_start"]
    raise KeyError(f"no target has buffer {buffer_place['id']}")


def generate_demo(seed: int = DEMO_SEED) -> DemoStudy:
    """Generate the demo study deterministically from ``seed``."""
    rng = np.random.default_rng(seed)
    periods = pd.period_range(FIRST_PERIOD, LAST_PERIOD, freq="M")
    shocks = {m["name"]: _municipal_shocks(rng, len(periods)) for m in MUNICIPALITIES}

    rows = []
    for place in PLACES:
        local = shocks[place["municipality"]] * place_drift(rng, len(periods))
        means = expected_counts(place, periods, local, with_effect=True)
        counts = {}
        for category, mu in means.items():
            frailty = rng.gamma(OVERDISPERSION_SHAPE, 1 / OVERDISPERSION_SHAPE, size=len(periods))
            counts[category] = rng.poisson(mu * frailty)
        counts["crimes_total"] = sum(counts[c] for c in CATEGORIES)
        for indicator in INDICATORS:
            values = counts[indicator["id"]]
            rows.extend(
                (place["id"], indicator["id"], str(p), int(v), int(p.days_in_month))
                for p, v in zip(periods, values, strict=True)
            )
    series = pd.DataFrame(rows, columns=["place_id", "indicator", "period", "value", "exposure"])
    buffer = io.StringIO()
    series.to_csv(buffer, index=False, lineterminator="\n")
    return DemoStudy(
        study_yml=_study_yml(),
        series_csv=buffer.getvalue(),
        ground_truth_csv=_ground_truth_csv(),
        readme=_readme(seed),
    )


def _study_yml() -> str:
    places = []
    for place in PLACES:
        entry = {k: place[k] for k in ("id", "name", "municipality", "role")}
        for key in (
            "intervention_start",
            "controls",
            "buffer",
            "buffer_controls",
            "co_interventions",
        ):
            if key in place:
                entry[key] = place[key]
        places.append(entry)
    study = {
        "title": "Trygga Platser – demonstrationsstudie (syntetiska data)",
        "synthetic": True,
        "description": (
            "Synthetic demonstration data shaped like the pilot programme Trygga Platser "
            "(2020-2022). Not results for these municipalities."
        ),
        "municipalities": MUNICIPALITIES,
        "places": places,
        "indicators": [
            {**ind, "family": "count", "better": "lower", "unit": "anmälda brott per månad"}
            for ind in INDICATORS
        ],
        "donor_pool": [p["id"] for p in PLACES if p["role"] == "control"],
        "shocks": [
            {
                "id": "covid19",
                "label_sv": "covid-19-pandemin",
                "label_en": "COVID-19 pandemic",
                "start": COVID_START,
                "end": COVID_END,
            }
        ],
    }
    text = yaml.safe_dump(study, sort_keys=False, allow_unicode=True, width=100)
    header = "# Generated by pipeline.demo (seeded); edit the generator, not this file.\n"
    return header + text


def _ground_truth_csv() -> str:
    rows = []
    for place in PLACES:
        if "effect" not in place:
            continue
        start = place.get("intervention_start") or _start_of_buffered(place)
        kind = "intervention" if place["role"] == "target" else "displacement_or_diffusion"
        for indicator in INDICATORS:
            rows.append((place["id"], place["role"], indicator["id"], start, place["effect"], kind))
    frame = pd.DataFrame(
        rows, columns=["place_id", "role", "indicator", "effect_start", "true_rate_ratio", "kind"]
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _readme(seed: int) -> str:
    return f"""# Trygga Platser demonstration study (synthetic)

**Synthetic demonstration data, not results for these municipalities.**

Generated by `pipeline.demo.generate_demo(seed={seed})`; `make demo-data` regenerates it and a test
checks that regenerating gives identical files. The municipalities, codes, populations and place names
follow the pilot programme; every count is simulated.

- `study.yml` — the study description (municipalities, places, indicators, the COVID-19 period, and a
  donor pool: every comparison area, five per municipality not tied to any target).
- `series.csv` — monthly reported crimes by category per place, 2017-01 to 2023-12; `exposure` is
  the number of days in the month.
- `ground_truth.csv` — the true rate ratio built into each target (and buffer) from its start date.
  Hallstahammar centrum has no effect; the buffer around Sala station receives displaced crime.

Every area also drifts on its own, as real series do, which is why the donor-pool comparison is the
primary design.

The model behind the numbers is documented in `pipeline/demo.py`.
"""
