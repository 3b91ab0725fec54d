"""The demo survey's local problems questions, with a known true effect on the index.

Every respondent of the demo survey also answers four questions on local
problems (litter, graffiti, groups hanging around, poor lighting) on the scale
of the police's local safety surveys: 1 no problem, 2 a fairly small problem,
3 a fairly big problem, 4 a big problem, 5 don't know. Their rows are appended
to ``survey.csv`` after the safety question's, drawn from a stream of their own
(``np.random.default_rng([seed, PROBLEMS_STREAM])``), so the safety question's
rows are unchanged.

The model: answer = 1 + the number of cut points below the latent value

``area level + item shift + period change + effect (target areas after) + person level + logistic noise``

where the person level (normal, sd ``PERSON_SD``) is shared by one respondent's
four answers, so they correlate as real items of an index do; 6 % of answers
are "don't know" at random. The index is a respondent's mean answer over the
questions answered (at least two). The true effect in index points is what the
weighted difference-in-differences of the arms' mean index converges to: the
expected index per area (numerically integrated over the person level), pooled
over an arm's areas by their residents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PROBLEMS_STREAM = 5

PROBLEMS_INDICATOR = {
    "id": "local_problems",
    "label_sv": "Lokala problem (index 1–4)",
    "label_en": "Local problems (index 1–4)",
    "family": "continuous",
    "better": "lower",
    "unit": "indexpoäng 1–4",
}
#: Question code and its shift on the latent scale (litter and groups are the common complaints).
PROBLEM_QUESTIONS = {
    "problem_nedskrapning": 0.3,
    "problem_klotter": -0.2,
    "problem_gang": 0.2,
    "problem_belysning": -0.3,
}
PROBLEM_CUTS = (-0.9, 0.5, 1.8)
PROBLEM_PERIOD = 0.1  # the same change in every area from 2019 to 2022
#: True shift of the latent value in the target areas after the measures.
PROBLEM_EFFECTS = {"Avesta": -0.5, "Falun": -0.4, "Hallstahammar": 0.0, "Sala": -0.6}
#: Each area's latent level before the measures (the centres have more problems).
PROBLEM_LEVELS = {
    "avesta_busstorget": 0.35,
    "avesta_gallerian": 0.25,
    "avesta_krylbo": -0.25,
    "falun_knutpunkten": 0.40,
    "falun_holmtorget": 0.30,
    "falun_resecentrum": 0.20,
    "falun_jamforelse_norr": -0.20,
    "falun_jamforelse_soder": -0.30,
    "hallstahammar_centrum": 0.30,
    "hallstahammar_stationsstraket": 0.35,
    "hallstahammar_kolback": -0.25,
    "sala_stationen": 0.45,
    "sala_stadsparken": 0.25,
    "sala_torget": 0.10,
    "sala_jamforelse_vaster": -0.20,
}
PERSON_SD = 0.8
DONT_KNOW = 0.06
MIN_ANSWERED = 2


def demo_problem_answers(
    rng: np.random.Generator, survey: pd.DataFrame, target_areas: set[str], after_wave: str
) -> pd.DataFrame:
    """Every respondent's answers to the problem questions, in ``survey.csv``'s columns.

    Parameters
    ----------
    rng : numpy.random.Generator
        The demo uses ``default_rng([seed, PROBLEMS_STREAM])``.
    survey : pandas.DataFrame
        The safety question's rows (one per respondent), as drawn by the demo.
    target_areas : set of str
        The areas that received the measures.
    after_wave : str
        The wave after the measures.

    Returns
    -------
    pandas.DataFrame
        One row per respondent and problem question, respondents in the order of `survey`.
    """
    n = len(survey)
    level = survey["place_id"].map(PROBLEM_LEVELS).to_numpy(float)
    after = (survey["wave"] == after_wave).to_numpy()
    treated = survey["place_id"].isin(target_areas).to_numpy()
    effect = survey["municipality"].map(PROBLEM_EFFECTS).to_numpy(float)
    person = rng.normal(0.0, PERSON_SD, size=n)
    mean = level + after * PROBLEM_PERIOD + after * treated * effect + person
    cuts = np.array(PROBLEM_CUTS)
    parts = []
    for question, shift in PROBLEM_QUESTIONS.items():
        latent = mean + shift + rng.logistic(size=n)
        answer = 1 + np.searchsorted(cuts, latent)
        answer[rng.random(n) < DONT_KNOW] = 5
        parts.append(survey.assign(question=question, answer=answer))
    frame = pd.concat(parts)
    # One respondent's answers together, as a survey export lists them.
    order = np.argsort(np.tile(np.arange(n), len(PROBLEM_QUESTIONS)), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def expected_index(latent_mean: float) -> float:
    """The expected index of a respondent population at a latent mean (over persons and items)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    weights = weights / weights.sum()
    person = PERSON_SD * nodes
    total = 0.0
    for shift in PROBLEM_QUESTIONS.values():
        for cut in PROBLEM_CUTS:
            total += weights @ (1 / (1 + np.exp(-(latent_mean + shift + person - cut))))
    return 1 + total / len(PROBLEM_QUESTIONS)


def true_index_difference(
    municipality: str, areas: dict[str, dict], target_areas: set[str]
) -> float:
    """The true difference-in-differences of the arms' mean index, in points.

    Parameters
    ----------
    municipality : str
    areas : dict
        The demo's survey areas: ``place_id -> {"municipality": …, "residents": …}``.
    target_areas : set of str
    """
    ours = [a for a in areas if areas[a]["municipality"] == municipality]
    change = {}
    for arm in (True, False):
        members = [a for a in ours if (a in target_areas) == arm]
        residents = np.array([areas[a]["residents"] for a in members], float)
        pooled = []
        for after in (0, 1):
            means = [
                expected_index(
                    PROBLEM_LEVELS[a]
                    + after * PROBLEM_PERIOD
                    + after * arm * PROBLEM_EFFECTS[municipality]
                )
                for a in members
            ]
            pooled.append(residents @ np.array(means) / residents.sum())
        change[arm] = pooled[1] - pooled[0]
    return float(change[True] - change[False])


def problems_truth(areas: dict[str, dict], target_areas: set[str]) -> pd.DataFrame:
    """``ground_truth_problems_index.csv``: the true effect per municipality."""
    return pd.DataFrame(
        {
            "municipality": list(PROBLEM_EFFECTS),
            "true_latent_shift": list(PROBLEM_EFFECTS.values()),
            "true_index_difference": [
                round(true_index_difference(m, areas, target_areas), 4) for m in PROBLEM_EFFECTS
            ],
            "period_latent_shift": PROBLEM_PERIOD,
        }
    )
