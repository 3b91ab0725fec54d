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

The documented tables with their true effects live beside it: the places in
:mod:`pipeline.validation.demo_places`, the survey in
:mod:`pipeline.validation.demo_survey`, the inspections in
:mod:`pipeline.validation.demo_inspections` and the action plans in
:mod:`pipeline.validation.demo_actions`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import demo_indicators, demo_problems
from .demo_actions import ACTION_HORIZONS, ACTION_PLANS, PROJECT_START, demo_actions
from .demo_inspections import INSPECTION_INDICATOR, demo_inspections, inspection_truth
from .demo_places import CATEGORIES, INDICATORS, MUNICIPALITIES, PLACES
from .demo_places import place as place_by_id
from .demo_survey import (
    SURVEY_AREAS,
    SURVEY_INDICATOR,
    SURVEY_QUESTION,
    SURVEY_RESPONDENTS,
    SURVEY_UNSAFE,
    SURVEY_WAVES,
    demo_survey,
    survey_truth,
)

DEMO_NAME = "trygga_platser_demo"
DEMO_SEED = 20200401
# The final report's example texts, which the demo study ships as its own.
EXAMPLE_TEXTS = Path(__file__).parents[1] / "report" / "templates" / "final"
FIRST_PERIOD = "2017-01"
LAST_PERIOD = "2023-12"
COVID_START = "2020-03-01"
COVID_END = "2022-02-28"

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
# The random streams of the survey, the inspections and the action plans
# --------------------------------------------------------------------------

# Each optional file draws from its own stream, np.random.default_rng([seed, stream]),
# so adding or changing one leaves series.csv and the other files untouched.
SURVEY_STREAM = 1
INSPECTION_STREAM = 2
ACTION_STREAM = 3


def _csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


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
        ground_truth_survey_csv=_csv(survey_truth()),
        ground_truth_inspections_csv=_csv(inspection_truth()),
        ground_truth_indicators_csv=_csv(demo_indicators.ground_truth_indicators(PLACES)),
        ground_truth_problems_csv=_csv(
            demo_problems.problems_truth(_survey_areas(), _survey_targets())
        ),
        final_report_md=(EXAMPLE_TEXTS / "final_report_example.md").read_text("utf-8"),
        final_report_en_md=(EXAMPLE_TEXTS / "final_report_example.en.md").read_text("utf-8"),
    )


def _survey_targets() -> set[str]:
    return {a for a in SURVEY_AREAS if place_by_id(a)["role"] == "target"}


def _survey_areas() -> dict[str, dict]:
    return {
        a: {**v, "municipality": place_by_id(a)["municipality"]} for a, v in SURVEY_AREAS.items()
    }


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
