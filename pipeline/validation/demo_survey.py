"""The demo study's safety survey: respondents, their answers and weights, the true effects.

A local safety survey in 2019 (before) and 2022 (after), a few hundred
respondents per municipality and wave living in a target or a named comparison
area; the answer (1-4) follows a proportional-odds model on a latent logistic
scale (see :mod:`.demo`), and post-stratification weights by sex and age restore
each area's residents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .demo_places import MUNICIPALITIES, MUNICIPALITY_PREFIX, place

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
        areas = [a for a in SURVEY_AREAS if place(a)["municipality"] == name]
        shares = np.array([SURVEY_AREAS[a]["share"] for a in areas])
        baseline = np.array([SURVEY_AREAS[a]["baseline"] for a in areas])
        target = np.array([place(a)["role"] == "target" for a in areas])
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
                            f"{MUNICIPALITY_PREFIX[name]}-{wave[:4]}-{i + 1:04d}" for i in range(n)
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
    areas = [a for a in SURVEY_AREAS if place(a)["municipality"] == municipality]
    rows = []
    for i, area in enumerate(areas):
        treated = place(area)["role"] == "target"
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


def survey_truth() -> pd.DataFrame:
    """The survey's true effects (``ground_truth_survey.csv``)."""
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
    return frame
