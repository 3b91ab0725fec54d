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

Three more files, each drawn from its own random stream
(``np.random.default_rng([seed, stream])``) so that none changes the series:

* ``survey.csv``: a local safety survey in 2019 (before) and 2022 (after), a few
  hundred respondents per municipality and wave living in a target or a named
  comparison area. The answer to "do you feel unsafe outdoors late in the
  evening?" (1-4) follows a proportional-odds model on a latent logistic scale:
  area level + a period change common to all areas + the true log odds ratio in
  the target areas after + a shift by sex and age + logistic noise; 3 % answer
  5 (no answer) at random. Women and older people answer more often, and
  post-stratification weights by sex and age restore each area's residents.
  ``ground_truth_survey.csv`` holds the true log odds ratio per municipality.
* ``inspections.csv``: nine aspects of every target place scored 0-20 before its
  measures (2020) and in spring 2022, rounded; ``ground_truth_inspections.csv``
  holds each place's true mean change per aspect (0 at Hallstahammar centrum).
* ``actions.csv``: every action-plan measure's status at 12 and 24 months after
  the project start, as the pilots reported them (Avesta 22 of 28 done or
  started, Sala 17 of 19).

The programme's other indicators (footfall, the share of women among visitors,
vacant premises) are appended to ``series.csv`` from a stream of their own, so
the crime rows are unchanged; their model is in
:mod:`pipeline.validation.demo_indicators`. The survey's local problems
questions are appended to ``survey.csv`` the same way
(:mod:`pipeline.validation.demo_problems`).

Most of its length (over 500 lines) is the demo model's documented tables:
places, survey areas, inspections and action plans with their true effects.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import demo_indicators, demo_problems

DEMO_NAME = "trygga_platser_demo"
DEMO_SEED = 20200401
# The final report's example texts, which the demo study ships as its own.
EXAMPLE_TEXTS = Path(__file__).parents[1] / "report" / "templates" / "final"
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
    survey_csv: str
    inspections_csv: str
    actions_csv: str
    ground_truth_survey_csv: str
    ground_truth_inspections_csv: str
    ground_truth_indicators_csv: str
    ground_truth_problems_csv: str
    final_report_md: str
    final_report_en_md: str

    @property
    def files(self) -> dict[str, str]:
        """Each file's name and text, in the order they are written."""
        return {
            "study.yml": self.study_yml,
            "series.csv": self.series_csv,
            "ground_truth.csv": self.ground_truth_csv,
            "survey.csv": self.survey_csv,
            "inspections.csv": self.inspections_csv,
            "actions.csv": self.actions_csv,
            "ground_truth_survey.csv": self.ground_truth_survey_csv,
            "ground_truth_inspections.csv": self.ground_truth_inspections_csv,
            "ground_truth_indicators.csv": self.ground_truth_indicators_csv,
            "ground_truth_problems_index.csv": self.ground_truth_problems_csv,
            "final_report.md": self.final_report_md,
            "final_report.en.md": self.final_report_en_md,
            "README.md": self.readme,
        }

    def write(self, folder: str | Path) -> Path:
        """Write the study into ``folder`` (created if needed) and return it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.files.items():
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


# --------------------------------------------------------------------------
# Survey, safety inspections and action plans
# --------------------------------------------------------------------------

# Each optional file draws from its own stream, np.random.default_rng([seed, stream]),
# so adding or changing one leaves series.csv and the other files untouched.
SURVEY_STREAM = 1
INSPECTION_STREAM = 2
ACTION_STREAM = 3

SURVEY_QUESTION = "otrygg_kvall"
SURVEY_WAVES = ("2019-10-15", "2022-04-15")  # before, after
SURVEY_UNSAFE = (3, 4)
SURVEY_INDICATOR = {
    "id": "unsafe_evening",
    "label_sv": "Andel som känner sig otrygga ute sent en kväll i sitt område",
    "label_en": "Share who feel unsafe outdoors late in the evening in their area",
    "family": "proportion",
    "better": "lower",
    "unit": "andel (%)",
}
# Proportional odds on a latent logistic scale: answer = 1 + number of cut points below
# the respondent's latent value, so P(answer >= 3) = expit(latent mean - SURVEY_CUTS[1]).
SURVEY_CUTS = (-1.0, 0.7, 2.2)
SURVEY_PERIOD_EFFECT = 0.15  # the same change in every area from 2019 to 2022 (pandemic, period)
# True log odds ratio of a less safe answer in the target areas after, relative to the
# control areas: the difference-in-differences a logistic or ordinal model estimates.
SURVEY_EFFECTS = {"Avesta": -0.45, "Falun": -0.35, "Hallstahammar": 0.0, "Sala": -0.5}
SURVEY_RESPONDENTS = {  # respondents per wave (before, after); answering fell a little
    "Avesta": (318, 297),
    "Falun": (417, 396),
    "Hallstahammar": (286, 281),
    "Sala": (352, 339),
}
SURVEY_PREFIX = {"Avesta": "AV", "Falun": "FA", "Hallstahammar": "HA", "Sala": "SA"}
SURVEY_MISSING = 0.03  # answer 5: does not go out / no answer, at random
# The area each respondent lives in: residents aged 16-84, the area's share of the
# municipality's respondents (target areas oversampled, about 60 %) and its latent mean
# for the average resident before the measures.
SURVEY_AREAS = {
    "avesta_busstorget": {"residents": 1900, "share": 0.32, "baseline": -0.05},
    "avesta_gallerian": {"residents": 1600, "share": 0.28, "baseline": -0.20},
    "avesta_krylbo": {"residents": 2800, "share": 0.40, "baseline": -0.55},
    "falun_knutpunkten": {"residents": 2400, "share": 0.22, "baseline": 0.00},
    "falun_holmtorget": {"residents": 2900, "share": 0.20, "baseline": -0.15},
    "falun_resecentrum": {"residents": 2100, "share": 0.18, "baseline": -0.25},
    "falun_jamforelse_norr": {"residents": 4200, "share": 0.21, "baseline": -0.50},
    "falun_jamforelse_soder": {"residents": 3800, "share": 0.19, "baseline": -0.65},
    "hallstahammar_centrum": {"residents": 2600, "share": 0.33, "baseline": -0.10},
    "hallstahammar_stationsstraket": {"residents": 1500, "share": 0.25, "baseline": -0.05},
    "hallstahammar_kolback": {"residents": 2700, "share": 0.42, "baseline": -0.60},
    "sala_stationen": {"residents": 1700, "share": 0.22, "baseline": 0.05},
    "sala_stadsparken": {"residents": 2200, "share": 0.18, "baseline": -0.10},
    "sala_torget": {"residents": 1900, "share": 0.22, "baseline": -0.30},
    "sala_jamforelse_vaster": {"residents": 3500, "share": 0.38, "baseline": -0.55},
}
# Sex and age group: share of the residents, response rate, and shift of the latent
# value (women and older people feel less safe). Women and older people answer more
# often, so the weights that restore the population correct the sample a little.
RESPONDENT_GROUPS = (
    {"sex": "kvinna", "age": "16-34", "population": 0.14, "response": 0.30, "shift": 0.5},
    {"sex": "kvinna", "age": "35-64", "population": 0.24, "response": 0.48, "shift": 0.4},
    {"sex": "kvinna", "age": "65-84", "population": 0.12, "response": 0.62, "shift": 0.8},
    {"sex": "man", "age": "16-34", "population": 0.15, "response": 0.20, "shift": 0.0},
    {"sex": "man", "age": "35-64", "population": 0.24, "response": 0.36, "shift": -0.1},
    {"sex": "man", "age": "65-84", "population": 0.11, "response": 0.55, "shift": 0.3},
)
MIN_POSTSTRATUM = 5  # smaller sex x age cells are merged across age within sex

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


def _place(place_id: str) -> dict:
    for place in PLACES:
        if place["id"] == place_id:
            return place
    raise KeyError(place_id)


def _csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _group_shift() -> np.ndarray:
    """Each respondent group's latent shift, centred on the residents' average."""
    shift = np.array([g["shift"] for g in RESPONDENT_GROUPS])
    population = np.array([g["population"] for g in RESPONDENT_GROUPS])
    return shift - shift @ population


def _poststratify(groups: np.ndarray, residents: int) -> np.ndarray:
    """Weights making one area's respondents add up to its residents by sex and age.

    Each sex x age cell gets ``residents x population share / respondents in the
    cell``. A cell with fewer than ``MIN_POSTSTRATUM`` respondents is merged with the
    middle age group of the same sex (and that sex's age groups all together if the
    merged cell is still thin), as statistical agencies collapse thin cells.
    """
    population = np.array([g["population"] for g in RESPONDENT_GROUPS])
    sexes = np.array([g["sex"] for g in RESPONDENT_GROUPS])
    counts = np.bincount(groups, minlength=len(RESPONDENT_GROUPS))
    cell = np.arange(len(RESPONDENT_GROUPS))
    for sex in dict.fromkeys(sexes):
        young, middle, old = np.flatnonzero(sexes == sex)  # 16-34, 35-64, 65-84
        for edge in (young, old):
            if counts[edge] < MIN_POSTSTRATUM:
                cell[edge] = middle
        if counts[cell == middle].sum() < MIN_POSTSTRATUM:
            cell[[young, old]] = middle
    cell_population = np.bincount(cell, weights=population, minlength=len(cell))
    cell_counts = np.bincount(cell, weights=counts, minlength=len(cell))
    return residents * cell_population[cell[groups]] / cell_counts[cell[groups]]


def demo_survey(rng: np.random.Generator) -> pd.DataFrame:
    """Draw the demo's survey microdata, one row per respondent, as ``survey.csv`` holds it.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random stream; the demo uses ``default_rng([seed, SURVEY_STREAM])``.

    Returns
    -------
    pandas.DataFrame
        Columns ``respondent_id``, ``municipality``, ``place_id``, ``wave``,
        ``question``, ``answer`` (1-5) and ``weight``.
    """
    shift = _group_shift()
    population = np.array([g["population"] for g in RESPONDENT_GROUPS])
    response = np.array([g["response"] for g in RESPONDENT_GROUPS])
    # Who answers: the residents' mix tilted by each group's response rate.
    sample_mix = population * response / (population @ response)
    cuts = np.array(SURVEY_CUTS)
    parts = []
    for municipality in MUNICIPALITIES:
        name = municipality["name"]
        areas = [a for a in SURVEY_AREAS if _place(a)["municipality"] == name]
        shares = np.array([SURVEY_AREAS[a]["share"] for a in areas])
        baseline = np.array([SURVEY_AREAS[a]["baseline"] for a in areas])
        target = np.array([_place(a)["role"] == "target" for a in areas])
        for after, (wave, n) in enumerate(zip(SURVEY_WAVES, SURVEY_RESPONDENTS[name], strict=True)):
            area = rng.choice(len(areas), size=n, p=shares / shares.sum())
            group = rng.choice(len(RESPONDENT_GROUPS), size=n, p=sample_mix)
            latent = (
                baseline[area]
                + shift[group]
                + after * SURVEY_PERIOD_EFFECT
                + after * target[area] * SURVEY_EFFECTS[name]
                + rng.logistic(size=n)
            )
            answer = 1 + np.searchsorted(cuts, latent)
            answer[rng.random(n) < SURVEY_MISSING] = 5
            weight = np.empty(n)
            for i, area_id in enumerate(areas):
                here = area == i
                weight[here] = _poststratify(group[here], SURVEY_AREAS[area_id]["residents"])
            parts.append(
                pd.DataFrame(
                    {
                        "respondent_id": [
                            f"{SURVEY_PREFIX[name]}-{wave[:4]}-{i + 1:04d}" for i in range(n)
                        ],
                        "municipality": name,
                        "place_id": [areas[i] for i in area],
                        "wave": wave,
                        "question": SURVEY_QUESTION,
                        "answer": answer,
                        "weight": [f"{w:.2f}" for w in weight],
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def _expit(x):
    return 1 / (1 + np.exp(-x))


def survey_marginal_log_odds_ratio(municipality: str) -> float:
    """What the weighted logistic difference-in-differences converges to with infinite samples.

    The odds ratio is not collapsible: averaged over the sex and age groups, whose
    latent shifts differ, the population's log odds ratio is a little smaller in size
    than the one the model was built with. This solves the weighted logistic model
    ``unsafe ~ area + after + treated:after`` on the population's exact shares.

    Parameters
    ----------
    municipality : str

    Returns
    -------
    float
        The ``treated:after`` coefficient.
    """
    shift = _group_shift()
    population = np.array([g["population"] for g in RESPONDENT_GROUPS])
    areas = [a for a in SURVEY_AREAS if _place(a)["municipality"] == municipality]
    rows = []
    for i, area in enumerate(areas):
        treated = _place(area)["role"] == "target"
        for after in (0, 1):
            mean = (
                SURVEY_AREAS[area]["baseline"]
                + after * SURVEY_PERIOD_EFFECT
                + after * treated * SURVEY_EFFECTS[municipality]
            )
            share = population @ _expit(mean + shift - SURVEY_CUTS[1])
            dummies = [float(i == j) for j in range(1, len(areas))]
            rows.append(
                (share, SURVEY_AREAS[area]["residents"], [1.0, *dummies, after, after * treated])
            )
    y = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows], dtype=float)
    x = np.array([r[2] for r in rows])
    beta = np.zeros(x.shape[1])
    # Newton's method on the weighted binomial likelihood with fractional outcomes.
    for _ in range(50):
        p = _expit(x @ beta)
        step = np.linalg.solve(x.T @ (x * (w * p * (1 - p))[:, None]), x.T @ (w * (y - p)))
        beta += step
        if np.abs(step).max() < 1e-12:
            break
    return float(beta[-1])


def _survey_truth_csv() -> str:
    frame = pd.DataFrame(
        {
            "municipality": list(SURVEY_EFFECTS),
            "true_log_odds_ratio": list(SURVEY_EFFECTS.values()),
            "marginal_log_odds_ratio": [
                round(survey_marginal_log_odds_ratio(m), 4) for m in SURVEY_EFFECTS
            ],
            "period_log_odds_ratio": SURVEY_PERIOD_EFFECT,
            "cut_1_2": SURVEY_CUTS[0],
            "cut_2_3": SURVEY_CUTS[1],
            "cut_3_4": SURVEY_CUTS[2],
        }
    )
    return _csv(frame)


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


def _inspection_truth_csv() -> str:
    frame = pd.DataFrame(
        {
            "place_id": list(INSPECTIONS),
            "true_mean_change": [spec["change"] for spec in INSPECTIONS.values()],
        }
    )
    return _csv(frame)


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
                        f"{SURVEY_PREFIX[name]}-{number:02d}",
                        description,
                        category,
                        start,
                        followup,
                        status,
                    )
                )
    return pd.DataFrame(
        rows,
        columns=[
            "municipality",
            "place_id",
            "measure_id",
            "description",
            "category",
            "planned_start",
            "followup_date",
            "status",
        ],
    )


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
    # Appended after the crime rows, from their own stream: the crime rows stay as they were.
    programme = demo_indicators.demo_indicator_series(
        np.random.default_rng([seed, demo_indicators.INDICATOR_STREAM]),
        PLACES,
        periods,
        -np.log(covid_factor(periods, 1.0)),
    )
    return DemoStudy(
        study_yml=_study_yml(),
        series_csv=_csv(series) + _csv(programme).split("\n", 1)[1],
        ground_truth_csv=_ground_truth_csv(),
        readme=_readme(seed),
        survey_csv=_survey_csv(seed),
        inspections_csv=_csv(demo_inspections(np.random.default_rng([seed, INSPECTION_STREAM]))),
        actions_csv=_csv(demo_actions(np.random.default_rng([seed, ACTION_STREAM]))),
        ground_truth_survey_csv=_survey_truth_csv(),
        ground_truth_inspections_csv=_inspection_truth_csv(),
        ground_truth_indicators_csv=_csv(demo_indicators.ground_truth_indicators(PLACES)),
        ground_truth_problems_csv=_csv(
            demo_problems.problems_truth(_survey_areas(), _survey_targets())
        ),
        final_report_md=(EXAMPLE_TEXTS / "final_report_example.md").read_text("utf-8"),
        final_report_en_md=(EXAMPLE_TEXTS / "final_report_example.en.md").read_text("utf-8"),
    )


def _survey_targets() -> set[str]:
    return {a for a in SURVEY_AREAS if _place(a)["role"] == "target"}


def _survey_areas() -> dict[str, dict]:
    return {a: {**v, "municipality": _place(a)["municipality"]} for a, v in SURVEY_AREAS.items()}


def _survey_csv(seed: int) -> str:
    """The safety question's rows, then the local problems questions' from their own stream."""
    survey = demo_survey(np.random.default_rng([seed, SURVEY_STREAM]))
    problems = demo_problems.demo_problem_answers(
        np.random.default_rng([seed, demo_problems.PROBLEMS_STREAM]),
        survey,
        _survey_targets(),
        SURVEY_WAVES[1],
    )
    return _csv(survey) + _csv(problems).split("\n", 1)[1]


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
            *(
                {**ind, "family": "count", "better": "lower", "unit": "anmälda brott per månad"}
                for ind in INDICATORS
            ),
            SURVEY_INDICATOR,
            INSPECTION_INDICATOR,
            *demo_indicators.INDICATORS,
            demo_problems.PROBLEMS_INDICATOR,
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
        "survey": {
            "indicator": SURVEY_INDICATOR["id"],
            "question": SURVEY_QUESTION,
            "unsafe_answers": list(SURVEY_UNSAFE),
            "before": [SURVEY_WAVES[0]],
            "after": [SURVEY_WAVES[1]],
            "problems_index": {
                "indicator": demo_problems.PROBLEMS_INDICATOR["id"],
                "questions": list(demo_problems.PROBLEM_QUESTIONS),
                "min_answered": demo_problems.MIN_ANSWERED,
            },
        },
        "inspections": {"indicator": INSPECTION_INDICATOR["id"]},
        "action_plan": {
            "project_start": PROJECT_START,
            "horizons_months": list(ACTION_HORIZONS),
        },
        "report": {
            "title": "Trygga Platser – platssamverkan med BID-inspiration (demonstration)",
            "authors": ["N.N. (exempel)", "M.M. (exempel)"],
            "date": "2022-09-30",
            "funder": "Vinnova",
            "registration_number": "0000-00000 (exempel)",
            "coordinator": "Länsstyrelsen i Dalarnas län",
            "partners": [
                "Länsstyrelsen i Västmanlands län",
                "Stiftelsen Tryggare Sverige",
                "Svenska Stadskärnor",
                "Avesta kommun",
                "Falu kommun",
                "Hallstahammars kommun",
                "Sala kommun",
            ],
            "project_period": {"start": PROJECT_START, "end": "2022-06-30"},
        },
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
  the number of days in the month. Then, for every target, its comparison areas, its buffer and the
  buffer's comparison area: `footfall` (visitors a month, `exposure` the days the counters counted),
  `women_share` (the share of women among the visitors counted by hand, `exposure` the visitors
  counted) and `vacant_premises` (the share of premises vacant at each September inventory, one row
  a year, `exposure` the premises).
- `ground_truth.csv` — the true rate ratio built into each target (and buffer) from its start date.
  Hallstahammar centrum has no effect; the buffer around Sala station receives displaced crime.
- `survey.csv` — a local safety survey, one row per respondent: waves {SURVEY_WAVES[0]} (before) and
  {SURVEY_WAVES[1]} (after), {_survey_sizes()} respondents per municipality and wave, each living in
  one of the municipality's target areas (about 60 %) or its named comparison areas. Question
  `{SURVEY_QUESTION}`: 1 very safe … 4 very unsafe, 5 does not go out / no answer (about 3 %). The
  weights are post-stratification weights by sex and age that add up to each area's residents;
  women and older people answer more often and get smaller weights. After the safety question's
  rows, every respondent's answers to four local problems questions ({_problem_questions()}):
  1 no problem … 4 a big problem, 5 don't know (about 6 %); their mean is the local problems index.
- `ground_truth_problems_index.csv` — per municipality the true shift of the problems questions'
  latent value in the target areas after the measures and the true difference-in-differences of
  the mean index in points (negative: fewer problems; Hallstahammar: none).
- `ground_truth_survey.csv` — per municipality the true log odds ratio of a less safe answer in the
  target areas after the measures, relative to the comparison areas (what a logistic
  difference-in-differences and the proportional-odds model estimate; Hallstahammar: none), its
  value averaged over sex and age (`marginal_log_odds_ratio`: the odds ratio is not collapsible),
  the period change common to all areas and the cut points of the latent scale.
- `inspections.csv` — safety inspections of every target place: nine aspects scored 0-20, once in
  2020 before its measures and once in spring 2022.
- `ground_truth_inspections.csv` — each place's true mean change per aspect (Hallstahammar centrum:
  none).
- `ground_truth_indicators.csv` — the true effect on footfall (a rate ratio: a rise is better), the
  share of women (an odds ratio: a rise is better) and vacant premises (an odds ratio: a fall is
  better) at each target (Hallstahammar centrum: none) and buffer (none).
- `actions.csv` — each action-plan measure's status (planned, started, done, cancelled) at the
  follow-ups 12 and 24 months after the project start {PROJECT_START}; a blank `place_id` is a
  measure for the whole municipality. Done or started at 24 months:
  {_implemented_text()}.
- `final_report.md`, `final_report.en.md` — example texts for the funder's final report (background,
  aims, implementation, conclusions …), marked as examples; `study.yml`'s `report` section holds
  the report's example metadata (authors, date, funder, registration number, project period).

Every area also drifts on its own, as real series do, which is why the donor-pool comparison is the
primary design.

The model behind the numbers is documented in `pipeline/demo.py`.
"""


def _problem_questions() -> str:
    return ", ".join(f"`{q}`" for q in demo_problems.PROBLEM_QUESTIONS)


def _survey_sizes() -> str:
    sizes = [n for pair in SURVEY_RESPONDENTS.values() for n in pair]
    return f"{min(sizes)}-{max(sizes)}"


def _implemented_text() -> str:
    parts = []
    for name, plan in ACTION_PLANS.items():
        k = sum(n for (_, at_24), n in plan.items() if at_24 in ("done", "started"))
        parts.append(f"{name} {k} of {sum(plan.values())}")
    return ", ".join(parts)
